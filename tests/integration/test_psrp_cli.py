#!/usr/bin/python3
"""Integration tests of the winrsh program with PowerShell (PSRP over
WS-Man, the default shell) against the test WinRM host's PowerShell
endpoint, which bridges each shell to a real `pwsh -s`.

The assertions are the contract in ARCHITECTURE.md section 4: output
formatted by the remote side on stdout, errors rendered on stderr, exit
status (N after `exit N`, 1 after an error, 0 otherwise, 130 after Ctrl-C),
stdin as pipeline input, --output json, and the pool (WS-Man shell) always
deleted on the way out.

Skipped, with the reason printed, only when no pwsh is installed (the
host's own search: WINRSH_TEST_PWSH, the scripts/setup cache, PATH).

Run by /usr/bin/python3 through ctest (WINRSH_BUILD_DIR, WINRSH_SOURCE_DIR);
prints `N passed, N failed` last.
"""

import json
import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import harness  # noqa: E402
from harness import (A_COMMAND, A_CREATE, A_DELETE, A_SIGNAL,  # noqa: E402
                     DEVNULL, TestHost, count, run, shells_balanced, start,
                     winrsh)
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

USER = "alice"
PASSWORD = "Pa55-w0rd.x"


class PsrpCli(unittest.TestCase):
    host = None
    figures = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir()
        cls.config_dir = harness.make_config_dir(cls.tmp.path)
        try:
            cls.host = TestHost(users={USER: PASSWORD},
                                allow_unencrypted=True,
                                workdir=cls.tmp.path).start()
        except BaseException:
            cls.tmp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.host is not None:
            cls.host.stop()
        cls.tmp.close()
        for k, v in sorted(cls.figures.items()):
            print("FIGURE %s: %s" % (k, v))

    # -- helpers ------------------------------------------------------------
    def env(self, **extra):
        return harness.winrsh_env(PASSWORD, self.config_dir, **extra)

    def argv(self, *words, opts=()):
        return ([winrsh(), "-a", "basic", "--allow-unencrypted", "-u", USER]
                + list(opts) + [self.host.url] + list(words))

    def ps(self, *words, opts=(), stdin=DEVNULL, timeout=60):
        return run(self.argv(*words, opts=opts), env=self.env(), stdin=stdin,
                   timeout=timeout)

    def check(self, r, rc, out=None, err=None):
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, rc, r.describe())
        if out is not None:
            self.assertEqual(r.out, out, r.describe())
        if err is not None:
            self.assertEqual(r.err, err, r.describe())

    def assert_pool_deleted(self, mark, r=None):
        reqs = self.host.wait_for(shells_balanced, since=mark)
        self.assertGreaterEqual(count(reqs, A_CREATE, 200), 1,
                                "no shell created")
        self.assertTrue(shells_balanced(reqs), "pool not deleted; %s" % (
            r.describe() if r else ""))
        return reqs

    # -- the basics -----------------------------------------------------------
    def test_version_major(self):
        mark = self.host.mark()
        r = self.ps("$PSVersionTable.PSVersion.Major")
        self.check(r, 0, b"7\n", b"")
        reqs = self.assert_pool_deleted(mark, r)
        # One pipeline: one Command, released with terminate afterwards.
        self.assertEqual(count(reqs, A_COMMAND, 200), 1)
        self.assertEqual(count(reqs, A_SIGNAL, 200), 1)

    def test_words_are_joined_like_ssh(self):
        r = self.ps("Write-Output", "one", "two")
        self.check(r, 0, b"one\ntwo\n", b"")

    def test_get_date_latency(self):
        r = self.ps("Get-Date")
        self.check(r, 0, err=b"")
        self.assertIn(str(time.localtime().tm_year).encode(), r.out)
        self.figures["one 'winrsh host Get-Date' (s)"] = "%.2f" % r.elapsed

    def test_write_error_exits_1(self):
        mark = self.host.mark()
        r = self.ps("Write-Error boom")
        self.check(r, 1, b"")
        self.assertIn(b"boom", r.err)
        self.assertNotIn(b"<Obj", r.err)      # rendered, never CLIXML
        self.assertIn(b"FullyQualifiedErrorId", r.err)
        self.assert_pool_deleted(mark, r)

    def test_error_then_output(self):
        r = self.ps("Write-Error first; 'after'")
        self.check(r, 1, b"after\n")
        self.assertIn(b"first", r.err)

    def test_exit_code(self):
        mark = self.host.mark()
        r = self.ps("exit 5")
        self.check(r, 5, b"", b"")
        self.assert_pool_deleted(mark, r)
        self.check(self.ps("'x'; exit 0"), 0, b"x\n", b"")
        # exit wins over an earlier error record
        r = self.ps("Write-Error e; exit 0")
        self.check(r, 0, b"")
        r = self.ps("exit 254")
        self.check(r, 254, b"", b"")

    def test_exit_code_out_of_range(self):
        r = self.ps("exit 300")
        self.check(r, 254, b"")
        self.assertIn(b"300", r.err)

    def test_throw(self):
        r = self.ps("'before'; throw 'bad thing'; 'not reached'")
        self.check(r, 1, b"before\n")
        self.assertIn(b"bad thing", r.err)
        self.assertNotIn(b"not reached", r.out)

    def test_last_exit_code_of_native_command(self):
        r = self.ps("sh -c 'exit 3'; $LASTEXITCODE")
        self.check(r, 0, b"3\n", b"")

    def test_streams(self):
        r = self.ps("Write-Warning w1; Write-Verbose v1 -Verbose; "
                    "Write-Debug d1 -Debug; Write-Host h1; "
                    "Write-Host -NoNewline a; Write-Host b; "
                    "Write-Information i1; 'out'")
        self.check(r, 0, b"h1\nab\nout\n",
                   b"WARNING: w1\nVERBOSE: v1\nDEBUG: d1\n")

    def test_silent_preferences_print_nothing(self):
        r = self.ps("Write-Warning w -WarningAction SilentlyContinue; "
                    "Write-Verbose v; 'o'")
        self.check(r, 0, b"o\n", b"")

    def test_many_types(self):
        r = self.ps("1; 2.5; $true; [char]65; 'str'; [guid]::Empty; "
                    "[version]'1.2.3'")
        self.check(r, 0, err=b"")
        lines = r.out.decode().split("\n")
        for want in ("1", "2.5", "True", "A", "str",
                     "00000000-0000-0000-0000-000000000000"):
            self.assertIn(want, lines, r.describe())
        self.assertIn(b"Major", r.out)   # Version is formatted as a table

    def test_formatting_uses_remote_width(self):
        r = self.ps("'x' * 200")
        self.check(r, 0, b"x" * 200 + b"\n", b"")
        r = self.ps("Get-Item /tmp | Select-Object Name,FullName | "
                    "Format-Table")
        self.check(r, 0, err=b"")
        self.assertIn(b"Name", r.out)
        self.assertIn(b"FullName", r.out)

    def test_unicode(self):
        text = "h\u00e9llo w\u00f6rld \u2713 \U00010437 \u65e5\u672c"
        r = self.ps("'%s'" % text)
        self.check(r, 0, (text + "\n").encode(), b"")
        r = self.ps("$input", stdin=("\u00fcn\u00ef\n%s\n" % text).encode())
        self.check(r, 0, ("\u00fcn\u00ef\n%s\n" % text).encode(), b"")
        r = self.ps("[pscustomobject]@{n='%s'}" % text, opts=("--output", "json"))
        self.check(r, 0, err=b"")
        self.assertEqual(json.loads(r.out), {"n": text})

    # -- stdin ------------------------------------------------------------------
    def test_stdin_lines_are_pipeline_input(self):
        r = self.ps("$input | % ToUpper", stdin=b"alpha\n")
        self.check(r, 0, b"ALPHA\n", b"")
        # CRLF and a last line without its end; empty lines kept
        r = self.ps("$input | % { '[' + $_ + ']' }",
                    stdin=b"one\r\n\ntwo")
        self.check(r, 0, b"[one]\n[]\n[two]\n", b"")
        r = self.ps("@($input).Count", stdin=b"")
        self.check(r, 0, b"0\n", b"")
        # bytes that are not UTF-8 arrive as U+FFFD, not as a failure
        r = self.ps("$input", stdin=b"a\xffb\n")
        self.check(r, 0, "a\ufffdb\n".encode(), b"")

    def test_stdin_many_lines(self):
        data = b"".join(b"line %d\n" % i for i in range(20000))
        r = self.ps("($input | Measure-Object).Count", stdin=data)
        self.check(r, 0, b"20000\n", b"")

    def test_no_stdin_option(self):
        r = self.ps("@($input).Count", opts=("-n",), stdin=b"ignored\n")
        self.check(r, 0, b"0\n", b"")

    def test_read_host_without_terminal_does_not_hang(self):
        r = self.ps("try { Read-Host 'name' } catch { 'caught' }; "
                    "$host.UI.RawUI.BufferSize.Width", timeout=30)
        self.check(r, 0, b"caught\n120\n", b"")
        r = self.ps("Get-Credential", timeout=30)
        self.check(r, 1, b"")
        self.assertIn(b"Get-Credential", r.err)

    # -- --output json ------------------------------------------------------------
    def test_output_json(self):
        r = self.ps("[pscustomobject]@{a=1;b='x'}", opts=("--output", "json"))
        self.check(r, 0, b'{"a":1,"b":"x"}\n', b"")
        r = self.ps("1; 'two'; $true; 2.5; @{k='v'}",
                    opts=("--output", "json"))
        self.check(r, 0, b'1\n"two"\ntrue\n2.5\n{"k":"v"}\n', b"")
        r = self.ps("Write-Error nope; 1", opts=("--output", "json"))
        self.check(r, 1, b"1\n")
        self.assertIn(b"nope", r.err)

    # -- size, stop, many pipelines --------------------------------------------
    def test_20mb_output(self):
        n = 200000
        r = self.ps("1..%d | %% { 'line ' + $_ + ' ' + ('x' * 90) }" % n,
                    timeout=240)
        self.check(r, 0, err=b"")
        lines = r.out.split(b"\n")
        self.assertEqual(len(lines), n + 1, r.describe())
        self.assertEqual(lines[0], b"line 1 " + b"x" * 90)
        self.assertEqual(lines[n - 1], b"line %d " % n + b"x" * 90)
        self.assertGreater(len(r.out), 20 * 1000 * 1000)
        self.figures["20 MB of output (s)"] = "%.1f" % r.elapsed
        self.figures["20 MB of output, peak RSS (KiB)"] = r.maxrss_kb

    def test_ctrl_c_stops_the_pipeline(self):
        mark = self.host.mark()
        p = start(self.argv("'started'; Start-Sleep 60; 'not reached'"),
                  env=self.env(), stdin=DEVNULL)
        # Wait until the pipeline runs (its Command was answered).
        deadline = time.monotonic() + 30
        while (time.monotonic() < deadline and not p.exited()
               and count(self.host.requests(mark), A_COMMAND, 200) < 1):
            time.sleep(0.05)
        time.sleep(1.0)
        t0 = time.monotonic()
        p.signal(signal.SIGINT)
        r = p.wait(30)
        took = time.monotonic() - t0
        self.check(r, 130)
        self.assertNotIn(b"not reached", r.out)
        self.assertLess(took, 5.0, r.describe())
        reqs = self.assert_pool_deleted(mark, r)
        # The stop signal (crtl_c), then terminate.
        self.assertGreaterEqual(count(reqs, A_SIGNAL, 200), 2)
        self.figures["Ctrl-C to exit (s)"] = "%.2f" % took

    def test_many_pipelines_in_one_session_flat_memory(self):
        # The REPL (no COMMAND, stdin not a terminal) runs one pipeline per
        # line in one runspace pool.
        def repl(n):
            lines = b"".join(b"'n %d'\n" % i for i in range(n))
            return run(self.argv(), env=self.env(), stdin=lines, timeout=240)
        mark = self.host.mark()
        small = repl(100)
        self.check(small, 0, err=b"")
        big = repl(1000)
        self.check(big, 0, err=b"")
        self.assertEqual(big.out.split(b"\n")[-2], b"n 999")
        self.assertEqual(len(big.out.split(b"\n")), 1001)
        reqs = self.host.wait_for(shells_balanced, since=mark)
        self.assertEqual(count(reqs, A_CREATE, 200), 2)
        self.assertTrue(shells_balanced(reqs))
        self.assertEqual(count(reqs, A_COMMAND, 200), 1100)
        self.figures["1000 pipelines in one session (s)"] = "%.1f" % big.elapsed
        self.figures["peak RSS 100 / 1000 pipelines (KiB)"] = "%d / %d" % (
            small.maxrss_kb, big.maxrss_kb)
        if not harness.sanitized_build():
            self.assertLess(big.maxrss_kb - small.maxrss_kb, 4096,
                            "memory grows with pipelines")

    def test_unknown_host_fails_255(self):
        r = run([winrsh(), "-a", "basic", "--allow-unencrypted", "-u", USER,
                 "http://127.0.0.1:1/wsman", "1"], env=self.env(), timeout=30)
        self.check(r, 255, b"")
        self.assertEqual(len(r.err_lines), 1, r.describe())


def main():
    path, why = find_pwsh()
    if path is None:
        print("SKIP: the PowerShell tests need pwsh: %s" % why)
        print("0 passed, 0 failed")
        return 0
    return harness.main()


if __name__ == "__main__":
    sys.exit(main())
