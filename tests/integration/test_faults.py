"""winrsh against a broken server (issue 8): every fault the test host can
inject (`--fault`, tests/server/winrm_host/faults_inject.py) ends in exit
status 255, nothing on stdout, ONE line on stderr naming what went wrong,
within a stated time, and without a crash or a leak (the sanitizer pass
runs this file against the ASan/LSan build: a report changes the exit
status).  Where the shell was created, it is deleted on the way out.

The slow cases (a server that never answers, one that drips a byte a second)
are bounded by the client's HTTP timeout, OperationTimeout +
WR_WSMAN_HTTP_MARGIN_MS (wsman/wsman.h, 10 s): with --operation-timeout 1
that is 11 s.  They run concurrently (SlowFaults.setUpClass), so the file
takes ~15 s plus ~15 s for the rest.

Run: /usr/bin/python3 tests/integration/test_faults.py (WINRSH_BUILD_DIR);
prints `N passed, N failed` last.
"""

import os
import signal
import socket
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import harness  # noqa: E402
from harness import (A_CREATE, DEVNULL,  # noqa: E402
                     TestHost, count, run, shells_balanced, start, winrsh)
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

USER = "alice"
PASSWORD = "Pa55-w0rd.x"

# --operation-timeout 1 --connect-timeout 1: the HTTP timeout is then
# 1 s + WR_WSMAN_HTTP_MARGIN_MS (10 s).
OP_TIMEOUT_S = 1
HTTP_MARGIN_S = 10
HTTP_TIMEOUT_S = OP_TIMEOUT_S + HTTP_MARGIN_S
SLACK_S = 10                 # start-up, cleanup requests, a loaded CI box
FAST_BOUND_S = 15            # every fault that is not a timeout

# The message of an HTTP timeout, as transport/http.c words it: it names
# the timeout that fired (the request timeout here) and its value.
# A Receive runs with a shorter OperationTimeout of its own (the client's
# receive loop), hence the general form; the first request's is exact.
NO_ANSWER = (r"no answer from http://127\.0\.0\.1:\d+/wsman within the request "
             r"timeout \((\d+) ms\): ")
NO_ANSWER_DEFAULT = NO_ANSWER.replace(r"(\d+)", str(HTTP_TIMEOUT_S * 1000))

MB = 1024 * 1024


def host_dir(tmp):
    """A directory of its own for each host's log (the harness names its
    log after id(host), which a later host may reuse)."""
    return tempfile.mkdtemp(prefix="host-", dir=tmp.path)


def have_pwsh():
    return find_pwsh()[0] is not None


