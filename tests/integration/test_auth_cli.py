#!/usr/bin/python3
"""winrsh authentication from the command line (issue 3), against
tests/server/testhost with NO Basic over HTTP and NO unencrypted bodies
(the service defaults of a Windows host: AllowUnencrypted=false).

What "done" means for issue 3, each printing `ok`:
  winrsh -u alice@WINRSH.TEST localhost 'echo ok'      Kerberos (SPNEGO),
        a ticket got from the KDC with the password, and from a kinit cache
  winrsh -a ntlm -u 'DOM\\alice' 127.0.0.1 'echo ok'    NTLM, 127.0.0.1 in
                                                       TrustedHosts
  winrsh --https --cacert ca.pem -u alice localhost 'echo ok'
with every SOAP request sealed (the request log), and a --trace that shows
`multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted"`
and `Authorization: Negotiate <redacted>`, never a token or the password.

Then every mechanism over HTTP (sealed) and HTTPS, refusals (wrong
password, unknown user, missing/expired ticket, a mechanism the server
does not offer, a tampered sealed reply, an untrusted host over HTTP,
certificate verification), channel binding against `testhost --cbt
strict` (with a raw python3-gssapi client as the negative control), NTLM
with a stock OpenSSL 3 (no legacy provider), and `winrsh --trusted-hosts`.

Assertions are the contract (ARCHITECTURE.md 4): exit 255 and exactly one
`winrsh: ` line on stderr when winrsh itself fails.  Loopback only; the
password only through WINRSH_PASSWORD; a private WINRSH_CONFIG_DIR and
KRB5CCNAME per test.  Run: /usr/bin/python3 tests/integration/
test_auth_cli.py (WINRSH_BUILD_DIR, WINRSH_SOURCE_DIR); the last line is
`N passed, N failed`.
"""

import base64
import http.client
import json
import os
import re
import signal
import ssl
import statistics
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__))), "server"))

import harness  # noqa: E402
from harness import run, winrsh  # noqa: E402
from testhost_proc import TestHost, TestPKI  # noqa: E402

USER, PASSWORD = "alice", "Secret123"
REALM = "WINRSH.TEST"
PRINCIPAL = "%s@%s" % (USER, REALM)
SPNEGO_PROTO = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS_PROTO = "application/HTTP-Kerberos-session-encrypted"
OID_NTLM = "1.3.6.1.4.1.311.2.2.10"
OID_KRB5 = "1.2.840.113554.1.2.2"
BUDGET = 170            # seconds for the whole file

# OpenSSL 3 as Debian 12 ships it: the default provider only (no legacy:
# no MD4, no RC4, which NTLM needs).
STOCK_OPENSSL_CNF = """\
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
[default_sect]
activate = 1
"""

AUTH_DENIED = r"(?i)access (is )?denied|credential"
AUTH_UNKNOWN = AUTH_DENIED + r"|unknown|not found"


def port_of(host):
    return int(re.match(r"https?://[^/]+:(\d+)/", host.url).group(1))


class Hosts:
    """The test hosts, started once (setUpModule) and shared.

    http      HTTP, Negotiate (NTLM + Kerberos) and Kerberos, --domain DOM
    https     HTTPS, Negotiate, Kerberos, Basic, certificate, --cbt relaxed
              (Windows' default CbtHardeningLevel)
    strict    HTTPS, Negotiate and Kerberos only, --cbt strict
    ntlm      HTTP, NTLM only; its first sealed reply is tampered
    krb_tamper HTTP, Kerberos scheme only; its 3rd sealed reply (the
              Receive of a one-command run) is tampered
    badname   HTTPS with a certificate for wronghost.test (CA ca.pem)
    """
    tmp = None
    pki = None


