#!/bin/sh
# tests/windows/check_mingw.sh: the Windows-only PowerShell Direct code
# (transport/hvsocket.c, transport/hvsocket_sock_win.c) must compile for
# Windows with the project's warning flags, and the Hyper-V socket constants
# and SOCKADDR_HV layout we use must match the Windows SDK's (mingw-w64's
# hvsocket.h): see tests/windows/hvsocket_layout.c.
#
#   check_mingw.sh [SOURCE_DIR [WARNING_FLAG...]]
#
# SOURCE_DIR defaults to the checkout this script is in; the flags default to
# the project's WINRSH_WARNINGS with -Werror (ctest passes the configured
# list). CC (default x86_64-w64-mingw32-gcc) is the cross compiler; without
# one the check is skipped with status 77 (ctest's SKIP_RETURN_CODE).
# Debian: apt-get install gcc-mingw-w64-x86-64 (or mingw-w64).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-$(cd "$here/../.." && pwd)}
[ $# -gt 0 ] && shift
if [ $# -eq 0 ]; then
    set -- -Wall -Wextra -Wshadow -Wconversion -Wsign-conversion -Wpointer-arith \
        -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Werror
fi
cc=${CC:-x86_64-w64-mingw32-gcc}
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIPPED: no $cc (Debian: apt-get install gcc-mingw-w64-x86-64)"
    exit 77
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
for f in transport/hvsocket.c transport/hvsocket_sock_win.c tests/windows/hvsocket_layout.c; do
    obj="$out/$(basename "$f" .c).obj"
    if "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L "$@" -I"$src" -I"$src/include" \
        -c "$src/$f" -o "$obj"; then
        echo "ok   $f"
    else
        echo "FAIL $f"
        status=1
    fi
done
# The Windows layer must really be there: not an empty file because _WIN32
# was somehow not defined.
if [ $status -eq 0 ]; then
    nm=${NM:-$(echo "$cc" | sed 's/gcc$/nm/')}
    if command -v "$nm" >/dev/null 2>&1; then
        for sym in wr_hvsock_connect wr_hvsock_send wr_hvsock_recv wr_hvsock_to_stream \
            wr_hvsock_close wr_hvsock_require_modern_policy; do
            if ! "$nm" "$out/hvsocket_sock_win.obj" | grep -q " T $sym\$"; then
                echo "FAIL transport/hvsocket_sock_win.c does not define $sym for Windows"
                status=1
            fi
        done
        if ! "$nm" "$out/hvsocket.obj" | grep -q " T wr_hvsocket_open\$"; then
            echo "FAIL transport/hvsocket.c does not define wr_hvsocket_open"
            status=1
        fi
    fi
fi
[ $status -eq 0 ] && echo "mingw check passed ($cc)"
exit $status
