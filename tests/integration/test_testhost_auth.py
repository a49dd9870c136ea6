#!/usr/bin/python3
"""Authentication and message encryption of tests/server/testhost.

Independent clients prove that the host authenticates and seals like a
default Windows host:
- pywinrm (Debian python3-winrm 0.3.0: requests_ntlm + ntlm_auth) with
  NTLM in the Negotiate scheme and message encryption, as `alice` and as
  `DOM\\alice` (--domain DOM); a wrong password gets 401;
- pywinrm over HTTPS with Basic, validating the host against a test CA;
- a client certificate mapped to its CN (--auth certificate);
- a raw python3-gssapi Kerberos client against the host's own MIT KDC:
  the `Kerberos` scheme, mutual authentication, then Identify and a shell
  Create sealed with gss_wrap_iov (HEADER, DATA, PADDING);
- refusals: an unsealed body when encryption is required (500), a
  tampered sealed body (400, connection closed; the host keeps serving).

Run: /usr/bin/python3 tests/integration/test_testhost_auth.py
"""

import base64
import http.client
import os
import re
import struct
import sys
import tempfile
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from testhost_proc import TestHost, TestPKI, run_suite  # noqa: E402

USER, PASSWORD = "alice", "Secret123"
BOUNDARY = b"--Encrypted Boundary"

# OpenSSL 3 keeps MD4 (NTLM's NT hash, used by ntlm_auth through hashlib)
# in the legacy provider.
LEGACY_CNF = """\
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
"""

IDENTIFY = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/'
    'wsmanidentity.xsd"><s:Header/><s:Body><wsmid:Identify/></s:Body>'
    '</s:Envelope>').encode()

CREATE = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
    '<s:Header><a:To>{url}</a:To>'
    '<w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/'
    'wbem/wsman/1/windows/shell/cmd</w:ResourceURI>'
    '<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap'
    '.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>'
    '<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/'
    '09/transfer/Create</a:Action>'
    '<w:MaxEnvelopeSize s:mustUnderstand="true">153600</w:MaxEnvelopeSize>'
    '<a:MessageID>uuid:{mid}</a:MessageID>'
    '<w:OperationTimeout>PT20S</w:OperationTimeout>'
    '<w:OptionSet><w:Option Name="WINRS_CODEPAGE">65001</w:Option>'
    '</w:OptionSet></s:Header><s:Body><rsp:Shell>'
    '<rsp:InputStreams>stdin</rsp:InputStreams>'
    '<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>'
    '</rsp:Shell></s:Body></s:Envelope>')


def legacy_openssl_child(host, *args):
    """Run this file as `--child ARGS` under /usr/bin/python3 with
    OPENSSL_CONF naming a config that turns on OpenSSL's legacy provider
    (MD4 for ntlm_auth); set for that child only, as OpenSSL reads the
    variable once, when it starts.  Returns the child's JSON answer."""
    import json
    import subprocess
    with tempfile.TemporaryDirectory(prefix="legacy-ossl-") as tmp:
        path = os.path.join(tmp, "openssl.cnf")
        with open(path, "w") as f:
            f.write(LEGACY_CNF)
        env = dict(os.environ, OPENSSL_CONF=path)
        res = subprocess.run(
            ["/usr/bin/python3", os.path.abspath(__file__), "--child",
             host.url] + list(args), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=40)
    if res.returncode != 0:
        raise AssertionError("child failed: %s" % res.stderr.decode())
    return json.loads(res.stdout)


def child_main(url, op, *args):
    """The pywinrm/requests_ntlm side of the NTLM tests (in a child)."""
    import json
    import winrm
    from winrm.exceptions import (InvalidCredentialsError, WinRMError,
                                  WinRMTransportError)

    def protocol(user=USER, password=PASSWORD):
        return winrm.Protocol(url, transport="ntlm", username=user,
                              password=password, message_encryption="always")

    answer = {}
    try:
        if op == "run":
            user, password, command = args
            out, err, rc = run_cmd(protocol(user, password), command)
            answer = {"out": out.decode(), "err": err.decode(), "rc": rc}
        elif op == "fault":
            protocol().get_command_output(str(uuid.uuid4()).upper(),
                                          str(uuid.uuid4()).upper())
        elif op == "tamper":
            answer = child_tamper(url)
    except InvalidCredentialsError as e:
        answer = {"error": "InvalidCredentialsError", "text": str(e)}
    except WinRMTransportError as e:
        answer = {"error": "WinRMTransportError", "code": e.code,
                  "text": e.response_text}
    except WinRMError as e:      # a fault pywinrm could read: unsealed
        answer = {"error": "WinRMError", "text": str(e)}
    print(json.dumps(answer))
    return 0