def setUpModule():
    Hosts.tmp = harness.TempDir("winrsh-auth-")
    try:
        pki_dir = Hosts.tmp.join("pki")
        os.makedirs(pki_dir)
        Hosts.pki = pki = TestPKI(pki_dir, users=[USER])
        Hosts.wrong_cert, Hosts.wrong_key = pki._leaf(
            "wrongname", "wronghost.test", pki.ca, pki.ca_key,
            ["basicConstraints=critical,CA:FALSE",
             "keyUsage=critical,digitalSignature,keyEncipherment",
             "extendedKeyUsage=serverAuth",
             "subjectAltName=DNS:wronghost.test"])
        user = ["--user", "%s:%s" % (USER, PASSWORD)]
        Hosts.http = TestHost("--auth", "negotiate,kerberos", "--domain",
                              "DOM", *user)
        Hosts.https = TestHost(
            "--https", pki.server_cert, pki.server_key, "--client-ca",
            pki.client_ca, "--auth", "negotiate,kerberos,basic,certificate",
            "--domain", "DOM", "--cbt", "relaxed", *user)
        Hosts.strict = TestHost(
            "--https", pki.server_cert, pki.server_key,
            "--auth", "negotiate,kerberos", "--cbt", "strict", *user)
        Hosts.ntlm = TestHost("--auth", "ntlm", "--fault",
                              "tamper-response:1", *user)
        Hosts.krb_tamper = TestHost("--auth", "kerberos", "--fault",
                                    "tamper-response:3", *user)
        Hosts.badname = TestHost("--https", Hosts.wrong_cert,
                                 Hosts.wrong_key, "--auth", "basic", *user)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    for k, v in sorted(Base.figures.items()):
        print("\nFIGURE %s: %s" % (k, v))
    for name in ("http", "https", "strict", "ntlm", "krb_tamper", "badname"):
        host = getattr(Hosts, name, None)
        if host is not None:
            try:
                host.stop()
            except Exception:
                pass
            setattr(Hosts, name, None)
    if Hosts.tmp is not None:
        Hosts.tmp.close()
        Hosts.tmp = None


