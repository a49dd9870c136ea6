"""Secrets stay secret (issue 8): the password never shows in argv (winrsh's
or its ssh/pwsh child's), in a child's environment, in a --trace or -v
output, in an error message; winrsh is not dumpable while it runs.

Memory wiping is tests/unit/test_wipe.c.  Safe defaults (TLS verification,
no unencrypted Basic, TrustedHosts, no NTLMv1) are test_safe_defaults.py.

Run: /usr/bin/python3 tests/integration/test_secrets.py (WINRSH_BUILD_DIR);
prints `N passed, N failed` last.
"""

import base64
import os
import pwd
import re
import shutil
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import harness  # noqa: E402
from harness import (A_COMMAND, DEVNULL, KEEP_OPEN, SOURCE_DIR,  # noqa: E402
                     TestHost, count, run, start, winrsh)
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

USER = "alice"
# Distinctive, so a search cannot hit anything else.
PASSWORD = "S3cr3t-Pw!q7Zx#k9"
SSHD_PEER = os.path.join(SOURCE_DIR, "tests", "server", "sshd_peer")


def encodings(secret, user=USER):
    """Forms a secret could leak in."""
    pw = secret.encode()
    return [pw, pw.hex().encode(), pw.decode().encode("utf-16-le"),
            base64.b64encode(pw), base64.b64encode((user + ":").encode()
                                                   + pw),
            base64.b64encode(pw.decode().encode("utf-16-le"))]


def children_of(pid):
    """pids whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def read_proc(pid, name):
    with open("/proc/%d/%s" % (pid, name), "rb") as f:
        return f.read()


def wait_child(pid, exe_name, timeout=20):
    """The child of pid whose argv[0] ends in exe_name (after its exec)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in children_of(pid):
            try:
                argv0 = read_proc(c, "cmdline").split(b"\0")[0]
            except OSError:
                continue
            if argv0.endswith(exe_name.encode()):
                return c
        time.sleep(0.05)
    return None


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-secrets-")
        cls.config_dir = harness.make_config_dir(cls.tmp.path)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.close()

    def env(self, password=PASSWORD, **extra):
        return harness.winrsh_env(password, self.config_dir, **extra)

    def assert_no_secret(self, data, where, secret=PASSWORD):
        for form in encodings(secret):
            self.assertNotIn(form, data, "%s holds the password (as %r)"
                             % (where, form))


