#!/usr/bin/python3
"""The stream transports end to end against real peers.

  ssh://USER@127.0.0.1:PORT   a real OpenSSH sshd (tests/server/sshd_peer) whose
                              `powershell` subsystem is a real `pwsh -sshs`,
                              reached through the real `ssh` on PATH
  vmbus://VMID                the PowerShell Direct stand-in
                              (tests/server/psdirect_broker) under
                              WINRSH_HVSOCKET_DIR, bridging to a real `pwsh -s`
  vsock://CID:PORT            error paths only (no vsock loopback here)

through the driver mode of the e2e test program
(tests/unit/test_transports_e2e.c: `test_transports_e2e run ... TARGET SCRIPT`,
which runs SCRIPT with the PSRP engine and prints the output objects).

pwsh: $WINRSH_TEST_PWSH, ${XDG_CACHE_HOME:-~/.cache}/winrsh/pwsh-7.6.9/pwsh,
/root/.cache/..., then PATH; the tests that need it are skipped, saying
why, only when there is none. Every run is bounded; the whole file takes
well under 4 minutes. Last line: `N passed, N failed`.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
from harness import SOURCE_DIR, TempDir, base_env, main, program, run  # noqa: E402

BROKER = os.path.join(SOURCE_DIR, "tests", "server", "psdirect_broker")
SSHD_PEER = os.path.join(SOURCE_DIR, "tests", "server", "sshd_peer")
PY = "/usr/bin/python3"
VMID = "0b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"


def find_pwsh():
    env = os.environ.get("WINRSH_TEST_PWSH")
    if env:
        return env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for cand in (os.path.join(cache, "winrsh", "pwsh-7.6.9", "pwsh"),
                 "/root/.cache/winrsh/pwsh-7.6.9/pwsh"):
        if os.access(cand, os.X_OK):
            return cand
    return shutil.which("pwsh")


PWSH = find_pwsh()
NO_PWSH = "no pwsh: set WINRSH_TEST_PWSH or install PowerShell 7 (see tests/server/README.md)"


def driver():
    return program(os.path.join("tests", "test_transports_e2e"))


class Peer:
    """A peer program that prints `READY ...` on its first stdout line."""

    def __init__(self, argv, env=None, timeout=15):
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                break
            ch = os.read(self.proc.stdout.fileno(), 1)
            if not ch:
                break
            line += ch
        if not line.startswith(b"READY "):
            self.stop()
            raise AssertionError("%s did not get ready: %r %r"
                                 % (argv[1], line, self.stderr()))
        self.ready = line[6:].decode().strip()

    def stderr(self):
        if self.proc.poll() is None:
            return b""
        return self.proc.stderr.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


def ssh_args(info, identity=None, known_hosts=None):
    args = []
    for o in info["ssh_options"]:
        if identity and o.startswith("IdentityFile="):
            o = "IdentityFile=" + identity
        if known_hosts and o.startswith("UserKnownHostsFile="):
            o = "UserKnownHostsFile=" + known_hosts
        args += ["--ssh-option", o]
    return args + ["--batch"]


def text(b):
    return b.decode("utf-8", "replace")


@unittest.skipIf(not PWSH, NO_PWSH)
class SshWithPwsh(unittest.TestCase):
    """ssh:// to a real sshd running the powershell subsystem."""

    @classmethod
    def setUpClass(cls):
        cls.peer = Peer([PY, "-I", SSHD_PEER, "--pwsh", PWSH])
        cls.info = json.loads(cls.peer.ready)
        cls.target = "ssh://%s@127.0.0.1:%d" % (cls.info["user"], cls.info["port"])

    @classmethod
    def tearDownClass(cls):
        cls.peer.stop()

    def drive(self, script, *extra, timeout=60, target=None):
        argv = [driver(), "run"] + list(extra) + [target or self.target, script]
        return run(argv, timeout=timeout, env=base_env())

    def test_ps_edition(self):
        r = self.drive("$PSVersionTable.PSEdition", *ssh_args(self.info))
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(text(r.out), "Core\n", r.describe())
        self.assertLess(r.elapsed, 30)

    def test_several_objects_and_errors(self):
        r = self.drive("1..3 | % { $_ * 2 }; Write-Error 'oops'", *ssh_args(self.info))
        self.assertEqual(r.rc, 1, r.describe())
        self.assertEqual(text(r.out), "2\n4\n6\n", r.describe())
        self.assertIn("oops", text(r.err), r.describe())

    def test_pwsh_exits_mid_pipeline(self):
        r = self.drive("'before'; [Environment]::Exit(3); 'after'", *ssh_args(self.info),
                       timeout=40)
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("WINRSH_ECLOSED", text(r.err), r.describe())
        self.assertIn("ssh to %s@127.0.0.1 port %d exited with status 3"
                      % (self.info["user"], self.info["port"]), text(r.err), r.describe())
        self.assertNotIn("after", text(r.out))

    def test_pwsh_killed_mid_pipeline(self):
        r = self.drive("'before'; Start-Sleep -Milliseconds 300; "
                       "Stop-Process -Id $PID -Force; Start-Sleep 30",
                       *ssh_args(self.info), timeout=40)
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("WINRSH_ECLOSED", text(r.err), r.describe())
        self.assertIn("exited with status", text(r.err), r.describe())
        self.assertLess(r.elapsed, 30, r.describe())


