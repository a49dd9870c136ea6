#!/usr/bin/python3
"""The interactive session (`winrsh TARGET` with no COMMAND on a terminal)
driven through tmux, with real PowerShell behind it, the same cases over
every transport that reaches a real PowerShell here (all but vsock://):

  WS-Man    http://127.0.0.1:PORT/wsman   tests/server/testhost (Basic over
                                          HTTP), which bridges each shell to
                                          a `pwsh -s`; prompt "[127.0.0.1]: "
  process   process:///path/to/pwsh       a local `pwsh -s` started by
                                          winrsh; prompt "[localhost]: "
  ssh       ssh://USER@127.0.0.1:PORT     a real sshd (tests/server/sshd_peer)
                                          whose `powershell` subsystem runs
                                          `pwsh -sshs`; prompt "[127.0.0.1]: "
  vmbus     vmbus://VMID                  PowerShell Direct against the
                                          stand-in (tests/server/psdirect_broker)
                                          under WINRSH_HVSOCKET_DIR; prompt
                                          "[VMID]: "; the broker's log must
                                          show no protocol violation

One class per transport shares the test methods of ReplBase; each class
starts its peer once (setUpClass) and stops it in tearDownClass. Each test
starts its own tmux server (`tmux -L winrsh-test-<pid>-<n>`, a 120x40
window) running `sh -c 'winrsh ...; echo EXIT=$? > FILE'`, types with
send-keys, reads the screen with capture-pane, and kills the server at the
end. Every wait is bounded; each test takes well under 60 s.

What is checked: the prompt is the remote `prompt` function's with
"[host]: " in front (pwsh on Linux shows a Linux path); `1+1` prints 2;
Tab completes through the remote TabExpansion2 (`Get-ChildI` ->
`Get-ChildItem`, `-Recu` -> `-Recurse`); a `foreach` block typed over
several lines continues with ">> "; Ctrl-C stops `Start-Sleep 60` and the
prompt is back within 2 s, the session still working; Read-Host and
Get-Credential are answered at the terminal (the password is not echoed
and comes back intact through GetNetworkCredential()); `exit 3` leaves
with 3 and Ctrl-D with 0; the history survives a restart (Up shows the
previous session's last command) in a 0600 file.

Skipped, with the reason printed, only when no pwsh is installed.
Loopback and Unix sockets only. Run by /usr/bin/python3 through ctest;
prints the time of each transport's class and, last, `N passed, N failed`.
"""

import itertools
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import harness  # noqa: E402
from harness import SOURCE_DIR, Peer, TestHost, winrsh  # noqa: E402
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

PY = "/usr/bin/python3"
SSHD_PEER = os.path.join(SOURCE_DIR, "tests", "server", "sshd_peer")
BROKER = os.path.join(SOURCE_DIR, "tests", "server", "psdirect_broker")
VMID = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"

USER = "alice"                                   # WS-Man (the test host)
PASSWORD = "Pa55-w0rd.x"
VM_USER, VM_PASSWORD = "LAB\\admin", "s3cr\u00e9t"  # vmbus (the broker)
PROMPT = re.compile(r"^\[(127\.0\.0\.1|localhost|%s)\]: PS (/\S*)>\s*"
                    % re.escape(VMID))
START_TIMEOUT = 40.0   # pool open + first prompt (a cold pwsh start)
STEP_TIMEOUT = 15.0    # one command and the next prompt
_counter = itertools.count(1)
TIMES = {}             # class name -> seconds spent in its tests
T0 = time.monotonic()