class Base(unittest.TestCase):
    figures = {}

    def setUp(self):
        self.dir = harness.TempDir("winrsh-auth-case-")
        self.addCleanup(self.dir.close)
        # Nothing trusted unless a test says so.
        self.config_dir = harness.make_config_dir(self.dir.path, trusted=())
        os.chmod(self.config_dir, 0o700)
        os.chmod(os.path.join(self.config_dir, "trustedhosts"), 0o600)
        self.ccache = "FILE:" + self.dir.join("krb5cc")

    # -- helpers --------------------------------------------------------------
    def trust(self, *patterns):
        path = os.path.join(self.config_dir, "trustedhosts")
        with open(path, "w") as f:
            f.write("".join(p + "\n" for p in patterns))
        os.chmod(path, 0o600)

    def env(self, host=None, password=PASSWORD, **extra):
        """winrsh's environment: no OPENSSL_CONF (stock OpenSSL), the
        host's krb5.conf, a private ticket cache."""
        env = harness.winrsh_env(password, self.config_dir,
                                 KRB5CCNAME=self.ccache, **extra)
        krb5 = host.krb5_config if host is not None else None
        if krb5 is None:
            krb5 = Hosts.http.krb5_config     # some KDC, never the system's
        env.setdefault("KRB5_CONFIG", krb5)
        env.pop("OPENSSL_CONF", None)
        return env

    def winrsh(self, host, target, *words, opts=(), https=False,
               password=PASSWORD, shell="cmd", env=None, timeout=30):
        argv = [winrsh()]
        if shell:
            argv += ["--shell", shell]
        argv += list(opts) + ["-p", str(port_of(host))]
        if https:
            argv.append("--https")
        argv += [target] + list(words)
        if env is None:
            env = self.env(host, password)
        return run(argv, env=env, timeout=timeout)

    def mark(self, host):
        return len(host.requests())

    def requests(self, host, since, pred=None, timeout=3.0):
        """Log lines since `since`; waits (bounded) until pred holds."""
        deadline = time.monotonic() + timeout
        while True:
            reqs = host.requests()[since:]
            if pred is None or pred(reqs) or time.monotonic() > deadline:
                return reqs
            time.sleep(0.05)

    def ok(self, r):
        """The run printed `ok` and exited 0."""
        self.assertFalse(r.timed_out, "timed out: " + r.describe())
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r.out.decode("utf-8", "replace").splitlines(),
                         ["ok"], r.describe())

    def failed(self, r, pattern=None):
        """winrsh failed: 255, nothing on stdout, one `winrsh: ` line on
        stderr (matching pattern, if given); returns the line."""
        self.assertFalse(r.timed_out, "timed out: " + r.describe())
        self.assertEqual(r.rc, 255, r.describe())
        self.assertEqual(r.out, b"", r.describe())
        lines = r.err_lines
        self.assertEqual(len(lines), 1, "want one line on stderr: "
                         + r.describe())
        self.assertTrue(lines[0].startswith("winrsh: "), r.describe())
        self.assertNotIn(PASSWORD, lines[0])
        if pattern is not None:
            self.assertRegex(lines[0], pattern, r.describe())
        return lines[0]

    def assert_sealed(self, host, since, protocol, scheme):
        """Every request since `since` that carried a body was sealed with
        `protocol`; the others are handshake legs of `scheme` with empty
        bodies; the whole shell life cycle went over sealed bodies."""
        reqs = self.requests(
            host, since, lambda q: any((x.get("action") or "").endswith(
                "/Delete") for x in q))
        self.assertTrue(reqs, "no requests logged")
        for q in reqs:
            if q.get("request_length"):
                self.assertTrue(q["encrypted"], "unsealed body: %s" % q)
                self.assertIn('protocol="%s"' % protocol, q["content_type"],
                              q)
            else:
                self.assertEqual(q["authorization"], scheme, q)
                self.assertIn(q["status"], (200, 401), q)
        actions = [(q.get("action") or "").rsplit("/", 1)[-1] for q in reqs
                   if q["encrypted"]]
        for a in ("Create", "Command", "Receive", "Delete"):
            self.assertIn(a, actions, reqs)
        return reqs

    def auth_legs(self, reqs):
        """(scheme, status) of the requests that carried Authorization."""
        return [(q["authorization"], q["status"]) for q in reqs
                if q.get("authorization")]

    def kinit(self, host, lifetime=None):
        argv = ["kinit"]
        if lifetime:
            argv += ["-l", lifetime]
        argv.append(PRINCIPAL)
        env = harness.base_env()
        env.update(KRB5_CONFIG=host.krb5_config, KRB5CCNAME=self.ccache)
        p = subprocess.run(argv, input=(PASSWORD + "\n").encode(), env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=20)
        self.assertEqual(p.returncode, 0, p.stdout)

    def kdestroy(self, host):
        env = harness.base_env()
        env.update(KRB5_CONFIG=host.krb5_config, KRB5CCNAME=self.ccache)
        subprocess.run(["kdestroy"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=20)


# --------------------------------------------------------------------------
class DoneWhen(Base):
    """The issue's own commands, as a user types them (default shell)."""

    def test_kerberos_ticket_from_password(self):
        h = Hosts.http
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok", shell=None,
                        opts=["-u", PRINCIPAL])
        self.ok(r)
        reqs = self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")
        # Kerberos in SPNEGO: one leg, no 401 (NTLM needs a challenge).
        self.assertEqual(self.auth_legs(reqs)[:1], [("Negotiate", 200)],
                         reqs)

    def test_kerberos_ticket_from_kinit_cache(self):
        h = Hosts.http
        self.kinit(h)
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok", shell=None,
                        opts=["-u", PRINCIPAL], password=None)
        self.ok(r)
        reqs = self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")
        self.assertEqual(self.auth_legs(reqs)[:1], [("Negotiate", 200)],
                         reqs)

    def test_ntlm_domain_user_to_ip(self):
        h = Hosts.http
        self.trust("127.0.0.1")
        m = self.mark(h)
        r = self.winrsh(h, "127.0.0.1", "echo ok", shell=None,
                        opts=["-a", "ntlm", "-u", "DOM\\" + USER])
        self.ok(r)
        reqs = self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")
        self.assertEqual(self.auth_legs(reqs)[:2],
                         [("Negotiate", 401), ("Negotiate", 200)], reqs)

    def test_https_cacert(self):
        h = Hosts.https
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok", shell=None, https=True,
                        opts=["--cacert", Hosts.pki.ca, "-u", USER])
        self.ok(r)
        reqs = self.requests(h, m)
        self.assertTrue(any(q.get("authorization") for q in reqs), reqs)

    def trace(self, host, target, opts, protocol, scheme):
        m = self.mark(host)
        r = self.winrsh(host, target, "echo ok", opts=["--trace"] + opts)
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(r.out, b"ok\n", r.describe())
        err = r.err.decode("utf-8", "replace")
        self.assertIn(
            'Content-Type: multipart/encrypted;protocol="%s"' % protocol,
            err)
        self.assertIn("Authorization: %s <redacted>" % scheme, err)
        for line in err.splitlines():
            if re.match(r"(?i)^\W*(proxy-)?authorization:", line):
                self.assertRegex(line, r"<redacted>\s*$",
                                 "a token in the trace: " + line)
        self.assertNotIn(PASSWORD, err)
        self.assertNotIn(base64.b64encode(PASSWORD.encode()).decode(), err)
        self.assert_sealed(host, m, protocol, scheme)
        return err

    def test_trace_negotiate_kerberos(self):
        self.trace(Hosts.http, "localhost", ["-u", PRINCIPAL],
                   SPNEGO_PROTO, "Negotiate")

    def test_trace_ntlm(self):
        self.trust("127.0.0.1")
        self.trace(Hosts.http, "127.0.0.1",
                   ["-a", "ntlm", "-u", "DOM\\" + USER],
                   SPNEGO_PROTO, "Negotiate")

    def test_trace_kerberos_scheme(self):
        self.trace(Hosts.http, "localhost",
                   ["-a", "kerberos", "-u", PRINCIPAL],
                   KERBEROS_PROTO, "Kerberos")