class Argv(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.host = TestHost(users={USER: PASSWORD},
                            workdir=cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()
        super().tearDownClass()

    def running(self, *opts, env=None, command="sleep 3"):
        argv = [winrsh(), "--shell", "cmd", "-a", "basic",
                "--allow-unencrypted", "-u", USER] + list(opts) + [
                    self.host.url, command]
        mark = self.host.mark()
        p = start(argv, env=env or self.env(), stdin=DEVNULL)
        self.host.wait_for(lambda q: count(q, A_COMMAND, 200) >= 1,
                           since=mark, timeout=15)
        return p

    def test_password_from_env_not_in_cmdline(self):
        p = self.running()
        try:
            cmdline = read_proc(p.pid, "cmdline")
        finally:
            r = p.wait(20)
        self.assertEqual(r.rc, 0, r.describe())
        self.assert_no_secret(cmdline, "winrsh's /proc/PID/cmdline")

    def test_password_file_not_in_cmdline(self):
        path = self.tmp.join("pw")
        with open(path, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(path, 0o600)
        p = self.running("--password-file", path, env=self.env(None))
        try:
            cmdline = read_proc(p.pid, "cmdline")
        finally:
            r = p.wait(20)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertIn(path.encode(), cmdline)
        self.assert_no_secret(cmdline, "winrsh's /proc/PID/cmdline")

    def test_no_password_option(self):
        # argv is world-readable: there is no option that takes a password.
        for opt in ("--password", "--pass", "-P"):
            r = run([winrsh(), opt, PASSWORD, "-u", USER, self.host.url,
                     "echo"], env=self.env(None), timeout=10)
            self.assertEqual(r.rc, 255, r.describe())
            self.assertEqual(r.out, b"", r.describe())
            self.assert_no_secret(r.err, "the usage error")


class Dumpable(Base):
    """prctl(PR_SET_DUMPABLE, 0) at start (client/main.c): no core file,
    no ptrace or /proc/PID/mem by other processes of the same user.  Seen
    from outside as proc(5) says: the files under /proc/PID of a process
    that is not dumpable belong to root.  As root the test runs winrsh as
    `nobody` (setpriv) so the owner tells."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.tmp.path, 0o755)
        os.chmod(cls.config_dir, 0o755)
        os.chmod(os.path.join(cls.config_dir, "trustedhosts"), 0o644)
        cls.host = TestHost(users={USER: PASSWORD},
                            workdir=cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()
        super().tearDownClass()

    def as_user(self, argv):
        """(argv, uid) to run argv as a user other than root."""
        if os.geteuid() != 0:
            return argv, os.geteuid()
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            self.skipTest("running as root without setpriv")
        nobody = pwd.getpwnam("nobody")
        return [setpriv, "--reuid=%d" % nobody.pw_uid,
                "--regid=%d" % nobody.pw_gid, "--clear-groups"] + argv, \
            nobody.pw_uid

    def owner_while_running(self, argv, ready):
        p = start(argv, env=self.env(), stdin=DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while not ready(p) and time.monotonic() < deadline:
                time.sleep(0.05)
            uid = os.stat("/proc/%d/status" % p.pid).st_uid
            mem_uid = os.stat("/proc/%d/mem" % p.pid).st_uid
        finally:
            r = p.wait(20)
        return uid, mem_uid, r

    def test_control_dumpable_process(self):
        # The method: an ordinary process's /proc files are its user's.
        argv, uid = self.as_user(["/bin/sleep", "2"])
        owner, _, r = self.owner_while_running(
            argv, lambda p: read_proc(p.pid, "cmdline").startswith(
                b"/bin/sleep\0"))
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(owner, uid, r.describe())

    def test_winrsh_not_dumpable(self):
        argv, uid = self.as_user([
            winrsh(), "--shell", "cmd", "-a", "basic", "--allow-unencrypted",
            "-u", USER, self.host.url, "sleep 2"])
        mark = self.host.mark()
        owner, mem_owner, r = self.owner_while_running(
            argv, lambda p: count(self.host.requests(mark), A_COMMAND,
                                  200) >= 1)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertNotEqual(uid, 0)
        self.assertEqual(owner, 0, "winrsh is dumpable (its /proc files "
                         "belong to uid %d)" % owner)
        self.assertEqual(mem_owner, 0)


class Trace(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.basic = TestHost(users={USER: PASSWORD},
                             workdir=cls.tmp.path).start()
        cls.ntlm = TestHost(users={USER: PASSWORD}, auth="ntlm",
                            allow_unencrypted=False,
                            workdir=cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.basic.stop()
        cls.ntlm.stop()
        super().tearDownClass()

    def traced(self, host, auth, *opts, shell="cmd", command="echo hi"):
        argv = [winrsh(), "-a", auth, "-u", USER] + list(opts)
        if shell:
            argv += ["--shell", shell]
        argv += [host.url, command]
        r = run(argv, env=self.env(), timeout=60)
        self.assertEqual(r.rc, 0, r.describe())
        return r

    def check_trace(self, r, scheme):
        err = r.err
        self.assertIn(b"Authorization: %s <redacted>" % scheme.encode(), err)
        for line in err.decode("utf-8", "replace").splitlines():
            if re.search(r"(?i)\bauthorization:", line):
                self.assertRegex(line, r"Authorization: \S+ <redacted>\s*$",
                                 "credentials in the trace: " + line)
        self.assert_no_secret(err, "the trace")
        self.assert_no_secret(r.out, "stdout")

    def test_basic_trace_redacted(self):
        r = self.traced(self.basic, "basic", "--allow-unencrypted",
                        "--trace")
        self.check_trace(r, "Basic")

    def test_ntlm_trace_redacted(self):
        r = self.traced(self.ntlm, "ntlm", "--trace")
        self.check_trace(r, "Negotiate")
        # The AUTHENTICATE message (type 3) never shows, in any form.
        self.assertNotIn(b"TlRMTVNTUAADAAAA", r.err)

    @unittest.skipIf(find_pwsh()[0] is None, "no pwsh")
    def test_psrp_trace_redacted(self):
        r = self.traced(self.ntlm, "ntlm", "--trace", shell=None,
                        command="'hi'")
        self.check_trace(r, "Negotiate")

    def test_verbose_has_no_secret(self):
        r = self.traced(self.ntlm, "ntlm", "-v")
        self.assertTrue(r.err, "no -v output")
        self.assert_no_secret(r.err, "-v output")


class ErrorMessages(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.basic = TestHost(users={USER: PASSWORD},
                             workdir=cls.tmp.path).start()
        cls.ntlm = TestHost(users={USER: PASSWORD}, auth="ntlm",
                            allow_unencrypted=False,
                            workdir=cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.basic.stop()
        cls.ntlm.stop()
        super().tearDownClass()

    def failed(self, argv, env, pattern=None):
        r = run(argv, env=env, timeout=40)
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertEqual(len(r.err_lines), 1, r.describe())
        if pattern:
            self.assertRegex(r.err_lines[0], pattern, r.describe())
        return r

    def test_wrong_password_basic(self):
        wrong = "Wr0ng-" + PASSWORD
        r = self.failed([winrsh(), "-a", "basic", "--allow-unencrypted",
                         "-u", USER, "--shell", "cmd", self.basic.url,
                         "echo"], self.env(wrong), r"access denied")
        self.assert_no_secret(r.err, "the error", wrong)

    def test_wrong_password_ntlm(self):
        wrong = "Wr0ng-" + PASSWORD
        r = self.failed([winrsh(), "-a", "ntlm", "-u", USER, "--shell", "cmd",
                         self.ntlm.url, "echo"], self.env(wrong),
                        r"access denied")
        self.assert_no_secret(r.err, "the error", wrong)

    def url_with_password(self, host, password):
        return host.url.replace("http://", "http://%s:%s@" % (USER, password))

    def test_password_in_url_refused_unseen(self):
        # `http://user:password@host` is a habit from other tools. Today
        # take_user() keeps "alice:PASSWORD" as the user name: -v prints it,
        # the 401 message prints it, and NTLM sends it in the clear in the
        # AUTHENTICATE message's UserName field.
        r = run([winrsh(), "-a", "ntlm", "-v", "--shell", "cmd",
                 self.url_with_password(self.ntlm, "Plain" + PASSWORD[:6]),
                 "echo"], env=self.env(), timeout=40)
        self.assertEqual(r.rc, 255, r.describe())
        self.assert_no_secret(r.err, "the error/-v", "Plain" + PASSWORD[:6])
        reqs = self.ntlm.requests()
        self.assertFalse(any(q.get("authorization") for q in reqs
                             if q.get("status") == 200), reqs)

    def test_password_in_url_not_echoed(self):
        # A '#' (or '/', '?') in the password cuts the authority short: the
        # usage error then quotes the whole TARGET, password included.
        r = self.failed([winrsh(), "-a", "basic", "--allow-unencrypted",
                         "--shell", "cmd",
                         self.url_with_password(self.basic, PASSWORD),
                         "echo"], self.env())
        self.assert_no_secret(r.err, "the error")

    def test_password_in_url_library(self):
        # The library itself never echoes a URL that holds credentials
        # (wsman/session.c url_error).
        for pw, why in ((PASSWORD, r"invalid URL: bad port"),
                        ("Plain" + PASSWORD[:6], r"invalid URL: credentials "
                         r"do not belong in the URL")):
            r = run([harness.program("example_run"),
                     self.url_with_password(self.basic, pw), USER, "echo"],
                    env=self.env(), timeout=20)
            self.assertEqual(r.rc, 255, r.describe())
            self.assertRegex(r.err.decode(), why, r.describe())
            self.assert_no_secret(r.err, "the library's error", pw)

    def test_unreachable_host(self):
        r = self.failed([winrsh(), "-a", "ntlm", "-u", USER, "--shell", "cmd",
                         "--connect-timeout", "2",
                         "http://127.0.0.1:1/wsman", "echo"], self.env(),
                        r"cannot connect")
        self.assert_no_secret(r.err, "the error")

    def test_refused_policy(self):
        # Basic over HTTP without --allow-unencrypted: refused before
        # anything is sent; the message does not carry the password.
        r = self.failed([winrsh(), "-a", "basic", "-u", USER, "--shell",
                         "cmd", self.basic.url, "echo"], self.env(),
                        r"refusing basic authentication over plain HTTP")
        self.assert_no_secret(r.err, "the error")


class ChildProcesses(Base):
    """ssh:// runs `ssh`, process:// runs a local pwsh: neither gets the
    password in its argv or its environment."""

    def setUp(self):
        self.dir = harness.TempDir("winrsh-secrets-child-")
        self.addCleanup(self.dir.close)

    def inspect_child(self, argv, exe_name, env):
        p = start(argv, env=env, stdin=KEEP_OPEN)
        try:
            child = wait_child(p.pid, exe_name)
            self.assertIsNotNone(child, "no %s child of winrsh" % exe_name)
            cmdline = read_proc(child, "cmdline")
            environ = read_proc(child, "environ")
        finally:
            p.signal(signal.SIGTERM)
            r = p.wait(30)
        self.assertFalse(r.timed_out, r.describe())
        return cmdline, environ, r

    def check(self, cmdline, environ, what):
        self.assert_no_secret(cmdline, what + " argv")
        self.assert_no_secret(environ, what + " environment")
        self.assertNotIn(b"WINRSH_PASSWORD=", environ,
                         "WINRSH_PASSWORD passed to " + what)

    def fake_pwsh(self):
        path = self.dir.join("fake-pwsh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexec sleep 20\n")
        os.chmod(path, 0o755)
        return path

    def test_process_child_env(self):
        pwsh = self.fake_pwsh()
        cmdline, environ, _ = self.inspect_child(
            [winrsh(), "--operation-timeout", "3", "process://" + pwsh, "1"],
            "sleep", self.env())
        self.check(cmdline, environ, "the process:// child")

    def test_process_child_argv(self):
        pwsh = self.fake_pwsh()
        cmdline, _, _ = self.inspect_child(
            [winrsh(), "--operation-timeout", "3", "process://" + pwsh, "1"],
            "sleep", self.env())
        self.assert_no_secret(cmdline, "the process:// child argv")

    def ssh_peer(self):
        if not os.path.exists("/usr/sbin/sshd") or not shutil.which("ssh"):
            self.skipTest("no OpenSSH")
        from test_transports import Peer
        peer = Peer(["/usr/bin/python3", "-I", SSHD_PEER,
                     "--subsystem-command", "sleep 10"])
        self.addCleanup(peer.stop)
        import json
        return json.loads(peer.ready)

    def ssh_argv(self, info):
        argv = [winrsh(), "--operation-timeout", "3"]
        for o in info["ssh_options"]:
            argv += ["--ssh-option", o]
        return argv + ["ssh://%s@127.0.0.1:%d" % (info["user"], info["port"]),
                       "1"]

    def test_ssh_child_argv(self):
        info = self.ssh_peer()
        cmdline, _, _ = self.inspect_child(self.ssh_argv(info), "ssh",
                                           self.env())
        self.assertIn(b"powershell", cmdline)
        self.assert_no_secret(cmdline, "the ssh child argv")

    def test_ssh_child_env(self):
        info = self.ssh_peer()
        _, environ, _ = self.inspect_child(self.ssh_argv(info), "ssh",
                                           self.env())
        self.check(b"", environ, "the ssh child")


if __name__ == "__main__":
    sys.exit(harness.main())
