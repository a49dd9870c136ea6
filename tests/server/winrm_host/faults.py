"""The WS-Man faults this host sends, in the shapes Windows uses.

Every fault goes out with HTTP 500.  Shapes and texts marked "recorded"
are copied from real Windows replies in shared/fixtures/pypsrp/responses;
the others follow the same shape with codes from the Windows SDK
(winerror.h ERROR_WSMAN_*), texts unverified.
"""

from . import soap

WSMAN_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ADDRESSING_FAULT = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault"
FAULT_DETAIL = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/"
SHELL_PLUGIN = ('provider="Shell cmd plugin" '
                'path="%systemroot%\\system32\\winrscmd.dll"')
# The WinRM service's own shell provider (Get / Enumerate of
# .../windows/shell): recorded in test_psrp_is_alive_invalid_selectors.yml.
SHELL_PROVIDER = ('provider="Shell provider" '
                  'path="%systemroot%\\system32\\WsmSvc.dll"')

INVALID_SELECTORS_REASON = (
    "The WS-Management service cannot process the request because the "
    "request contained invalid selectors for the resource. ")
TIMED_OUT_TEXT = (
    "The WS-Management service cannot complete the operation within the "
    "time specified in OperationTimeout.  ")


class WSManFault(Exception):
    """Raised anywhere below the dispatcher; rendered by render()."""

    def __init__(self, code, subcode, reason, wsman_code, message,
                 detail=None, action=WSMAN_FAULT, provider=False,
                 provider_attrs=None, nested=False):
        super().__init__(message)
        self.code = code              # "s:Sender" | "s:Receiver"
        self.subcode = subcode        # e.g. "w:TimedOut"
        self.reason = reason
        self.wsman_code = wsman_code  # decimal uint32
        self.message = message
        self.detail = detail          # w:FaultDetail suffix or None
        self.action = action
        self.provider = provider      # wrap message in f:ProviderFault
        self.provider_attrs = provider_attrs or SHELL_PLUGIN
        self.nested = nested          # ... around another f:WSManFault


def render(fault, machine, relates_to):
    """The fault envelope (text)."""
    detail = ""
    if fault.detail:
        detail = "<w:FaultDetail>%s%s</w:FaultDetail>" % (FAULT_DETAIL,
                                                          fault.detail)
    msg = soap.text(fault.message)
    if fault.nested:
        msg = ('<f:WSManFault xmlns:f="%s" Code="%d" Machine=%s><f:Message>'
               "%s</f:Message></f:WSManFault>"
               % (soap.NS["f"], fault.wsman_code, soap.attr(machine), msg))
    if fault.provider:
        msg = "<f:ProviderFault %s>%s</f:ProviderFault>" % (
            fault.provider_attrs, msg)
    body = (
        "<s:Fault><s:Code><s:Value>%s</s:Value><s:Subcode><s:Value>%s"
        "</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en-US\">"
        "%s</s:Text></s:Reason><s:Detail>%s<f:WSManFault xmlns:f=\"%s\" "
        "Code=\"%d\" Machine=%s><f:Message>%s</f:Message></f:WSManFault>"
        "</s:Detail></s:Fault>"
        % (fault.code, fault.subcode, soap.text(fault.reason), detail,
           soap.NS["f"], fault.wsman_code, soap.attr(machine), msg))
    return soap.envelope(soap.PREFIXES_FAULT, fault.action, relates_to, body)


# -- recorded shapes -------------------------------------------------------

def timed_out():
    """Receive with no output within OperationTimeout (recorded:
    test_psrp_long_running_cmdlet.yml)."""
    return WSManFault("s:Receiver", "w:TimedOut", TIMED_OUT_TEXT,
                      2150858793, TIMED_OUT_TEXT)


def shell_not_found(shell_id):
    """Unknown or expired ShellId.  Shape recorded in
    test_psrp_is_alive_invalid_selectors.yml; the message is the one
    Windows writes for a missing shell (quoted in WinRb/WinRM#253 and
    jborean93/pypsrp#22, where it is also the fault's Reason)."""
    text = ("The request for the Windows Remote Shell with ShellId %s failed "
            "because the shell was not found on the server. Possible causes "
            "are: the specified ShellId is incorrect or the shell no longer "
            "exists on the server. Provide the correct ShellId or create a "
            "new shell and retry the operation. " % shell_id)
    return WSManFault("s:Sender", "w:InvalidSelectors", text, 2150858843,
                      text, detail="UnexpectedSelectors")


def command_not_found():
    """Unknown CommandId (recorded: test_winrs_bad_cmd_id.yml)."""
    return WSManFault(
        "s:Sender", "w:InvalidSelectors", INVALID_SELECTORS_REASON,
        2150858843,
        "The Windows Remote Shell received a request to perform an "
        "operation on a command identifier that does not exist. Either the "
        "command has completed execution or the client specified an invalid "
        "command identifier. ",
        detail="UnexpectedSelectors")


def invalid_timeout(value):
    """Unparseable w:OperationTimeout (recorded:
    test_psrp_is_alive_other_wsman_error.yml)."""
    return WSManFault(
        "s:Sender", "a:InvalidMessageInformationHeader",
        "The WS-Management service cannot process the request. The request "
        "contains one or more invalid SOAP headers. ", 2150858767,
        "The WS-Management service cannot process the request. The XML "
        "contains an invalid timeout field in the SOAP header: %s. " % value,
        action=ADDRESSING_FAULT)