# --------------------------------------------------------------------------
class OverHttp(Base):
    """Every mechanism that can seal, over plain HTTP (--shell cmd)."""

    def test_negotiate_kerberos_needs_no_trustedhosts(self):
        h = Hosts.http
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok", opts=["-u", PRINCIPAL])
        self.ok(r)
        reqs = self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")
        self.assertEqual(self.auth_legs(reqs), [("Negotiate", 200)], reqs)

    def test_negotiate_falls_back_to_ntlm_for_an_ip(self):
        # A ticket is there, but the target is an address: NTLM.
        h = Hosts.http
        self.kinit(h)
        self.trust("127.0.0.1")
        m = self.mark(h)
        r = self.winrsh(h, "127.0.0.1", "echo ok", opts=["-u", USER])
        self.ok(r)
        reqs = self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")
        self.assertEqual(self.auth_legs(reqs),
                         [("Negotiate", 401), ("Negotiate", 200)], reqs)

    def test_negotiate_ntlm_for_a_plain_user_without_ticket(self):
        h = Hosts.http
        self.trust("localhost")
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok", opts=["-u", USER])
        self.ok(r)
        reqs = self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")
        self.assertEqual(self.auth_legs(reqs),
                         [("Negotiate", 401), ("Negotiate", 200)], reqs)

    def test_ntlm(self):
        h = Hosts.http
        self.trust("127.0.0.1")
        m = self.mark(h)
        r = self.winrsh(h, "127.0.0.1", "echo ok",
                        opts=["-a", "ntlm", "-u", USER])
        self.ok(r)
        self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")

    def test_kerberos_scheme(self):
        h = Hosts.http
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok",
                        opts=["-a", "kerberos", "-u", PRINCIPAL])
        self.ok(r)
        reqs = self.assert_sealed(h, m, KERBEROS_PROTO, "Kerberos")
        self.assertEqual(self.auth_legs(reqs), [("Kerberos", 200)], reqs)

    def test_kerberos_scheme_from_cache_without_user(self):
        h = Hosts.http
        self.kinit(h)
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo ok", opts=["-a", "kerberos"],
                        password=None)
        self.ok(r)
        self.assert_sealed(h, m, KERBEROS_PROTO, "Kerberos")

    def test_ntlm_fresh_connection_cost(self):
        """One command, NTLM + sealing, a new connection each run: the
        request count and the wall time (median of 5)."""
        h = Hosts.http
        self.trust("127.0.0.1")
        walls, counts = [], []
        for _ in range(5):
            m = self.mark(h)
            r = self.winrsh(h, "127.0.0.1", "echo ok",
                            opts=["-a", "ntlm", "-u", USER])
            self.ok(r)
            reqs = self.requests(h, m, lambda q: any(
                (x.get("action") or "").endswith("/Delete") for x in q))
            walls.append(r.elapsed)
            counts.append("%d (%s)" % (len(reqs), " ".join(
                (q.get("action") or "auth:%s" % q["status"]).rsplit("/")[-1]
                for q in reqs)))
        wall = statistics.median(walls)
        Base.figures["ntlm+sealing, one command, fresh connection"] = (
            "median wall %.3f s (runs: %s); requests per run: %s" % (
                wall, " ".join("%.3f" % w for w in walls),
                "; ".join(sorted(set(counts)))))
        self.assertLess(wall, 2.0, walls)