class Base(unittest.TestCase):
    figures = {}

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-faults-")
        cls.config_dir = harness.make_config_dir(cls.tmp.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.close()

    # -- helpers ------------------------------------------------------------
    def host(self, *faults, auth="basic", extra=()):
        """A test host with these --fault specs, stopped at cleanup."""
        args = []
        for f in faults:
            args += ["--fault", f]
        h = TestHost(users={USER: PASSWORD}, auth=auth,
                     allow_unencrypted=(auth == "basic"),
                     extra_args=args + list(extra),
                     workdir=host_dir(self.tmp)).start()
        self.addCleanup(h.stop)
        return h

    def argv(self, host, *words, auth="basic", shell="cmd", opts=()):
        a = [winrsh(), "-u", USER, "-a", auth]
        if shell:
            a += ["--shell", shell]
        if auth == "basic":
            a.append("--allow-unencrypted")
        return a + list(opts) + [host.url] + list(words)

    def env(self):
        return harness.winrsh_env(PASSWORD, self.config_dir)

    def winrsh(self, host, *words, timeout=FAST_BOUND_S + SLACK_S,
               stdin=DEVNULL, **kw):
        return run(self.argv(host, *words, **kw), env=self.env(),
                   stdin=stdin, timeout=timeout)

    def failed(self, r, pattern, bound):
        """255, empty stdout, one `winrsh: ` line matching pattern, within
        bound seconds; returns the line."""
        self.assertFalse(r.timed_out, "hung: " + r.describe())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertEqual(r.out, b"", r.describe())
        lines = r.err_lines
        self.assertEqual(len(lines), 1, "want ONE line on stderr: "
                         + r.describe())
        self.assertTrue(lines[0].startswith("winrsh: "), r.describe())
        self.assertRegex(lines[0], pattern, r.describe())
        self.assertNotIn(PASSWORD, r.err.decode("utf-8", "replace"))
        self.assertLess(r.elapsed, bound, "took %.1f s (bound %d s): %s"
                        % (r.elapsed, bound, r.describe()))
        return lines[0]

    def faulted(self, host, kind, at_least=1):
        """The host logged the fault (so the test tested what it says)."""
        reqs = host.wait_for(
            lambda q: sum(1 for x in q if x.get("fault") == kind) >= at_least)
        self.assertGreaterEqual(
            sum(1 for x in reqs if x.get("fault") == kind), at_least,
            "fault %s never happened: %s" % (kind, reqs))
        return reqs

    def shell_deleted(self, host):
        reqs = host.wait_for(lambda q: count(q, A_CREATE, 200) >= 1 and
                             shells_balanced(q))
        self.assertEqual(count(reqs, A_CREATE, 200), 1, reqs)
        self.assertTrue(shells_balanced(reqs), "shell left behind: %s"
                        % [(x.get("action"), x.get("status")) for x in reqs])


# ---------------------------------------------------------------------------
class ConnectionDropped(Base):
    """The server closes the socket after half a Receive reply."""

    def test_winrs_basic(self):
        h = self.host("drop-receive")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"receiving output failed: connection to "
                    r"http://127\.0\.0\.1:\d+/wsman lost", FAST_BOUND_S)
        self.faulted(h, "drop-receive")
        self.shell_deleted(h)

    def test_winrs_sealed_ntlm(self):
        h = self.host("drop-receive", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"receiving output failed: connection to .* lost",
                    FAST_BOUND_S)
        self.shell_deleted(h)

    @unittest.skipUnless(have_pwsh(), "needs pwsh")
    def test_psrp_pipeline_receive(self):
        # Receive 1 is the pool's opening; 2 the pipeline's output.
        h = self.host("drop-receive:2", auth="ntlm")
        r = self.winrsh(h, "'hi'", auth="ntlm", shell=None)
        self.failed(r, r"receiving from the pipeline failed: connection to "
                    r".* lost", FAST_BOUND_S)
        self.faulted(h, "drop-receive")
        self.shell_deleted(h)


class Http500(Base):
    def test_fault_body_on_command(self):
        h = self.host("status-500:Command")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"cannot start 'echo hi': WS-Man fault 2150858752 "
                    r"\(w:InternalError\) from 127\.0\.0\.1: .*injected",
                    FAST_BOUND_S)
        self.shell_deleted(h)

    def test_fault_body_on_receive(self):
        h = self.host("status-500:Receive")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"receiving output failed: WS-Man fault 2150858752",
                    FAST_BOUND_S)
        self.shell_deleted(h)

    def test_empty_body_on_create(self):
        h = self.host("empty-500:Create")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"cannot open a shell on .*: Create: HTTP 500 with "
                    r"an empty body", FAST_BOUND_S)

    def test_empty_body_on_receive_sealed(self):
        # A bare 500 (unsealed, empty) on an encrypted session, as Windows
        # sends when it refuses a body.
        h = self.host("empty-500:Receive", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"receiving output failed: Receive: HTTP 500 with an "
                    r"empty body", FAST_BOUND_S)
        self.shell_deleted(h)

    @unittest.skipUnless(have_pwsh(), "needs pwsh")
    def test_fault_body_psrp_command(self):
        h = self.host("status-500:Command", auth="ntlm")
        r = self.winrsh(h, "'hi'", auth="ntlm", shell=None)
        self.failed(r, r"cannot start the pipeline: WS-Man fault 2150858752",
                    FAST_BOUND_S)
        self.shell_deleted(h)


