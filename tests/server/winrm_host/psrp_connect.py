"""What the PowerShell endpoint needs to know of MS-PSRP messages to serve
WS-Man Connect (MS-PSRP 3.1.4.10.3, 3.1.5.3.17) for a disconnected pool.

Why the host builds the Connect reply itself: `pwsh -s` has no Connect.
Over the OutOfProc framing a CONNECT_RUNSPACEPOOL sent as Data(0) is
acknowledged and then dropped (ServerRemoteSession.DispatchInputQueueData
has no case for it; checked live with pwsh 7.6.9: DataAck, no reply, the
pool keeps working), and SESSION_CAPABILITY + CONNECT_RUNSPACEPOOL (what a
client puts in connectXml) makes pwsh close the pool (RunspacePoolState 4
Closing, 3 Closed).  On Windows the connect is run by the WinRM plugin in
the same process as the pool: WSManPluginShellSession -> ServerRemoteSession.
ExecuteConnect, which validates the two messages and answers, synchronously,
SESSION_CAPABILITY + RUNSPACEPOOL_INIT_DATA (MinRunspaces, MaxRunspaces)
in connectResponseXml.  The host does what ExecuteConnect does, from what
it knows: pwsh's own SESSION_CAPABILITY (its first pool message) and the
pool size (from INIT_RUNSPACEPOOL, then SET_MAX/SET_MIN_RUNSPACES that pwsh
accepted).  As recorded from Windows (test_psrp_disconnect_runspaces.yml),
the next pool Receive then carries RUNSPACEPOOL_STATE Opened.

Message layout (MS-PSRP 2.2.1, little-endian):
  | 0 Destination u32 | 4 MessageType u32 | 8 RPID | 24 PID | 40 CLIXML |
"""

import re
import struct

SESSION_CAPABILITY = 0x00010002
INIT_RUNSPACEPOOL = 0x00010004
CONNECT_RUNSPACEPOOL = 0x00010008
SET_MAX_RUNSPACES = 0x00021002
SET_MIN_RUNSPACES = 0x00021003
RUNSPACE_AVAILABILITY = 0x00021004
RUNSPACEPOOL_STATE = 0x00021005
RUNSPACEPOOL_INIT_DATA = 0x0002100B
TO_CLIENT, TO_SERVER = 1, 2
HEADER = struct.Struct("<II16s16s")
BOM = b"\xef\xbb\xbf"
ZERO_ID = b"\0" * 16
OPENED = 2

_I32 = r'<I32 N="%s">(-?\d+)</I32>'
_CI = re.compile(rb'<I64 N="ci">(-?\d+)</I64>')
_SETMINMAX_OK = re.compile(
    rb'<B N="SetMinMaxRunspacesResponse">true</B>', re.I)


def _int(name, xml):
    m = re.search((_I32 % name).encode(), xml)
    return None if m is None else int(m.group(1))


class Message:
    __slots__ = ("destination", "type", "rpid", "pid", "data")

    def __init__(self, blob):
        if len(blob) < HEADER.size:
            raise ValueError("PSRP message shorter than its header")
        (self.destination, self.type, self.rpid,
         self.pid) = HEADER.unpack_from(blob)
        self.data = bytes(blob[HEADER.size:])


def build(destination, msg_type, rpid, xml, pid=ZERO_ID):
    return HEADER.pack(destination, msg_type, rpid, pid) + xml


def reassemble(fragments):
    """Whole messages out of [(oid, fid, flags, blob)] (START 1, END 2);
    ValueError for a message that does not start, or does not end."""
    out, open_ = [], {}
    for oid, _fid, flags, blob in fragments:
        if flags & 1:
            open_[oid] = bytearray()
        if oid not in open_:
            raise ValueError("fragment of object %d without its start" % oid)
        open_[oid] += blob
        if flags & 2:
            out.append(Message(open_.pop(oid)))
    if open_:
        raise ValueError("an object does not end")
    return out


