"""Start and stop tests/server/testhost for an integration test.

Shared by the Python integration tests; run by Debian's /usr/bin/python3.
"""

import os
import select
import signal
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTHOST = os.path.join(HERE, "..", "server", "testhost")
READY_TIMEOUT = 20.0


class TestHost:
    """A running testhost; .url is what it printed after READY."""

    def __init__(self, *args):
        args = list(args)
        self._kerberos = any(
            a == "--auth" and i + 1 < len(args) and "kerberos" in
            args[i + 1].lower() for i, a in enumerate(args))
        self.tmp = tempfile.TemporaryDirectory(prefix="testhost-")
        self.log_path = os.path.join(self.tmp.name, "requests.log")
        self.stderr_path = os.path.join(self.tmp.name, "stderr.txt")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [TESTHOST, "--listen", "127.0.0.1:0",
             "--log-requests", self.log_path] + list(args),
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL)
        self.url = self._wait_ready()

    def _read_line(self, deadline):
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("testhost did not print READY: %r\n%s"
                                   % (line, self.stderr()))
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                byte = os.read(self.proc.stdout.fileno(), 1)
                if not byte:
                    continue
                line += byte
        return line

    def _wait_ready(self):
        deadline = time.monotonic() + READY_TIMEOUT
        line = self._read_line(deadline)
        word, _, url = line.decode().strip().partition(" ")
        if word != "READY" or not (url.startswith("http://127.0.0.1:") or
                                   url.startswith("https://127.0.0.1:")):
            self.stop()
            raise RuntimeError("bad first line from testhost: %r" % line)
        # With Kerberos on, the host prints the clients' krb5.conf next.
        self.krb5_config = None
        if self._kerberos:
            line = self._read_line(deadline)
            word, _, path = line.decode().strip().partition(" ")
            if word != "KRB5_CONFIG" or not path:
                self.stop()
                raise RuntimeError("bad second line from testhost: %r"
                                   % line)
            self.krb5_config = path
        return url

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def requests(self):
        """The --log-requests lines as dicts."""
        import json
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        self._stderr.close()
        self.tmp.cleanup()


def _openssl(*args, cwd):
    res = subprocess.run(["openssl"] + list(args), cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=60)
    if res.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (
            args[0], res.stdout.decode("utf-8", "replace")))


class TestPKI:
    """A throwaway PKI made with the openssl command, in DIR:

      ca.pem / ca.key                 server CA (pass ca.pem to clients)
      server.pem / server.key         for localhost and 127.0.0.1
                                      (testhost --https server.pem server.key)
      client-ca.pem / client-ca.key   CA of the client certificates
                                      (testhost --client-ca client-ca.pem)
      client-NAME.pem / .key          CN=NAME, extendedKeyUsage clientAuth,
                                      SAN otherName UPN NAME@localhost
                                      (what Windows' cert mapping looks at)

    Usage: pki = TestPKI(dir, users=["alice"]); pki.client("alice") ->
    (cert, key)."""

    def __init__(self, directory, users=()):
        self.dir = directory
        self.ca, self.ca_key = self._ca("ca", "winrsh test server CA")
        self.client_ca, self.client_ca_key = self._ca(
            "client-ca", "winrsh test client CA")
        self.server_cert, self.server_key = self._leaf(
            "server", "localhost", self.ca, self.ca_key,
            ["basicConstraints=critical,CA:FALSE",
             "keyUsage=critical,digitalSignature,keyEncipherment",
             "extendedKeyUsage=serverAuth",
             "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        for user in users:
            self.client(user)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".pem",
                 "-days", "2", "-subj", "/CN=" + cn,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")

    def _leaf(self, name, cn, ca, ca_key, extensions):
        ext = self.path(name + ".ext")
        with open(ext, "w") as f:
            f.write("\n".join(extensions) + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".csr",
                 "-subj", "/CN=" + cn, cwd=self.dir)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca,
                 "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
                 "-sha256", "-extfile", ext, "-out", name + ".pem",
                 cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")

    def client(self, user, ca=None, ca_key=None):
        """(cert, key) for CN=user, signed by the client CA (or by
        another CA, to test refusals)."""
        name = "client-" + user
        if os.path.exists(self.path(name + ".pem")) and ca is None:
            return self.path(name + ".pem"), self.path(name + ".key")
        return self._leaf(
            name, user, ca or self.client_ca, ca_key or self.client_ca_key,
            ["basicConstraints=critical,CA:FALSE",
             "keyUsage=critical,digitalSignature,keyEncipherment",
             "extendedKeyUsage=clientAuth",
             "subjectAltName=otherName:1.3.6.1.4.1.311.20.2.3;"
             "UTF8:%s@localhost" % user])


def run_suite(cases, budget_seconds=55):
    """Run unittest cases, print "N passed, N failed", return exit code.
    An alarm bounds the whole run."""
    import sys
    import unittest

    def on_alarm(signum, frame):
        raise TimeoutError("test run exceeded %d s" % budget_seconds)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(budget_seconds)
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for case in cases:
        suite.addTests(loader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(suite)
    signal.alarm(0)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if result.wasSuccessful() else 1