def child_tamper(url):
    """Raw requests_ntlm: the empty handshake POST gets 200 and an empty
    body; then an unsealed SOAP body gets 500; a sealed one 200; a sealed
    body with one flipped byte 400 with the connection closed."""
    import requests
    from requests_ntlm import HttpNtlmAuth
    from winrm.encryption import Encryption
    soap = {"Content-Type": "application/soap+xml;charset=UTF-8"}
    s = requests.Session()
    s.auth = HttpNtlmAuth(USER, PASSWORD)
    r = s.post(url, data=b"", headers=soap)
    answer = {"handshake": [r.status_code, r.content.decode()]}
    r = s.post(url, data=IDENTIFY, headers=soap)
    answer["unsealed"] = r.status_code
    enc = Encryption(s, "ntlm")
    good = enc.prepare_encrypted_request(s, url, IDENTIFY)
    r = s.send(good)
    answer["sealed"] = [r.status_code, b"IdentifyResponse" in
                        enc.parse_encrypted_response(r)]
    bad = enc.prepare_encrypted_request(s, url, IDENTIFY)
    body = bytearray(bad.body)
    body[-40] ^= 0x01          # inside the sealed payload
    bad.body = bytes(body)
    r = s.send(bad)
    answer["tampered"] = [r.status_code, r.headers.get("Connection", "")]
    return answer


def run_cmd(protocol, command):
    shell = protocol.open_shell()
    try:
        cid = protocol.run_command(shell, command)
        out = protocol.get_command_output(shell, cid)
        protocol.cleanup_command(shell, cid)
        return out
    finally:
        protocol.close_shell(shell)


def host_port(url):
    m = re.match(r"https?://([^/:]+):(\d+)/", url)
    return m.group(1), int(m.group(2))


# --------------------------------------------------------------------------
# NTLM (Negotiate) with message encryption, through pywinrm