class Tmux:
    """One tmux server with one 120x40 session running `command`."""

    def __init__(self, command, env, width=120, height=40):
        self.name = "winrsh-test-%d-%d" % (os.getpid(), next(_counter))
        self.env = env
        self._tmux("new-session", "-d", "-x", str(width), "-y", str(height),
                   command)

    def _tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-L", self.name] + list(args),
                              env=self.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=10, check=check)

    def type(self, text):
        """Literal text (no key names)."""
        self._tmux("send-keys", "-l", text)

    def keys(self, *keys):
        """Key names: Enter, Tab, C-c, C-d, Up..."""
        self._tmux("send-keys", *keys)

    def screen(self):
        r = self._tmux("capture-pane", "-p", check=False)
        return r.stdout.decode("utf-8", "replace")

    def lines(self):
        return self.screen().rstrip("\n").split("\n")

    def wait(self, pred, timeout=STEP_TIMEOUT, what="the screen"):
        """Poll the screen until pred(screen) is true; return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.screen()
            if pred(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError("timed out (%.0fs) waiting for %s; screen:\n%s"
                                     % (timeout, what, s))
            time.sleep(0.05)

    def kill(self):
        try:
            self._tmux("kill-server", check=False)
        except (OSError, subprocess.SubprocessError):
            pass


def prompts(screen):
    return [ln for ln in screen.split("\n") if PROMPT.match(ln)]


def last_line(screen):
    lines = [ln for ln in screen.rstrip("\n").split("\n")]
    while lines and not lines[-1].strip():
        lines.pop()
    return lines[-1] if lines else ""


class ReplBase:
    """The tests; subclasses say how to reach PowerShell (target())."""

    tmp = None

    def setUp(self):
        self.t_start = time.monotonic()
        self.tmux = None
        self.dir = self.tmp.join(self.id().rsplit(".", 2)[-2]
                                 + "-" + self._testMethodName)
        os.makedirs(self.dir, exist_ok=True)
        self.config_dir = harness.make_config_dir(self.dir)
        self.exit_file = os.path.join(self.dir, "exit.txt")

    def tearDown(self):
        if self.tmux is not None:
            self.tmux.kill()
        name = type(self).__name__
        TIMES[name] = TIMES.get(name, 0.0) + time.monotonic() - self.t_start

    # -- helpers ------------------------------------------------------------
    def env(self):
        env = harness.winrsh_env(PASSWORD, self.config_dir)
        env["INPUTRC"] = "/dev/null"  # readline as it comes, whatever ~ says
        env["TERM"] = "xterm"
        return env

    def start(self):
        """Start winrsh in tmux; wait for its first prompt."""
        if os.path.exists(self.exit_file):
            os.unlink(self.exit_file)
        argv = [winrsh()] + self.target()
        command = "%s; echo EXIT=$? > %s" % (
            " ".join(shlex.quote(a) for a in argv), shlex.quote(self.exit_file))
        self.tmux = Tmux("sh -c %s" % shlex.quote(command), self.env())
        s = self.tmux.wait(lambda s: PROMPT.match(last_line(s)),
                           START_TIMEOUT, "the first prompt")
        return s

    def run_line(self, text):
        """Type a line and Enter; wait for the next prompt; the screen."""
        n = len(prompts(self.tmux.screen()))
        self.tmux.type(text)
        self.tmux.keys("Enter")
        return self.tmux.wait(
            lambda s: len(prompts(s)) > n and PROMPT.match(last_line(s)),
            what="the prompt after %r" % text)

    def clear(self):
        """Clear the screen (and so the prompt count) locally."""
        self.tmux.keys("C-l")
        self.tmux.wait(lambda s: len(prompts(s)) == 1, what="a cleared screen")

    def exit_status(self, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.exit_file) as f:
                    text = f.read().strip()
                if text.startswith("EXIT="):
                    return int(text[5:])
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("winrsh did not exit within %.0fs; screen:\n%s"
                             % (timeout, self.tmux.screen()))

    # -- the tests ----------------------------------------------------------
    def test_prompt_and_arithmetic(self):
        s = self.start()
        m = PROMPT.match(last_line(s))
        self.assertEqual(m.group(1), self.host_name, s)
        self.assertTrue(m.group(2).startswith("/"), s)  # a Linux path
        s = self.run_line("1+1")
        lines = s.rstrip("\n").split("\n")
        i = max(k for k, ln in enumerate(lines) if ln.rstrip().endswith("> 1+1"))
        self.assertEqual(lines[i + 1].strip(), "2", s)
        # The prompt follows the remote location.
        s = self.run_line("Set-Location /tmp")
        self.assertIn("PS /tmp>", last_line(s), s)

    def test_tab_completion(self):
        self.start()
        self.tmux.type("Get-ChildI")
        self.tmux.keys("Tab")
        s = self.tmux.wait(lambda s: last_line(s).rstrip().endswith("> Get-ChildItem"),
                           what="Get-ChildI completed")
        self.tmux.type(" -Recu")
        self.tmux.keys("Tab")
        s = self.tmux.wait(
            lambda s: last_line(s).rstrip().endswith("> Get-ChildItem -Recurse"),
            what="-Recu completed")
        # Several matches are listed (by their ListItemText) at once.
        self.tmux.keys("C-u")
        self.tmux.type("Get-ChildItem -Fi")
        self.tmux.keys("Tab")
        s = self.tmux.wait(lambda s: re.search(r"\bFilter\b", s) and
                           re.search(r"\bFile\b", s), what="-Fi listed")
        self.assertIn("Get-ChildItem -Fi", last_line(s), s)
        # Nothing ran: the line is cleared and the session answers.
        self.tmux.keys("C-u")
        s = self.run_line("'still ' + 'here'")
        self.assertIn("still here", s)

    def test_multiline_foreach(self):
        self.start()
        n = len(prompts(self.tmux.screen()))
        self.tmux.type("foreach ($i in 1..3) {")
        self.tmux.keys("Enter")
        self.tmux.wait(lambda s: last_line(s).rstrip() == ">>",
                       what="the >> continuation prompt")
        self.tmux.type('  "item $i"')
        self.tmux.keys("Enter")
        self.tmux.wait(lambda s: last_line(s).rstrip() == ">>" and
                       'item $i"' in s, what="a second >> line")
        self.tmux.type("}")
        self.tmux.keys("Enter")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)), what="the block's output")
        lines = [ln.rstrip() for ln in s.split("\n")]
        self.assertIn(">>   \"item $i\"", lines, s)
        self.assertIn(">> }", lines, s)
        k = lines.index(">> }")
        self.assertEqual(lines[k + 1:k + 4], ["item 1", "item 2", "item 3"], s)
        self.assertNotIn("Missing closing", s)

    def test_ctrl_c_stops_the_pipeline(self):
        self.start()
        n = len(prompts(self.tmux.screen()))
        self.tmux.type("Start-Sleep 60; 'not reached'")
        self.tmux.keys("Enter")
        time.sleep(1.5)
        self.assertEqual(len(prompts(self.tmux.screen())), n)  # still running
        t0 = time.monotonic()
        self.tmux.keys("C-c")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)), timeout=10,
                           what="the prompt after Ctrl-C")
        took = time.monotonic() - t0
        self.assertLess(took, 2.0, "Ctrl-C took %.2fs" % took)
        self.assertNotIn("not reached", [ln.strip() for ln in s.split("\n")], s)
        s = self.run_line("1+1")
        self.assertEqual(s.rstrip("\n").split("\n")[-2].strip(), "2", s)
        # At the prompt, Ctrl-C drops the line being typed.
        n = len(prompts(s))
        self.tmux.type("Write-Output 'dropped'")
        self.tmux.wait(lambda s: "'dropped'" in last_line(s), what="typed text")
        self.tmux.keys("C-c")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)), what="a fresh prompt")
        s = self.run_line("'after'")
        self.assertNotIn("\ndropped", s)
        self.assertIn("\nafter", s)

    def test_read_host_and_get_credential(self):
        self.start()
        n = len(prompts(self.tmux.screen()))
        self.tmux.type('$n = Read-Host "Your name"; "Hello, $n!"')
        self.tmux.keys("Enter")
        self.tmux.wait(lambda s: last_line(s).rstrip() == "Your name:",
                       what="the Read-Host prompt")
        self.tmux.type("Bob")
        self.tmux.keys("Enter")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)), what="Read-Host's answer")
        self.assertIn("Your name: Bob\nHello, Bob!\n", s)

        secret = "S3cr3t p@ss:w0rd!"
        self.clear()
        n = len(prompts(self.tmux.screen()))
        self.tmux.type("$c = Get-Credential; $c.UserName; "
                       "'pw=' + $c.GetNetworkCredential().Password")
        self.tmux.keys("Enter")
        self.tmux.wait(lambda s: last_line(s).rstrip() == "User:",
                       what="the credential's User: prompt")
        self.tmux.type("CORP\\carol")
        self.tmux.keys("Enter")
        self.tmux.wait(lambda s: last_line(s).rstrip() ==
                       "Password for user CORP\\carol:",
                       what="the password prompt")
        self.tmux.type(secret)
        self.tmux.keys("Enter")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)),
                           what="Get-Credential's result")
        self.assertIn("PowerShell credential request", s)
        self.assertIn("\nCORP\\carol\npw=%s\n" % secret, s)
        # Never echoed while typed.
        self.assertEqual(s.count(secret), 1, s)
        # Read-Host -AsSecureString as well.
        self.clear()
        s = self.tmux.screen()
        n = len(prompts(s))
        self.tmux.type("$s = Read-Host -AsSecureString -Prompt Pin; "
                       "'pin=' + [Net.NetworkCredential]::new('', $s).Password")
        self.tmux.keys("Enter")
        self.tmux.wait(lambda s: last_line(s).rstrip() == "Pin:", what="Pin:")
        self.tmux.type("4711")
        self.tmux.keys("Enter")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)), what="the pin")
        self.assertIn("\npin=4711\n", s)
        self.assertEqual(s.count("4711"), 1, s)

    def test_exit_code(self):
        self.start()
        self.tmux.type("exit 3")
        self.tmux.keys("Enter")
        self.assertEqual(self.exit_status(), 3)

    def test_ctrl_d_leaves_with_0(self):
        self.start()
        self.run_line("Write-Error 'an error first'")
        self.tmux.keys("C-d")
        self.assertEqual(self.exit_status(), 0)

    def test_history_survives_a_restart(self):
        self.start()
        marker = "'history marker %d'" % os.getpid()
        s = self.run_line(marker)
        self.assertIn("history marker", s)
        self.tmux.type("exit")
        self.tmux.keys("Enter")
        self.assertEqual(self.exit_status(), 0)
        self.tmux.kill()
        path = os.path.join(self.config_dir, "history")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as f:
            self.assertEqual(f.read().splitlines()[-2:], [marker, "exit"])
        # A new session: Up shows `exit`, Up again the marker.
        self.start()
        self.tmux.keys("Up")
        self.tmux.wait(lambda s: last_line(s).rstrip().endswith("> exit"),
                       what="Up: the last command")
        self.tmux.keys("Up")
        self.tmux.wait(lambda s: last_line(s).rstrip().endswith("> " + marker),
                       what="Up: the command before it")
        n = len(prompts(self.tmux.screen()))
        self.tmux.keys("Enter")
        s = self.tmux.wait(lambda s: len(prompts(s)) > n and
                           PROMPT.match(last_line(s)), what="the recalled command")
        self.assertIn("\nhistory marker %d\n" % os.getpid(), s)


class ReplOverWsman(ReplBase, unittest.TestCase):
    """Over WS-Man: the test host's PowerShell endpoint."""

    host = None
    host_name = "127.0.0.1"

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-repl-")
        try:
            cls.host = TestHost(users={USER: PASSWORD}, allow_unencrypted=True,
                                workdir=cls.tmp.path).start()
        except BaseException:
            cls.tmp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.host is not None:
            cls.host.stop()
        cls.tmp.close()

    def target(self):
        return ["-a", "basic", "--allow-unencrypted", "-u", USER, self.host.url]


