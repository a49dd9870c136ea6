"""winrsh under valgrind (memcheck) against the test host: the integration
half of tests/valgrind/run_valgrind.sh (which also runs the unit tests).

Representative invocations: WinRS echo, stdin, large output and Ctrl-C over
Basic; PSRP one-shot over WS-Man and over process:// (a local pwsh);
NTLM with message encryption; Kerberos; HTTPS; two error paths (a truncated
sealed reply, a connection dropped mid-Receive).  Each runs as

    valgrind --error-exitcode=99 --leak-check=full
             --errors-for-leak-kinds=definite,indirect --track-fds=no winrsh ...

and must exit as it does without valgrind, with `ERROR SUMMARY: 0 errors`.
The PSRP cases are skipped, with the reason printed, when there is no pwsh.

Run: /usr/bin/python3 tests/valgrind/valgrind_cases.py (WINRSH_BUILD_DIR);
prints one `valgrind: CASE: ...` line per case and `N passed, N failed`
last.
"""

import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import harness  # noqa: E402
from harness import A_COMMAND, DEVNULL, count, run, start, winrsh  # noqa
from testhost_proc import TestHost, TestPKI  # noqa: E402
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

USER = "alice"
PASSWORD = "Pa55-w0rd.x"
PRINCIPAL = USER + "@WINRSH.TEST"