class AuthLoop(Base):
    """401 for every request, even with the right password: the client
    gives up after a bounded number of tries."""

    def test_basic(self):
        h = self.host("auth-loop")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"access denied by 127\.0\.0\.1: the server refused "
                    r"the credentials of user 'alice' \(basic "
                    r"authentication, HTTP 401\)", FAST_BOUND_S)
        reqs = self.faulted(h, "auth-loop")
        self.assertLessEqual(len(reqs), 3, "401 loop: %s" % reqs)

    def test_ntlm_after_a_good_handshake(self):
        # The handshake completes (empty bodies), the sealed request gets
        # 401: the client authenticates once more, then stops.
        h = self.host("auth-loop", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"access denied by 127\.0\.0\.1: .*\(ntlm "
                    r"authentication, HTTP 401\)", FAST_BOUND_S)
        reqs = self.faulted(h, "auth-loop")
        self.assertLessEqual(len(reqs), 8, "401 loop: %s" % reqs)
        self.assertLessEqual(
            sum(1 for x in reqs if x.get("fault") == "auth-loop"), 3, reqs)


class EncryptedBody(Base):
    """Sealed replies (NTLM over HTTP) that do not unseal.  A one-bit
    tamper is test_auth_cli.py's (`--fault tamper-response:1`)."""

    def test_truncated(self):
        # Sealed reply 2 answers Command.
        h = self.host("truncate-response:2", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"cannot start 'echo hi': encrypted body: .*"
                    r"truncated", FAST_BOUND_S)
        self.faulted(h, "truncate-response")
        self.shell_deleted(h)

    def test_garbled(self):
        h = self.host("garble-response:2", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"cannot start 'echo hi': encrypted body: ",
                    FAST_BOUND_S)
        self.faulted(h, "garble-response")
        self.shell_deleted(h)

    def test_garbled_create(self):
        h = self.host("garble-response:1", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"cannot open a shell on .*: encrypted body: ",
                    FAST_BOUND_S)

    def test_truncated_receive(self):
        # Sealed replies: Create, Command, Receive (an empty stdin sends
        # nothing).
        h = self.host("truncate-response:3", auth="ntlm")
        r = self.winrsh(h, "echo hi", auth="ntlm")
        self.failed(r, r"receiving output failed: encrypted body: .*"
                    r"truncated", FAST_BOUND_S)
        self.shell_deleted(h)


class EnvelopeSize(Base):
    def test_request_over_the_server_limit(self):
        # The host's limit lowered to 50000 bytes: the first Send of 1 MB of
        # stdin is over it; w:EncodingLimit, as Windows answers.
        h = self.host("server-envelope-limit:50000")
        r = self.winrsh(h, "cat >/dev/null; echo done",
                        stdin=b"x" * MB)
        self.failed(r, r"cannot send stdin to the command: WS-Man fault "
                    r"2150858825 \(w:EncodingLimit\) .*50000 bytes",
                    FAST_BOUND_S)
        self.shell_deleted(h)

    def test_reply_over_max_envelope_size_refused(self):
        # A Receive reply of 1 MiB, twice the MaxEnvelopeSize (512000) the
        # client asked for: over WR_WSMAN_REPLY_LIMIT (wsman/wsman.h,
        # MaxEnvelopeSize + 25% = 640000 bytes), refused with the size and
        # the limit.  Windows never answers above MaxEnvelopeSize.
        h = self.host("oversize-response:%d" % MB)
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"receiving output failed: answer from "
                    r"http://127\.0\.0\.1:\d+/wsman is \d+ bytes, over the "
                    r"limit of 640000 bytes \(MaxEnvelopeSize \+ 25%\)$",
                    FAST_BOUND_S)
        self.faulted(h, "oversize-response")
        self.shell_deleted(h)

    def test_reply_under_the_limit_is_read(self):
        # Over MaxEnvelopeSize (512000) but within the 25% slack: read.
        h = self.host("oversize-response:%d" % 600000)
        r = self.winrsh(h, "echo hi")
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual((r.rc, r.out, r.err), (0, b"hi\n", b""),
                         r.describe())
        self.faulted(h, "oversize-response")

    def test_reply_over_the_limit_not_buffered(self):
        # A 70 MB answer is cut off at the limit (640000 bytes), not
        # buffered whole (formerly at WR_HTTP_MAX_RESPONSE, 64 MiB).
        h = self.host("oversize-response:%d" % (70 * 1000 * 1000))
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"receiving output failed: answer from "
                    r"http://127\.0\.0\.1:\d+/wsman (is \d+ bytes, over|is "
                    r"larger than) the limit of 640000 bytes", FAST_BOUND_S)
        if not harness.sanitized_build():
            self.assertLess(r.maxrss_kb, 200 * 1024, "peak RSS %d KiB"
                            % r.maxrss_kb)
            self.figures["peak RSS, 70 MB reply refused"] = "%d KiB" % (
                r.maxrss_kb)
        self.shell_deleted(h)