# --------------------------------------------------------------------------
class OverHttps(Base):
    """Every mechanism over HTTPS (--cacert; nothing in TrustedHosts; the
    host checks channel bindings the client sends, --cbt relaxed)."""

    def https(self, target, *opts, password=PASSWORD):
        h = Hosts.https
        m = self.mark(h)
        r = self.winrsh(h, target, "echo ok", https=True, password=password,
                        opts=["--cacert", Hosts.pki.ca] + list(opts))
        self.ok(r)
        return self.requests(h, m, lambda q: any(
            (x.get("action") or "").endswith("/Delete") for x in q))

    def test_negotiate_kerberos(self):
        reqs = self.https("localhost", "-u", PRINCIPAL)
        self.assertEqual(self.auth_legs(reqs), [("Negotiate", 200)], reqs)

    def test_negotiate_ntlm_for_an_ip(self):
        reqs = self.https("127.0.0.1", "-u", USER)
        self.assertEqual(self.auth_legs(reqs),
                         [("Negotiate", 401), ("Negotiate", 200)], reqs)

    def test_ntlm(self):
        reqs = self.https("localhost", "-a", "ntlm", "-u", "DOM\\" + USER)
        self.assertIn(("Negotiate", 200), self.auth_legs(reqs))

    def test_kerberos_scheme(self):
        reqs = self.https("localhost", "-a", "kerberos", "-u", PRINCIPAL)
        self.assertEqual(self.auth_legs(reqs), [("Kerberos", 200)], reqs)

    def test_basic(self):
        reqs = self.https("localhost", "-a", "basic", "-u", USER)
        self.assertTrue(reqs)
        self.assertTrue(all(q["authorization"] == "Basic" for q in reqs),
                        reqs)

    def test_certificate(self):
        cert, key = Hosts.pki.client(USER)
        reqs = self.https("localhost", "-a", "certificate", "--cert", cert,
                          "--key", key, password=None)
        self.assertTrue(reqs)
        self.assertTrue(all(q["authorization"] and q["authorization"]
                            .endswith("/https/mutual") for q in reqs), reqs)


# --------------------------------------------------------------------------
class ChannelBinding(Base):
    """testhost --cbt strict: the acceptor requires RFC 5929
    tls-server-end-point bindings of its certificate."""

    def strict(self, target, *opts):
        h = Hosts.strict
        r = self.winrsh(h, target, "echo ok", https=True,
                        opts=["--cacert", Hosts.pki.ca] + list(opts))
        self.ok(r)

    def test_winrsh_ntlm(self):
        self.strict("localhost", "-a", "ntlm", "-u", USER)

    def test_winrsh_negotiate_ntlm(self):
        self.strict("127.0.0.1", "-u", USER)

    def test_winrsh_negotiate_kerberos(self):
        self.strict("localhost", "-u", PRINCIPAL)

    def test_winrsh_kerberos_scheme(self):
        self.strict("localhost", "-a", "kerberos", "-u", PRINCIPAL)

    # The negative control: a raw python3-gssapi client in a child process
    # (its own KRB5_CONFIG, NTLM without NTLM_USER_FILE) does the
    # handshake with the right, wrong or no bindings.
    def raw(self, mech, bindings):
        env = harness.base_env()
        env.update(KRB5_CONFIG=Hosts.strict.krb5_config,
                   KRB5CCNAME="MEMORY:cbt-control")
        p = subprocess.run(
            ["/usr/bin/python3", os.path.realpath(__file__), "--cbt-client",
             str(port_of(Hosts.strict)), Hosts.pki.ca,
             Hosts.pki.server_cert, mech, bindings],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=40)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return json.loads(p.stdout)

    def test_control_ntlm(self):
        self.assertEqual(self.raw("ntlm", "right")["status"], 200)
        for b in ("wrong", "none"):
            ans = self.raw("ntlm", b)
            self.assertEqual(ans["status"], 401, (b, ans))
            self.assertEqual(ans["challenges"], ["Negotiate", "Kerberos"],
                             (b, ans))

    def test_control_kerberos(self):
        self.assertEqual(self.raw("krb5", "right")["status"], 200)
        for b in ("wrong", "none"):
            ans = self.raw("krb5", b)
            self.assertEqual(ans["status"], 401, (b, ans))
            self.assertEqual(ans["challenges"], ["Negotiate", "Kerberos"],
                             (b, ans))


