"""Asking the host about its shells: the generic resources
`http://schemas.microsoft.com/wbem/wsman/1/windows/shell` (WS-Transfer Get
of one shell by its ShellId selector; WS-Enumeration of all the user's
shells) and `.../windows/shell/Command` (WS-Enumeration of one shell's
commands, with a SelectorFilter on ShellId).  MS-WSMV 3.1.4.7-3.1.4.10;
shapes from test_psrp_is_alive_*.yml and test_psrp_disconnect_runspaces.yml.

  | request                                   | reply                      |
  |-------------------------------------------|----------------------------|
  | Get .../windows/shell, ShellId selector   | x:GetResponse body: the    |
  |                                           | rsp:Shell (+ MemoryUsed,   |
  |                                           | ChildProcesses)            |
  | Get, unknown ShellId                      | w:InvalidSelectors from the|
  |                                           | "Shell provider" (recorded)|
  | Enumerate .../windows/shell               | n:EnumerateResponse: empty |
  |   (w:OptimizeEnumeration, w:MaxElements)  | n:EnumerationContext,      |
  |                                           | w:Items, w:EndOfSequence   |
  | Enumerate .../windows/shell/Command with  | the same, items            |
  |   w:Filter SelectorFilter ShellId         | rsp:Command/rsp:CommandId  |
  | Pull / Release with the context           | n:PullResponse / empty     |

Without w:OptimizeEnumeration (or beyond w:MaxElements) the items come by
Pull.  Both the PowerShell shells (psrp_endpoint) and the cmd shells
(winrs) are listed; a cmd shell's element set is unverified.
"""

import collections
import threading
import time

from . import faults, psrp_endpoint, soap, xsduration
from .soap import NS, q

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
COMMAND_URI = SHELL_URI + "/Command"
CMD_URI = SHELL_URI + "/cmd"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
ENUMERATION = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/"
A_GET = TRANSFER + "Get"
A_ENUMERATE, A_PULL = ENUMERATION + "Enumerate", ENUMERATION + "Pull"
A_RELEASE = ENUMERATION + "Release"
SELECTOR_FILTER = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter"
MAX_CONTEXTS = 100              # enumerations left open, per host
RSP_DECL = ' xmlns:rsp="%s"' % NS["rsp"]


def serves(resource_uri):
    return resource_uri in (SHELL_URI, COMMAND_URI)


