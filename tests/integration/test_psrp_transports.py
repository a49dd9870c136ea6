#!/usr/bin/python3
"""The one-shot PowerShell cases of the winrsh program, the same cases over
every transport that reaches a real PowerShell here:

  WS-Man    http://127.0.0.1:PORT/wsman   tests/server/testhost (Basic over
                                          HTTP, 127.0.0.1 in TrustedHosts),
                                          which bridges to a real `pwsh -s`
  process   process:///path/to/pwsh       a local `pwsh -s` started by winrsh
  ssh       ssh://USER@127.0.0.1:PORT     a real sshd (tests/server/sshd_peer)
                                          with the `powershell` subsystem,
                                          through the `ssh` on PATH
  vmbus     vmbus://VMID                  PowerShell Direct against the
                                          stand-in (tests/server/psdirect_broker)
                                          under WINRSH_HVSOCKET_DIR

The assertions are the contract of ARCHITECTURE.md section 4 (stdout carries
output objects only, errors and `WARNING: ` lines go to stderr, exit status
N after `exit N`, 1 after an error, 130 after Ctrl-C, 255 with one clear
line when winrsh itself fails; stdin lines are pipeline input, `-n` sends
none, `--output json`). One class per transport shares the test methods of
`Cases`; each class starts its peer once (setUpClass) and stops it in
tearDownClass. A class is skipped, with the reason printed, only when there
is no pwsh: $WINRSH_TEST_PWSH, else ${XDG_CACHE_HOME:-$HOME/.cache}/winrsh/
pwsh-7.6.9/pwsh.

After Ctrl-C the test also reads the process table: the pwsh that served the
session (a descendant of the peer, or of winrsh for process://) must be gone
within a few seconds of winrsh's exit.

Loopback and Unix sockets only; every wait is bounded. Run by
/usr/bin/python3 through ctest (WINRSH_BUILD_DIR, WINRSH_SOURCE_DIR); prints
the `one Get-Date` time of each transport and, last, `N passed, N failed`.
"""

import json
import os
import signal
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import Peer  # noqa: E402
from harness import (DEVNULL, SOURCE_DIR, TempDir, TestHost,  # noqa: E402
                     base_env, run, start, winrsh)

PY = "/usr/bin/python3"
SSHD_PEER = os.path.join(SOURCE_DIR, "tests", "server", "sshd_peer")
BROKER = os.path.join(SOURCE_DIR, "tests", "server", "psdirect_broker")
VMID = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"

WSMAN_USER, WSMAN_PASSWORD = "alice", "Pa55-w0rd.x"
VM_USER, VM_PASSWORD = "LAB\\admin", "s3cr\u00e9t"

RUN_TIMEOUT = 60        # one ordinary run (pwsh starts in 1-5 s here)
BIG_TIMEOUT = 150       # the 5 MB run
CTRL_C_BOUND = 5.0      # SIGINT to exit
LEFTOVER_GRACE = 5.0    # winrsh's exit to its pwsh's exit

FIGURES = {}            # "transport: what" -> value, printed at the end


def find_pwsh():
    """(path, None) or (None, why)."""
    env = os.environ.get("WINRSH_TEST_PWSH")
    if env:
        if os.access(env, os.X_OK):
            return env, None
        return None, "WINRSH_TEST_PWSH=%s is not an executable" % env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    cand = os.path.join(cache, "winrsh", "pwsh-7.6.9", "pwsh")
    if os.access(cand, os.X_OK):
        return cand, None
    return None, ("no pwsh: WINRSH_TEST_PWSH is not set and %s does not "
                  "exist (scripts/setup installs it)" % cand)


PWSH, NO_PWSH = find_pwsh()


