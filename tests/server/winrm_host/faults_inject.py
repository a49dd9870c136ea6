"""Fault injection for client tests (`--fault KIND[:ARG]`, repeatable).

Each kind breaks the host in one way a real network or a broken/hostile
server can, so tests can check that a client fails cleanly (bounded, one
clear error) instead of hanging or crashing.  Nothing here runs unless a
`--fault` asks for it; without one every hook is a no-op.

ACTION below is the last segment of the request's a:Action (`Create`,
`Command`, `Send`, `Receive`, `Signal`, `Delete`; `Identify` for wsmid
Identify) or `*` for every request; matching is case-insensitive.  N counts
from 1 over all connections.  Every reply a fault changed (or would have
sent) has `"fault": KIND` in its request-log line.

| kind | what the host does |
|---|---|
| `tamper-response:N` | flip a bit in the last sealed byte of the Nth sealed reply (in httpd.py) |
| `truncate-response:N` | cut the Nth sealed reply to half its length (Content-Length matches the cut body: the MIME framing is what breaks) |
| `garble-response:N` | overwrite the encrypted part of the Nth sealed reply, signature length included, with pseudo-random bytes (seeded by the reply's length: repeatable) |
| `drop-receive[:N]` | send the headers and half the body of the Nth Receive reply (default 1), then close the connection |
| `status-500:ACTION` | answer ACTION with HTTP 500 and a `w:InternalError` fault body |
| `empty-500:ACTION` | answer ACTION with HTTP 500 and an empty body |
| `auth-loop` | answer 401 with the plain challenges to every request that carries a SOAP body, even with good credentials (handshake legs with empty bodies still work, so a Negotiate client completes its handshake and is refused after it); the connection's auth context is dropped |
| `oversize-response[:BYTES]` | pad every Receive reply with whitespace inside s:Body to at least BYTES (default 1048576), beyond any MaxEnvelopeSize the client asked for |
| `server-envelope-limit:BYTES` | the host's own envelope limit (512000, MaxEnvelopeSizekb) becomes BYTES: larger requests get the `w:EncodingLimit` fault |
| `drip[:ACTION]` | replies to ACTION (default `*`), headers included, go out one byte a second |
| `drip-body[:ACTION]` | the same, but the headers go out at once and only the body drips |
| `wrong-relates-to:ACTION` | replies to ACTION carry an `a:RelatesTo` naming another message |
| `bogus-shell:ACTION` | the ShellId selector of ACTION requests is replaced by an unknown id before dispatch (the host then answers its real unknown-shell fault) |
| `never-answer[:ACTION]` | ACTION requests (default `*`: every request, before authentication) are read and never answered; the connection stays open until the client closes it (at most 600 s) |
"""

import random
import re
import select
import socket
import sys
import threading
import time
import uuid

# kind -> (argument kind, default); "n": a count >= 1, "action": an action
# name or "*", "bytes": a size >= 1, None: no argument.
KINDS = {
    "tamper-response": ("n", None),
    "truncate-response": ("n", None),
    "garble-response": ("n", None),
    "drop-receive": ("n", 1),
    "status-500": ("action", None),
    "empty-500": ("action", None),
    "auth-loop": (None, None),
    "oversize-response": ("bytes", 1024 * 1024),
    "server-envelope-limit": ("bytes", None),
    "drip": ("action", "*"),
    "drip-body": ("action", "*"),
    "wrong-relates-to": ("action", None),
    "bogus-shell": ("action", None),
    "never-answer": ("action", "*"),
}

ACTIONS = ("create", "command", "send", "receive", "signal", "delete",
           "identify", "*")

NEVER_ANSWER_LIMIT = 600     # seconds a never-answered connection is held
DRIP_INTERVAL = 1.0          # seconds between dripped bytes


def usage():
    return ("testhost: --fault wants KIND[:ARG], KIND one of: %s"
            % ", ".join(sorted(KINDS)))


def parse(spec):
    """'KIND[:ARG]' -> (kind, value); SystemExit with the reason if bad."""
    kind, sep, arg = spec.partition(":")
    if kind not in KINDS:
        raise SystemExit(usage())
    what, default = KINDS[kind]
    if not sep:
        if what is not None and default is None:
            raise SystemExit("testhost: --fault %s needs :%s" % (
                kind, {"n": "N", "action": "ACTION",
                       "bytes": "BYTES"}[what]))
        return kind, default if what is not None else True
    if what is None:
        raise SystemExit("testhost: --fault %s takes no argument" % kind)
    if what in ("n", "bytes"):
        if not arg.isdigit() or int(arg) < 1:
            raise SystemExit("testhost: --fault %s:%s: want a number >= 1"
                             % (kind, arg))
        return kind, int(arg)
    if arg.lower() not in ACTIONS:
        raise SystemExit("testhost: --fault %s:%s: ACTION is one of %s"
                         % (kind, arg, ", ".join(ACTIONS)))
    return kind, arg.lower()


def short_action(req, identify=False):
    """The request's action as matched by ACTION (lower case)."""
    if identify:
        return "identify"
    if req is None or not req.action:
        return None
    return req.action.rsplit("/", 1)[-1].lower()


