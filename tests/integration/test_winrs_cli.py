"""Integration tests of the winrsh program (--shell cmd, WinRS) and of
examples/run.c against the test WinRM host (issue 2).

The assertions are the contract in ARCHITECTURE.md section 4: exact bytes on
stdout and stderr, exit codes, stdin handling, and the shell always deleted
on the way out.  Run by /usr/bin/python3 through ctest (WINRSH_BUILD_DIR,
WINRSH_SOURCE_DIR); prints `N passed, N failed` last.
"""

import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import harness  # noqa: E402
from harness import (A_COMMAND, A_CREATE, A_DELETE, A_SEND,  # noqa: E402
                     A_SIGNAL, CLOSED, DEVNULL, KEEP_OPEN, TestHost, count,
                     program, run, shells_balanced, start, winrsh)

USER = "alice"
PASSWORD = "Pa55-w0rd.x"

MB = 1024 * 1024
RSS_LIMIT_KB = 30 * 1024          # peak RSS of winrsh for a 50 MB output
RSS_FLAT_DELTA_KB = 8 * 1024      # 50 MB run vs 1 MB run

# Deterministic binary output (every byte value, no period) from the remote
# side; the same command run locally gives the expected digest.
GEN = ('/usr/bin/python3 -c "import random,sys; '
       'sys.stdout.buffer.write(random.Random(7).randbytes(%d))"')


def local_sha256(command):
    p = subprocess.run(["/bin/sh", "-c", command], stdout=subprocess.PIPE,
                       timeout=60, check=True)
    return hashlib.sha256(p.stdout).hexdigest(), len(p.stdout)