class Conversation(Base):
    def test_wrong_relates_to(self):
        h = self.host("wrong-relates-to:Receive")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"receiving output failed: Receive: the reply answers "
                    r"message uuid:[0-9A-F-]{36}, not ours \(uuid:", FAST_BOUND_S)
        self.faulted(h, "wrong-relates-to")
        self.shell_deleted(h)

    def test_wrong_relates_to_on_create(self):
        # The shell was made but the reply is not believed: nothing to
        # delete, since its id cannot be trusted either.
        h = self.host("wrong-relates-to:Create")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"cannot open a shell on .*: Create: the reply "
                    r"answers message", FAST_BOUND_S)

    @unittest.skipUnless(have_pwsh(), "needs pwsh")
    def test_wrong_relates_to_psrp(self):
        h = self.host("wrong-relates-to:Receive", auth="ntlm")
        r = self.winrsh(h, "'hi'", auth="ntlm", shell=None)
        self.failed(r, r"Receive: the reply answers message uuid:",
                    FAST_BOUND_S)
        self.shell_deleted(h)

    def test_unknown_shell_on_command(self):
        h = self.host("bogus-shell:Command")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"cannot start 'echo hi': WS-Man fault 2150858843 "
                    r"\(w:InvalidSelectors\) .*shell was not found",
                    FAST_BOUND_S)
        self.shell_deleted(h)

    def test_unknown_shell_on_receive(self):
        h = self.host("bogus-shell:Receive")
        r = self.winrsh(h, "echo hi")
        self.failed(r, r"receiving output failed: WS-Man fault 2150858843",
                    FAST_BOUND_S)
        self.shell_deleted(h)


class SilentTls(Base):
    """A listener that accepts and never speaks: the TLS handshake is
    bounded by --connect-timeout (curl's CONNECTTIMEOUT covers it)."""

    def test_tls_handshake_never_answered(self):
        lsn = socket.socket()
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(4)
        self.addCleanup(lsn.close)
        port = lsn.getsockname()[1]
        r = run([winrsh(), "--shell", "cmd", "-a", "basic", "-u", USER,
                 "--https", "--connect-timeout", "2", "--operation-timeout",
                 str(OP_TIMEOUT_S), "-p", str(port), "127.0.0.1", "echo hi"],
                env=self.env(), timeout=60)
        # The message names the timeout that fired: the connect timeout.
        self.failed(r, r"cannot open a shell on https://127\.0\.0\.1:\d+/"
                    r"wsman: no connection to https://127\.0\.0\.1:\d+/wsman "
                    r"within the connect timeout \(2000 ms\): .*SSL connection "
                    r"timeout", 2 + SLACK_S)
        self.assertGreaterEqual(r.elapsed, 1.5, r.describe())


