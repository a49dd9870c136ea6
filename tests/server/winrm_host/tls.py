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