def win32_error(code, text, sender=False):
    """A Win32 error from the cmd plugin (recorded:
    test_winrs_no_cmd_shell.yml for 0x80070002, test_winrs_fail_poll_process
    for 87)."""
    if sender:
        return WSManFault("s:Sender", "w:InvalidParameter", text, code, text,
                          detail="InvalidValue", provider=True)
    return WSManFault("s:Receiver", "w:InternalError", text, code, text,
                      provider=True)


def file_not_found():
    return win32_error(2147942402, "The system cannot find the file "
                       "specified. ")


def directory_invalid():
    # HRESULT_FROM_WIN32(ERROR_DIRECTORY = 267); text as Windows words it.
    return win32_error(2147942667, "The directory name is invalid. ")


def invalid_parameter():
    return win32_error(87, "The parameter is incorrect. ", sender=True)


# -- same shape, codes from winerror.h, texts unverified -------------------

def request_too_large(limit):
    """Request body over MaxEnvelopeSizekb (MS-WSMV 3.1.4.1.20).
    ERROR_WSMAN_SERVER_ENVELOPE_LIMIT = 0x80338049; DSP0226 detail
    ServiceEnvelopeLimit."""
    text = ("The WS-Management service cannot process the request because "
            "the request envelope size exceeds the maximum of %d bytes "
            "allowed by the service (MaxEnvelopeSizekb). " % limit)
    return WSManFault("s:Sender", "w:EncodingLimit", text, 2150858825, text,
                      detail="ServiceEnvelopeLimit")


def max_envelope_too_small():
    """w:MaxEnvelopeSize under 8192 (MS-WSMV 3.1.4.1.7).
    ERROR_WSMAN_MAX_ENVELOPE_SIZE = 0x80338047."""
    text = ("The WS-Management service cannot process the request because "
            "the MaxEnvelopeSize in the request is smaller than 8192 bytes. ")
    return WSManFault("s:Sender", "w:EncodingLimit", text, 2150858823, text,
                      detail="MinimumEnvelopeLimit")


def invalid_xml(why):
    """Malformed body.  ERROR_WSMAN_INVALID_XML = 0x80338043."""
    text = ("The WS-Management service cannot process the request because "
            "the XML is invalid: %s. " % why)
    return WSManFault("s:Sender", "w:SchemaValidationError", text,
                      2150858819, text)


def action_not_supported(action):
    """Unknown action for the resource.  ERROR_WSMAN_ACTION_MISMATCH =
    0x80338031."""
    text = ("The WS-Management service cannot process the request because "
            "the WS-Addressing Action URI in the request is not compatible "
            "with the resource. ")
    return WSManFault("s:Sender", "a:ActionNotSupported", text, 2150858801,
                      text, action=ADDRESSING_FAULT)


def resource_not_found(uri):
    """Resource URI this host does not serve (e.g. PowerShell, for now).
    ERROR_WSMAN_DESTINATION_UNREACHABLE = 0x80338012; text unverified."""
    text = ("The WS-Management service cannot process the request. The "
            "resource URI (%s) was not found in the WS-Management catalog. "
            % uri)
    return WSManFault("s:Sender", "w:DestinationUnreachable", text,
                      2150858770, text, detail="InvalidResourceURI")


def quota(message):
    """WinRS quota exceeded (MS-WSMV 3.1.4.5.2.1 texts)."""
    return WSManFault("s:Receiver", "w:QuotaLimit", message, 2150859174,
                      message)


# -- shells beyond running commands (Get, Enumerate, Disconnect, Connect) ----

def shell_get_not_found():
    """WS-Transfer Get of .../windows/shell with a ShellId nobody holds
    (recorded: test_psrp_is_alive_invalid_selectors.yml): the service's
    shell provider, the message nested in a second f:WSManFault."""
    return WSManFault("s:Sender", "w:InvalidSelectors",
                      INVALID_SELECTORS_REASON, 2150858843,
                      INVALID_SELECTORS_REASON, detail="UnexpectedSelectors",
                      provider=True, provider_attrs=SHELL_PROVIDER,
                      nested=True)


def invalid_enumeration_context():
    """Pull/Release with a context the host does not hold (DSP0226 8.6;
    ERROR_WSMAN_ENUMERATE_INVALID_ENUMERATION_CONTEXT = 0x8033801B; text
    unverified)."""
    text = ("The WS-Management service cannot process the request because "
            "the enumeration context supplied in the message is not valid. ")
    return WSManFault("s:Sender", "n:InvalidEnumerationContext", text,
                      2150858779, text)


def shell_disconnected(shell_id):
    """An operation other than Reconnect/Connect/Delete/Get on a
    disconnected shell.  ERROR_WINRS_SHELL_DISCONNECTED = 0x803381C4;
    subcode and text unverified."""
    text = ("The request for the Windows Remote Shell with ShellId %s failed "
            "because the shell is disconnected. Reconnect to the shell and "
            "try again. " % shell_id)
    return WSManFault("s:Receiver", "w:InternalError", text, 2150859204,
                      text)


def shell_connected_elsewhere(shell_id):
    """Connect to a shell that a client holds connected.
    ERROR_WINRS_SHELL_CONNECTED_TO_DIFFERENT_CLIENT = 0x803381CD; subcode
    and text unverified."""
    text = ("The WS-Management service cannot process the request because "
            "the shell %s is currently connected to a different client. "
            % shell_id)
    return WSManFault("s:Sender", "w:InvalidParameter", text, 2150859213,
                      text)
