"""WS-Man dispatch: one parsed request in, (HTTP status, envelope text) out.

Only the WinRS cmd shell resource is served here (Create, Command, Send,
Receive, Signal, Delete) plus Identify.  Shapes follow the recorded Windows
replies in shared/fixtures/pypsrp/responses/test_winrs_*.yml.  PowerShell
resource URIs (.../powershell/<name>) go to psrp_endpoint.py; Get and
Enumerate of .../windows/shell and .../windows/shell/Command (any shell)
go to shell_admin.py.
"""

import base64
import binascii

from . import faults, psrp_endpoint, shell_admin, soap, xsduration
from .soap import NS, q
from .winrs import SIGNALS

CMD_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
SHELL_NS = NS["rsp"]
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
A_CREATE, A_DELETE = TRANSFER + "Create", TRANSFER + "Delete"
A_COMMAND, A_SEND = SHELL_NS + "/Command", SHELL_NS + "/Send"
A_RECEIVE, A_SIGNAL = SHELL_NS + "/Receive", SHELL_NS + "/Signal"
STATE = SHELL_NS + "/CommandState/"

SERVER_MAX_ENVELOPE = 512000     # MaxEnvelopeSizekb 500, as Windows ships
MAX_TIMEOUT = 60.0               # MaxTimeoutms 60000
MIN_ENVELOPE = 8192              # DSP0226 6.2
RECEIVE_MAX_CHUNKS = 16
DEFAULT_CODEPAGE = 437           # Windows' OEM code page when none is asked


class Context:
    """What the dispatcher knows about the request besides its body."""

    def __init__(self, user, client_ip, host, config, registry):
        self.user = user
        self.client_ip = client_ip
        self.host = host            # Host header, e.g. 127.0.0.1:40123
        self.config = config
        self.registry = registry

    @property
    def machine(self):
        return self.host.rsplit(":", 1)[0] if self.host else "localhost"


def identify(authenticated, mechanisms):
    """Identify reply.  Windows answers an unauthenticated Identify with
    <s:Header/> and no xml:lang; the authenticated form adds them and the
    security profiles."""
    parts = ("<wsmid:ProtocolVersion>%s</wsmid:ProtocolVersion>"
             "<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>"
             "<wsmid:ProductVersion>OS: 0.0.0 SP: 0.0 Stack: 3.0"
             "</wsmid:ProductVersion>" % NS["w"])
    if not authenticated:
        return ('<s:Envelope xmlns:s="%s"><s:Header/><s:Body>'
                '<wsmid:IdentifyResponse xmlns:wsmid="%s">%s'
                "</wsmid:IdentifyResponse></s:Body></s:Envelope>"
                % (NS["s"], NS["wsmid"], parts))
    profiles = "".join(
        "<wsmid:SecurityProfileName>%s</wsmid:SecurityProfileName>" % p
        for p in mechanisms)
    return ('<s:Envelope xml:lang="en-US" xmlns:s="%s"><s:Header></s:Header>'
            '<s:Body><wsmid:IdentifyResponse xmlns:wsmid="%s">%s'
            "<wsmid:SecurityProfiles>%s</wsmid:SecurityProfiles>"
            "</wsmid:IdentifyResponse></s:Body></s:Envelope>"
            % (NS["s"], NS["wsmid"], parts, profiles))


def is_identify(req):
    child = req.body_child()
    return child is not None and child.tag == q("wsmid", "Identify")


def dispatch(req, ctx):
    """Returns (status, text); WSManFault becomes HTTP 500 + fault."""
    try:
        return 200, _dispatch(req, ctx)
    except faults.WSManFault as fault:
        return 500, faults.render(fault, ctx.machine, req.message_id)


def _dispatch(req, ctx):
    timeout = operation_timeout(req, ctx.config)
    max_env = max_envelope(req)
    if shell_admin.serves(req.resource_uri):   # Get / Enumerate of shells
        return shell_admin.dispatch(req, ctx)
    if psrp_endpoint.serves(req.resource_uri) and \
            req.action in psrp_endpoint.HANDLERS:   # .../powershell/<name>
        return psrp_endpoint.dispatch(req, ctx, timeout, max_env)
    handler = HANDLERS.get(req.action)
    if handler is None:
        raise faults.action_not_supported(req.action)
    if req.resource_uri != CMD_URI:
        if psrp_endpoint.serves(req.resource_uri):   # .../powershell/<name>
            return psrp_endpoint.dispatch(req, ctx, timeout, max_env)
        raise faults.resource_not_found(req.resource_uri or "")
    return handler(req, ctx, timeout, max_env)