class SshRefusals(unittest.TestCase):
    """ssh:// failures that happen before any pwsh runs."""

    @classmethod
    def setUpClass(cls):
        # The subsystem is never reached, so no pwsh is needed.
        cls.tmp = TempDir("winrsh-ssh-")
        cls.peer = Peer([PY, "-I", SSHD_PEER, "--subsystem-command",
                         "echo 'pwsh: not installed here' >&2; exit 127"])
        cls.info = json.loads(cls.peer.ready)
        cls.target = "ssh://%s@127.0.0.1:%d" % (cls.info["user"], cls.info["port"])

    @classmethod
    def tearDownClass(cls):
        cls.peer.stop()
        cls.tmp.close()

    def drive(self, *extra, target=None):
        argv = [driver(), "run"] + list(extra) + [target or self.target, "1"]
        return run(argv, timeout=40, env=base_env())

    def test_key_refused(self):
        r = self.drive(*ssh_args(self.info, identity=self.info["wrong_identity"]))
        self.assertEqual(r.rc, 255, r.describe())
        err = text(r.err)
        self.assertIn("WINRSH_ECLOSED", err, r.describe())
        self.assertIn("exited with status 255", err, r.describe())
        self.assertIn("Permission denied (publickey)", err, r.describe())
        self.assertLess(r.elapsed, 10, r.describe())

    def test_unknown_host_key(self):
        empty = self.tmp.join("empty_known_hosts")
        open(empty, "w").close()
        r = self.drive(*ssh_args(self.info, known_hosts=empty))
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("Host key verification failed", text(r.err), r.describe())

    def test_connection_refused(self):
        # A port nobody listens on: the sshd's port plus one is as good as any
        # free port, checked first.
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = self.drive(*ssh_args(self.info), target="ssh://nobody@127.0.0.1:%d" % port)
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("Connection refused", text(r.err), r.describe())
        self.assertLess(r.elapsed, 10, r.describe())

    def test_subsystem_fails(self):
        # sshd discards a subsystem's stderr: the exit status and a hint
        # are all that can be said.
        r = self.drive(*ssh_args(self.info))
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("exited with status 127", text(r.err), r.describe())
        self.assertIn("`powershell` subsystem could not be started", text(r.err), r.describe())

    def test_bad_target(self):
        r = self.drive(target="ssh://-oProxyCommand=touch%20/tmp/x")
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("WINRSH_EINVAL", text(r.err), r.describe())