def cbt_client(port, cafile, server_cert, mech, which):
    """Child: one Negotiate (NTLM) or Kerberos handshake over HTTPS with
    the right, a wrong or no channel bindings.  Prints {"status": final
    HTTP status, "challenges": WWW-Authenticate values of a final 401}."""
    import gssapi
    import gssapi.raw as graw
    from winrm_host import tls as host_tls
    right = host_tls.end_point_bindings(server_cert)
    app = {"right": right,
           "wrong": right[:-1] + bytes([right[-1] ^ 1]),
           "none": None}[which]
    if mech == "ntlm":
        oid, scheme = gssapi.OID.from_int_seq(OID_NTLM), "Negotiate"
        name = gssapi.Name(USER, gssapi.NameType.user)
    else:
        oid, scheme = gssapi.OID.from_int_seq(OID_KRB5), "Kerberos"
        name = gssapi.Name(PRINCIPAL, gssapi.NameType.kerberos_principal)
    cred = gssapi.Credentials(graw.acquire_cred_with_password(
        name, PASSWORD.encode(), usage="initiate", mechs=[oid]).creds)
    ctx = gssapi.SecurityContext(
        name=gssapi.Name("HTTP@localhost", gssapi.NameType.hostbased_service),
        creds=cred, usage="initiate", mech=oid,
        channel_bindings=None if app is None else
        graw.ChannelBindings(application_data=app),
        flags=gssapi.RequirementFlag.mutual_authentication |
        gssapi.RequirementFlag.integrity |
        gssapi.RequirementFlag.confidentiality)
    conn = http.client.HTTPSConnection(
        "localhost", int(port), timeout=15,
        context=ssl.create_default_context(cafile=cafile))
    token = ctx.step()
    answer = {}
    for _ in range(4):
        conn.request("POST", "/wsman", body=b"", headers={
            "Authorization": "%s %s" % (scheme,
                                        base64.b64encode(token).decode()),
            "Content-Type": "application/soap+xml;charset=UTF-8"})
        r = conn.getresponse()
        r.read()
        values = r.msg.get_all("WWW-Authenticate") or []
        answer = {"status": r.status, "challenges": values}
        leg = [v.split(" ", 1)[1] for v in values
               if v.startswith(scheme + " ")]
        if r.status != 401 or not leg:
            break
        token = ctx.step(base64.b64decode(leg[0]))
    conn.close()
    print(json.dumps(answer))
    return 0


