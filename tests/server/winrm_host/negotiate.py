"""Negotiate (SPNEGO or raw NTLMSSP) and Kerberos over HTTP, through
python3-gssapi: gss-ntlmssp is the NTLM acceptor, MIT krb5 the Kerberos
one (with the keytab of the KDC main.py starts).

Before gssapi is first used main.py sets, in the environment:
  NTLM_USER_FILE  DOMAIN:USER:PASSWORD lines for gss-ntlmssp
  KRB5_CONFIG     the KDC's krb5.conf (when Kerberos is on)
  KRB5_KTNAME     the HTTP/localhost keytab (or a missing file)

HTTP exchange (RFC 4559; MS-WSMV 2.2.9.1):
  C: Authorization: Negotiate <b64 token>
  S: 401 + WWW-Authenticate: Negotiate <b64 token>     (while not complete)
  ...
  S: 200 (or whatever the request gets) + WWW-Authenticate: Negotiate
     <b64 last token>, when the acceptor has one (SPNEGO accept-completed,
     Kerberos AP-REP): mutual authentication.

Which acceptor answers the Negotiate scheme is decided by the first token:
  "NTLMSSP\\0..."            raw NTLM (what requests_ntlm / pywinrm send)
  0x60 .. OID 1.3.6.1.5.5.2   SPNEGO, NTLM inside and Kerberos too when
                              --auth kerberos is also on
  0x60 .. OID 1.2.840.113554.1.2.2   raw Kerberos (Windows' Negotiate
                              package takes it too), only with kerberos on
The Kerberos scheme takes raw krb5 tokens only.

Channel binding (--cbt, HTTPS only; Windows' CbtHardeningLevel): with
`relaxed` or `strict` the acceptor gets the RFC 5929 tls-server-end-point
bindings of the host's certificate; gss-ntlmssp (MsvAvChannelBindings) and
MIT krb5 (the authenticator checksum) then refuse bindings that differ,
but both accept a client that sent none (all zeros), only leaving
GSS_C_CHANNEL_BOUND_FLAG unset.  `strict` refuses that client too.
"""

import base64
import binascii
import sys
import threading

import gssapi
import gssapi.raw as graw
from gssapi.raw import IOV, IOVBufferType

from . import encryption, tls
from .auth import AuthResult, Mechanism, PROFILE, lookup_user

OID_NTLM = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
OID_SPNEGO = gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
OID_KRB5 = gssapi.OID.from_int_seq("1.2.840.113554.1.2.2")

NTLM_SIGNATURE = 16          # MS-NLMP 2.2.2.9.1 NTLMSSP_MESSAGE_SIGNATURE

_creds_lock = threading.Lock()