def pool_size(init_xml):
    """(MinRunspaces, MaxRunspaces) of an INIT_RUNSPACEPOOL."""
    return _int("MinRunspaces", init_xml), _int("MaxRunspaces", init_xml)


def minmax_request(msg):
    """(call id, "min"|"max", value) for a SET_MIN/MAX_RUNSPACES, or None."""
    if msg.type not in (SET_MAX_RUNSPACES, SET_MIN_RUNSPACES):
        return None
    kind = "max" if msg.type == SET_MAX_RUNSPACES else "min"
    value = _int("MaxRunspaces" if kind == "max" else "MinRunspaces",
                 msg.data)
    ci = _CI.search(msg.data)
    if value is None or ci is None:
        return None
    return int(ci.group(1)), kind, value


def minmax_answer(msg):
    """(call id, accepted) for a RUNSPACE_AVAILABILITY, or None."""
    if msg.type != RUNSPACE_AVAILABILITY:
        return None
    ci = _CI.search(msg.data)
    if ci is None:
        return None
    return int(ci.group(1)), bool(_SETMINMAX_OK.search(msg.data))


class ConnectRefused(Exception):
    """connectXml that ExecuteConnect would refuse; the text says why."""


def check_connect(messages, rpid, min_rs, max_rs):
    """Validate connectXml's messages as ServerRemoteSession.ExecuteConnect
    does: exactly SESSION_CAPABILITY then CONNECT_RUNSPACEPOOL, both for
    the server, the pool's RPID, and a size (if given) that is the pool's
    (ExecuteConnect refuses only when both differ)."""
    if len(messages) != 2:
        raise ConnectRefused("connectXml must hold SESSION_CAPABILITY and "
                             "CONNECT_RUNSPACEPOOL, it holds %d messages"
                             % len(messages))
    cap, conn = messages
    if cap.destination != TO_SERVER or cap.type != SESSION_CAPABILITY:
        raise ConnectRefused("the first message is not SESSION_CAPABILITY")
    if conn.destination != TO_SERVER or conn.type != CONNECT_RUNSPACEPOOL:
        raise ConnectRefused("the second message is not "
                             "CONNECT_RUNSPACEPOOL")
    if b'N="protocolversion"' not in cap.data:
        raise ConnectRefused("SESSION_CAPABILITY has no protocolversion")
    if conn.rpid != rpid:
        raise ConnectRefused("CONNECT_RUNSPACEPOOL names another pool")
    want_min, want_max = pool_size(conn.data)
    if (want_min is None) != (want_max is None):
        raise ConnectRefused("CONNECT_RUNSPACEPOOL has only one of "
                             "MinRunspaces and MaxRunspaces")
    if want_min is not None:
        if want_min < 1 or want_max < 1 or want_min > want_max:
            raise ConnectRefused("CONNECT_RUNSPACEPOOL asks for an invalid "
                                 "pool size")
        if want_min != min_rs and want_max != max_rs:
            raise ConnectRefused("CONNECT_RUNSPACEPOOL asks for another pool "
                                 "size than the pool's")


def connect_response(rpid, capability_xml, min_rs, max_rs):
    """The two messages of connectResponseXml: the server's
    SESSION_CAPABILITY (now with the pool's RPID, as ExecuteConnect's
    GenerateServerSessionCapability writes it; recorded) and
    RUNSPACEPOOL_INIT_DATA."""
    init = (BOM + b'<Obj RefId="0"><MS><I32 N="MinRunspaces">%d</I32>'
            b'<I32 N="MaxRunspaces">%d</I32></MS></Obj>' % (min_rs, max_rs))
    return [build(TO_CLIENT, SESSION_CAPABILITY, rpid, capability_xml),
            build(TO_CLIENT, RUNSPACEPOOL_INIT_DATA, rpid, init)]


def pool_state(rpid, state):
    return build(TO_CLIENT, RUNSPACEPOOL_STATE, rpid,
                 BOM + b'<Obj RefId="0"><MS><I32 N="RunspaceState">%d</I32>'
                 b'</MS></Obj>' % state)
