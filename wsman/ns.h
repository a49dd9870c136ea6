/*
 * ns.h: the one place that knows WS-Management's namespaces, actions and
 * well-known URIs and codes (PROTOCOL.md 1-2; MS-WSMV 2.2.1, 2.2.4.43).
 *
 * Prefixes in the envelopes we build are the ones Windows itself uses, so a
 * wire trace of winrsh reads like one of winrs.exe.
 */
#ifndef WR_WSMAN_NS_H
#define WR_WSMAN_NS_H

/* Namespaces, with the prefix our envelopes give them:
 * s SOAP, a WS-Addressing, w WS-Man (DMTF), p MS-WSMV, x WS-Transfer,
 * rsp WinRS shell, f WS-Man fault detail, wsmid Identify. */
#define WR_NS_SOAP "http://www.w3.org/2003/05/soap-envelope"
#define WR_NS_ADDRESSING "http://schemas.xmlsoap.org/ws/2004/08/addressing"
#define WR_NS_WSMAN "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
#define WR_NS_WSMV "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
#define WR_NS_TRANSFER "http://schemas.xmlsoap.org/ws/2004/09/transfer"
#define WR_NS_SHELL "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
#define WR_NS_FAULT "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
#define WR_NS_IDENTITY "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"

#define WR_ADDRESS_ANONYMOUS "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

/* Actions (MS-WSMV 3.1.4) */
#define WR_ACTION_CREATE "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
#define WR_ACTION_DELETE "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
#define WR_ACTION_COMMAND "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command"
#define WR_ACTION_SEND "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send"
#define WR_ACTION_RECEIVE "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive"
#define WR_ACTION_SIGNAL "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal"

/* Resource URIs */
#define WR_URI_SHELL_CMD "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"

/* WinRS signal codes (MS-WSMV 2.2.4.38) */
#define WR_SIGNAL_CTRL_C "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c"
#define WR_SIGNAL_CTRL_BREAK                                                                       \
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break"
#define WR_SIGNAL_TERMINATE                                                                        \
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"

/* rsp:CommandState/@State (MS-WSMV 2.2.4.5) */
#define WR_COMMAND_STATE_DONE                                                                      \
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done"

/* f:WSManFault/@Code values the client acts on (PROTOCOL.md 1, Faults) */
#define WR_WSMAN_CODE_TIMEDOUT 2150858793u        /* 0x80338029: Receive found nothing yet */
#define WR_WSMAN_CODE_SHELL_NOT_FOUND 2150858843u /* 0x8033805B: shell/command is gone */

#endif
