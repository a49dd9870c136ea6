"""Run tests/soak/soak (the built program) against the test host.

    /usr/bin/python3 tests/soak/run_soak.py [--winrs N] [--psrp N]
                                            [--bound-kb KB] [--timeout S]

Starts tests/server/testhost (Basic, AllowUnencrypted), runs soak with the
counts given (default 1000 WinRS commands + 300 PSRP pipelines, what CI
runs), passes its figures through and prints `N passed, N failed` last.
The PSRP phase is skipped, with the reason printed, when the host has no
pwsh.  Skipped altogether (exit 77) when WINRSH_SKIP_SOAK is set.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import harness  # noqa: E402
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

USER = "soak"
PASSWORD = "Soak-Pa55.word"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--winrs", type=int, default=1000)
    ap.add_argument("--psrp", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--bound-kb", type=int, default=4096)
    ap.add_argument("--timeout", type=float, default=900)
    a = ap.parse_args()
    if os.environ.get("WINRSH_SKIP_SOAK"):
        print("SKIP: WINRSH_SKIP_SOAK is set")
        return 77
    if harness.sanitized_build():
        print("SKIP: soak measures RSS, meaningless under the sanitizers")
        return 77
    psrp = a.psrp
    if psrp:
        path, why = find_pwsh()
        if path is None:
            print("SKIP (PSRP phase): no pwsh: %s" % why)
            psrp = 0
    soak = harness.program(os.path.join("tests", "soak", "soak"))
    tmp = harness.TempDir("winrsh-soak-")
    host = harness.TestHost(users={USER: PASSWORD}, workdir=tmp.path)
    failed = 1
    try:
        host.start()
        env = harness.winrsh_env(PASSWORD, harness.make_config_dir(tmp.path))
        r = harness.run([soak, "--winrs", str(a.winrs), "--psrp", str(psrp),
                         "--warmup", str(a.warmup), "--bound-kb",
                         str(a.bound_kb), host.url, USER], env=env,
                        timeout=a.timeout)
        sys.stdout.write(r.out.decode("utf-8", "replace"))
        sys.stdout.write(r.err.decode("utf-8", "replace"))
        if r.timed_out:
            print("soak: timed out after %.0f s" % a.timeout)
        elif r.rc == 0:
            failed = 0
        else:
            print("soak: exit status %s" % r.rc)
            if r.rc == 3:
                print(host.stderr_text()[-2000:])
    finally:
        host.stop()
        tmp.close()
    print("%d passed, %d failed" % (1 - failed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(main())