def operation_timeout(req, config):
    if req.operation_timeout is None:
        seconds = MAX_TIMEOUT
    else:
        seconds = xsduration.parse(req.operation_timeout)
        if seconds is None:
            raise faults.invalid_timeout(req.operation_timeout)
    seconds = min(seconds, MAX_TIMEOUT)
    if config.operation_timeout_cap is not None:
        seconds = min(seconds, config.operation_timeout_cap)
    return seconds


def max_envelope(req):
    if req.max_envelope is None:
        return SERVER_MAX_ENVELOPE
    try:
        size = int(req.max_envelope)
    except ValueError:
        raise faults.invalid_parameter()
    if size < MIN_ENVELOPE:
        raise faults.max_envelope_too_small()
    return min(size, SERVER_MAX_ENVELOPE)


def _child_text(el, local):
    child = el.find(q("rsp", local))
    return None if child is None else (child.text or "").strip()


# -- Create / Delete -------------------------------------------------------

def create(req, ctx, timeout, max_env):
    shell_el = req.body_child()
    if shell_el is None or shell_el.tag != q("rsp", "Shell"):
        raise faults.invalid_parameter()
    try:
        cp = int(req.options.get("WINRS_CODEPAGE", DEFAULT_CODEPAGE))
    except ValueError:
        raise faults.invalid_parameter()
    env = []
    env_el = shell_el.find(q("rsp", "Environment"))
    if env_el is not None:
        for var in env_el.findall(q("rsp", "Variable")):
            if var.get("Name"):
                env.append((var.get("Name"), var.text or ""))
    idle = None
    idle_text = _child_text(shell_el, "IdleTimeOut")
    if idle_text:
        idle = xsduration.parse(idle_text)
        if idle is None:
            raise faults.invalid_parameter()
    shell = ctx.registry.create(
        ctx.user, ctx.client_ip, shell_el.get("ShellId"), env,
        _child_text(shell_el, "WorkingDirectory"), cp, idle,
        _child_text(shell_el, "InputStreams") or "stdin",
        _child_text(shell_el, "OutputStreams") or "stdout stderr")
    address = "http://%s/wsman" % (ctx.host or "localhost")
    body = (
        "<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters>"
        "<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters></x:ResourceCreated>"
        % (soap.text(address), CMD_URI, shell.id))
    body += shell_xml(shell)
    return soap.envelope(soap.PREFIXES_SHELL, A_CREATE + "Response",
                         req.message_id, body)


def shell_xml(shell):
    """rsp:Shell as Windows returns it after Create (same element order)."""
    t = soap.text
    out = '<rsp:Shell xmlns:rsp="%s"><rsp:ShellId>%s</rsp:ShellId>' % (
        SHELL_NS, shell.id)
    out += "<rsp:ResourceUri>%s</rsp:ResourceUri>" % CMD_URI
    out += "<rsp:Owner>%s</rsp:Owner>" % t(shell.owner)
    out += "<rsp:ClientIP>%s</rsp:ClientIP>" % t(shell.client_ip)
    if shell.env:
        out += "<rsp:Environment>%s</rsp:Environment>" % "".join(
            "<rsp:Variable Name=%s>%s</rsp:Variable>" % (soap.attr(n), t(v))
            for n, v in shell.env)
    if shell.cwd:
        out += "<rsp:WorkingDirectory>%s</rsp:WorkingDirectory>" % t(shell.cwd)
    out += "<rsp:IdleTimeOut>%s</rsp:IdleTimeOut>" % xsduration.format_seconds(
        shell.idle_timeout)
    out += "<rsp:InputStreams>%s</rsp:InputStreams>" % t(shell.input_streams)
    out += "<rsp:OutputStreams>%s</rsp:OutputStreams>" % t(
        shell.output_streams)
    out += "<rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>"
    out += "<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>"
    return out


def delete(req, ctx, timeout, max_env):
    ctx.registry.delete(req.selectors.get("ShellId"), ctx.user)
    return soap.envelope(soap.PREFIXES_DELETE, A_DELETE + "Response",
                         req.message_id, "")


# -- Command / Send / Signal -----------------------------------------------

def _is_true(value):
    return (value or "").strip().lower() in ("true", "1")


def command(req, ctx, timeout, max_env):
    shell = ctx.registry.get(req.selectors.get("ShellId"), ctx.user)
    line = req.body_child()
    if line is None or line.tag != q("rsp", "CommandLine"):
        raise faults.invalid_parameter()
    cmd_text = _child_text(line, "Command")
    if not cmd_text:
        raise faults.invalid_parameter()
    args = [a.text or "" for a in line.findall(q("rsp", "Arguments"))]
    command_id = (line.get("CommandId") or soap.new_guid()).upper()
    shell.start(command_id, cmd_text, args,
                _is_true(req.options.get("WINRS_SKIP_CMD_SHELL")))
    body = ("<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId>"
            "</rsp:CommandResponse>" % soap.text(command_id))
    return soap.envelope(soap.PREFIXES_SHELL, A_COMMAND + "Response",
                         req.message_id, body)