@unittest.skipIf(not PWSH, NO_PWSH)
class PowerShellDirect(unittest.TestCase):
    """vmbus:// against the stand-in broker."""

    def broker(self, *args):
        self.tmp = TempDir("winrsh-psd-")
        self.log = self.tmp.join("broker.log")
        p = Peer([PY, "-I", BROKER, "--pwsh", PWSH, "--log", self.log,
                  "--user", "LAB\\admin:s3cr\u00e9t", "--user", "bars:pw"] + list(args))
        self.addCleanup(self.tmp.close)
        self.addCleanup(self.check_log)
        self.addCleanup(p.stop)
        return p.ready

    def check_log(self):
        with open(self.log) as f:
            bad = [line for line in f if '"violation"' in line]
        self.assertEqual(bad, [], "the client broke the protocol")

    def drive(self, d, script, *extra, password="s3cr\u00e9t", timeout=60,
              target="vmbus://" + VMID):
        env = base_env()
        env["WINRSH_HVSOCKET_DIR"] = d
        env["E2E_PASSWORD"] = password
        argv = [driver(), "run", "--password-env", "E2E_PASSWORD"] + list(extra) + [target,
                                                                                    script]
        return run(argv, timeout=timeout, env=env)

    def test_modern_get_date(self):
        d = self.broker()
        r = self.drive(d, "(Get-Date).Year", "--user", "LAB\\admin")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(text(r.out).strip(), str(time.gmtime().tm_year), r.describe())
        with open(self.log) as f:
            log = f.read()
        self.assertIn('"legacy": false', log)

    def test_legacy_get_date(self):
        d = self.broker("--legacy")
        r = self.drive(d, "(Get-Date).Year", "--user", "LAB\\admin")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(text(r.out).strip(), str(time.gmtime().tm_year), r.describe())
        with open(self.log) as f:
            log = f.read()
        self.assertIn("legacy probe", log)
        self.assertIn('"legacy": true', log)

    def test_wrong_password(self):
        d = self.broker()
        r = self.drive(d, "1", "--user", "LAB\\admin", password="nope")
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("WINRSH_EAUTH: invalid credentials for LAB\\admin on VM " + VMID,
                      text(r.err), r.describe())
        self.assertLess(r.elapsed, 1.0, r.describe())

    def test_expired_token(self):
        d = self.broker("--token-lifetime", "0")
        r = self.drive(d, "1", "--user", "LAB\\admin")
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("closed the connection", text(r.err), r.describe())
        self.assertIn("10 minutes", text(r.err), r.describe())
        self.assertLess(r.elapsed, 2.0, r.describe())

    def test_broker_hangs_up(self):
        d = self.broker("--close-after", "5")
        r = self.drive(d, "1", "--user", "LAB\\admin")
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("WINRSH_ECLOSED", text(r.err), r.describe())
        self.assertIn("the broker of VM %s closed the connection after we sent NONEMPTYPW"
                      % VMID, text(r.err), r.describe())

    def test_no_stand_in(self):
        env = base_env()
        r = run([driver(), "run", "--user", "bars", "vmbus://" + VMID, "1"], timeout=20,
                env=env)
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("PowerShell Direct needs Windows (AF_HYPERV); set WINRSH_HVSOCKET_DIR "
                      "to test against a stand-in", text(r.err), r.describe())


class Vsock(unittest.TestCase):
    def test_unreachable_cid(self):
        r = run([driver(), "run", "--timeout", "500", "vsock://4294967000:5985", "1"],
                timeout=20, env=base_env())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("vsock://4294967000:5985", text(r.err), r.describe())
        self.assertIn("WINRSH_ECONNECT", text(r.err), r.describe())
        self.assertLess(r.elapsed, 5, r.describe())

    def test_bad_target(self):
        r = run([driver(), "run", "vsock://hypervisor:1", "1"], timeout=20, env=base_env())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertIn("WINRSH_EINVAL", text(r.err), r.describe())


if __name__ == "__main__":
    sys.exit(main())