class ReplOverProcess(ReplBase, unittest.TestCase):
    """Over a local `pwsh -s` (process:///path): PSRP's out-of-process
    framing, no WS-Man."""

    host_name = "localhost"

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-repl-")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.close()

    def target(self):
        return ["process://" + find_pwsh()[0]]


class ReplOverSsh(ReplBase, unittest.TestCase):
    """Over ssh://USER@127.0.0.1:PORT: a real sshd (tests/server/sshd_peer)
    whose `powershell` subsystem runs `pwsh -sshs`, reached through the
    `ssh` on PATH (which winrsh runs in a process group of its own)."""

    host_name = "127.0.0.1"
    peer = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-repl-ssh-")
        try:
            cls.peer = Peer([PY, "-I", SSHD_PEER, "--pwsh", find_pwsh()[0]],
                            cls.tmp.join("sshd_peer.err"))
            cls.info = json.loads(cls.peer.ready)
        except BaseException:
            if cls.peer is not None:
                cls.peer.stop()
            cls.tmp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.peer is not None:
            cls.peer.stop()
        cls.tmp.close()

    def target(self):
        args = []
        for o in self.info["ssh_options"]:
            args += ["--ssh-option", o]
        return args + ["ssh://%s@127.0.0.1:%d" % (self.info["user"],
                                                   self.info["port"])]