def send(req, ctx, timeout, max_env):
    shell = ctx.registry.get(req.selectors.get("ShellId"), ctx.user)
    send_el = req.body_child()
    if send_el is None or send_el.tag != q("rsp", "Send"):
        raise faults.invalid_parameter()
    for stream in send_el.findall(q("rsp", "Stream")):
        if stream.get("Name", "stdin") not in shell.input_streams.split():
            raise faults.invalid_parameter()
        cmd = shell.command(stream.get("CommandId"))
        try:
            data = base64.b64decode((stream.text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            raise faults.invalid_parameter()
        if not cmd.send(data, _is_true(stream.get("End")), timeout):
            raise faults.timed_out()
    return soap.envelope(soap.PREFIXES_SHELL, A_SEND + "Response",
                         req.message_id, "<rsp:SendResponse/>")


def signal_(req, ctx, timeout, max_env):
    shell = ctx.registry.get(req.selectors.get("ShellId"), ctx.user)
    sig_el = req.body_child()
    if sig_el is None or sig_el.tag != q("rsp", "Signal"):
        raise faults.invalid_parameter()
    cmd = shell.command(sig_el.get("CommandId"))
    code = (_child_text(sig_el, "Code") or "").rsplit("/", 1)[-1]
    if code.lower() == "terminate":   # pywinrm: terminate, pypsrp: Terminate
        shell.forget(cmd.id)
    elif code in SIGNALS:
        cmd.signal(SIGNALS[code])
    else:
        raise faults.invalid_parameter()
    return soap.envelope(soap.PREFIXES_SHELL, A_SIGNAL + "Response",
                         req.message_id, "<rsp:SignalResponse/>")


# -- Receive -----------------------------------------------------------------

def _stream(name, cid, data=b"", end=False):
    return '<rsp:Stream Name="%s" CommandId="%s"%s>%s</rsp:Stream>' % (
        name, cid, ' End="true"' if end else "",
        base64.b64encode(data).decode("ascii"))


def _receive_body(cid, chunks, exit_code):
    out = "".join(_stream(n, cid, d) for n, d in chunks)
    if exit_code is None:
        out += '<rsp:CommandState CommandId="%s" State="%sRunning">' \
               "</rsp:CommandState>" % (cid, STATE)
    else:
        out += _stream("stdout", cid, end=True) + _stream("stderr", cid,
                                                          end=True)
        out += ('<rsp:CommandState CommandId="%s" State="%sDone">'
                "<rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>"
                % (cid, STATE, exit_code))
    return "<rsp:ReceiveResponse>%s</rsp:ReceiveResponse>" % out


def receive(req, ctx, timeout, max_env):
    shell = ctx.registry.get(req.selectors.get("ShellId"), ctx.user)
    recv_el = req.body_child()
    if recv_el is None or recv_el.tag != q("rsp", "Receive"):
        raise faults.invalid_parameter()
    desired = recv_el.find(q("rsp", "DesiredStream"))
    cmd = shell.command(None if desired is None else
                        desired.get("CommandId"))
    # Size the payload so the whole envelope stays within MaxEnvelopeSize:
    # the skeleton (largest exit code), one element's tags per chunk, and
    # base64 growth of 4/3 plus padding.
    skeleton = len(soap.envelope(
        soap.PREFIXES_RECEIVE, A_RECEIVE + "Response", req.message_id,
        _receive_body(cmd.id, [], 4294967295)).encode("utf-8"))
    per_chunk = len(_stream("stdout", cmd.id)) + 4
    room = max_env - skeleton - per_chunk * RECEIVE_MAX_CHUNKS - 64
    budget = max(1, room * 3 // 4)
    got = cmd.receive(timeout, budget, RECEIVE_MAX_CHUNKS)
    if got is None:
        raise faults.timed_out()
    chunks, exit_code = got
    return soap.envelope(soap.PREFIXES_RECEIVE, A_RECEIVE + "Response",
                         req.message_id,
                         _receive_body(cmd.id, chunks, exit_code))


HANDLERS = {
    A_CREATE: create, A_DELETE: delete, A_COMMAND: command, A_SEND: send,
    A_RECEIVE: receive, A_SIGNAL: signal_,
}
