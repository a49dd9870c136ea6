#!/bin/sh
# fuzz.sh: run one libFuzzer target the way README.md's numbers were made.
#
#   tests/fuzz/fuzz.sh BUILD_DIR TARGET [SECONDS] [libFuzzer options...]
#
# BUILD_DIR is a clang build configured with -DWINRSH_FUZZ=ON. New inputs go
# to BUILD_DIR/fuzz-work/TARGET/corpus (the checked-in seed corpus is only
# read), crashes to BUILD_DIR/fuzz-work/TARGET/. The target's dictionary
# (dict/TARGET.dict) is used when there is one. The run is niced: the
# machines we fuzz on are shared.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: $0 BUILD_DIR TARGET [SECONDS] [libFuzzer options...]" >&2
    exit 2
fi
build=$1
target=$2
secs=${3:-180}
shift 2
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz/fuzz_$target
if [ ! -x "$bin" ]; then
    echo "$bin not found: configure with CC=clang cmake -DWINRSH_FUZZ=ON" >&2
    exit 1
fi
work=$build/fuzz-work/$target
mkdir -p "$work/corpus"
set -- -max_total_time="$secs" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="$work/" "$@"
if [ -f "$here/dict/$target.dict" ]; then
    set -- -dict="$here/dict/$target.dict" "$@"
fi
exec nice -n 19 "$bin" "$@" "$work/corpus" "$here/corpus/$target"