class SilentOutOfProcessPeer(Base):
    """process:// to a "pwsh" that reads and never answers: the first
    DataAck wait is bounded by --operation-timeout, then the child is
    stopped (EOF, 2 s grace, SIGTERM) and none is left behind."""

    MARK = "29.4321"          # sleep's argument: finds a leftover child

    def setUp(self):
        self.dir = harness.TempDir("winrsh-faults-oop-")
        self.addCleanup(self.dir.close)
        self.pwsh = self.dir.join("silent-pwsh")
        with open(self.pwsh, "w") as f:
            f.write("#!/bin/sh\nexec sleep %s\n" % self.MARK)
        os.chmod(self.pwsh, 0o755)

    def leftovers(self):
        found = []
        for d in os.listdir("/proc"):
            try:
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    if f.read() == b"sleep\0" + self.MARK.encode() + b"\0":
                        found.append(int(d))
            except (OSError, ValueError):
                pass
        return found

    def test_peer_never_answers(self):
        r = run([winrsh(), "--operation-timeout", "3",
                 "process://" + self.pwsh, "1"], env=self.env(), timeout=60)
        self.failed(r, r"cannot open a PowerShell session on process://.*: "
                    r"out-of-process: no DataAck\(0{8}-0{4}-0{4}-0{4}-0{12}\) "
                    r"from the server within 3000 ms", 3 + 2 + SLACK_S)
        self.assertEqual(self.leftovers(), [], "the child outlived winrsh")

    def test_ctrl_c_while_peer_never_answers(self):
        # Ctrl-C during an ack wait is not seen (fill(use_intr=0)): winrsh
        # waits out the whole timeout (60 s by default; 6 s here).
        p = start([winrsh(), "--operation-timeout", "6",
                   "process://" + self.pwsh, "1"], env=self.env(),
                  stdin=DEVNULL)
        time.sleep(1.5)
        t0 = time.monotonic()
        p.signal(signal.SIGINT)
        r = p.wait(60)
        took = time.monotonic() - t0
        self.assertEqual(self.leftovers(), [], "the child outlived winrsh")
        self.assertEqual(r.rc, 130, r.describe())
        self.assertLess(took, 4.0, "exit %.1f s after Ctrl-C" % took)


class FaultOption(unittest.TestCase):
    """The host refuses --fault specs it does not know."""

    def test_bad_specs(self):
        for spec in ("nope", "drop-receive:0", "status-500", "drip:Bogus",
                     "auth-loop:3", "server-envelope-limit:x"):
            r = run([harness.TESTHOST, "--fault", spec], timeout=20,
                    env=harness.base_env())
            self.assertEqual(r.rc, 1, r.describe())
            self.assertIn(b"--fault", r.err, r.describe())


