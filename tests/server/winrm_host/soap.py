"""Parse WS-Man request envelopes and build response envelopes.

Responses are built as text, not with ElementTree, because the prefixes
(s, a, x, w, rsp, p, f) and the namespace declarations on s:Envelope must be
exactly the ones Windows writes (see the recordings in
shared/fixtures/pypsrp/responses); ElementTree would rename them.
"""

import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "e": "http://schemas.xmlsoap.org/ws/2004/08/eventing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "wsmid": "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd",
}
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

# Windows declares a different prefix set per reply kind (recorded):
# Create/Command/Send/Signal: s a x w rsp p; Receive: s a w rsp p;
# Delete: s a w p; faults: s a x e n w p.
PREFIXES_SHELL = ("s", "a", "x", "w", "rsp", "p")
PREFIXES_RECEIVE = ("s", "a", "w", "rsp", "p")
PREFIXES_DELETE = ("s", "a", "w", "p")
PREFIXES_FAULT = ("s", "a", "x", "e", "n", "w", "p")
# Get of .../windows/shell: s a x w p (rsp on rsp:Shell itself);
# Enumerate/Pull: s a n w p (recorded: test_psrp_is_alive_*,
# test_psrp_disconnect_runspaces).
PREFIXES_GET = ("s", "a", "x", "w", "p")
PREFIXES_ENUM = ("s", "a", "n", "w", "p")


def new_guid():
    """Windows writes GUIDs in upper case."""
    return str(uuid.uuid4()).upper()


def q(prefix, local):
    return "{%s}%s" % (NS[prefix], local)


class BadRequest(Exception):
    """The body is not a usable SOAP envelope."""


class Request:
    """The parts of a WS-Man request the host looks at."""

    def __init__(self, root):
        self.root = root
        header = root.find(q("s", "Header"))
        body = root.find(q("s", "Body"))
        if body is None:
            raise BadRequest("no s:Body")
        self.header = header if header is not None else ET.Element("h")
        self.body = body
        self.action = self._text("a", "Action")
        self.message_id = self._text("a", "MessageID")
        self.to = self._text("a", "To")
        self.resource_uri = self._text("w", "ResourceURI")
        self.max_envelope = self._text("w", "MaxEnvelopeSize")
        self.operation_timeout = self._text("w", "OperationTimeout")
        self.options = {}
        for opt in self.header.iter(q("w", "Option")):
            name = opt.get("Name")
            if name:
                self.options[name] = (opt.text or "").strip()
        self.session_id = self._text("p", "SessionId")
        self.selectors = {}
        for sel in self.header.iter(q("w", "Selector")):
            name = sel.get("Name")
            if name:
                self.selectors[name] = (sel.text or "").strip()

    def _text(self, prefix, local):
        el = self.header.find(q(prefix, local))
        if el is None or el.text is None:
            return None
        return el.text.strip()

    def body_child(self):
        """The first element in s:Body, or None for an empty body."""
        for child in self.body:
            return child
        return None


def parse(body_bytes):
    """Parse a request; raise BadRequest for anything that is not SOAP 1.2."""
    # No DTDs: a WS-Man body never has one, and refusing them removes the
    # entity-expansion tricks outright.
    if b"<!DOCTYPE" in body_bytes or b"<!ENTITY" in body_bytes:
        raise BadRequest("DTD not allowed")
    try:
        root = ET.fromstring(body_bytes)
    except ET.ParseError as exc:
        raise BadRequest(str(exc))
    if root.tag != q("s", "Envelope"):
        raise BadRequest("root is not s:Envelope")
    return Request(root)


def text(value):
    return escape(value)


def attr(value):
    return quoteattr(value)


def envelope(prefixes, action, relates_to, body_xml, message_id=None):
    """One response envelope with the Windows header order:
    Action, MessageID, To, RelatesTo."""
    decls = "".join(' xmlns:%s="%s"' % (p, NS[p]) for p in prefixes)
    head = "<a:Action>%s</a:Action>" % text(action)
    head += "<a:MessageID>uuid:%s</a:MessageID>" % (message_id or new_guid())
    head += "<a:To>%s</a:To>" % ANONYMOUS
    if relates_to:
        head += "<a:RelatesTo>%s</a:RelatesTo>" % text(relates_to)
    return ('<s:Envelope xml:lang="en-US"%s><s:Header>%s</s:Header>'
            "<s:Body>%s</s:Body></s:Envelope>" % (decls, head, body_xml))