def _der_oid_of(token):
    """The mechanism OID of an RFC 2743 3.1 initial context token
    (0x60 len 0x06 len OID ...), as dotted text, or None."""
    try:
        if token[0] != 0x60:
            return None
        pos = 1
        if token[pos] & 0x80:
            pos += 1 + (token[pos] & 0x7F)
        else:
            pos += 1
        if token[pos] != 0x06:
            return None
        olen = token[pos + 1]
        raw = token[pos + 2:pos + 2 + olen]
        if len(raw) != olen or olen == 0:
            return None
        arcs = [raw[0] // 40, raw[0] % 40]
        value = 0
        for b in raw[1:]:
            value = (value << 7) | (b & 0x7F)
            if not b & 0x80:
                arcs.append(value)
                value = 0
        return ".".join(str(a) for a in arcs)
    except IndexError:
        return None


class GssSession:
    """Seals and unseals bodies with a complete GSS context."""

    def __init__(self, ctx, protocol):
        self.ctx = ctx
        self.protocol = protocol
        self.ntlm = ctx.mech == OID_NTLM

    def wrap(self, plain):
        """-> (signature, sealed payload)"""
        if self.ntlm:
            out = self.ctx.wrap(plain, True).message
            return out[:NTLM_SIGNATURE], out[NTLM_SIGNATURE:]
        # Kerberos: the DCE IOV layout (HEADER, DATA, PADDING); a
        # non-empty PADDING (RC4) follows the sealed data.
        iov = IOV(IOVBufferType.header, plain, IOVBufferType.padding,
                  std_layout=False)
        graw.wrap_iov(self.ctx, iov, confidential=True)
        return iov[0].value, iov[1].value + (iov[2].value or b"")

    def unwrap(self, sig, payload):
        if self.ntlm:
            if len(sig) != NTLM_SIGNATURE:
                raise ValueError("NTLM signature of %d bytes" % len(sig))
            return self.ctx.unwrap(sig + payload).message
        iov = IOV((IOVBufferType.header, False, sig),
                  (IOVBufferType.data, False, payload), std_layout=False)
        res = graw.unwrap_iov(self.ctx, iov)
        if not res.encrypted:
            raise ValueError("Kerberos wrap token was not sealed")
        return iov[1].value


class _GssMechanism(Mechanism):
    can_encrypt = True
    protocol = encryption.SPNEGO

    def __init__(self, config):
        super().__init__(config)
        self._creds = {}
        self._bindings = None
        if config.tls and config.cbt != "off":
            self._bindings = graw.ChannelBindings(
                application_data=tls.end_point_bindings(config.https[0]))

    def profiles(self, tls):
        return [PROFILE + ("https" if tls else "http") + "/spnego-kerberos"]

    def creds(self, kind):
        """Acceptor credentials, acquired once per kind."""
        with _creds_lock:
            cred = self._creds.get(kind)
            if cred is None:
                if kind == "ntlm":
                    cred = gssapi.Credentials(usage="accept", mechs=[OID_NTLM])
                elif kind == "krb5":
                    cred = gssapi.Credentials(usage="accept", mechs=[OID_KRB5])
                else:
                    cred = gssapi.Credentials(usage="accept",
                                              mechs=[OID_SPNEGO])
                    neg = [OID_NTLM]
                    if self.config.wants("kerberos"):
                        neg.insert(0, OID_KRB5)
                    graw.set_neg_mechs(cred, neg)
                self._creds[kind] = cred
            return cred

    def kind_for(self, token):
        raise NotImplementedError

    def accept(self, conn, credentials):
        try:
            token = base64.b64decode(credentials.strip(), validate=True)
        except (binascii.Error, ValueError):
            conn.reset()
            return AuthResult()
        pending = conn.pending
        if pending is not None and pending[0] is self and \
                not token.startswith(b"NTLMSSP\0\x01") and \
                _der_oid_of(token) is None:
            ctx = pending[1]            # a later leg of the same exchange
        else:
            # A first token: a new exchange, even on an authenticated
            # connection (the client re-authenticates).
            conn.reset()
            kind = self.kind_for(token)
            if kind is None:
                return AuthResult()
            try:
                ctx = gssapi.SecurityContext(
                    creds=self.creds(kind), usage="accept",
                    channel_bindings=self._bindings if conn.tls else None)
            except gssapi.exceptions.GSSError as exc:
                sys.stderr.write("testhost: %s acceptor: %s\n"
                                 % (self.scheme, exc))
                return AuthResult()
        try:
            out = ctx.step(token)
            # python-gssapi returns a failing step's error token (a krb5
            # KRB-ERROR, e.g. for bad channel bindings) and raises the
            # error on the next use of the context: make it raise here.
            complete = ctx.complete
        except gssapi.exceptions.GSSError as exc:
            sys.stderr.write("testhost: %s refused: %s\n" % (self.scheme, exc))
            conn.reset()
            return AuthResult()
        headers = []
        if out:
            headers.append(("WWW-Authenticate", "%s %s" % (
                self.scheme, base64.b64encode(out).decode("ascii"))))
        if not complete:
            conn.pending = (self, ctx)
            if not headers:             # nothing to send: cannot go on
                conn.reset()
                return AuthResult()
            return AuthResult(headers=headers)
        user = self.map_user(str(ctx.initiator_name))
        conn.reset()
        if user is None:
            return AuthResult()
        if self._bindings is not None and conn.tls and \
                self.config.cbt == "strict" and not \
                ctx.actual_flags & gssapi.RequirementFlag.channel_bound:
            sys.stderr.write("testhost: %s refused: no channel bindings "
                             "(--cbt strict)\n" % self.scheme)
            return AuthResult()
        conn.user = user
        conn.mechanism = self
        conn.session = GssSession(ctx, self.protocol)
        return AuthResult(user=user, headers=headers, mechanism=self)

    def map_user(self, name):
        """NTLM 'DOMAIN\\user' / 'user', Kerberos 'user@REALM' -> the
        --user it is.  gss-ntlmssp's display name ends in a NUL."""
        name = name.rstrip("\x00")
        if "\\" in name:
            name = name.split("\\", 1)[1]
        if "@" in name:
            name, _, realm = name.rpartition("@")
            if self.config.kdc is None or realm != self.config.kdc.realm:
                return None
        return lookup_user(self.config, name)


class Negotiate(_GssMechanism):
    scheme = "Negotiate"
    protocol = encryption.SPNEGO

    def kind_for(self, token):
        if token.startswith(b"NTLMSSP\0"):
            return "ntlm"
        oid = _der_oid_of(token)
        if oid == OID_SPNEGO.dotted_form:
            return "spnego"
        if oid == OID_KRB5.dotted_form and self.config.wants("kerberos"):
            return "krb5"
        return None


class Kerberos(_GssMechanism):
    scheme = "Kerberos"
    protocol = encryption.KERBEROS

    def kind_for(self, token):
        if _der_oid_of(token) == OID_KRB5.dotted_form:
            return "krb5"
        return None
