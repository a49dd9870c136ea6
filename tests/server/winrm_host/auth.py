"""HTTP authentication, one small class per mechanism.

ConnectionAuth is created per TCP connection, as Windows (HTTP.sys) keeps
it: connection-oriented mechanisms (NTLM and Kerberos through Negotiate,
Kerberos directly; negotiate.py) keep their GSSAPI security context there
across the 401 round trips, and once it is complete the connection stays
authenticated and `session` seals and unseals bodies (encryption.py,
MS-WSMV 2.2.9.1).  A new connection must authenticate again.  Basic and
certificate authentication are stateless: every request carries them.

To add a mechanism: subclass Mechanism, implement challenge()/accept(),
and list it in build_mechanisms().
"""

import base64
import binascii
import hmac

PROFILE = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/"
MUTUAL = PROFILE + "https/mutual"    # certificate auth's "scheme"

KNOWN = ("basic", "negotiate", "ntlm", "kerberos", "certificate")
PLANNED = ("credssp",)


class AuthResult:
    def __init__(self, user=None, headers=(), mechanism=None):
        self.user = user              # None: answer 401
        self.headers = list(headers)  # response headers (tokens)
        self.mechanism = mechanism

    @property
    def continuing(self):
        """A handshake leg: 401 with only our token, context kept."""
        return self.user is None and bool(self.headers)


class Mechanism:
    scheme = ""           # the HTTP auth scheme, as in WWW-Authenticate
    can_encrypt = False   # can seal bodies for plain HTTP

    def __init__(self, config):
        self.config = config

    def challenge(self):
        """WWW-Authenticate value in a 401, or None to offer nothing."""
        return self.scheme

    def profiles(self, tls):
        """wsmid:SecurityProfileName values for Identify."""
        return []

    def matches(self, scheme):
        return scheme.lower() == self.scheme.lower()

    def accept(self, conn, credentials):
        """credentials: the text after the scheme.  Returns AuthResult."""
        raise NotImplementedError


def lookup_user(config, name):
    """The configured account for a name (case-insensitive, like Windows
    account names), or None."""
    if name in config.users:
        return name
    for known in config.users:
        if known.lower() == name.lower():
            return known
    return None


class Basic(Mechanism):
    scheme = "Basic"

    def challenge(self):
        return 'Basic realm="WSMAN"'

    def profiles(self, tls):
        return [PROFILE + ("https/basic" if tls else "http/basic")]

    def accept(self, conn, credentials):
        # Windows with AllowUnencrypted=false refuses Basic over plain HTTP
        # with 401 (Basic cannot encrypt the body), even for a good password.
        if not conn.tls and not self.config.allow_unencrypted:
            return AuthResult()
        try:
            raw = base64.b64decode(credentials.strip(), validate=True)
            name, _, password = raw.decode("utf-8").partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return AuthResult()
        expected = self.config.users.get(name)
        if expected is None or not hmac.compare_digest(
                expected.encode("utf-8"), password.encode("utf-8")):
            return AuthResult()
        return AuthResult(user=name, mechanism=self)


class Certificate(Mechanism):
    """Client certificate authentication (MS-WSMV 3.1.4.1.35).

    The client sends `Authorization: <MUTUAL profile URI>` (no token) over
    HTTPS with a TLS client certificate.  Windows maps the certificate to
    a local account through its CertMapping table (issuer thumbprint +
    subject pattern, usually the SAN UPN `user@localhost`); the testhost
    stands in for that table with one rule: a certificate verified against
    --client-ca maps to the --user named by its subject CN."""
    scheme = MUTUAL

    def challenge(self):
        return None       # whether Windows advertises it in 401: unverified

    def profiles(self, tls):
        return [MUTUAL] if tls else []

    def accept(self, conn, credentials):
        if not conn.tls or not conn.peer_cert:
            return AuthResult()
        cn = None
        for rdn in conn.peer_cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
        user = lookup_user(self.config, cn) if cn else None
        if user is None:
            return AuthResult()
        return AuthResult(user=user, mechanism=self)


def build_mechanisms(config):
    """The enabled mechanisms, in the order their challenges go out
    (Negotiate, Kerberos, Basic; certificate offers no challenge)."""
    mechs = []
    if config.gss:
        from . import negotiate    # needs python3-gssapi: import lazily
        if config.wants("negotiate", "ntlm"):
            mechs.append(negotiate.Negotiate(config))
        if config.wants("kerberos"):
            mechs.append(negotiate.Kerberos(config))
    if config.wants("basic"):
        mechs.append(Basic(config))
    if config.wants("certificate"):
        mechs.append(Certificate(config))
    return mechs


class ConnectionAuth:
    """Authentication state of one HTTP connection."""

    def __init__(self, mechanisms, tls=False, peer_cert=None):
        self.mechanisms = mechanisms   # enabled Mechanism objects, in order
        self.tls = tls
        self.peer_cert = peer_cert     # ssl getpeercert() dict, verified
        self.reset()

    def reset(self):
        self.user = None               # set by connection-based mechanisms
        self.mechanism = None
        self.session = None            # encryption.Session once complete
        self.pending = None            # (mechanism, GSS context) mid-way

    def challenges(self):
        return [("WWW-Authenticate", c) for c in
                (m.challenge() for m in self.mechanisms) if c]

    def authenticate(self, authorization):
        """authorization: the Authorization header or None."""
        if authorization:
            scheme, _, creds = authorization.strip().partition(" ")
            for mech in self.mechanisms:
                if mech.matches(scheme):
                    return mech.accept(self, creds)
            return AuthResult()
        if self.user is not None:       # connection already authenticated
            return AuthResult(user=self.user, mechanism=self.mechanism)
        return AuthResult()


def scheme_of(authorization):
    """The scheme of an Authorization header, for the request log."""
    if not authorization:
        return None
    return authorization.strip().split(" ", 1)[0]