# -- the process table ---------------------------------------------------------
def proc_table():
    """{pid: (ppid, starttime, argv)} of every process we can read."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        # pid (comm) state ppid ... ; comm may hold spaces and parentheses.
        rest = stat[stat.rindex(b")") + 2:].split()
        table[int(name)] = (int(rest[1]), int(rest[19]), argv)
    return table


def is_pwsh(argv):
    return bool(argv) and os.path.basename(argv[0]) in (b"pwsh", b"pwsh.exe")


def pwsh_under(root):
    """{(pid, starttime)} of the pwsh processes that descend from root."""
    table = proc_table()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = set(), list(children.get(root, []))
    while todo:
        pid = todo.pop()
        ppid, st, argv = table[pid]
        if is_pwsh(argv):
            found.add((pid, st))
        todo.extend(children.get(pid, []))
    return found


def still_alive(procs):
    """The (pid, starttime) pairs that still exist (not zombies)."""
    alive = set()
    for pid, st in procs:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(b")") + 2:].split()
        if int(rest[19]) == st and rest[0] != b"Z":
            alive.add((pid, st))
    return alive


def describe_procs(procs):
    table = proc_table()
    return ", ".join("%d %s" % (pid, b" ".join(table.get(pid, (0, 0, [b"?"]))[2])
                                .decode("utf-8", "replace")[:120])
                     for pid, _ in sorted(procs))


# -- peers -------------------------------------------------------------------------
# -- the cases, shared by every transport -------------------------------------------
class Cases:
    """The test methods; a transport class provides name, target(), opts(),
    env() and peer_pid() (None: pwsh is winrsh's own child)."""

    name = None

    # -- helpers ------------------------------------------------------------
    def argv(self, *words, opts=()):
        return ([winrsh()] + self.opts() + list(opts) + [self.target()]
                + list(words))

    def ps(self, *words, opts=(), stdin=DEVNULL, timeout=RUN_TIMEOUT):
        return run(self.argv(*words, opts=opts), env=self.env(), stdin=stdin,
                   timeout=timeout)

    def check(self, r, rc, out=None, err=None):
        self.assertFalse(r.timed_out, "timed out: " + r.describe())
        self.assertEqual(r.rc, rc, r.describe())
        if out is not None:
            self.assertEqual(r.out, out, r.describe())
        if err is not None:
            self.assertEqual(r.err, err, r.describe())

    def assert_one_clear_line(self, r, *needles):
        """winrsh itself failed: 255, nothing on stdout, one line on stderr
        that says what and where."""
        self.check(r, 255, b"")
        self.assertEqual(len(r.err_lines), 1, r.describe())
        for n in needles:
            self.assertIn(n, r.err.decode("utf-8", "replace"), r.describe())

    # -- the cases ------------------------------------------------------------
    def test_01_version_major(self):
        self.check(self.ps("$PSVersionTable.PSVersion.Major"), 0, b"7\n", b"")

    def test_02_edition(self):
        self.check(self.ps("$PSVersionTable.PSEdition"), 0, b"Core\n", b"")

    def test_03_get_date(self):
        r = self.ps("Get-Date")
        self.check(r, 0, err=b"")
        self.assertIn(str(time.localtime().tm_year).encode(), r.out,
                      r.describe())
        FIGURES["%-8s one Get-Date (s)" % self.name] = "%.2f" % r.elapsed

    def test_04_write_error_exits_1(self):
        r = self.ps("Write-Error boom")
        self.check(r, 1, b"")
        self.assertIn(b"boom", r.err, r.describe())
        self.assertNotIn(b"<Obj", r.err, r.describe())   # never raw CLIXML

    def test_05_exit_5(self):
        self.check(self.ps("exit 5"), 5, b"", b"")

    def test_06_throw_exits_1(self):
        r = self.ps("throw 'x'")
        self.check(r, 1, b"")
        # Rendered as PowerShell does: the message on a line of its own
        # (or after the exception type), never CLIXML.
        self.assertRegex(r.err.decode("utf-8", "replace"),
                         r"(?m)^(\w+: )?x\s*$", r.describe())
        self.assertNotIn(b"<Obj", r.err, r.describe())

    def test_07_stdin_lines_are_input(self):
        r = self.ps("$input | % ToUpper", stdin=b"alpha\nbeta\n")
        self.check(r, 0, b"ALPHA\nBETA\n", b"")

    def test_08_output_json(self):
        r = self.ps("[pscustomobject]@{a=1;b='x'}", opts=("--output", "json"))
        self.check(r, 0, b'{"a":1,"b":"x"}\n', b"")

    def test_09_no_stdin_option(self):
        r = self.ps("$input | measure", opts=("-n",), stdin=b"ignored\n")
        self.check(r, 0, err=b"")
        self.assertRegex(r.out.decode("utf-8", "replace"),
                         r"(?m)^Count\s*:\s*0\s*$", r.describe())

    def test_10_warning_on_stderr(self):
        r = self.ps("Write-Warning careful; 'out'")
        self.check(r, 0, b"out\n", b"WARNING: careful\n")

    def test_11_unicode_round_trip(self):
        text = "h\u00e9llo \u2603"
        self.check(self.ps("'%s'" % text), 0, (text + "\n").encode(), b"")
        r = self.ps("$input", stdin=(text + "\n").encode())
        self.check(r, 0, (text + "\n").encode(), b"")

    def test_12_last_exit_code_of_native_command(self):
        r = self.ps("/bin/sh -c 'exit 4'; $LASTEXITCODE")
        self.check(r, 0, b"4\n", b"")

    def test_13_5mb_output(self):
        n, width = 50000, 99          # 50000 lines of 100 bytes: 5,000,000
        r = self.ps("1..%d | %% { ('{0:D5}' -f $_) + ('x' * %d) }"
                    % (n, width - 5), timeout=BIG_TIMEOUT)
        self.check(r, 0, err=b"")
        self.assertEqual(len(r.out), n * (width + 1),
                         "byte count: " + r.describe())
        lines = r.out.split(b"\n")
        self.assertEqual(lines[0], b"00001" + b"x" * (width - 5))
        self.assertEqual(lines[n - 1], b"%05d" % n + b"x" * (width - 5))
        FIGURES["%-8s 5 MB of output (s)" % self.name] = "%.1f" % r.elapsed

    def test_14_ctrl_c(self):
        root = self.peer_pid()
        before = pwsh_under(root) if root else set()
        seen, started = [], threading.Event()

        def sink(data):
            seen.append(data)
            if b"started" in b"".join(seen):
                started.set()

        p = start(self.argv("'started'; Start-Sleep 60; 'not reached'"),
                  env=self.env(), stdin=DEVNULL, stdout_sink=sink)
        deadline = time.monotonic() + RUN_TIMEOUT
        while (not started.is_set() and not p.exited()
               and time.monotonic() < deadline):
            started.wait(0.1)
        if not started.is_set():
            r = p.wait(1)
            self.fail("the pipeline never started: " + r.describe())
        time.sleep(0.5)                       # now in Start-Sleep
        serving = pwsh_under(root or p.pid) - before
        t0 = time.monotonic()
        p.signal(signal.SIGINT)
        r = p.wait(30)
        took = time.monotonic() - t0
        r.out = b"".join(seen)
        FIGURES["%-8s Ctrl-C to exit (s)" % self.name] = "%.2f" % took
        self.check(r, 130)
        self.assertNotIn(b"not reached", r.out, r.describe())
        self.assertLess(took, CTRL_C_BOUND, r.describe())
        self.assertTrue(serving, "no pwsh found serving the session under "
                        "pid %d" % (root or p.pid))
        # No pwsh left: the one that served the session, and (for a peer)
        # none new among the peer's descendants.
        deadline = time.monotonic() + LEFTOVER_GRACE
        while True:
            left = still_alive(serving)
            if root:
                left |= pwsh_under(root) - before
            if not left or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        self.assertFalse(left, "pwsh still running %.0f s after winrsh "
                         "exited: %s" % (LEFTOVER_GRACE, describe_procs(left)))


# -- the transports ------------------------------------------------------------------
@unittest.skipIf(PWSH is None, NO_PWSH)
class WsMan(Cases, unittest.TestCase):
    """http://127.0.0.1:PORT/wsman: the test host, Basic over HTTP."""

    name = "wsman"
    host = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir("winrsh-psrp-wsman-")
        try:
            cls.config_dir = harness.make_config_dir(cls.tmp.path)
            os.chmod(os.path.join(cls.config_dir, "trustedhosts"), 0o600)
            env = base_env()
            env["WINRSH_TEST_PWSH"] = PWSH
            cls.host = TestHost(users={WSMAN_USER: WSMAN_PASSWORD},
                                allow_unencrypted=True, workdir=cls.tmp.path,
                                env=env).start()
        except BaseException:
            cls.tmp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.host is not None:
            cls.host.stop()
        cls.tmp.close()

    def target(self):
        return self.host.url

    def opts(self):
        return ["-a", "basic", "--allow-unencrypted", "-u", WSMAN_USER]

    def env(self, password=WSMAN_PASSWORD):
        return harness.winrsh_env(password, self.config_dir)

    def peer_pid(self):
        return self.host.proc.pid

    def test_15_wrong_password(self):
        r = run(self.argv("1"), env=self.env("wrong"), timeout=RUN_TIMEOUT)
        self.assert_one_clear_line(r, "127.0.0.1")


@unittest.skipIf(PWSH is None, NO_PWSH)
class Process(Cases, unittest.TestCase):
    """process:///path/to/pwsh: winrsh starts `pwsh -s` itself."""

    name = "process"

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir("winrsh-psrp-process-")
        cls.config_dir = harness.make_config_dir(cls.tmp.path, trusted=None)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.close()

    def target(self):
        return "process://" + PWSH

    def opts(self):
        return []

    def env(self):
        return harness.winrsh_env(None, self.config_dir)

    def peer_pid(self):
        return None

    def test_15_no_such_program(self):
        missing = self.tmp.join("no", "pwsh")
        r = run([winrsh(), "process://" + missing, "1"], env=self.env(),
                timeout=RUN_TIMEOUT)
        self.assert_one_clear_line(r, missing)


@unittest.skipIf(PWSH is None, NO_PWSH)
class Ssh(Cases, unittest.TestCase):
    """ssh://USER@127.0.0.1:PORT: a real sshd, its powershell subsystem."""

    name = "ssh"
    peer = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir("winrsh-psrp-ssh-")
        try:
            cls.config_dir = harness.make_config_dir(cls.tmp.path,
                                                     trusted=None)
            cls.peer = Peer([PY, "-I", SSHD_PEER, "--pwsh", PWSH],
                            cls.tmp.join("sshd_peer.err"), env=base_env())
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
        return "ssh://%s@127.0.0.1:%d" % (self.info["user"], self.info["port"])

    def opts(self, identity=None):
        args = []
        for o in self.info["ssh_options"]:
            if identity and o.startswith("IdentityFile="):
                o = "IdentityFile=" + identity
            args += ["--ssh-option", o]
        return args

    def env(self):
        return harness.winrsh_env(None, self.config_dir)

    def peer_pid(self):
        return self.peer.pid

    def test_15_key_refused(self):
        argv = ([winrsh()] + self.opts(self.info["wrong_identity"])
                + [self.target(), "1"])
        r = run(argv, env=self.env(), timeout=RUN_TIMEOUT)
        self.assert_one_clear_line(r, "Permission denied (publickey)",
                                   "127.0.0.1")
        self.assertLess(r.elapsed, 10, r.describe())


@unittest.skipIf(PWSH is None, NO_PWSH)
class Vmbus(Cases, unittest.TestCase):
    """vmbus://VMID: PowerShell Direct against the stand-in broker."""

    name = "vmbus"
    peer = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = TempDir("winrsh-psrp-vmbus-")
        try:
            cls.config_dir = harness.make_config_dir(cls.tmp.path,
                                                     trusted=None)
            cls.log = cls.tmp.join("broker.log")
            cls.peer = Peer([PY, "-I", BROKER, "--pwsh", PWSH, "--log",
                             cls.log, "--user", "%s:%s" % (VM_USER,
                                                           VM_PASSWORD)],
                            cls.tmp.join("broker.err"), env=base_env())
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

    def tearDown(self):
        try:
            with open(self.log, encoding="utf-8") as f:
                bad = [line for line in f if '"violation"' in line]
        except OSError:
            bad = []
        self.assertEqual(bad, [], "the client broke the PowerShell Direct "
                         "protocol")

    def target(self):
        return "vmbus://" + VMID

    def opts(self):
        return ["-u", VM_USER]

    def env(self, password=VM_PASSWORD):
        return harness.winrsh_env(password, self.config_dir,
                                  WINRSH_HVSOCKET_DIR=self.hvdir)

    def peer_pid(self):
        return self.peer.pid

    def test_15_wrong_password(self):
        r = run(self.argv("1"), env=self.env("nope"), timeout=RUN_TIMEOUT)
        self.assert_one_clear_line(
            r, "invalid credentials for %s on VM %s" % (VM_USER, VMID))
        self.assertLess(r.elapsed, 1.0, r.describe())


T0 = time.monotonic()


def tearDownModule():
    for k, v in sorted(FIGURES.items()):
        print("FIGURE %s: %s" % (k, v))
    print("FIGURE whole file (s): %.0f" % (time.monotonic() - T0))
    sys.stdout.flush()


def main():
    if PWSH is None:
        for cls in (WsMan, Process, Ssh, Vmbus):
            print("SKIP: %s: %s" % (cls.__name__, NO_PWSH))
        print("0 passed, 0 failed")
        return 0
    print("pwsh: %s" % PWSH)
    sys.stdout.flush()
    return harness.main()


if __name__ == "__main__":
    sys.exit(main())