class ReplOverVmbus(ReplBase, unittest.TestCase):
    """Over vmbus://VMID: PowerShell Direct against the stand-in broker
    (tests/server/psdirect_broker, reached through WINRSH_HVSOCKET_DIR),
    which logs every protocol violation of the client; none is allowed."""

    host_name = VMID
    peer = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-repl-vmbus-")
        try:
            cls.log = cls.tmp.join("broker.log")
            cls.peer = Peer([PY, "-I", BROKER, "--pwsh", find_pwsh()[0],
                             "--log", cls.log,
                             "--user", "%s:%s" % (VM_USER, VM_PASSWORD)],
                            cls.tmp.join("broker.err"))
            cls.hvdir = cls.peer.ready
        except BaseException:
            if cls.peer is not None:
                cls.peer.stop()
            cls.tmp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.peer is not None:
            cls.peer.stop()
        cls.tmp.close()

    def setUp(self):
        super().setUp()
        try:
            self.log_start = os.path.getsize(self.log)
        except OSError:
            self.log_start = 0

    def tearDown(self):
        super().tearDown()
        try:
            with open(self.log, "rb") as f:   # this test's lines only
                f.seek(self.log_start)
                bad = [line.decode("utf-8", "replace") for line in f
                       if b'"violation"' in line]
        except OSError:
            bad = []
        self.assertEqual(bad, [], "the client broke the PowerShell Direct "
                         "protocol")

    def env(self):
        env = super().env()
        env["WINRSH_PASSWORD"] = VM_PASSWORD
        env["WINRSH_HVSOCKET_DIR"] = self.hvdir
        return env

    def target(self):
        return ["-u", VM_USER, "vmbus://" + VMID]


def tearDownModule():
    for name, took in sorted(TIMES.items()):
        print("FIGURE %s tests (s): %.1f" % (name, took))
    print("FIGURE whole file (s): %.0f" % (time.monotonic() - T0))
    sys.stdout.flush()


def main():
    path, why = find_pwsh()
    if path is None:
        print("SKIP: the REPL tests need pwsh: %s" % why)
        print("0 passed, 0 failed")
        return 0
    if shutil.which("tmux") is None:
        # Not a reason to skip: CI has tmux. Say what is missing, and fail.
        print("the REPL tests need tmux (apt-get install tmux)")
        print("0 passed, 1 failed")
        return 1
    return harness.main()


if __name__ == "__main__":
    sys.exit(main())