# ---------------------------------------------------------------------------
class SlowFaults(Base):
    """Faults bounded only by the HTTP timeout (31 s here).  All of them
    start at once in setUpClass; each test checks its own outcome."""

    runs = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.hosts = []
        cls.runs = {}
        opts = ("--operation-timeout", str(OP_TIMEOUT_S),
                "--connect-timeout", str(OP_TIMEOUT_S))
        cases = {
            # name: (faults, auth, command, SIGINTs after the fault began)
            "never": (["never-answer"], "basic", "echo hi", 0),
            "never_receive": (["never-answer:Receive"], "basic",
                              "echo hi", 0),
            "never_receive_ntlm": (["never-answer:Receive"], "ntlm",
                                   "echo hi", 0),
            "drip": (["drip:Receive"], "basic", "echo hi", 0),
            "drip_create": (["drip:Create"], "basic", "echo hi", 0),
            "ctrl_c_never": (["never-answer:Receive"], "basic", "echo hi",
                             2),
            "ctrl_c_drip_body": (["drip-body:Receive"], "basic", "echo hi",
                                 2),
        }
        try:
            threads = []
            for name, (faults, auth, command, sigints) in cases.items():
                args = []
                for f in faults:
                    args += ["--fault", f]
                h = TestHost(users={USER: PASSWORD}, auth=auth,
                             allow_unencrypted=(auth == "basic"),
                             extra_args=args,
                             workdir=host_dir(cls.tmp)).start()
                cls.hosts.append(h)
                t = threading.Thread(target=cls._one, args=(
                    name, h, auth, command, opts, sigints))
                threads.append(t)
            for t in threads:
                t.start()
            for t in threads:
                t.join(HTTP_TIMEOUT_S + 3 * SLACK_S + 30)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _one(cls, name, host, auth, command, opts, sigints):
        argv = [winrsh(), "-u", USER, "-a", auth, "--shell", "cmd"]
        if auth == "basic":
            argv.append("--allow-unencrypted")
        argv += list(opts) + [host.url, command]
        env = harness.winrsh_env(PASSWORD, cls.config_dir)
        p = start(argv, env=env, stdin=DEVNULL)
        first_int = None
        if sigints:
            # Once the faulty reply is under way, SIGINT 1 s apart.
            host.wait_for(lambda q: any(x.get("fault") for x in q),
                          timeout=15)
            time.sleep(1.0)
            for _ in range(sigints):
                if first_int is None:
                    first_int = time.monotonic()
                p.signal(signal.SIGINT)
                time.sleep(1.0)
        r = p.wait(HTTP_TIMEOUT_S + 2 * SLACK_S)
        since_int = None if first_int is None else (
            time.monotonic() - first_int)
        cls.runs[name] = (host, r, since_int)

    @classmethod
    def tearDownClass(cls):
        for h in getattr(cls, "hosts", []):
            try:
                h.stop()
            except Exception:
                pass
        for k, v in sorted(cls.figures.items()):
            print("FIGURE %s: %s" % (k, v))
        super().tearDownClass()

    def outcome(self, name):
        self.assertIn(name, self.runs, "case %s did not finish" % name)
        return self.runs[name]

    def test_never_answers_first_request(self):
        h, r, _ = self.outcome("never")
        self.failed(r, r"cannot open a shell on .*: " + NO_ANSWER_DEFAULT,
                    HTTP_TIMEOUT_S + SLACK_S)
        self.assertGreaterEqual(r.elapsed, HTTP_TIMEOUT_S - 1, r.describe())
        self.faulted(h, "never-answer")
        self.figures["never-answering server: exit after"] = "%.1f s" % (
            r.elapsed)

    def test_never_answers_receive(self):
        h, r, _ = self.outcome("never_receive")
        self.failed(r, r"receiving output failed: " + NO_ANSWER,
                    HTTP_TIMEOUT_S + SLACK_S)
        self.faulted(h, "never-answer")
        self.shell_deleted(h)

    def test_never_answers_receive_sealed(self):
        h, r, _ = self.outcome("never_receive_ntlm")
        self.failed(r, r"receiving output failed: " + NO_ANSWER,
                    HTTP_TIMEOUT_S + SLACK_S)
        self.shell_deleted(h)

    def test_drip_receive(self):
        # ~1200 bytes at one a second: only the HTTP timeout ends it (curl
        # has no low-speed limit; CURLOPT_TIMEOUT_MS bounds the transfer).
        h, r, _ = self.outcome("drip")
        self.failed(r, r"receiving output failed: " + NO_ANSWER,
                    HTTP_TIMEOUT_S + SLACK_S)
        self.faulted(h, "drip")
        self.shell_deleted(h)
        self.figures["dripping server: exit after"] = "%.1f s" % r.elapsed

    def test_drip_create(self):
        h, r, _ = self.outcome("drip_create")
        self.failed(r, r"cannot open a shell on .*: " + NO_ANSWER_DEFAULT,
                    HTTP_TIMEOUT_S + SLACK_S)

    def test_ctrl_c_twice_while_never_answered(self):
        # Ctrl-C sends ctrl_c on a second connection, the second one
        # abandons the wait: out within seconds, not the 31 s timeout.
        h, r, since_int = self.outcome("ctrl_c_never")
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, 130, r.describe())
        self.assertLess(since_int, 6.0, r.describe())
        self.shell_deleted(h)
        self.figures["never answered, 2 x Ctrl-C: exit after"] = \
            "%.1f s" % since_int

    def test_ctrl_c_twice_while_body_drips(self):
        # The headers came at once, the body drips a byte a second.  The
        # first Ctrl-C sends ctrl_c on a second connection and the Receive
        # goes on; the second abandons it even mid-body (transport/http.c
        # xferinfo_cb, aborted == 2): out within seconds of it, exit 130,
        # like a second Ctrl-C at any other moment, not at the HTTP
        # timeout (11 s here).
        h, r, since_int = self.outcome("ctrl_c_drip_body")
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, 130, r.describe())
        self.assertEqual(r.out, b"", r.describe())
        # since_int counts from the first SIGINT; the second is 1 s later.
        self.assertLess(since_int, 1.0 + 4.0, r.describe())
        self.assertLess(r.elapsed, HTTP_TIMEOUT_S, r.describe())
        self.assertNotIn(b"no answer", r.err, r.describe())
        self.shell_deleted(h)
        self.figures["body drips, 2 x Ctrl-C: exit after"] = \
            "%.1f s after the first Ctrl-C (rc %d)" % (since_int, r.rc)


if __name__ == "__main__":
    sys.exit(harness.main())
