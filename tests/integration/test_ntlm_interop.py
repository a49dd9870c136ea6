#!/usr/bin/python3
"""NTLM interoperability: our client against gss-ntlmssp (issue: NTLM).

Runs the cmocka program tests/unit/test_ntlm_interop.c (built as
$WINRSH_BUILD_DIR/tests/test_ntlm_interop), which drives
tests/integration/ntlm_acceptor.py (python3-gssapi + gss-ntlmssp) over pipes:
NTLMv2 exchange with MIC, refusals, and WinRM-layout sealing both ways.
Here a missing acceptor is a failure, not a skip (WINRSH_NTLM_INTEROP_REQUIRED).
Prints `N passed, N failed` last; exits 0 only if nothing failed.
"""

import os
import subprocess
import sys

BUILD_DIR = os.environ.get("WINRSH_BUILD_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")


def main():
    prog = os.path.join(BUILD_DIR, "tests", "test_ntlm_interop")
    if not os.access(prog, os.X_OK):
        print("test_ntlm_interop not built (looked in %s)" % prog)
        print("0 passed, 1 failed")
        return 1
    env = dict(os.environ, WINRSH_NTLM_INTEROP_REQUIRED="1")
    try:
        r = subprocess.run([prog], env=env, timeout=300,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired:
        print("test_ntlm_interop timed out")
        print("0 passed, 1 failed")
        return 1
    sys.stdout.write(r.stdout.decode("utf-8", "replace"))
    ok = r.returncode == 0
    print("%d passed, %d failed" % (1 if ok else 0, 0 if ok else 1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