# --------------------------------------------------------------------------
class Refusals(Base):
    def test_wrong_password_ntlm(self):
        h = Hosts.http
        self.trust("127.0.0.1")
        m = self.mark(h)
        bad = "wrong-" + PASSWORD
        r = self.winrsh(h, "127.0.0.1", "echo x", password=bad,
                        opts=["-a", "ntlm", "-u", USER])
        line = self.failed(r, AUTH_DENIED)
        self.assertNotIn(bad, line)
        reqs = self.requests(h, m)
        self.assertFalse([q for q in reqs if q.get("action")], reqs)
        self.assertLessEqual(len(reqs), 3, "retries a wrong password")

    def test_wrong_password_kerberos_negotiate(self):
        h = Hosts.http
        bad = "wrong-" + PASSWORD
        r = self.winrsh(h, "localhost", "echo x", password=bad,
                        opts=["-u", PRINCIPAL])
        line = self.failed(r, AUTH_DENIED)
        self.assertNotIn(bad, line)

    def test_wrong_password_kerberos_scheme(self):
        h = Hosts.http
        bad = "wrong-" + PASSWORD
        r = self.winrsh(h, "localhost", "echo x", password=bad,
                        opts=["-a", "kerberos", "-u", PRINCIPAL])
        line = self.failed(r, AUTH_DENIED)
        self.assertNotIn(bad, line)

    def test_unknown_user_ntlm(self):
        h = Hosts.http
        self.trust("127.0.0.1")
        r = self.winrsh(h, "127.0.0.1", "echo x",
                        opts=["-a", "ntlm", "-u", "mallory"])
        line = self.failed(r, AUTH_DENIED)
        self.assertIn("mallory", line)

    def test_unknown_user_kerberos(self):
        h = Hosts.http
        r = self.winrsh(h, "localhost", "echo x",
                        opts=["-u", "mallory@" + REALM])
        line = self.failed(r, AUTH_UNKNOWN)
        self.assertIn("mallory", line)

    def test_unknown_user_kerberos_scheme(self):
        h = Hosts.http
        r = self.winrsh(h, "localhost", "echo x",
                        opts=["-a", "kerberos", "-u", "mallory@" + REALM])
        line = self.failed(r, AUTH_UNKNOWN)
        self.assertIn("mallory", line)

    def test_no_ticket_after_kdestroy(self):
        h = Hosts.http
        self.kinit(h)
        self.kdestroy(h)
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo x", password=None,
                        opts=["-u", PRINCIPAL])
        self.failed(r, r"kinit")
        reqs = self.requests(h, m)
        self.assertFalse([q for q in reqs if q.get("action")], reqs)

    def test_no_ticket_kerberos_scheme(self):
        r = self.winrsh(Hosts.http, "localhost", "echo x", password=None,
                        opts=["-a", "kerberos"])
        self.failed(r, r"kinit")

    def expired(self, opts):
        # The test KDC's max_life is 10 h; kinit -l 1s gets a ticket that
        # lives one second.
        h = Hosts.http
        self.kinit(h, lifetime="1s")
        time.sleep(2.2)
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo x", password=None, opts=opts)
        self.failed(r, r"kinit")
        reqs = self.requests(h, m)
        self.assertFalse([q for q in reqs if q.get("action")], reqs)

    def test_expired_ticket_negotiate(self):
        self.expired(["-u", PRINCIPAL])

    def test_expired_ticket_kerberos_scheme(self):
        self.expired(["-a", "kerberos"])

    def test_basic_against_negotiate_only(self):
        # HTTPS, so Basic would be allowed on our side: the server does not
        # offer it.  The message says what it offers.
        h = Hosts.strict
        r = self.winrsh(h, "localhost", "echo x", https=True,
                        opts=["--cacert", Hosts.pki.ca, "-a", "basic",
                              "-u", USER])
        line = self.failed(r, r"(?i)basic")
        self.assertIn("Negotiate", line)
        self.assertIn("Kerberos", line)

    def test_kerberos_against_ntlm_only(self):
        # A KDC that would give a ticket (the http host's), a server that
        # only speaks Negotiate with NTLM.
        h = Hosts.ntlm
        r = self.winrsh(h, "localhost", "echo x",
                        env=self.env(Hosts.http),
                        opts=["-a", "kerberos", "-u", PRINCIPAL])
        line = self.failed(r, r"(?i)kerberos")
        self.assertIn("Negotiate", line)

    def tampered(self, host, target, opts):
        m = self.mark(host)
        r = self.winrsh(host, target, "echo ok", opts=opts, timeout=30)
        self.assertGreaterEqual(r.rc, 0, "killed by a signal: "
                                + r.describe())
        line = self.failed(r, r"(?i)encrypt|decrypt|seal|signature|"
                           r"integrity|checksum|tamper|corrupt|verif|mac")
        self.assertLess(r.elapsed, 15, r.describe())
        self.assertNotIn("Sanitizer", r.err.decode("utf-8", "replace"))
        reqs = self.requests(host, m, lambda q: any(
            x.get("fault") for x in q))
        self.assertTrue(any(q.get("fault") == "tamper-response"
                            for q in reqs), reqs)
        return line

    def test_tampered_reply_ntlm(self):
        # The ntlm host's first sealed reply (this run's Create) is bad.
        self.trust("127.0.0.1")
        self.tampered(Hosts.ntlm, "127.0.0.1", ["-a", "ntlm", "-u", USER])

    def test_tampered_reply_kerberos(self):
        # The 3rd sealed reply: Create, Command, then Receive (an empty
        # stdin sends nothing).
        self.tampered(Hosts.krb_tamper, "localhost",
                      ["-a", "kerberos", "-u", PRINCIPAL])

    def untrusted(self, target, opts):
        h = Hosts.http
        m = self.mark(h)
        r = self.winrsh(h, target, "echo x", opts=opts)
        line = self.failed(r, r"TrustedHosts")
        self.assertIn("--trusted-hosts", line)
        time.sleep(0.2)
        reqs = self.requests(h, m)
        self.assertEqual([q for q in reqs if q.get("authorization")], [],
                         "credentials were sent: %s" % reqs)
        self.assertEqual(reqs, [], "requests were sent: %s" % reqs)

    def test_untrusted_ntlm(self):
        self.untrusted("127.0.0.1", ["-a", "ntlm", "-u", USER])

    def test_untrusted_negotiate_ntlm(self):
        self.untrusted("127.0.0.1", ["-u", USER])

    def test_untrusted_basic(self):
        self.untrusted("127.0.0.1", ["-a", "basic", "--allow-unencrypted",
                                     "-u", USER])

    def test_trusted_other_host_does_not_count(self):
        self.trust("192.0.2.1", "*.example.com", "localhost")
        self.untrusted("127.0.0.1", ["-a", "ntlm", "-u", USER])


# --------------------------------------------------------------------------
class CertificateVerification(Base):
    def test_no_cacert(self):
        h = Hosts.https
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo x", https=True,
                        opts=["-a", "basic", "-u", USER])
        line = self.failed(r)
        self.assertIn("--cacert", line)
        self.assertIn("--insecure", line)
        time.sleep(0.2)
        self.assertEqual(self.requests(h, m), [])

    def test_name_not_in_certificate(self):
        h = Hosts.badname
        m = self.mark(h)
        r = self.winrsh(h, "localhost", "echo x", https=True,
                        opts=["--cacert", Hosts.pki.ca, "-a", "basic",
                              "-u", USER])
        self.failed(r, r"(?i)certificate|name|match|verif")
        time.sleep(0.2)
        self.assertEqual(self.requests(h, m), [])

    def test_insecure_warns_and_works(self):
        for h in (Hosts.https, Hosts.badname):
            r = self.winrsh(h, "localhost", "echo ok", https=True,
                            opts=["--insecure", "-a", "basic", "-u", USER])
            self.ok(r)
            self.assertRegex(r.err.decode("utf-8", "replace"),
                             r"(?i)warning|insecure|not verif",
                             r.describe())