VALGRIND = ["valgrind", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--track-fds=no"]
TIMEOUT = 180          # per invocation; memcheck is ~20-50x slower

PWSH, NO_PWSH = find_pwsh()


def port_of(url):
    return re.match(r"https?://[^/]+:(\d+)/", url).group(1)


class Hosts:
    tmp = None


def setUpModule():
    Hosts.tmp = harness.TempDir("winrsh-valgrind-")
    user = ["--user", "%s:%s" % (USER, PASSWORD)]
    try:
        pki_dir = Hosts.tmp.join("pki")
        os.makedirs(pki_dir)
        Hosts.pki = TestPKI(pki_dir)
        Hosts.basic = TestHost("--auth", "basic", "--allow-unencrypted", *user)
        Hosts.gss = TestHost("--auth", "negotiate,kerberos", *user)
        Hosts.https = TestHost("--https", Hosts.pki.server_cert,
                               Hosts.pki.server_key, "--auth", "basic", *user)
        Hosts.faulty = TestHost("--auth", "ntlm", "--fault",
                                "truncate-response:3", *user)
        Hosts.dropping = TestHost("--auth", "basic", "--allow-unencrypted",
                                  "--fault", "drop-receive", *user)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for name in ("basic", "gss", "https", "faulty", "dropping"):
        h = getattr(Hosts, name, None)
        if h is not None:
            try:
                h.stop()
            except Exception:
                pass
            setattr(Hosts, name, None)
    if Hosts.tmp is not None:
        Hosts.tmp.close()
        Hosts.tmp = None


class Valgrind(unittest.TestCase):
    summary = []

    def setUp(self):
        self.dir = harness.TempDir("winrsh-vg-case-")
        self.addCleanup(self.dir.close)
        self.config_dir = harness.make_config_dir(self.dir.path)
        self.log = self.dir.join("valgrind.log")

    @classmethod
    def tearDownClass(cls):
        for line in cls.summary:
            print(line)

    def env(self, host=None, **extra):
        env = harness.winrsh_env(PASSWORD, self.config_dir, **extra)
        if host is not None and host.krb5_config:
            env["KRB5_CONFIG"] = host.krb5_config
            env["KRB5CCNAME"] = "FILE:" + self.dir.join("krb5cc")
        return env

    def argv(self, *args):
        return VALGRIND + ["--log-file=" + self.log, winrsh()] + list(args)

    def check(self, name, r, rc):
        """rc as without valgrind, and 0 valgrind errors; records the
        figures."""
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                log = f.read()
        except OSError:
            log = ""
        m = re.search(r"ERROR SUMMARY: (\d+) errors", log)
        errors = int(m.group(1)) if m else -1
        lost = dict(re.findall(r"(definitely|indirectly) lost: ([\d,]+) "
                               r"bytes", log))
        self.summary.append(
            "valgrind: %s: %s errors, definitely lost %s B, indirectly lost "
            "%s B, %.1f s" % (name, errors, lost.get("definitely", "0"),
                              lost.get("indirectly", "0"), r.elapsed or 0))
        self.assertFalse(r.timed_out, "timed out: " + r.describe())
        self.assertNotEqual(r.rc, 99, "valgrind errors:\n" + log[-6000:])
        self.assertEqual(errors, 0, "valgrind:\n" + log[-6000:])
        self.assertEqual(r.rc, rc, r.describe() + "\n" + log[-3000:])

    def winrs(self, host, *words, opts=(), stdin=DEVNULL, target=None,
              **envx):
        target = target or host.url
        return run(self.argv("--shell", "cmd", *opts, target, *words),
                   env=self.env(host, **envx), stdin=stdin, timeout=TIMEOUT)

    # -- WinRS over Basic ---------------------------------------------------
    def test_winrs_echo(self):
        r = self.winrs(Hosts.basic, "echo hi",
                       opts=["-a", "basic", "--allow-unencrypted", "-u",
                             USER])
        self.check("WinRS echo", r, 0)
        self.assertEqual(r.out, b"hi\n", r.describe())

    def test_winrs_stdin(self):
        data = b"".join(b"line %d\n" % i for i in range(20000))
        r = self.winrs(Hosts.basic, "cat",
                       opts=["-a", "basic", "--allow-unencrypted", "-u",
                             USER], stdin=data)
        self.check("WinRS stdin (%d bytes)" % len(data), r, 0)
        self.assertEqual(r.out, data)

    def test_winrs_large_output(self):
        n = 2 * 1024 * 1024
        r = self.winrs(Hosts.basic, "head -c %d /dev/zero | tr '\\0' x" % n,
                       opts=["-a", "basic", "--allow-unencrypted", "-u",
                             USER])
        self.check("WinRS 2 MB output", r, 0)
        self.assertEqual(r.out, b"x" * n)

    def test_winrs_ctrl_c(self):
        argv = self.argv("--shell", "cmd", "-a", "basic",
                         "--allow-unencrypted", "-u", USER, Hosts.basic.url,
                         "sleep 60; echo late")
        before = len(Hosts.basic.requests())
        p = start(argv, env=self.env(), stdin=DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and count(
                Hosts.basic.requests()[before:], A_COMMAND, 200) < 1:
            time.sleep(0.1)
        time.sleep(2.0)
        p.signal(signal.SIGINT)
        r = p.wait(TIMEOUT)
        self.check("WinRS Ctrl-C", r, 130)
        self.assertNotIn(b"late", r.out)

    # -- PSRP -------------------------------------------------------------------
    @unittest.skipIf(PWSH is None, "no pwsh: %s" % NO_PWSH)
    def test_psrp_wsman(self):
        r = run(self.argv("-a", "basic", "--allow-unencrypted", "-u", USER,
                          Hosts.basic.url, "1..3 | % { $_ * 2 }"),
                env=self.env(), timeout=TIMEOUT)
        self.check("PSRP one-shot over WS-Man", r, 0)
        self.assertEqual(r.out.split(), [b"2", b"4", b"6"], r.describe())

    @unittest.skipIf(PWSH is None, "no pwsh: %s" % NO_PWSH)
    def test_psrp_process(self):
        r = run(self.argv("process://" + PWSH, "'a','b' | % ToUpper"),
                env=self.env(), timeout=TIMEOUT)
        self.check("PSRP one-shot over process://", r, 0)
        self.assertEqual(r.out.split(), [b"A", b"B"], r.describe())

    # -- mechanisms ---------------------------------------------------------------
    def test_ntlm_sealed(self):
        r = self.winrs(Hosts.gss, "echo sealed",
                       opts=["-a", "ntlm", "-u", USER])
        self.check("NTLM + message encryption", r, 0)
        self.assertEqual(r.out, b"sealed\n", r.describe())
        reqs = Hosts.gss.requests()
        self.assertTrue(any(q.get("encrypted") for q in reqs), reqs)

    def test_kerberos(self):
        r = self.winrs(Hosts.gss, "echo krb",
                       opts=["-a", "kerberos", "-u", PRINCIPAL, "-p",
                             port_of(Hosts.gss.url)], target="localhost")
        self.check("Kerberos + message encryption", r, 0)
        self.assertEqual(r.out, b"krb\n", r.describe())

    def test_https(self):
        r = self.winrs(Hosts.https, "echo tls",
                       opts=["-a", "basic", "-u", USER, "--https",
                             "--cacert", Hosts.pki.ca, "-p",
                             port_of(Hosts.https.url)], target="localhost")
        self.check("HTTPS + Basic", r, 0)
        self.assertEqual(r.out, b"tls\n", r.describe())

    # -- error paths ------------------------------------------------------------
    def test_truncated_sealed_reply(self):
        r = self.winrs(Hosts.faulty, "echo hi",
                       opts=["-a", "ntlm", "-u", USER])
        self.check("error: truncated sealed reply", r, 255)
        self.assertRegex(r.err.decode(), r"encrypted body")

    def test_connection_dropped(self):
        r = self.winrs(Hosts.dropping, "echo hi",
                       opts=["-a", "basic", "--allow-unencrypted", "-u",
                             USER])
        self.check("error: connection dropped mid-Receive", r, 255)
        self.assertRegex(r.err.decode(), r"connection to .* lost")


def main():
    if subprocess.run(["sh", "-c", "command -v valgrind"],
                      stdout=subprocess.DEVNULL).returncode != 0:
        print("SKIP: valgrind is not installed")
        print("0 passed, 0 failed")
        return 0
    if harness.sanitized_build():
        print("SKIP: valgrind cannot run a sanitizer build")
        print("0 passed, 0 failed")
        return 0
    return harness.main()


if __name__ == "__main__":
    sys.exit(main())
