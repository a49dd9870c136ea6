"""The HTTP side: keep-alive HTTP/1.1 (or HTTPS), one thread per
connection, POST /wsman only.  Authentication, message encryption, size
limits and logging happen here; the WS-Man work is in wsman.py.
"""

import socket
import ssl
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import auth, encryption, faults, faults_inject, soap, tls, wsman

HARD_BODY_CAP = 4 * 1024 * 1024   # past this we do not even read the body
MAX_CONNECTIONS = 300             # MaxConnections, as Windows ships
IDLE_TIMEOUT = 120                # seconds a kept-alive connection may idle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, config, registry, reqlog):
        self.config = config
        self.registry = registry
        self.reqlog = reqlog
        self.mechanisms = auth.build_mechanisms(config)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.ssl_context = tls.server_context(config) if config.tls else None
        self.sealed_replies = 0           # for --fault tamper-response:N
        self.fault_lock = threading.Lock()
        self.inject = faults_inject.Injector(config.faults)   # --fault
        super().__init__((config.host, config.port), Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # The handshake happens in the connection's thread (setup()).
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)   # over MaxConnections: drop
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def version_string(self):
        return "Microsoft-HTTPAPI/2.0"   # what Windows' HTTP.sys says

    def log_message(self, fmt, *args):
        sys.stderr.write("testhost: %s %s\n" % (self.client_address[0],
                                                fmt % args))

    def setup(self):
        self.tls_failed = False
        peer_cert = None
        # Replies go out in one write (_reply); without TCP_NODELAY a
        # handshake record or a reply right after a small write can still
        # wait for the peer's delayed ACK (~40 ms on Linux).
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(tls.HANDSHAKE_TIMEOUT)
            try:
                self.request.do_handshake()
                peer_cert = self.request.getpeercert() or None
            except (OSError, ssl.SSLError) as exc:
                sys.stderr.write("testhost: %s TLS handshake failed: %s\n"
                                 % (self.client_address[0], exc))
                self.tls_failed = True
        super().setup()
        self.auth_ctx = auth.ConnectionAuth(
            self.server.mechanisms, tls=self.server.ssl_context is not None,
            peer_cert=peer_cert)

    def handle(self):
        if not self.tls_failed:
            super().handle()

    # Anything but POST: HTTP.sys answers 405 on the /wsman URL.
    def _not_allowed(self):
        self._begin()
        self._discard_body()
        self._reply(405, b"", extra=[("Allow", "POST")])

    do_GET = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _not_allowed

    def _begin(self):
        self._replied = False
        self._sealed_reply = None
        self._log = {"method": self.command, "path": self.path,
                     "authorization": auth.scheme_of(
                         self.headers.get("Authorization")),
                     "content_type": self.headers.get("Content-Type"),
                     "request_length": self._content_length(),
                     "encrypted": False, "reply_content_type": None,
                     "action": None}

    def _content_length(self):
        try:
            return int(self.headers.get("Content-Length", ""))
        except ValueError:
            return None

    def do_POST(self):
        self._begin()
        try:
            self._post()
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception:   # never let one request take the host down
            traceback.print_exc()
            if not self._replied:
                fault = faults.WSManFault(
                    "s:Receiver", "w:InternalError", "Internal error. ",
                    2150858752, "Internal error. ")
                data = faults.render(fault, self._machine(),
                                     None).encode("utf-8")
                ctype = "application/soap+xml;charset=UTF-8"
                if self._sealed_reply is not None:
                    try:
                        ctype, data = encryption.seal(self._sealed_reply,
                                                      data)
                    except Exception:
                        traceback.print_exc()
                self.close_connection = True
                self._reply(500, data, ctype=ctype)
            self.close_connection = True

    def _machine(self):
        host = self.headers.get("Host") or "localhost"
        return host.rsplit(":", 1)[0] if ":" in host else host

    def _read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            self._reply(411, b"")
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self.close_connection = True
            self._reply(411, b"")
            return None
        if length < 0 or length > HARD_BODY_CAP:
            self.close_connection = True
            self._reply(413, b"")
            return None
        return self.rfile.read(length)

    def _discard_body(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = 0
        if 0 < length <= HARD_BODY_CAP:
            self.rfile.read(length)
        elif length:
            self.close_connection = True

    def _post(self):
        cfg = self.server.config
        body = self._read_body()
        if body is None:
            return
        if self.path.split("?", 1)[0].lower() != "/wsman":
            return self._reply(404, b"")
        inject = self.server.inject
        if inject.never_answer_all():
            return inject.hold(self)
        ctype = self.headers.get("Content-Type", "")
        sealed = encryption.is_encrypted_type(ctype)

        # Windows answers Identify without credentials when asked to.
        if not sealed and self.headers.get("WSMANIDENTIFY", "").lower() \
                == "unauthenticated":
            req, _ = self._parse(body)
            if req is not None and wsman.is_identify(req):
                return self._reply(200, wsman.identify(False, []).encode(),
                                   soap_type=True)

        result = self.auth_ctx.authenticate(self.headers.get("Authorization"))
        if result.continuing:        # a handshake leg: only our token
            return self._reply(401, b"", extra=result.headers)
        if result.user is None:
            return self._reply(401, b"", extra=self.auth_ctx.challenges())
        if inject.auth_loop(body):
            self.auth_ctx.reset()
            self._log["fault"] = "auth-loop"
            return self._reply(401, b"", extra=self.auth_ctx.challenges())
        session = self.auth_ctx.session

        if sealed:
            self._log["encrypted"] = True
            if session is None:
                # Sealed body without a context that could read it.
                self.close_connection = True
                return self._reply(400, b"", extra=result.headers)
            try:
                plain = encryption.unseal(session, ctype, body)
            except encryption.BadMessage as exc:
                # Windows: "Sending HTTP error back to the client due to a
                # transport failure" -> 400, connection closed.
                sys.stderr.write("testhost: bad encrypted body: %s\n" % exc)
                self.close_connection = True
                return self._reply(400, b"", extra=result.headers)
        else:
            if not body and session is not None:
                # pypsrp/pywinrm finish the handshake with an empty POST
                # before they can seal anything: 200, empty body.
                return self._reply(200, b"", extra=result.headers)
            if ctype.split(";")[0].strip().lower() != "application/soap+xml":
                return self._reply(415, b"", extra=result.headers)
            if session is not None and not self.auth_ctx.tls \
                    and not cfg.allow_unencrypted:
                # NTLM/Kerberos over HTTP with an unsealed body while
                # AllowUnencrypted=false: Windows answers HTTP 500 (event
                # log: unencrypted message refused; pywinrm #129).
                return self._reply(500, b"", extra=result.headers)
            plain = body
        self._sealed_reply = session if sealed else None

        req, bad = self._parse(plain)
        if req is not None:
            self._log["action"] = req.action or (
                "wsmid:Identify" if wsman.is_identify(req) else None)
        limit = inject.envelope_limit(wsman.SERVER_MAX_ENVELOPE)
        if len(plain) > limit:
            fault = faults.request_too_large(limit)
            return self._reply_text(500, faults.render(
                fault, self._machine(), None), result)
        if req is None:
            fault = faults.invalid_xml(bad or "unreadable body")
            return self._reply_text(500, faults.render(
                fault, self._machine(), None), result)
        action = faults_inject.short_action(req, wsman.is_identify(req))
        if inject.never_answer(action):
            return inject.hold(self)
        instead = inject.before_dispatch(self, req, action)
        if instead is not None:
            if not instead[1]:
                return self._reply(instead[0], b"", extra=result.headers)
            return self._reply_text(instead[0], instead[1], result)
        if wsman.is_identify(req):
            profiles = []
            for m in self.server.mechanisms:
                for p in m.profiles(self.auth_ctx.tls):
                    if p not in profiles:
                        profiles.append(p)
            return self._reply_text(200, wsman.identify(True, profiles),
                                    result)
        ctx = wsman.Context(result.user, self.client_address[0],
                            self.headers.get("Host"), cfg,
                            self.server.registry)
        status, text = wsman.dispatch(req, ctx)
        self._reply_text(status, inject.rewrite_reply(self, action, text),
                         result)

    def _parse(self, body):
        """(request, None) or (None, reason)."""
        if len(body) > self.server.inject.envelope_limit(
                wsman.SERVER_MAX_ENVELOPE):
            return None, None
        try:
            return soap.parse(body), None
        except soap.BadRequest as exc:
            return None, str(exc)

    def _reply_text(self, status, text, result):
        data = text.encode("utf-8")
        if self._sealed_reply is not None:
            # A sealed request gets a sealed reply, faults (500) included.
            ctype, data = encryption.seal(self._sealed_reply, data)
            data = self.server.inject.sealed(self, self._fault_tamper(data))
        else:
            ctype = "application/soap+xml;charset=UTF-8"
        self._reply(status, data, extra=result.headers, ctype=ctype)

    def _fault_tamper(self, sealed):
        """--fault tamper-response:N: flip a bit in the last sealed byte
        (just before the closing `--Encrypted Boundary--`) of the host's
        Nth sealed reply, counted over all connections; logged as
        "fault"."""
        n = self.server.config.faults.get("tamper-response")
        if n is None:
            return sealed
        with self.server.fault_lock:
            self.server.sealed_replies += 1
            if self.server.sealed_replies != n:
                return sealed
        self._log["fault"] = "tamper-response"
        data = bytearray(sealed)
        data[-len(b"--" + encryption.BOUNDARY + b"--\r\n") - 1] ^= 0x01
        return bytes(data)

    def _reply(self, status, data, extra=(), soap_type=False, ctype=None):
        if soap_type:
            ctype = "application/soap+xml;charset=UTF-8"
        # Log before anything goes out: once a client holds the reply, its
        # log line is already on disk (tests read the log right after).
        self._log["status"] = status
        self._log["length"] = len(data)
        self._log["reply_content_type"] = ctype
        self.server.inject.log_before_send(self)
        self.server.reqlog.write(**self._log)
        self.send_response(status)
        for name, value in extra:
            self.send_header(name, value)
        if ctype:
            self.send_header("Content-Type", ctype)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        # end_headers() would write the headers on their own; send headers
        # and body in one write so the reply is one burst of segments.
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self._replied = True
        if self.server.inject.write(self, head, data):
            return
        self.wfile.write(head + data)
        self.wfile.flush()
