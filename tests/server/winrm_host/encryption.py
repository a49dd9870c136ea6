"""Message encryption over HTTP (MS-WSMV 2.2.9.1): the MIME framing.

A sealed body, for a request and for its reply (HT = TAB):

  Content-Type: multipart/encrypted;protocol="<PROTOCOL>";
                boundary="Encrypted Boundary"          (one line on the wire)

  "--Encrypted Boundary" CRLF      ("-- Encrypted Boundary" tolerated:
                                    Exchange writes it)
  HT "Content-Type: " PROTOCOL CRLF                          (case-sensitive)
  HT "OriginalContent: type=application/soap+xml;charset=UTF-8;Length=" N
     CRLF                                         (N = plaintext bytes)
  "--Encrypted Boundary" CRLF
  HT "Content-Type: application/octet-stream" CRLF
  u32 LE sig_len | sig_len bytes signature | sealed payload
  "--Encrypted Boundary--" CRLF    (no CRLF between payload and this line)

PROTOCOL is application/HTTP-SPNEGO-session-encrypted after Negotiate
(NTLM or Kerberos inside), application/HTTP-Kerberos-session-encrypted
after the Kerberos scheme.  The signature and payload come from the
connection's Session (negotiate.py): NTLM = the first 16 bytes of
gss_wrap's output + the rest; Kerberos = gss_wrap_iov HEADER + DATA.

Anything that does not parse, unseal or match Length raises BadMessage;
the HTTP side answers 400 and closes the connection, as Windows does
("Sending HTTP error back to the client due to a transport failure").
"""

import re
import struct

SPNEGO = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS = "application/HTTP-Kerberos-session-encrypted"
CREDSSP = "application/HTTP-CredSSP-session-encrypted"
BOUNDARY = b"Encrypted Boundary"
SOAP_TYPE = b"type=application/soap+xml;charset=UTF-8"
MAX_SIG = 1024


class BadMessage(Exception):
    pass


def is_encrypted_type(content_type):
    main = (content_type or "").split(";", 1)[0].strip().lower()
    return main in ("multipart/encrypted", "multipart/x-multi-encrypted")


def content_type_params(content_type):
    """(main type, {param: value}) of a Content-Type header."""
    main, _, rest = (content_type or "").partition(";")
    params = {}
    for m in re.finditer(r'\s*([A-Za-z0-9_-]+)\s*=\s*("([^"]*)"|[^;]*)\s*;?',
                         rest):
        value = m.group(3) if m.group(3) is not None else m.group(2).strip()
        params[m.group(1).lower()] = value
    return main.strip().lower(), params


def reply_content_type(protocol):
    return ('multipart/encrypted;protocol="%s";boundary="Encrypted Boundary"'
            % protocol)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def expect(self, literal, what):
        if not self.data.startswith(literal, self.pos):
            raise BadMessage("expected %s at byte %d" % (what, self.pos))
        self.pos += len(literal)

    def boundary(self):
        """--Encrypted Boundary or -- Encrypted Boundary"""
        self.expect(b"--", "boundary")
        if self.data.startswith(b" ", self.pos):
            self.pos += 1
        self.expect(BOUNDARY, "boundary")

    def line(self):
        end = self.data.find(b"\r\n", self.pos)
        if end < 0:
            raise BadMessage("unterminated header line")
        text = self.data[self.pos:end]
        self.pos = end + 2
        return text


def parse(content_type, body, protocol):
    """-> (original length, signature, sealed payload).

    content_type: the request header; protocol: the one this connection's
    mechanism implies (the client must use it)."""
    main, params = content_type_params(content_type)
    if main != "multipart/encrypted":
        # multipart/x-multi-encrypted is CredSSP's; not implemented.
        raise BadMessage("unsupported content type %s" % main)
    if params.get("protocol") != protocol:
        raise BadMessage("protocol %r, expected %r"
                         % (params.get("protocol"), protocol))
    if params.get("boundary", "").encode() != BOUNDARY:
        raise BadMessage("boundary %r" % params.get("boundary"))

    r = _Reader(body)
    r.boundary()
    r.expect(b"\r\n", "CRLF")
    if r.line() != b"\tContent-Type: " + protocol.encode():
        raise BadMessage("first part Content-Type")
    original = r.line()
    prefix = b"\tOriginalContent: "
    if not original.startswith(prefix):
        raise BadMessage("OriginalContent missing")
    fields = original[len(prefix):].split(b";")
    length = None
    if b";".join(fields[:2]).lower() != SOAP_TYPE.lower():
        raise BadMessage("OriginalContent type")
    for field in fields[2:]:
        name, _, value = field.partition(b"=")
        if name.strip().lower() == b"length" and value.strip().isdigit():
            length = int(value.strip())
    if length is None:
        raise BadMessage("OriginalContent without Length")
    r.boundary()
    r.expect(b"\r\n", "CRLF")
    if r.line() != b"\tContent-Type: application/octet-stream":
        raise BadMessage("second part Content-Type")
    # The end line closes the binary part; the payload is binary, so the
    # end is found from the back, not by searching forwards.
    tail = body[r.pos:]
    for end in (b"--" + BOUNDARY + b"--\r\n", b"-- " + BOUNDARY + b"--\r\n",
                b"--" + BOUNDARY + b"--", b"-- " + BOUNDARY + b"--"):
        if tail.endswith(end):
            tail = tail[:-len(end)]
            break
    else:
        raise BadMessage("no closing boundary")
    if len(tail) < 4:
        raise BadMessage("truncated signature length")
    sig_len = struct.unpack("<I", tail[:4])[0]
    if sig_len > MAX_SIG or 4 + sig_len > len(tail):
        raise BadMessage("signature length %d" % sig_len)
    return length, tail[4:4 + sig_len], tail[4 + sig_len:]


def unseal(session, content_type, body):
    """The plaintext SOAP of a sealed request body (raises BadMessage)."""
    length, sig, payload = parse(content_type, body, session.protocol)
    try:
        plain = session.unwrap(sig, payload)
    except Exception as exc:    # GSSError and friends: tampered, replayed
        raise BadMessage("unwrap failed: %s" % exc)
    if len(plain) != length:
        raise BadMessage("Length=%d but %d bytes unsealed"
                         % (length, len(plain)))
    return plain


def seal(session, plain):
    """(content type, body) of a sealed reply."""
    sig, payload = session.wrap(plain)
    proto = session.protocol.encode()
    body = b"".join([
        b"--", BOUNDARY, b"\r\n",
        b"\tContent-Type: ", proto, b"\r\n",
        b"\tOriginalContent: ", SOAP_TYPE, b";Length=",
        str(len(plain)).encode(), b"\r\n",
        b"--", BOUNDARY, b"\r\n",
        b"\tContent-Type: application/octet-stream\r\n",
        struct.pack("<I", len(sig)), sig, payload,
        b"--", BOUNDARY, b"--\r\n"])
    return reply_content_type(session.protocol), body
