"""Shared helpers for the integration tests (tests/integration/test_*.py).

Run by Debian's /usr/bin/python3 (ctest sets WINRSH_BUILD_DIR and
WINRSH_SOURCE_DIR).  Everything here is bounded: starting the test host,
running a program, waiting for the host's request log.  Network: 127.0.0.1
only.

    from harness import TestHost, run, winrsh_env, main

    with TestHost(users={"alice": "s3cret"}) as host:
        r = run([winrsh(), "-a", "basic", ..., host.url, "echo hi"],
                env=winrsh_env(host, "s3cret"))
        r.rc, r.out, r.err, r.elapsed, r.maxrss_kb

`main()` runs the unittest cases of the calling module and prints the
final `N passed, N failed` line; the exit status is 0 only if all passed.
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
SOURCE_DIR = os.environ.get("WINRSH_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(HERE))
BUILD_DIR = os.environ.get("WINRSH_BUILD_DIR") or os.path.join(
    SOURCE_DIR, "build")
TESTHOST = os.path.join(SOURCE_DIR, "tests", "server", "testhost")

# WS-Man actions as the test host logs them (--log-requests).
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
A_CREATE = TRANSFER + "Create"
A_DELETE = TRANSFER + "Delete"
A_COMMAND = SHELL + "Command"
A_SEND = SHELL + "Send"
A_RECEIVE = SHELL + "Receive"
A_SIGNAL = SHELL + "Signal"

# Special values for run(stdin=...).
DEVNULL = subprocess.DEVNULL
CLOSED = object()      # fd 0 closed in the child
KEEP_OPEN = object()   # a pipe nobody writes to, open until the child exits


def program(name):
    """Path of a built program; fails the test (not skips) if missing."""
    path = os.path.join(BUILD_DIR, name)
    if not os.access(path, os.X_OK):
        raise AssertionError("%s not built (looked in WINRSH_BUILD_DIR=%s)"
                             % (name, BUILD_DIR))
    return path


def winrsh():
    return program("winrsh")


def sanitized_build():
    """Whether the build under test uses -fsanitize (RSS means nothing
    then: the sanitizer's shadow memory dominates)."""
    try:
        with open(os.path.join(BUILD_DIR, "CMakeCache.txt")) as f:
            return re.search(r"^WINRSH_SANITIZE:BOOL=(ON|1|TRUE|YES)$",
                             f.read(), re.M | re.I) is not None
    except OSError:
        return False


def base_env():
    """A small, predictable environment: no proxies (libcurl honours
    http_proxy), no WINRSH_* settings leaking in from the caller."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "no_proxy": "*",
        "NO_PROXY": "*",
    }
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TMPDIR"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


class TempDir:
    """A temporary directory removed at close()."""

    def __init__(self, prefix="winrsh-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


def make_config_dir(parent, trusted=("127.0.0.1",)):
    """A WINRSH_CONFIG_DIR under parent with a `trustedhosts` file."""
    d = os.path.join(parent, "config")
    os.makedirs(d, exist_ok=True)
    if trusted is not None:
        with open(os.path.join(d, "trustedhosts"), "w") as f:
            f.write("".join(p + "\n" for p in trusted))
    return d


def winrsh_env(password, config_dir, **extra):
    env = base_env()
    if password is not None:
        env["WINRSH_PASSWORD"] = password
    env["WINRSH_CONFIG_DIR"] = config_dir
    env.update(extra)
    return env


class Result:
    def __init__(self, argv):
        self.argv = argv
        self.rc = None          # exit code, or -N if killed by signal N
        self.out = b""
        self.err = b""
        self.elapsed = None     # seconds from start to exit
        self.maxrss_kb = None   # peak RSS of the child (wait4), in KiB
        self.timed_out = False

    @property
    def err_lines(self):
        return self.err.decode("utf-8", "replace").splitlines()

    def describe(self):
        def cut(b):
            return b[:600] + (b"...(%d bytes)" % len(b) if len(b) > 600
                              else b"")
        return ("argv=%r rc=%r elapsed=%.2fs timed_out=%r\n  stdout=%r\n"
                "  stderr=%r" % (self.argv, self.rc, self.elapsed or 0,
                                 self.timed_out, cut(self.out),
                                 cut(self.err)))


class Running:
    """A started program; see start() and run()."""

    def __init__(self, argv, stdin=DEVNULL, env=None, cwd=None,
                 stdout_sink=None, stdout_close_after=None):
        self.result = Result(argv)
        self._sink = stdout_sink
        self._close_after = stdout_close_after
        self._out, self._err = [], []
        closed_stdin = stdin is CLOSED
        if stdin is CLOSED:
            p_stdin = None
        elif stdin is KEEP_OPEN or isinstance(stdin, (bytes, bytearray)):
            p_stdin = subprocess.PIPE
        else:
            p_stdin = stdin

        def child_setup():
            # As run from a terminal: SIGINT at its default even when the
            # test itself was started with SIGINT ignored (background job).
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.setsid()
            if closed_stdin:
                os.close(0)

        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdin=p_stdin, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd, close_fds=True,
            preexec_fn=child_setup)
        self.pid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._read, daemon=True,
                             args=(self.proc.stdout, self._out, self._sink,
                                   self._close_after)),
            threading.Thread(target=self._read, daemon=True,
                             args=(self.proc.stderr, self._err, None)),
        ]
        if isinstance(stdin, (bytes, bytearray)):
            self._threads.append(threading.Thread(
                target=self._write, daemon=True, args=(bytes(stdin),)))
        self._status = None
        self._waiter = threading.Thread(target=self._wait, daemon=True)
        for t in self._threads:
            t.start()
        self._waiter.start()

    @staticmethod
    def _read(pipe, acc, sink, close_after=None):
        fd = pipe.fileno()
        got = 0
        while True:
            if close_after is not None and got >= close_after:
                pipe.close()   # the reader goes away, as `| head -c N` does
                break
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            got += len(data)
            if sink is not None:
                sink(data)
            else:
                acc.append(data)

    def _write(self, data):
        pipe = self.proc.stdin
        try:
            view = memoryview(data)
            while view:
                n = os.write(pipe.fileno(), view[:65536])
                view = view[n:]
        except OSError:
            pass
        finally:
            try:
                pipe.close()
            except OSError:
                pass

    def _wait(self):
        while True:
            try:
                _, status, ru = os.wait4(self.pid, 0)
                break
            except InterruptedError:
                continue
        self.result.elapsed = time.monotonic() - self.start
        self.result.maxrss_kb = ru.ru_maxrss
        self._status = status

    def signal(self, signum):
        if self._status is None:
            try:
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass

    def exited(self):
        return self._status is not None

    def wait(self, timeout):
        """Wait up to timeout seconds for exit; on timeout kill the child's
        process group and mark the result timed_out.  Returns Result."""
        self._waiter.join(timeout)
        if self._waiter.is_alive():
            self.result.timed_out = True
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._waiter.join(10)
        for t in self._threads:
            t.join(10)
        # The output pipes may be held by a stray grandchild; do not wait on
        # them forever.
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
        status = self._status
        if status is not None:
            self.result.rc = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.result.rc if self.result.rc is not None \
            else -9
        self.result.out = b"".join(self._out)
        self.result.err = b"".join(self._err)
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass
        return self.result


def start(argv, **kw):
    """Start argv; returns a Running (call .wait(timeout))."""
    return Running(argv, **kw)


def run(argv, timeout=30, **kw):
    """Run argv to completion, at most timeout seconds.  stdin: bytes (fed
    then closed), DEVNULL, CLOSED, KEEP_OPEN.  stdout_sink: a callable
    given each stdout chunk instead of collecting it.  stdout_close_after:
    close our end of the stdout pipe once that many bytes arrived."""
    return Running(argv, **kw).wait(timeout)


class TestHost:
    """tests/server/testhost on 127.0.0.1, a free port, with a request log.

    host.url            http://127.0.0.1:PORT/wsman
    host.port
    host.requests()     parsed --log-requests lines
    host.mark()         a position in the log; requests(since=mark)
    """

    def __init__(self, users=None, auth="basic", allow_unencrypted=True,
                 extra_args=(), workdir=None, env=None):
        self.users = dict(users or {})
        self.env = env          # the host's environment; None: base_env()
        self.auth = auth
        self.allow_unencrypted = allow_unencrypted
        self.extra_args = list(extra_args)
        self._own_dir = None
        if workdir is None:
            self._own_dir = TempDir("winrsh-testhost-")
            workdir = self._own_dir.path
        self.workdir = workdir
        self.log_path = os.path.join(workdir, "requests-%d.jsonl" % id(self))
        self.stderr_path = os.path.join(workdir, "testhost-%d.err" % id(self))
        self.proc = None
        self.url = None
        self.port = None

    def argv(self):
        a = [TESTHOST, "--listen", "127.0.0.1:0", "--auth", self.auth,
             "--log-requests", self.log_path]
        for name, pw in self.users.items():
            a += ["--user", "%s:%s" % (name, pw)]
        if self.allow_unencrypted:
            a.append("--allow-unencrypted")
        return a + self.extra_args

    def start(self, timeout=20):
        if not os.access(TESTHOST, os.X_OK):
            raise AssertionError("test host missing: %s" % TESTHOST)
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._stderr, env=self.env or base_env(), close_fds=True,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise AssertionError("test host not READY within %ds: %s"
                                     % (timeout, self.stderr_text()))
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            b = os.read(fd, 1)
            if not b:
                self.stop()
                raise AssertionError("test host exited before READY: %s"
                                     % self.stderr_text())
            line += b
        m = re.match(r"READY (http://127\.0\.0\.1:(\d+)/wsman)\s*$",
                     line.decode("ascii", "replace"))
        if not m:
            self.stop()
            raise AssertionError("unexpected first line from test host: %r"
                                 % line)
        self.url, self.port = m.group(1), int(m.group(2))
        # Keep stdout drained so the host never blocks on it.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        try:
            while os.read(self.proc.stdout.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-4000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait(5)
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        self._stderr.close()
        self.proc = None
        if self._own_dir is not None:
            self._own_dir.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- the request log ----------------------------------------------------
    def _lines(self):
        try:
            with open(self.log_path, "r", encoding="utf-8") as f:
                return [json.loads(l) for l in f if l.endswith("\n")]
        except FileNotFoundError:
            return []

    def mark(self):
        return len(self._lines())

    def requests(self, since=0):
        return self._lines()[since:]

    def actions(self, since=0):
        """Short action names ("Create", "Command", ..., None) in order."""
        return [(r.get("action") or "").rsplit("/", 1)[-1] or None
                for r in self.requests(since)]

    def wait_for(self, pred, since=0, timeout=3.0):
        """Poll the log until pred(requests) is true; returns the requests
        seen last (the host writes a line just after it sent the reply, so
        a client may exit a moment before its last line appears)."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = self.requests(since)
            if pred(reqs) or time.monotonic() >= deadline:
                return reqs
            time.sleep(0.05)


class Peer:
    """A peer program (tests/server/sshd_peer, tests/server/psdirect_broker,
    ...) that prints `READY ...` as its first stdout line, in a session of
    its own; its stderr goes to stderr_path (read back by stderr_text()).

    peer.ready      the rest of the READY line
    peer.pid
    peer.stop()     SIGTERM, then SIGKILL to its process group (bounded)
    """

    def __init__(self, argv, stderr_path, env=None, timeout=30):
        self.argv = list(argv)
        self.stderr_path = stderr_path
        self._err = open(stderr_path, "wb")
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self._err, env=env or base_env(), close_fds=True,
            start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        line = b""
        fd = self.proc.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            ch = os.read(fd, 1)
            if not ch:
                break
            line += ch
        if not line.startswith(b"READY "):
            self.stop()
            raise AssertionError("%s did not get ready within %ds: %r; "
                                 "stderr: %s" % (" ".join(self.argv[:3]),
                                                 timeout, line,
                                                 self.stderr_text()))
        self.ready = line[6:].decode().strip()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        try:
            while os.read(self.proc.stdout.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()[-3000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait(5)
        try:
            self.proc.stdout.close()
        except OSError:
            pass
        self._err.close()


def count(reqs, action, status=None):
    return sum(1 for r in reqs if r.get("action") == action
               and (status is None or r.get("status") == status))


def shells_balanced(reqs):
    """Every successful Create has a successful Delete."""
    return count(reqs, A_CREATE, 200) == count(reqs, A_DELETE, 200)


class _Result(unittest.TextTestResult):
    passed = 0

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1


def main(module="__main__"):
    """Run the module's tests; print `N passed, N failed`; exit status."""
    loader = unittest.TestLoader()
    suite = loader.loadTestsFromModule(sys.modules[module])
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2,
                                     resultclass=_Result)
    result = runner.run(suite)
    # errors include a setUpClass that failed (its tests never ran).
    failed = len(result.failures) + len(result.errors) + len(
        result.unexpectedSuccesses)
    passed = result.passed
    sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    sys.stdout.flush()
    return 0 if failed == 0 and passed > 0 else 1