class Injector:
    """The host's faults; one per server, shared by its connections."""

    def __init__(self, faults):
        self.faults = dict(faults)
        self.lock = threading.Lock()
        self.counts = {}

    def on(self, kind):
        return kind in self.faults

    def _nth(self, kind):
        """Count one event of `kind`; True if it is the Nth."""
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return self.counts[kind] == self.faults[kind]

    def _matches(self, kind, action):
        want = self.faults.get(kind)
        if want is None:
            return False
        return want == "*" or (action is not None and want == action)

    # -- hooks, in the order a request meets them ---------------------------
    def never_answer_all(self):
        return self.faults.get("never-answer") == "*"

    def never_answer(self, action):
        want = self.faults.get("never-answer")
        return want is not None and want != "*" and want == action

    def hold(self, handler):
        """Never answer: keep the connection open, reading (and dropping)
        whatever the client sends, until it closes or the limit passes."""
        handler._log["fault"] = "never-answer"
        handler._log["status"] = None
        handler.server.reqlog.write(**handler._log)
        sock = handler.connection
        deadline = time.monotonic() + NEVER_ANSWER_LIMIT
        while time.monotonic() < deadline:
            try:
                pending = getattr(sock, "pending", None)   # TLS buffer
                ready = (pending is not None and pending()) or \
                    select.select([sock], [], [], 1.0)[0]
                if not ready:
                    continue
                if not sock.recv(65536):
                    break
            except (OSError, ValueError):
                break
        handler.close_connection = True
        handler._replied = True

    def auth_loop(self, body):
        return self.on("auth-loop") and len(body) > 0

    def envelope_limit(self, default):
        return self.faults.get("server-envelope-limit", default)

    def before_dispatch(self, handler, req, action):
        """Rewrite the request or answer it instead of the host: returns
        None, or (status, text) to send as the reply (text may be "")."""
        if self._matches("bogus-shell", action) and "ShellId" in req.selectors:
            req.selectors["ShellId"] = str(uuid.uuid4()).upper()
            handler._log["fault"] = "bogus-shell"
        if self._matches("status-500", action):
            from . import faults
            handler._log["fault"] = "status-500"
            fault = faults.WSManFault(
                "s:Receiver", "w:InternalError",
                "The WS-Management service cannot process the request "
                "(injected fault). ", 2150858752,
                "The WS-Management service cannot process the request "
                "(injected fault). ")
            return 500, faults.render(fault, handler._machine(),
                                      req.message_id)
        if self._matches("empty-500", action):
            handler._log["fault"] = "empty-500"
            return 500, ""
        return None

    def rewrite_reply(self, handler, action, text):
        """The SOAP text of a reply, changed by the faults that touch it."""
        if self._matches("wrong-relates-to", action):
            new, n = re.subn(r"(<a:RelatesTo>)[^<]*(</a:RelatesTo>)",
                             lambda m: m.group(1) + "uuid:" +
                             str(uuid.uuid4()).upper() + m.group(2), text)
            if n:
                handler._log["fault"] = "wrong-relates-to"
                text = new
        if self.on("oversize-response") and action == "receive":
            size = self.faults["oversize-response"]
            missing = size - len(text.encode("utf-8"))
            at = text.rfind("</s:Body>")
            if missing > 0 and at >= 0:
                text = text[:at] + " " * missing + text[at:]
                handler._log["fault"] = "oversize-response"
        return text

    def sealed(self, handler, data):
        """The bytes of a sealed reply (multipart/encrypted body)."""
        from . import encryption
        for kind in ("truncate-response", "garble-response"):
            if not self.on(kind) or not self._nth(kind):
                continue
            handler._log["fault"] = kind
            if kind == "truncate-response":
                return data[:len(data) // 2]
            # The encrypted part follows "application/octet-stream\r\n" and
            # ends before the closing boundary.
            start = data.find(b"application/octet-stream\r\n")
            end = data.rfind(b"--" + encryption.BOUNDARY + b"--")
            if start < 0 or end < 0:
                start, end = 0, len(data)
            else:
                start += len(b"application/octet-stream\r\n")
            noise = random.Random(len(data)).randbytes(max(0, end - start))
            return data[:start] + noise + data[end:]
        return data

    def log_before_send(self, handler):
        """Mark the log line of a reply that write() will change (the line
        is written before the reply goes out)."""
        action = (handler._log.get("action") or "").rsplit("/", 1)[-1].lower()
        if self.on("drop-receive") and action == "receive":
            with self.lock:
                n = self.counts.get("drop-receive", 0) + 1
                self.counts["drop-receive"] = n
            if n == self.faults["drop-receive"]:
                handler._log["fault"] = "drop-receive"
                handler._inject_drop = True
        for kind in ("drip", "drip-body"):
            if self._matches(kind, action or None):
                handler._log.setdefault("fault", kind)
                handler._inject_drip = kind

    def write(self, handler, head, data):
        """Send one reply (headers + body) as the faults say; True if it
        was sent here (otherwise the caller writes it normally)."""
        if getattr(handler, "_inject_drop", False):
            handler._inject_drop = False
            try:
                handler.wfile.write(head + data[:len(data) // 2])
                handler.wfile.flush()
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            handler.close_connection = True
            return True
        drip = getattr(handler, "_inject_drip", None)
        if drip:
            handler._inject_drip = None
            payload = head + data
            try:
                if drip == "drip-body":
                    handler.wfile.write(head)
                    handler.wfile.flush()
                    payload = data
                for i in range(len(payload)):
                    handler.wfile.write(payload[i:i + 1])
                    handler.wfile.flush()
                    time.sleep(DRIP_INTERVAL)
            except OSError:
                sys.stderr.write("testhost: drip: client went away\n")
                handler.close_connection = True
            return True
        return False