class _Contexts:
    """Open enumerations: context id -> (owner, items not yet pulled)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = collections.OrderedDict()

    def add(self, owner, items):
        ctx = "uuid:" + soap.new_guid()
        with self.lock:
            self.open[ctx] = (owner, list(items))
            while len(self.open) > MAX_CONTEXTS:
                self.open.popitem(last=False)
        return ctx

    def take(self, ctx, owner, n):
        """(items, more left); the context ends with its last item."""
        with self.lock:
            entry = self.open.get(ctx)
            if entry is None or entry[0] != owner:
                raise faults.invalid_enumeration_context()
            items = entry[1]
            out, rest = items[:n], items[n:]
            if rest:
                self.open[ctx] = (owner, rest)
            else:
                del self.open[ctx]
            return out, bool(rest)

    def release(self, ctx, owner):
        with self.lock:
            entry = self.open.get(ctx)
            if entry is None or entry[0] != owner:
                raise faults.invalid_enumeration_context()
            del self.open[ctx]


_contexts = _Contexts()


def _cmd_shell_xml(shell, full=True):
    """A cmd shell as Get/Enumerate describe it (unverified: no recording)."""
    t = soap.text
    now = time.monotonic()
    parts = [
        ("ShellId", shell.id), ("ResourceUri", CMD_URI),
        ("Owner", shell.owner), ("ClientIP", shell.client_ip),
        ("IdleTimeOut", xsduration.format_seconds(shell.idle_timeout)),
        ("InputStreams", shell.input_streams),
        ("OutputStreams", shell.output_streams),
        ("State", "Connected"),
        ("ShellRunTime", xsduration.format_dhms(now - shell.created)),
        ("ShellInactivity", xsduration.format_dhms(now - shell.last_used)),
    ]
    return "<rsp:Shell%s>%s</rsp:Shell>" % (RSP_DECL, "".join(
        "<rsp:%s>%s</rsp:%s>" % (n, t(v), n) for n, v in parts))


def _ps_registry():
    return psrp_endpoint.registry()


def _find(shell_id, ctx):
    """("ps"|"cmd", shell) or None."""
    shell = _ps_registry().lookup(shell_id, ctx.user)
    if shell is not None:
        return "ps", shell
    with ctx.registry.lock:
        cmd = ctx.registry.shells.get((shell_id or "").upper())
    if cmd is not None and cmd.owner == ctx.user:
        return "cmd", cmd
    return None


def _shell_item(kind, shell):
    if kind == "ps":
        return psrp_endpoint.shell_xml(shell, full=True)
    return _cmd_shell_xml(shell)


def get(req, ctx):
    found = _find(req.selectors.get("ShellId"), ctx)
    if found is None:
        raise faults.shell_get_not_found()
    return soap.envelope(soap.PREFIXES_GET, A_GET + "Response",
                         req.message_id, _shell_item(*found))


def _all_shells(ctx):
    out = [("ps", s) for s in _ps_registry().owned_by(ctx.user)]
    with ctx.registry.lock:
        cmds = [s for s in ctx.registry.shells.values()
                if s.owner == ctx.user]
    out += [("cmd", s) for s in sorted(cmds, key=lambda s: s.created)]
    return out


def _command_items(shell_id, ctx):
    found = _find(shell_id, ctx)
    if found is None:
        return []
    kind, shell = found
    if kind == "ps":
        with shell.cond:
            ids = list(shell.commands)
    else:
        with shell.lock:
            ids = list(shell.commands)
    return ['<rsp:Command%s><rsp:CommandId>%s</rsp:CommandId></rsp:Command>'
            % (RSP_DECL, soap.text(i)) for i in ids]


def _max_elements(el, default):
    if el is None or not (el.text or "").strip():
        return default
    try:
        n = int(el.text.strip())
    except ValueError:
        raise faults.invalid_parameter()
    if n < 1:
        raise faults.invalid_parameter()
    return n


def enumerate_(req, ctx):
    body = req.body_child()
    if body is None or body.tag != q("n", "Enumerate"):
        raise faults.invalid_parameter()
    if req.resource_uri == COMMAND_URI:
        flt = body.find(q("w", "Filter"))
        shell_id = None
        if flt is not None:
            if flt.get("Dialect") != SELECTOR_FILTER:
                raise faults.invalid_parameter()
            for sel in flt.iter(q("w", "Selector")):
                if sel.get("Name") == "ShellId":
                    shell_id = (sel.text or "").strip()
        if not shell_id:
            raise faults.invalid_parameter()
        items = _command_items(shell_id, ctx)
    else:
        items = [_shell_item(k, s) for k, s in _all_shells(ctx)]
    optimized = body.find(q("w", "OptimizeEnumeration")) is not None
    first = []
    if optimized:
        n = _max_elements(body.find(q("w", "MaxElements")), 1)
        first, items = items[:n], items[n:]
    out = "<n:EnumerateResponse>"
    if items or not optimized:
        out += "<n:EnumerationContext>%s</n:EnumerationContext>" % (
            _contexts.add(ctx.user, items))
    else:
        out += "<n:EnumerationContext></n:EnumerationContext>"  # recorded
    if first:
        out += "<w:Items>%s</w:Items>" % "".join(first)
    if optimized and not items:
        out += "<w:EndOfSequence/>"
    out += "</n:EnumerateResponse>"
    return soap.envelope(soap.PREFIXES_ENUM, A_ENUMERATE + "Response",
                         req.message_id, out)


def pull(req, ctx):
    body = req.body_child()
    if body is None or body.tag != q("n", "Pull"):
        raise faults.invalid_parameter()
    context = (body.findtext(q("n", "EnumerationContext")) or "").strip()
    n = _max_elements(body.find(q("n", "MaxElements")), 1)
    items, more = _contexts.take(context, ctx.user, n)
    out = "<n:PullResponse>"
    if more:
        out += "<n:EnumerationContext>%s</n:EnumerationContext>" % context
    if items:
        out += "<n:Items>%s</n:Items>" % "".join(items)
    if not more:
        out += "<n:EndOfSequence/>"
    out += "</n:PullResponse>"
    return soap.envelope(soap.PREFIXES_ENUM, A_PULL + "Response",
                         req.message_id, out)


def release(req, ctx):
    body = req.body_child()
    if body is None or body.tag != q("n", "Release"):
        raise faults.invalid_parameter()
    _contexts.release(
        (body.findtext(q("n", "EnumerationContext")) or "").strip(), ctx.user)
    return soap.envelope(soap.PREFIXES_ENUM, A_RELEASE + "Response",
                         req.message_id, "")


HANDLERS = {A_GET: get, A_ENUMERATE: enumerate_, A_PULL: pull,
            A_RELEASE: release}


def dispatch(req, ctx):
    handler = HANDLERS.get(req.action)
    if handler is None or (req.resource_uri == COMMAND_URI
                           and handler is get):
        raise faults.action_not_supported(req.action)
    return handler(req, ctx)