class WinrsCli(unittest.TestCase):
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
    def env(self, password=PASSWORD, **extra):
        return harness.winrsh_env(password, self.config_dir, **extra)

    def base_argv(self, *opts):
        return [winrsh(), "--shell", "cmd", "-a", "basic",
                "--allow-unencrypted", "-u", USER] + list(opts)

    def winrsh(self, *words, opts=(), stdin=DEVNULL, timeout=30,
               password=PASSWORD, **kw):
        argv = self.base_argv(*opts) + [self.host.url] + list(words)
        return run(argv, stdin=stdin, timeout=timeout,
                   env=self.env(password), **kw)

    def check(self, r, rc, out=None, err=None):
        self.assertFalse(r.timed_out, "timed out: " + r.describe())
        if out is not None:
            self.assertEqual(r.out, out, r.describe())
        if err is not None:
            self.assertEqual(r.err, err, r.describe())
        self.assertEqual(r.rc, rc, r.describe())

    def one_error_line(self, r):
        """stderr is exactly one line starting `winrsh: `; returns it."""
        lines = r.err_lines
        self.assertEqual(len(lines), 1, "want one line on stderr: "
                         + r.describe())
        self.assertTrue(r.err.endswith(b"\n"), r.describe())
        self.assertTrue(lines[0].startswith("winrsh: "), r.describe())
        return lines[0]

    def assert_shell_deleted(self, mark, r=None, created=1):
        """Since mark: `created` shells were created and as many deleted."""
        reqs = self.host.wait_for(
            lambda q: count(q, A_CREATE, 200) >= created and
            shells_balanced(q), since=mark)
        acts = [(q.get("action") or "").rsplit("/", 1)[-1] + ":" +
                str(q.get("status")) for q in reqs]
        self.assertEqual(count(reqs, A_CREATE, 200), created,
                         "Create count; log: %s %s" % (
                             acts, r.describe() if r else ""))
        self.assertEqual(count(reqs, A_DELETE, 200), created,
                         "shell not deleted; log: %s %s" % (
                             acts, r.describe() if r else ""))
        return reqs

    # -- basics ---------------------------------------------------------------
    def test_echo_hello(self):
        times = []
        for _ in range(3):
            mark = self.host.mark()
            r = self.winrsh("echo hello")
            self.check(r, 0, b"hello\n", b"")
            self.assert_shell_deleted(mark, r)
            times.append(r.elapsed)
        self.figures["echo hello wall time (median of 3)"] = "%.3f s" % (
            statistics.median(times))

    def test_exit_code(self):
        mark = self.host.mark()
        r = self.winrsh("exit 7")
        self.check(r, 7, b"", b"")
        self.assert_shell_deleted(mark, r)

    def test_stderr_goes_to_fd2_only(self):
        r = self.winrsh("echo err 1>&2")
        self.check(r, 0, b"", b"err\n")
        r = self.winrsh("echo out; echo err 1>&2; echo out2")
        self.check(r, 0, b"out\nout2\n", b"err\n")

    def test_exit_code_out_of_range(self):
        # 255 does not fit 0-254: winrsh exits 254 and says the full code.
        r = self.winrsh("exit 255")
        self.check(r, 254, b"")
        line = self.one_error_line(r)
        self.assertRegex(line, r"\b255\b", r.describe())

    def test_remote_command_not_found(self):
        # A command the remote shell cannot run: its status, its stderr, and
        # the shell deleted all the same.
        mark = self.host.mark()
        r = self.winrsh("no_such_command_wr2")
        self.check(r, 127, b"")
        self.assertIn(b"no_such_command_wr2", r.err, r.describe())
        self.assertIn(b"not found", r.err, r.describe())
        self.assert_shell_deleted(mark, r)

    # -- stdin ------------------------------------------------------------------
    def test_stdin_lines(self):
        r = self.winrsh("cat", stdin=b"a\nb\n")
        self.check(r, 0, b"a\nb\n", b"")

    def test_stdin_empty(self):
        r = self.winrsh("cat", stdin=DEVNULL, timeout=20)
        self.check(r, 0, b"", b"")
        r = self.winrsh("cat", stdin=b"", timeout=20)
        self.check(r, 0, b"", b"")

    def test_one_shot_requests(self):
        # Issue 7: `echo hi` with an empty stdin is Create, Command,
        # Receive(s), Delete: End is held back while the command may finish
        # without reading stdin, and no terminate signal precedes the Delete
        # (deleting the shell ends its commands, MS-WSMV 3.1.4.4.1).
        for stdin in (DEVNULL, b"", CLOSED):
            mark = self.host.mark()
            r = self.winrsh("echo hi", stdin=stdin, timeout=15)
            self.check(r, 0, b"hi\n", b"")
            reqs = self.assert_shell_deleted(mark, r)
            acts = [(q.get("action") or "").rsplit("/", 1)[-1] for q in reqs
                    if q.get("action")]
            self.assertEqual(acts[:2], ["Create", "Command"], acts)
            self.assertEqual(acts[-1], "Delete", acts)
            self.assertEqual(set(acts[2:-1]), {"Receive"}, acts)
        # A command that reads its (empty) stdin still gets EOF: End goes
        # once the hold is over, then nothing but Receives and the Delete.
        mark = self.host.mark()
        r = self.winrsh("cat; echo done", stdin=DEVNULL, timeout=15)
        self.check(r, 0, b"done\n", b"")
        self.assertLess(r.elapsed, 5, r.describe())
        reqs = self.assert_shell_deleted(mark, r)
        sends = [q for q in reqs if q.get("action") == A_SEND]
        self.assertEqual(len(sends), 1, "one Send (End): %s" % reqs)
        self.assertEqual(count(reqs, A_SIGNAL), 0, "no Signal: %s" % reqs)
        # With input: the bytes and End, no Signal.
        mark = self.host.mark()
        r = self.winrsh("cat", stdin=b"x\n", timeout=15)
        self.check(r, 0, b"x\n", b"")
        reqs = self.assert_shell_deleted(mark, r)
        self.assertGreaterEqual(count(reqs, A_SEND), 1, reqs)
        self.assertEqual(count(reqs, A_SIGNAL), 0, "no Signal: %s" % reqs)

    def test_stdin_closed_fd(self):
        # fd 0 closed altogether is empty input as well.
        r = self.winrsh("cat", stdin=CLOSED, timeout=20)
        self.check(r, 0, b"", b"")

    def test_stdin_binary_roundtrip(self):
        data = bytes(range(256)) * 8 + os.urandom(3 * MB)
        r = self.winrsh("cat", stdin=data, timeout=90)
        self.check(r, 0, err=b"")
        self.assertEqual(len(r.out), len(data), r.describe())
        self.assertTrue(r.out == data, "stdin bytes changed on the way")

    def test_no_stdin_flag(self):
        # -n: no input at all, no Send; stdin is neither read nor waited
        # for, even an open pipe with data in it.
        mark = self.host.mark()
        r = self.winrsh("echo x", opts=("-n",),
                        stdin=b"must not be sent\n", timeout=15)
        self.check(r, 0, b"x\n", b"")
        reqs = self.assert_shell_deleted(mark, r)
        self.assertEqual(count(reqs, A_SEND), 0,
                         "-n sent stdin: %s" % reqs)
        mark = self.host.mark()
        r = self.winrsh("echo y", opts=("-n",), stdin=KEEP_OPEN, timeout=15)
        self.check(r, 0, b"y\n", b"")
        self.assertLess(r.elapsed, 10, r.describe())
        reqs = self.assert_shell_deleted(mark, r)
        self.assertEqual(count(reqs, A_SEND), 0, "-n sent stdin: %s" % reqs)

    # -- target forms and word order --------------------------------------------
    def test_target_user_at_host_port(self):
        argv = [winrsh(), "--shell", "cmd", "-a", "basic",
                "%s@127.0.0.1:%d" % (USER, self.host.port),
                "--allow-unencrypted", "echo", "a", "b"]
        r = run(argv, env=self.env())
        self.check(r, 0, b"a b\n", b"")

    def test_options_after_url(self):
        argv = [winrsh(), self.host.url, "--shell", "cmd", "-a", "basic",
                "-u", USER, "--allow-unencrypted", "echo", "a", "b"]
        r = run(argv, env=self.env())
        self.check(r, 0, b"a b\n", b"")

    def test_command_words_after_target(self):
        r = self.winrsh("echo", "a", "b")
        self.check(r, 0, b"a b\n", b"")
        # After the first COMMAND word everything is the command's, options
        # included: -n here goes to echo, not to winrsh.
        r = self.winrsh("echo", "-n", "x")
        self.check(r, 0, b"x", b"")

    # -- large output, memory -------------------------------------------------
    def _big(self, nbytes):
        want, n = local_sha256(GEN % nbytes)
        self.assertEqual(n, nbytes)
        h = hashlib.sha256()
        got = [0]

        def sink(chunk):
            h.update(chunk)
            got[0] += len(chunk)

        mark = self.host.mark()
        r = self.winrsh(GEN % nbytes, opts=("-n",), timeout=100,
                        stdout_sink=sink)
        self.check(r, 0, err=b"")
        self.assertEqual(got[0], nbytes, r.describe())
        self.assertEqual(h.hexdigest(), want, "stdout bytes differ")
        self.assert_shell_deleted(mark, r)
        return r

    def test_large_output_flat_memory(self):
        small = self._big(1 * MB)
        big = self._big(50 * MB)
        self.figures["peak RSS, 1 MB output"] = "%d KiB" % small.maxrss_kb
        self.figures["peak RSS, 50 MB output"] = "%d KiB" % big.maxrss_kb
        self.figures["50 MB output wall time"] = "%.2f s (%.1f MB/s)" % (
            big.elapsed, 50 / big.elapsed)
        if harness.sanitized_build():
            self.figures["RSS note"] = "sanitized build: RSS bound not checked"
            return
        self.assertLess(big.maxrss_kb, RSS_LIMIT_KB,
                        "peak RSS %d KiB for 50 MB" % big.maxrss_kb)
        self.assertLess(big.maxrss_kb - small.maxrss_kb, RSS_FLAT_DELTA_KB,
                        "RSS grows with output: %d KiB (1 MB) vs %d KiB "
                        "(50 MB)" % (small.maxrss_kb, big.maxrss_kb))

    # -- code pages ---------------------------------------------------------------
    def test_codepage_utf8(self):
        want = "héllo ☃\n".encode("utf-8")
        r = self.winrsh("echo héllo ☃", opts=("--codepage", "65001"))
        self.check(r, 0, want, b"")
        r = self.winrsh("echo héllo ☃")   # 65001 is the default
        self.check(r, 0, want, b"")
        r = self.winrsh("cat", opts=("--codepage", "65001"), stdin=want)
        self.check(r, 0, want, b"")

    def test_codepage_437(self):
        # Output arrives in the code page; winrsh prints it as received.
        r = self.winrsh("echo héllo", opts=("--codepage", "437"))
        self.check(r, 0, b"h\x82llo\n", b"")
        # stdin goes out in the code page too: the remote program sees the
        # character (UTF-8 on this host), and cat's output comes back in 437.
        r = self.winrsh("od -An -tx1", opts=("--codepage", "437"),
                        stdin=b"\x82")
        self.check(r, 0, err=b"")
        self.assertEqual(r.out.split(), [b"c3", b"a9"], r.describe())
        r = self.winrsh("cat", opts=("--codepage", "437"),
                        stdin=b"h\x82llo\n")
        self.check(r, 0, b"h\x82llo\n", b"")

    # -- Ctrl-C ---------------------------------------------------------------------
    def test_ctrl_c(self):
        mark = self.host.mark()
        argv = self.base_argv() + [self.host.url, "sleep 30; echo late"]
        p = start(argv, stdin=DEVNULL, env=self.env())
        # Wait for the command to be running, then a second more.
        self.host.wait_for(lambda q: count(q, A_COMMAND, 200) >= 1,
                           since=mark, timeout=10)
        time.sleep(1.0)
        self.assertFalse(p.exited(), "winrsh ended before Ctrl-C")
        t_int = time.monotonic()
        p.signal(signal.SIGINT)
        r = p.wait(8)
        took = time.monotonic() - t_int
        self.assertFalse(r.timed_out, "no exit after SIGINT: " + r.describe())
        self.assertLess(took, 5.0, "exit %.2fs after SIGINT" % took)
        self.figures["exit after SIGINT"] = "%.2f s" % took
        self.assertNotIn(b"late", r.out, r.describe())
        self.assertEqual(r.out, b"", r.describe())
        # One Ctrl-C sends ctrl_c and then reports the command's own status:
        # sh killed by SIGINT, which the host reports as 128+2.
        self.assertEqual(r.rc, 130, r.describe())
        reqs = self.assert_shell_deleted(mark, r)
        acts = [q.get("action") for q in reqs]
        self.assertIn(A_SIGNAL, acts, "no Signal sent: %s" % acts)
        self.assertGreater(len(acts) - 1 - acts[::-1].index(A_DELETE),
                           acts.index(A_SIGNAL), "Delete before Signal")

    def _interrupt(self, command, sigints):
        """Start command, wait until it runs, send SIGINT `sigints` times
        (1 s apart); returns (result, seconds from the last SIGINT to exit,
        requests since start)."""
        mark = self.host.mark()
        argv = self.base_argv() + [self.host.url, command]
        p = start(argv, stdin=DEVNULL, env=self.env())
        self.host.wait_for(lambda q: count(q, A_COMMAND, 200) >= 1,
                           since=mark, timeout=10)
        for _ in range(sigints):
            time.sleep(1.0)
            if p.exited():
                self.fail("winrsh ended before Ctrl-C: "
                          + p.wait(1).describe())
            t_int = time.monotonic()
            p.signal(signal.SIGINT)
        r = p.wait(8)
        took = time.monotonic() - t_int
        self.assertFalse(r.timed_out, "no exit after SIGINT: " + r.describe())
        self.assertLess(took, 5.0, "exit %.2fs after SIGINT" % took)
        reqs = self.assert_shell_deleted(mark, r)
        return r, took, reqs

    def test_ctrl_c_passes_remote_status(self):
        # One Ctrl-C is the remote's business: a command that traps it and
        # exits 42 makes winrsh exit 42 (not a fixed 130).
        r, _, reqs = self._interrupt(
            "trap 'echo trapped; exit 42' INT; sleep 30; echo late", 1)
        self.assertEqual(r.out, b"trapped\n", r.describe())
        self.assertEqual(r.rc, 42, r.describe())
        self.assertGreaterEqual(count(reqs, A_SIGNAL), 1, reqs)

    def test_ctrl_c_twice_terminates(self):
        # A command that ignores Ctrl-C: the second one terminates it and
        # winrsh exits 130 (winrsh --help), deleting the shell.
        r, took, reqs = self._interrupt("trap '' INT; sleep 30; echo late",
                                        2)
        self.figures["exit after second SIGINT"] = "%.2f s" % took
        self.assertEqual(r.out, b"", r.describe())
        self.assertEqual(r.rc, 130, r.describe())
        self.assertGreaterEqual(count(reqs, A_SIGNAL), 2,
                                "want ctrl_c then terminate: %s" % reqs)

    def test_stdout_closed_deletes_shell(self):
        # `winrsh host yes | head -c 1`: when stdout goes away winrsh stops
        # the command, deletes the shell and dies of SIGPIPE, as cat does.
        mark = self.host.mark()
        r = self.winrsh("yes", opts=("-n",), timeout=20,
                        stdout_close_after=1)
        self.assertFalse(r.timed_out, "winrsh kept running: " + r.describe())
        self.assertEqual(r.rc, -signal.SIGPIPE, r.describe())
        self.assert_shell_deleted(mark, r)

    # -- failures of winrsh itself (255) -------------------------------------
    def test_unreachable_host(self):
        argv = [winrsh(), "--shell", "cmd", "-a", "basic",
                "--allow-unencrypted", "--connect-timeout", "5",
                "%s@127.0.0.1:1" % USER, "echo x"]
        r = run(argv, env=self.env(), timeout=20)
        self.check(r, 255, b"")
        self.assertLess(r.elapsed, 7, r.describe())
        line = self.one_error_line(r)
        self.assertRegex(line, r"127\.0\.0\.1(:| port )1\b", r.describe())

    def test_connect_timeout(self):
        # A listener whose accept queue is full drops our SYNs: the connect
        # hangs until --connect-timeout, then one line and 255.
        ls = socket.socket()
        fill = []
        try:
            ls.bind(("127.0.0.1", 0))
            ls.listen(0)
            port = ls.getsockname()[1]
            for _ in range(3):
                c = socket.socket()
                c.setblocking(False)
                try:
                    c.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                fill.append(c)
            time.sleep(0.2)
            argv = [winrsh(), "--shell", "cmd", "-a", "basic",
                    "--allow-unencrypted", "--connect-timeout", "2",
                    "%s@127.0.0.1:%d" % (USER, port), "echo x"]
            r = run(argv, env=self.env(), timeout=20)
        finally:
            for c in fill:
                c.close()
            ls.close()
        self.check(r, 255, b"")
        self.assertGreater(r.elapsed, 1.5, r.describe())
        self.assertLess(r.elapsed, 5, r.describe())
        line = self.one_error_line(r)
        self.assertRegex(line, r"127\.0\.0\.1(:| port )%d\b" % port,
                         r.describe())

    def test_wrong_password(self):
        mark = self.host.mark()
        bad = "wrong-" + PASSWORD
        r = self.winrsh("echo x", password=bad)
        self.check(r, 255, b"")
        line = self.one_error_line(r)
        self.assertRegex(line.lower(), r"access (is )?denied|credential",
                         r.describe())
        self.assertNotIn(bad, r.err.decode("utf-8", "replace"))
        reqs = self.host.requests(mark)
        self.assertEqual(count(reqs, A_CREATE, 200), 0)
        self.assertLessEqual(len(reqs), 3, "retries a wrong password: %s"
                             % reqs)

    def test_refuses_unencrypted_basic(self):
        # Basic over http without --allow-unencrypted: refused before any
        # credentials leave the machine.
        with TestHost(users={USER: PASSWORD}, allow_unencrypted=True,
                      workdir=self.tmp.path) as host:
            argv = [winrsh(), "--shell", "cmd", "-a", "basic", "-u", USER,
                    host.url, "echo x"]
            r = run(argv, env=self.env())
            self.check(r, 255, b"")
            line = self.one_error_line(r)
            self.assertIn("--allow-unencrypted", line, r.describe())
            time.sleep(0.2)
            reqs = host.requests()
            self.assertEqual([q for q in reqs if q.get("authorization")], [],
                             "credentials were sent: %s" % reqs)

    def test_server_refuses_unencrypted(self):
        # The host's AllowUnencrypted=false answers 401 even to the right
        # password: one clear line, 255.
        with TestHost(users={USER: PASSWORD}, allow_unencrypted=False,
                      workdir=self.tmp.path) as host:
            argv = self.base_argv() + [host.url, "echo x"]
            r = run(argv, env=self.env())
            self.check(r, 255, b"")
            self.one_error_line(r)

    def test_unknown_option(self):
        r = run([winrsh(), "--bogus-option", self.host.url, "echo x"],
                env=self.env(), timeout=10)
        self.check(r, 255, b"")
        self.assertIn("--bogus-option", r.err_lines[0] if r.err_lines else "",
                      r.describe())
        self.assertTrue(r.err.startswith(b"winrsh: "), r.describe())
        r = run([winrsh(), "-Z", self.host.url, "echo x"], env=self.env(),
                timeout=10)
        self.check(r, 255, b"")
        self.assertIn("-Z", r.err_lines[0] if r.err_lines else "",
                      r.describe())

    def test_missing_target(self):
        r = run([winrsh(), "--shell", "cmd", "-u", USER], env=self.env(),
                timeout=10)
        self.check(r, 255, b"")
        self.assertTrue(r.err.startswith(b"winrsh: "), r.describe())
        self.assertIn("TARGET", r.err_lines[0], r.describe())
        r = run([winrsh()], env=self.env(), timeout=10)
        self.check(r, 255, b"")

    def test_no_password_option(self):
        r = run([winrsh(), "--password", "x", self.host.url, "echo x"],
                env=self.env(), timeout=10)
        self.check(r, 255, b"")
        self.assertIn("--password-file", r.err_lines[0] if r.err_lines
                      else "", r.describe())

    # -- examples/run -------------------------------------------------------------
    def example(self, *words):
        argv = [program("example_run"), self.host.url, USER] + list(words)
        return run(argv, env=self.env(), timeout=30)

    def test_example_run(self):
        mark = self.host.mark()
        r = self.example("echo hello")
        self.check(r, 0, b"hello\n", b"")
        self.assert_shell_deleted(mark, r)
        r = self.example("echo", "hello")
        self.check(r, 0, b"hello\n", b"")

    def test_example_run_exit_code(self):
        mark = self.host.mark()
        r = self.example("exit 3")
        self.check(r, 3, b"", b"")
        self.assert_shell_deleted(mark, r)


if __name__ == "__main__":
    sys.exit(harness.main())
