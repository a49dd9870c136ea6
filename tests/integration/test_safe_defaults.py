"""Safe defaults (issue 8): what winrsh refuses unless asked.

- TLS verification is on: a self-signed server certificate is refused (and
  --insecure, which turns it off, warns).  A certificate for another name:
  test_auth_cli.py (`badname`).
- No unencrypted body over plain HTTP unless asked: Basic is refused before
  anything is sent without --allow-unencrypted; NTLM seals every body even
  when the server would take them in the clear.
- No credentials to an untrusted host over plain HTTP (TrustedHosts):
  nothing carrying credentials leaves.  Kerberos, which authenticates the
  server, may go: test_auth_cli.py
  (test_negotiate_kerberos_needs_no_trustedhosts).
- No NTLMv1/LM: a CHALLENGE without NEGOTIATE_EXTENDED_SESSIONSECURITY is
  refused before any response is computed.  Unit level:
  tests/unit/test_ntlm.c test_malformed_challenge ("Policy: no ESS (NTLMv1),
  no Unicode, no TargetInfo, weak sealing").  Here, end to end against a
  small fake server that offers such a CHALLENGE: no AUTHENTICATE message
  ever reaches it (a control CHALLENGE with ESS does get one).

Run: /usr/bin/python3 tests/integration/test_safe_defaults.py
(WINRSH_BUILD_DIR); prints `N passed, N failed` last.
"""

import base64
import os
import socket
import struct
import subprocess
import sys
import threading
import unittest

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import A_CREATE, TestHost, count, run, winrsh  # noqa: E402
import testhost_proc  # noqa: E402

USER = "alice"
PASSWORD = "Pa55-w0rd.x"


def port_of(url):
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = harness.TempDir("winrsh-safe-")
        self.addCleanup(self.dir.close)
        self.trusted = harness.make_config_dir(self.dir.join("t"))
        self.untrusted = harness.make_config_dir(self.dir.join("u"),
                                                 trusted=())

    def env(self, config_dir=None):
        return harness.winrsh_env(PASSWORD, config_dir or self.trusted)

    def failed(self, r, pattern):
        self.assertFalse(r.timed_out, r.describe())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertEqual(r.out, b"", r.describe())
        self.assertEqual(len(r.err_lines), 1, r.describe())
        self.assertRegex(r.err_lines[0], pattern, r.describe())