class NtlmPyWinRM(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = TestHost("--auth", "negotiate", "--domain", "DOM",
                            "--user", "%s:%s" % (USER, PASSWORD))

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()

    def run_ntlm(self, command, user=USER, password=PASSWORD):
        return legacy_openssl_child(self.host, "run", user, password,
                                    command)

    def test_echo_stderr_exit_code(self):
        out = self.run_ntlm("echo hello; echo oops >&2; exit 7")
        self.assertEqual(out, {"out": "hello\n", "err": "oops\n", "rc": 7})
        sealed = [r for r in self.host.requests() if r["action"]]
        self.assertTrue(sealed)
        for r in sealed:
            self.assertTrue(r["encrypted"], r)
            self.assertTrue(r["content_type"].startswith(
                'multipart/encrypted;protocol="application/HTTP-SPNEGO-'
                'session-encrypted"'), r)
            self.assertTrue(r["reply_content_type"].startswith(
                "multipart/encrypted;"), r)

    def test_exit_code_zero(self):
        self.assertEqual(self.run_ntlm("true"),
                         {"out": "", "err": "", "rc": 0})

    def test_domain_user(self):
        self.assertEqual(self.run_ntlm("echo dom", user="DOM\\" + USER),
                         {"out": "dom\n", "err": "", "rc": 0})

    def test_other_domain_refused(self):
        self.assertEqual(self.run_ntlm("echo no", user="OTHER\\" + USER)
                         .get("error"), "InvalidCredentialsError")

    def test_wrong_password(self):
        answer = self.run_ntlm("echo no", password="wrong")
        self.assertEqual(answer.get("error"), "InvalidCredentialsError")

    def test_fault_is_sealed(self):
        """A WS-Man fault (HTTP 500) comes back sealed too."""
        answer = legacy_openssl_child(self.host, "fault")
        self.assertEqual(answer.get("error"), "WinRMError")
        self.assertIn("2150858843", answer.get("text"))
        last = self.host.requests()[-1]
        self.assertEqual(last["status"], 500)
        self.assertTrue(last["reply_content_type"].startswith(
            "multipart/encrypted;"))

    def test_unsealed_body_refused_then_tampered(self):
        answer = legacy_openssl_child(self.host, "tamper")
        self.assertEqual(answer, {"handshake": [200, ""], "unsealed": 500,
                                  "sealed": [200, True],
                                  "tampered": [400, "close"]})
        # The host survives: a new client works.
        self.assertEqual(self.run_ntlm("echo still"),
                         {"out": "still\n", "err": "", "rc": 0})

    def test_garbage_token(self):
        """Tokens that are not NTLM/SPNEGO get 401 with a fresh challenge;
        the host keeps serving."""
        host, port = host_port(self.host.url)
        for token in (b"NTLMSSP\0\x03" + b"\0" * 60, b"\x60\x05junk",
                      b"not a token"):
            conn = http.client.HTTPConnection(host, port, timeout=10)
            try:
                conn.request("POST", "/wsman", body=b"", headers={
                    "Authorization": "Negotiate " +
                    base64.b64encode(token).decode(),
                    "Content-Type": "application/soap+xml;charset=UTF-8"})
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 401)
                self.assertEqual(r.getheader("WWW-Authenticate"),
                                 "Negotiate")
            finally:
                conn.close()
        self.assertEqual(self.run_ntlm("echo ok")["out"], "ok\n")

    def test_handshake_per_connection(self):
        """The context belongs to the TCP connection: a fresh connection
        without Authorization gets 401 with the challenge."""
        host, port = host_port(self.host.url)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request("POST", "/wsman", body=IDENTIFY, headers={
                "Content-Type": "application/soap+xml;charset=UTF-8"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 401)
            self.assertEqual(r.getheader("WWW-Authenticate"), "Negotiate")
        finally:
            conn.close()


# --------------------------------------------------------------------------
# HTTPS: Basic with a validated server certificate, client certificates

class Https(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="testhost-pki-")
        cls.pki = TestPKI(cls.tmp.name, users=[USER, "mallory"])
        cls.host = TestHost(
            "--auth", "basic,certificate",
            "--https", cls.pki.server_cert, cls.pki.server_key,
            "--client-ca", cls.pki.client_ca,
            "--user", "%s:%s" % (USER, PASSWORD))

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()
        cls.tmp.cleanup()

    def test_url_is_https(self):
        self.assertTrue(self.host.url.startswith("https://127.0.0.1:"))

    def test_basic_validated(self):
        import winrm
        p = winrm.Protocol(self.host.url, transport="basic", username=USER,
                           password=PASSWORD,
                           server_cert_validation="validate",
                           ca_trust_path=self.pki.ca)
        self.assertEqual(run_cmd(p, "echo tls; exit 2"), (b"tls\n", b"", 2))

    def test_untrusted_server_refused_by_client(self):
        import winrm
        from requests.exceptions import SSLError
        p = winrm.Protocol(self.host.url, transport="basic", username=USER,
                           password=PASSWORD,
                           server_cert_validation="validate",
                           ca_trust_path=self.pki.client_ca)
        with self.assertRaises(SSLError):
            p.open_shell()

    def test_basic_wrong_password(self):
        import winrm
        from winrm.exceptions import InvalidCredentialsError
        p = winrm.Protocol(self.host.url, transport="basic", username=USER,
                           password="nope",
                           server_cert_validation="validate",
                           ca_trust_path=self.pki.ca)
        with self.assertRaises(InvalidCredentialsError):
            p.open_shell()

    def test_client_certificate(self):
        import winrm
        cert, key = self.pki.client(USER)
        p = winrm.Protocol(self.host.url, transport="certificate",
                           cert_pem=cert, cert_key_pem=key,
                           server_cert_validation="validate",
                           ca_trust_path=self.pki.ca)
        self.assertEqual(run_cmd(p, "echo cert"), (b"cert\n", b"", 0))
        self.assertEqual(self.host.requests()[-1]["authorization"],
                         "http://schemas.dmtf.org/wbem/wsman/1/wsman/"
                         "secprofile/https/mutual")

    def test_client_certificate_unknown_user(self):
        import winrm
        from winrm.exceptions import InvalidCredentialsError
        cert, key = self.pki.client("mallory")
        p = winrm.Protocol(self.host.url, transport="certificate",
                           cert_pem=cert, cert_key_pem=key,
                           server_cert_validation="validate",
                           ca_trust_path=self.pki.ca)
        with self.assertRaises(InvalidCredentialsError):
            p.open_shell()


# --------------------------------------------------------------------------
# Kerberos with the host's KDC, through raw python3-gssapi

KRB5_OID = "1.2.840.113554.1.2.2"
SPNEGO_OID = "1.3.6.1.5.5.2"


class Kerberos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = TestHost("--auth", "negotiate,kerberos",
                            "--user", "%s:%s" % (USER, PASSWORD))
        cls.saved = {k: os.environ.get(k)
                     for k in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME",
                               "NTLM_USER_FILE")}
        os.environ["KRB5_CONFIG"] = cls.host.krb5_config
        os.environ["KRB5CCNAME"] = "MEMORY:test-testhost-auth"
        os.environ.pop("NTLM_USER_FILE", None)
        import gssapi
        cls.gssapi = gssapi

    @classmethod
    def tearDownClass(cls):
        for k, v in cls.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cls.host.stop()

    def creds(self, password=PASSWORD, mech=KRB5_OID):
        g = self.gssapi
        import gssapi.raw as graw
        oid = g.OID.from_int_seq(mech)
        name = g.Name("%s@WINRSH.TEST" % USER, g.NameType.kerberos_principal)
        cred = graw.acquire_cred_with_password(
            name, password.encode(), usage="initiate", mechs=[oid]).creds
        cred = g.Credentials(cred)
        if mech == SPNEGO_OID:
            graw.set_neg_mechs(cred, [g.OID.from_int_seq(KRB5_OID)])
        return cred

    def context(self, mech=KRB5_OID):
        g = self.gssapi
        flags = (g.RequirementFlag.mutual_authentication |
                 g.RequirementFlag.integrity |
                 g.RequirementFlag.confidentiality)
        return g.SecurityContext(
            name=g.Name("HTTP@localhost", g.NameType.hostbased_service),
            creds=self.creds(mech=mech), usage="initiate",
            mech=g.OID.from_int_seq(mech), flags=flags)

    def connect(self):
        _, port = host_port(self.host.url)
        return http.client.HTTPConnection("localhost", port, timeout=15)

    def handshake(self, conn, scheme, ctx):
        token = ctx.step()
        legs = 0
        while True:
            legs += 1
            self.assertLess(legs, 5)
            conn.request("POST", "/wsman", body=b"", headers={
                "Authorization": "%s %s" % (
                    scheme, base64.b64encode(token).decode()),
                "Content-Type": "application/soap+xml;charset=UTF-8"})
            r = conn.getresponse()
            body = r.read()
            header = r.getheader("WWW-Authenticate") or ""
            word, _, b64 = header.partition(" ")
            self.assertEqual(word, scheme)
            reply = base64.b64decode(b64) if b64 else b""
            if r.status == 200:
                self.assertEqual(body, b"")
                if reply:
                    ctx.step(reply)       # mutual auth: AP-REP
                self.assertTrue(ctx.complete)
                return legs
            self.assertEqual(r.status, 401)
            token = ctx.step(reply)

    def seal(self, ctx, plain, protocol):
        import gssapi.raw as graw
        from gssapi.raw import IOV, IOVBufferType
        iov = IOV(IOVBufferType.header, plain, IOVBufferType.padding,
                  std_layout=False)
        graw.wrap_iov(ctx, iov, confidential=True)
        sig, data = iov[0].value, iov[1].value + (iov[2].value or b"")
        return b"".join([
            BOUNDARY, b"\r\n\tContent-Type: ", protocol.encode(), b"\r\n",
            b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;"
            b"Length=", str(len(plain)).encode(), b"\r\n",
            BOUNDARY, b"\r\n\tContent-Type: application/octet-stream\r\n",
            struct.pack("<I", len(sig)), sig, data, BOUNDARY, b"--\r\n"])

    def unseal(self, ctx, body, protocol):
        import gssapi.raw as graw
        from gssapi.raw import IOV, IOVBufferType
        head = (BOUNDARY + b"\r\n\tContent-Type: " + protocol.encode() +
                b"\r\n\tOriginalContent: type=application/soap+xml;"
                b"charset=UTF-8;Length=")
        self.assertTrue(body.startswith(head), body[:200])
        length_end = body.index(b"\r\n", len(head))
        length = int(body[len(head):length_end])
        part2 = (b"\r\n" + BOUNDARY +
                 b"\r\n\tContent-Type: application/octet-stream\r\n")
        self.assertEqual(body[length_end:length_end + len(part2)], part2)
        blob = body[length_end + len(part2):]
        self.assertTrue(blob.endswith(BOUNDARY + b"--\r\n"))
        blob = blob[:-len(BOUNDARY + b"--\r\n")]
        sig_len = struct.unpack("<I", blob[:4])[0]
        iov = IOV((IOVBufferType.header, False, blob[4:4 + sig_len]),
                  (IOVBufferType.data, False, blob[4 + sig_len:]),
                  std_layout=False)
        graw.unwrap_iov(ctx, iov)
        plain = iov[1].value
        self.assertEqual(len(plain), length)
        return plain

    def post_sealed(self, conn, ctx, plain, protocol):
        conn.request("POST", "/wsman", body=self.seal(ctx, plain, protocol),
                     headers={"Content-Type":
                              'multipart/encrypted;protocol="%s";'
                              'boundary="Encrypted Boundary"' % protocol})
        r = conn.getresponse()
        return r, r.read()

    def run_exchange(self, scheme, mech, protocol):
        ctx = self.context(mech)
        conn = self.connect()
        try:
            self.handshake(conn, scheme, ctx)
            r, body = self.post_sealed(conn, ctx, IDENTIFY, protocol)
            self.assertEqual(r.status, 200)
            self.assertIn('protocol="%s"' % protocol,
                          r.getheader("Content-Type"))
            self.assertIn(b"IdentifyResponse",
                          self.unseal(ctx, body, protocol))
            create = CREATE.format(url=self.host.url,
                                   mid=uuid.uuid4()).encode()
            r, body = self.post_sealed(conn, ctx, create, protocol)
            self.assertEqual(r.status, 200)
            reply = self.unseal(ctx, body, protocol)
            self.assertIn(b"ResourceCreated", reply)
            self.assertIn(b"<rsp:Owner>%s</rsp:Owner>" % USER.encode(),
                          reply)
            return ctx, conn
        except BaseException:
            conn.close()
            raise

    def test_kerberos_scheme_sealed(self):
        proto = "application/HTTP-Kerberos-session-encrypted"
        ctx, conn = self.run_exchange("Kerberos", KRB5_OID, proto)
        conn.close()
        reqs = self.host.requests()
        self.assertIn("Kerberos", [r["authorization"] for r in reqs])
        self.assertTrue(any(r["encrypted"] and proto in r["content_type"]
                            for r in reqs))

    def test_negotiate_spnego_kerberos_sealed(self):
        proto = "application/HTTP-SPNEGO-session-encrypted"
        ctx, conn = self.run_exchange("Negotiate", SPNEGO_OID, proto)
        conn.close()

    def test_tampered_then_host_still_serves(self):
        proto = "application/HTTP-Kerberos-session-encrypted"
        ctx, conn = self.run_exchange("Kerberos", KRB5_OID, proto)
        try:
            body = bytearray(self.seal(ctx, IDENTIFY, proto))
            body[-30] ^= 0x80
            conn.request("POST", "/wsman", body=bytes(body), headers={
                "Content-Type": 'multipart/encrypted;protocol="%s";'
                'boundary="Encrypted Boundary"' % proto})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 400)
        finally:
            conn.close()
        ctx, conn = self.run_exchange("Kerberos", KRB5_OID, proto)
        conn.close()

    def test_unsealed_body_refused(self):
        ctx = self.context()
        conn = self.connect()
        try:
            self.handshake(conn, "Kerberos", ctx)
            conn.request("POST", "/wsman", body=IDENTIFY, headers={
                "Content-Type": "application/soap+xml;charset=UTF-8"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 500)
        finally:
            conn.close()

    def test_wrong_password_no_ticket(self):
        with self.assertRaises(self.gssapi.exceptions.GSSError):
            self.creds(password="wrong")

    def test_challenges(self):
        host, port = host_port(self.host.url)
        conn = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn.request("POST", "/wsman", body=IDENTIFY, headers={
                "Content-Type": "application/soap+xml;charset=UTF-8"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 401)
            self.assertEqual(r.msg.get_all("WWW-Authenticate"),
                             ["Negotiate", "Kerberos"])
        finally:
            conn.close()


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        sys.exit(child_main(*sys.argv[2:]))
    sys.exit(run_suite([NtlmPyWinRM, Https, Kerberos], budget_seconds=85))
