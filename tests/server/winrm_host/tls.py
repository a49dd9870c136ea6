"""--https: the server side of TLS (ssl module).

The handshake runs in the connection's own thread (Handler.setup), not in
the accept loop, so a client that never finishes it blocks nobody.

With --client-ca the server asks for a client certificate in the
handshake (CERT_OPTIONAL: clients without one still get in, to use Basic
or Negotiate).  Windows HTTP.sys usually asks for it by renegotiating
after it has read the request; Python cannot renegotiate, so it is asked
up front (unverified difference; clients send it either way).
"""

import ssl

HANDSHAKE_TIMEOUT = 10.0


def server_context(config):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    cert, key = config.https
    ctx.load_cert_chain(cert, key)
    if config.client_ca:
        ctx.load_verify_locations(cafile=config.client_ca)
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


# RFC 5929 4.1 tls-server-end-point: the hash of the server's certificate
# (DER) with the hash of its signature algorithm, SHA-256 when that is MD5
# or SHA-1.  Signature AlgorithmIdentifier OIDs (RFC 3279, 4055, 5758):
_SIG_HASH = {
    "1.2.840.113549.1.1.4": "sha256",      # md5WithRSAEncryption
    "1.2.840.113549.1.1.5": "sha256",      # sha1WithRSAEncryption
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
    "1.2.840.10045.4.1": "sha256",         # ecdsa-with-SHA1
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}


def _der(buf, pos):
    """(tag, content start, content end) of the DER TLV at pos."""
    tag, length = buf[pos], buf[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    return tag, pos, pos + length


def _oid_text(raw):
    arcs, value = [raw[0] // 40, raw[0] % 40], 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(str(a) for a in arcs)


def end_point_bindings(cert_file):
    """GSS channel bindings application data for the first certificate in
    cert_file: b"tls-server-end-point:" + hash (what Windows' HTTP.sys
    hands its acceptor).  Algorithms not in the table (RSA-PSS, EdDSA)
    use SHA-256."""
    import hashlib
    with open(cert_file, encoding="ascii") as f:
        pem = f.read()
    end = "-----END CERTIFICATE-----"
    der = ssl.PEM_cert_to_DER_cert(pem[:pem.index(end) + len(end)])
    # Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, sig }
    _, body, _ = _der(der, 0)
    _, _, tbs_end = _der(der, body)
    _, alg, _ = _der(der, tbs_end)
    tag, oid_start, oid_end = _der(der, alg)
    oid = _oid_text(der[oid_start:oid_end]) if tag == 0x06 else ""
    digest = hashlib.new(_SIG_HASH.get(oid, "sha256"), der).digest()
    return b"tls-server-end-point:" + digest