# ---------------------------------------------------------------------------
class TlsVerification(Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-safe-tls-")
        d = cls.tmp.path
        cls.cert, cls.key = os.path.join(d, "self.pem"), os.path.join(
            d, "self.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", cls.key, "-out", cls.cert, "-days", "2", "-subj",
             "/CN=localhost", "-addext",
             "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            timeout=60)
        cls.host = testhost_proc.TestHost(
            "--https", cls.cert, cls.key, "--auth", "basic", "--user",
            "%s:%s" % (USER, PASSWORD))

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()
        cls.tmp.close()

    def argv(self, *opts):
        return [winrsh(), "--shell", "cmd", "-a", "basic", "-u", USER,
                "--https", "-p", str(port_of(self.host.url))] + list(opts) + [
                    "localhost", "echo hi"]

    def test_self_signed_refused_by_default(self):
        before = len(self.host.requests())
        r = run(self.argv(), env=self.env(), timeout=30)
        self.failed(r, r"TLS certificate of localhost not trusted")
        # The handshake failed: no HTTP request (no credentials) reached it.
        self.assertEqual(self.host.requests()[before:], [])

    def test_insecure_connects_and_warns(self):
        r = run(self.argv("--insecure"), env=self.env(), timeout=30)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r.out, b"hi\n", r.describe())
        self.assertRegex(r.err.decode(), r"warning: --insecure")

    def test_cacert_makes_it_trusted(self):
        r = run(self.argv("--cacert", self.cert), env=self.env(),
                timeout=30)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual((r.out, r.err), (b"hi\n", b""), r.describe())


# ---------------------------------------------------------------------------
class NoPlainBodies(Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-safe-http-")
        # A host that would accept anything in the clear.
        cls.basic = TestHost(users={USER: PASSWORD}, auth="basic",
                             allow_unencrypted=True,
                             workdir=cls.tmp.path).start()
        cls.ntlm = TestHost(users={USER: PASSWORD}, auth="ntlm",
                            allow_unencrypted=True,
                            workdir=cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.basic.stop()
        cls.ntlm.stop()
        cls.tmp.close()

    def test_basic_refused_without_allow_unencrypted(self):
        mark = self.basic.mark()
        r = run([winrsh(), "--shell", "cmd", "-a", "basic", "-u", USER,
                 self.basic.url, "echo hi"], env=self.env(), timeout=30)
        self.failed(r, r"refusing basic authentication over plain HTTP to "
                    r"127\.0\.0\.1: .*--allow-unencrypted")
        self.assertEqual(self.basic.requests(mark), [],
                         "a request went out")

    def test_basic_allowed_when_asked(self):
        r = run([winrsh(), "--shell", "cmd", "-a", "basic", "-u", USER,
                 "--allow-unencrypted", self.basic.url, "echo hi"],
                env=self.env(), timeout=30)
        self.assertEqual((r.rc, r.out), (0, b"hi\n"), r.describe())

    def test_ntlm_seals_every_body(self):
        mark = self.ntlm.mark()
        r = run([winrsh(), "--shell", "cmd", "-a", "ntlm", "-u", USER,
                 self.ntlm.url, "echo hi"], env=self.env(), timeout=30)
        self.assertEqual((r.rc, r.out), (0, b"hi\n"), r.describe())
        reqs = self.ntlm.wait_for(lambda q: any(
            (x.get("action") or "").endswith("/Delete") for x in q),
            since=mark)
        bodies = [q for q in reqs if q.get("request_length")]
        self.assertTrue(bodies, reqs)
        for q in bodies:
            self.assertTrue(q["encrypted"], "a body in the clear: %s" % q)
            self.assertIn("multipart/encrypted", q["content_type"], q)

    def test_ntlm_allow_unencrypted_still_seals(self):
        # --allow-unencrypted permits, it does not ask: NTLM can seal, so
        # it does.
        mark = self.ntlm.mark()
        r = run([winrsh(), "--shell", "cmd", "-a", "ntlm", "-u", USER,
                 "--allow-unencrypted", self.ntlm.url, "echo hi"],
                env=self.env(), timeout=30)
        self.assertEqual((r.rc, r.out), (0, b"hi\n"), r.describe())
        reqs = self.ntlm.wait_for(lambda q: count(q, A_CREATE) >= 1,
                                  since=mark)
        for q in reqs:
            if q.get("request_length"):
                self.assertTrue(q["encrypted"], q)


# ---------------------------------------------------------------------------
class TrustedHosts(Base):
    @classmethod
    def setUpClass(cls):
        cls.tmp = harness.TempDir("winrsh-safe-trust-")
        cls.host = TestHost(users={USER: PASSWORD}, auth="basic,ntlm",
                            allow_unencrypted=True,
                            workdir=cls.tmp.path).start()

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()
        cls.tmp.close()

    def refused(self, *opts):
        mark = self.host.mark()
        r = run([winrsh(), "--shell", "cmd", "-u", USER] + list(opts) +
                [self.host.url, "echo hi"], env=self.env(self.untrusted),
                timeout=30)
        self.failed(r, r"(?i)trustedhosts|trusted hosts")
        self.assertFalse([q for q in self.host.requests(mark)
                          if q.get("authorization")],
                         "credentials went to an untrusted host")
        return r

    def test_ntlm_to_untrusted_host(self):
        self.refused("-a", "ntlm")

    def test_negotiate_to_untrusted_ip(self):
        # The default mechanism with a plain user falls back to NTLM.
        self.refused()

    def test_basic_to_untrusted_host(self):
        self.refused("-a", "basic", "--allow-unencrypted")

    def test_trusted_host_works(self):
        r = run([winrsh(), "--shell", "cmd", "-u", USER, "-a", "ntlm",
                 self.host.url, "echo hi"], env=self.env(), timeout=30)
        self.assertEqual((r.rc, r.out), (0, b"hi\n"), r.describe())


# ---------------------------------------------------------------------------
# MS-NLMP 2.2.2.5 flags.
NTLM_UNICODE = 0x00000001
NTLM_REQUEST_TARGET = 0x00000004
NTLM_SIGN = 0x00000010
NTLM_SEAL = 0x00000020
NTLM_NTLM = 0x00000200
NTLM_ALWAYS_SIGN = 0x00008000
NTLM_TARGET_TYPE_SERVER = 0x00020000
NTLM_ESS = 0x00080000
NTLM_TARGET_INFO = 0x00800000
NTLM_VERSION = 0x02000000
NTLM_128 = 0x20000000
NTLM_KEY_EXCH = 0x40000000
NTLM_56 = 0x80000000


def ntlm_challenge(ess):
    """A CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) with or without
    NEGOTIATE_EXTENDED_SESSIONSECURITY; otherwise what Windows sends."""
    name = "SRV".encode("utf-16-le")
    av = (struct.pack("<HH", 2, len(name)) + name +      # MsvAvNbDomainName
          struct.pack("<HH", 1, len(name)) + name +      # MsvAvNbComputerName
          struct.pack("<HH", 0, 0))                      # MsvAvEOL
    flags = (NTLM_UNICODE | NTLM_REQUEST_TARGET | NTLM_SIGN | NTLM_SEAL |
             NTLM_NTLM | NTLM_ALWAYS_SIGN | NTLM_TARGET_TYPE_SERVER |
             NTLM_TARGET_INFO | NTLM_VERSION | NTLM_128 | NTLM_KEY_EXCH |
             NTLM_56 | (NTLM_ESS if ess else 0))
    head = 56
    return (b"NTLMSSP\0" + struct.pack("<I", 2) +
            struct.pack("<HHI", len(name), len(name), head) +
            struct.pack("<I", flags) + bytes(range(1, 9)) + bytes(8) +
            struct.pack("<HHI", len(av), len(av), head + len(name)) +
            bytes([10, 0, 0x63, 0x45, 0, 0, 0, 15]) + name + av)


class FakeNtlmServer:
    """HTTP on 127.0.0.1 answering every request 401: the first NTLM leg
    with `challenge`, the rest with a plain `WWW-Authenticate: Negotiate`.
    Records the NTLM message type of every Authorization it gets."""

    def __init__(self, challenge):
        self.challenge = challenge
        self.types = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stop_flag = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop_flag:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._conn, args=(conn,),
                             daemon=True).start()

    def _conn(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                headers = {}
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                f.read(int(headers.get("content-length", "0")))
                auth = headers.get("authorization", "")
                token = None
                if auth.lower().startswith("negotiate "):
                    raw = base64.b64decode(auth.split(" ", 1)[1])
                    if raw.startswith(b"NTLMSSP\0"):
                        mtype = struct.unpack("<I", raw[8:12])[0]
                        self.types.append(mtype)
                        if mtype == 1:
                            token = self.challenge
                www = "Negotiate" + (" " + base64.b64encode(token).decode()
                                     if token else "")
                conn.sendall(("HTTP/1.1 401 Unauthorized\r\n"
                              "WWW-Authenticate: %s\r\n"
                              "Content-Length: 0\r\n\r\n" % www).encode())
        except (OSError, ValueError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.stop_flag = True
        self.sock.close()
        self.thread.join(2)


class NoNtlmV1(Base):
    def run_against(self, ess):
        srv = FakeNtlmServer(ntlm_challenge(ess))
        self.addCleanup(srv.stop)
        r = run([winrsh(), "--shell", "cmd", "-a", "ntlm", "-u", USER,
                 "http://127.0.0.1:%d/wsman" % srv.port, "echo hi"],
                env=self.env(), timeout=30)
        return r, srv.types

    def test_challenge_without_ess_refused(self):
        r, types = self.run_against(ess=False)
        self.failed(r, r"refusing the NTLM server: it does not offer "
                    r"extended session security \(NTLMv1/LM only\)")
        self.assertEqual(types, [1], "only NEGOTIATE may go out, got types "
                         "%s" % types)

    def test_control_challenge_with_ess_answered(self):
        # The same CHALLENGE with ESS is good enough to be answered: the
        # refusal above is the ESS flag and nothing else.
        r, types = self.run_against(ess=True)
        self.failed(r, r"access denied")
        self.assertEqual(types[:2], [1, 3], types)


if __name__ == "__main__":
    sys.exit(harness.main())