# --------------------------------------------------------------------------
class StockOpenSSL(Base):
    """NTLM (MD4, RC4, HMAC-MD5) with Debian 12's OpenSSL 3 as shipped: no
    legacy provider."""

    def test_ntlm_without_openssl_conf(self):
        h = Hosts.http
        self.trust("127.0.0.1")
        env = self.env(h)
        self.assertNotIn("OPENSSL_CONF", env)
        m = self.mark(h)
        r = self.winrsh(h, "127.0.0.1", "echo ok", env=env,
                        opts=["-a", "ntlm", "-u", USER])
        self.ok(r)
        self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")

    def test_ntlm_with_default_provider_only(self):
        cnf = self.dir.join("openssl.cnf")
        with open(cnf, "w") as f:
            f.write(STOCK_OPENSSL_CNF)
        env = self.env(Hosts.http)
        env["OPENSSL_CONF"] = cnf
        # The premise: MD4 is not available under this configuration.
        p = subprocess.run(["openssl", "dgst", "-md4"], input=b"x", env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10)
        self.assertNotEqual(p.returncode, 0, "MD4 available: %r" % p.stdout)
        self.trust("127.0.0.1")
        h = Hosts.http
        m = self.mark(h)
        r = self.winrsh(h, "127.0.0.1", "echo ok", env=env,
                        opts=["-a", "ntlm", "-u", "DOM\\" + USER])
        self.ok(r)
        self.assert_sealed(h, m, SPNEGO_PROTO, "Negotiate")


# --------------------------------------------------------------------------
class TrustedHostsCli(Base):
    """`winrsh --trusted-hosts list|add P[,P...]|remove P|clear`."""

    def th(self, *words):
        return run([winrsh(), "--trusted-hosts"] + list(words),
                   env=self.env(), timeout=10)

    def listed(self):
        r = self.th("list")
        self.assertEqual((r.rc, r.err), (0, b""), r.describe())
        return r.out.decode().splitlines()

    def file(self):
        return os.path.join(self.config_dir, "trustedhosts")

    def test_list_empty(self):
        self.assertEqual(self.listed(), [])
        os.unlink(self.file())               # no file: an empty list
        self.assertEqual(self.listed(), [])

    def test_add_list_remove_clear(self):
        os.unlink(self.file())
        r = self.th("add", "127.0.0.1,*.example.com")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(sorted(self.listed()),
                         ["*.example.com", "127.0.0.1"])
        mode = os.stat(self.file()).st_mode & 0o777
        self.assertEqual(mode, 0o600, oct(mode))
        r = self.th("add", "127.0.0.1")      # a duplicate: ignored
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(sorted(self.listed()),
                         ["*.example.com", "127.0.0.1"])
        r = self.th("remove", "*.example.com")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(self.listed(), ["127.0.0.1"])
        r = self.th("remove", "not-there.example")
        self.assertEqual(r.rc, 255, r.describe())
        self.assertEqual(len(r.err_lines), 1, r.describe())
        self.assertEqual(self.listed(), ["127.0.0.1"])
        r = self.th("clear")
        self.assertEqual(r.rc, 0, r.describe())
        self.assertEqual(self.listed(), [])

    def test_add_then_connect_then_remove(self):
        h = Hosts.http
        r = self.th("add", "127.0.0.1")
        self.assertEqual(r.rc, 0, r.describe())
        r = self.winrsh(h, "127.0.0.1", "echo ok",
                        opts=["-a", "ntlm", "-u", USER])
        self.ok(r)
        r = self.th("remove", "127.0.0.1")
        self.assertEqual(r.rc, 0, r.describe())
        m = self.mark(h)
        r = self.winrsh(h, "127.0.0.1", "echo x",
                        opts=["-a", "ntlm", "-u", USER])
        self.failed(r, r"TrustedHosts")
        self.assertEqual(self.requests(h, m), [])

    def test_wildcard_pattern(self):
        r = self.th("add", "127.0.0.*")
        self.assertEqual(r.rc, 0, r.describe())
        r = self.winrsh(Hosts.http, "127.0.0.1", "echo ok",
                        opts=["-a", "ntlm", "-u", USER])
        self.ok(r)


# --------------------------------------------------------------------------
def main():
    def on_alarm(signum, frame):
        raise TimeoutError("test_auth_cli exceeded %d s" % BUDGET)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(BUDGET)
    try:
        return harness.main()
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--cbt-client":
        sys.exit(cbt_client(*sys.argv[2:]))
    sys.exit(main())
