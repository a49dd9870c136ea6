"""The PowerShell endpoint: `http://schemas.microsoft.com/powershell/<name>`
(Microsoft.PowerShell and any other name, all alike), served the way
Windows' WinRM PowerShell plugin serves it: each WS-Man shell is one
runspace pool hosted by its own `pwsh -s -NoLogo -NoProfile` child, spoken
to over the OutOfProc framing (outofproc.py).  This module only moves
MS-PSRP fragments between WS-Man and pwsh; pwsh does all of PSRP.

WS-Man side (shapes from the Windows replies recorded in
shared/fixtures/pypsrp/responses/test_psrp_*.yml, test_client_execute_ps*):

  | WS-Man request                           | towards pwsh                  |
  |------------------------------------------|-------------------------------|
  | Create, rsp:Shell + creationXml          | start pwsh; Data(0) of the    |
  |                                          | creationXml fragments, DataAck|
  | Receive, no CommandId                    | pool Data pwsh sent (PSGuid 0)|
  | Command, CommandId, empty rsp:Command,   | Command(P)/CommandAck, then   |
  |   rsp:Arguments = first fragment         |   Data(P)/DataAck             |
  | Send stdin / pr, with CommandId          | Data(P) Default/PromptResponse|
  | Send without CommandId                   | Data(0)                       |
  | Receive with CommandId                   | Data pwsh sent for P          |
  | Signal .../powershell/signal/crtl_c      | Signal(P)/SignalAck           |
  | Signal, any other code (terminate)       | Close(P)/CloseAck; forget P   |
  | Delete                                   | Close(P) of open pipelines,   |
  |                                          | Close(0)/CloseAck, end pwsh   |
  | Disconnect / Reconnect                   | nothing: pwsh runs on, its    |
  |                                          | output waits in the host      |
  | Connect (connectXml)                     | nothing: the host answers     |
  |                                          | (psrp_connect.py says why)    |

P is the pipeline id inside the CREATE_PIPELINE message (read with the
.NET GUID layout), not the WS-Man CommandId: pwsh sends its output under
the id it reads there, and pypsrp writes that id in the wrong byte order
(PROTOCOL.md 4, "Order is not checked over WinRM"), so the two differ.

Receive replies carry one rsp:Stream Name="stdout" per fragment, with
CommandId for pipeline data and without for pool data.  A pipeline's
reply gets rsp:CommandState .../Done (ExitCode 0, as recorded even for a
Failed pipeline) once the last fragment of a PIPELINE_STATE message with a
terminal state (Stopped, Completed, Failed) is in it; while it runs the
reply has no CommandState at all (recorded).  A fragment too big for the
request's MaxEnvelopeSize is cut into several (renumbered) fragments.
"""

import atexit
import base64
import binascii
import collections
import os
import re
import shutil
import struct
import sys
import threading
import time
import uuid

from . import faults, psrp_connect, soap, xsduration
from .outofproc import AckTimeout, OutOfProcClient, PwshGone, ZERO_GUID
from .soap import NS, q

PS_URI_PREFIX = "http://schemas.microsoft.com/powershell/"
PS_NS = "http://schemas.microsoft.com/powershell"   # creationXml
SHELL_NS = NS["rsp"]
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
A_CREATE, A_DELETE = TRANSFER + "Create", TRANSFER + "Delete"
A_COMMAND, A_SEND = SHELL_NS + "/Command", SHELL_NS + "/Send"
A_RECEIVE, A_SIGNAL = SHELL_NS + "/Receive", SHELL_NS + "/Signal"
A_DISCONNECT, A_RECONNECT = SHELL_NS + "/Disconnect", SHELL_NS + "/Reconnect"
A_CONNECT = SHELL_NS + "/Connect"
CONNECTED, DISCONNECTED = "Connected", "Disconnected"
DONE = SHELL_NS + "/CommandState/Done"
# PowerShell's WSManPlugin.cs compares the code with this exact string
# (misspelt); every other code closes the command.
STOP_SIGNAL = "powershell/signal/crtl_c"
MS_PREFIX = "http://schemas.microsoft.com/"

PWSH_VERSION = "7.6.9"              # what scripts/setup installs
PWSH_ARGS = ["-s", "-NoLogo", "-NoProfile"]
DEFAULT_IDLE_TIMEOUT = 7200.0       # recorded: PT7200.000S
MAX_IDLE = "PT2147483.647S"         # recorded rsp:MaxIdleTimeOut
MAX_SHELLS_PER_USER = 25            # the PowerShell plugin's quota
MAX_PWSH = 16                       # whole host: each pwsh costs ~100 MB
OUTPUT_CAP = 8 * 1024 * 1024        # unreceived bytes per shell
STARTUP_TIMEOUT = 60.0              # pwsh start + pool open (creationXml ack)
ACK_TIMEOUT = 30.0                  # any other Ack
CLOSE_TIMEOUT = 5.0                 # Close(0) at Delete / idle reaping
MAX_STREAMS = 1000                  # rsp:Stream elements per Receive reply

# MS-PSRP 2.2.4 fragment header, big-endian:
#   | 0 ObjectId u64 | 8 FragmentId u64 | 16 flags u8 | 17 BlobLength u32 |
FRAGMENT = struct.Struct(">QQBI")
START, END = 0x1, 0x2
# MS-PSRP 2.2.1 message header (little-endian), at the start of the first
# fragment's blob:
#   | 0 Destination u32 | 4 MessageType u32 | 8 RPID | 24 PID | 40 data |
PIPELINE_STATE = 0x00041006
TERMINAL_STATES = (3, 4, 5)         # Stopped, Completed, Failed (2.2.3.5)
STATE_RE = re.compile(rb'<I32 N="PipelineState">(\d+)</I32>')
STATE_MSG_CAP = 4 * 1024 * 1024


def serves(resource_uri):
    """Whether a resource URI is a PowerShell endpoint."""
    return bool(resource_uri) and resource_uri.startswith(PS_URI_PREFIX) \
        and len(resource_uri) > len(PS_URI_PREFIX)


def _log(text):
    sys.stderr.write("testhost: psrp: %s\n" % text)


# -- finding pwsh ------------------------------------------------------------

_last_choice = [None]


def find_pwsh():
    """(path, None) or (None, why not)."""
    env = os.environ.get("WINRSH_TEST_PWSH")
    if env:
        if os.path.isfile(env) and os.access(env, os.X_OK):
            return env, None
        return None, "WINRSH_TEST_PWSH=%s is not an executable file" % env
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    cached = os.path.join(cache, "winrsh", "pwsh-" + PWSH_VERSION, "pwsh")
    if os.path.isfile(cached) and os.access(cached, os.X_OK):
        return cached, None
    on_path = shutil.which("pwsh")
    if on_path:
        return on_path, None
    return None, ("no pwsh: WINRSH_TEST_PWSH is not set, %s does not exist "
                  "(scripts/setup installs it) and there is no pwsh on PATH"
                  % cached)


def _pwsh_or_fault(uri):
    path, why = find_pwsh()
    choice = path or why
    if choice != _last_choice[0]:
        _last_choice[0] = choice
        if path:
            _log("PowerShell endpoint runs %s %s" % (path,
                                                     " ".join(PWSH_ARGS)))
        else:
            _log("PowerShell endpoint unavailable: %s" % why)
    if path is None:
        raise no_pwsh_fault(uri, why)
    return path


def pwsh_env():
    """The host's environment, plus what a dotnet-tool pwsh needs."""
    env = dict(os.environ)
    if not env.get("DOTNET_ROOT"):
        # The dotnet tool launcher looks for the runtime in DOTNET_ROOT,
        # then in fixed places; a dotnet elsewhere needs the variable.
        dotnet = shutil.which("dotnet")
        if dotnet:
            env["DOTNET_ROOT"] = os.path.dirname(os.path.realpath(dotnet))
    env.setdefault("POWERSHELL_TELEMETRY_OPTOUT", "1")
    env.setdefault("POWERSHELL_UPDATECHECK", "Off")
    env.setdefault("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
    env.setdefault("DOTNET_NOLOGO", "1")
    return env


# -- faults (shapes as faults.py; texts unverified) --------------------------

def no_pwsh_fault(uri, why):
    """No pwsh on this machine: answered like an endpoint that is not
    registered (ERROR_WSMAN_DESTINATION_UNREACHABLE, InvalidResourceURI),
    with the reason added."""
    text = ("The WS-Management service cannot process the request. The "
            "resource URI (%s) was not found in the WS-Management catalog. "
            "testhost: the PowerShell endpoint needs pwsh: %s. " % (uri, why))
    return faults.WSManFault("s:Sender", "w:DestinationUnreachable", text,
                             2150858770, text, detail="InvalidResourceURI")


def host_process_fault(text):
    """pwsh could not start or ended: HRESULT_FROM_WIN32(ERROR_PROCESS_
    ABORTED = 1067), the way a crashed plugin host surfaces (unverified)."""
    return faults.WSManFault("s:Receiver", "w:InternalError", text,
                             2147943467, text)


def _gone_fault(shell):
    return host_process_fault(
        "The PowerShell host process for this shell (pwsh, pid %d) ended "
        "with status %s. " % (shell.client.pid, shell.client.exit_status))


# -- fragments ---------------------------------------------------------------

def split_fragments(data):
    """[(object id, fragment id, flags, blob)]; ValueError if data is not
    a run of whole fragments."""
    out, i = [], 0
    while i < len(data):
        if len(data) - i < FRAGMENT.size:
            raise ValueError("truncated fragment header")
        oid, fid, flags, length = FRAGMENT.unpack_from(data, i)
        i += FRAGMENT.size
        if length > len(data) - i:
            raise ValueError("truncated fragment")
        out.append((oid, fid, flags, data[i:i + length]))
        i += length
    return out


def _b64_len(n):
    return (n + 2) // 3 * 4


class _Piece:
    """A fragment from pwsh, not yet (completely) received by the client."""
    __slots__ = ("oid", "flags", "blob", "started", "terminal")

    def __init__(self, oid, flags, blob):
        self.oid, self.flags, self.blob = oid, flags, blob
        self.started = False       # a part of it went out already
        self.terminal = False      # ends a terminal PIPELINE_STATE


class Outbox:
    """Fragments waiting for Receive, for the pool or one pipeline."""

    def __init__(self, watch_state):
        self.items = collections.deque()
        self.bytes = 0
        self.watch_state = watch_state
        self.next_fid = {}         # object id -> next FragmentId to send
        self.states = {}           # object id -> PIPELINE_STATE so far
        self.final_seen = False    # terminal PIPELINE_STATE queued
        self.done = False          # ... and delivered
        # Messages the host makes itself (Connect) take ObjectIds after
        # pwsh's; pwsh's later ones are shifted past them, so ids on the
        # stream keep counting up.
        self.max_oid = 0           # highest ObjectId pwsh used here
        self.oid_shift = 0

    def reserve_oids(self, n):
        first = self.max_oid + self.oid_shift + 1
        self.oid_shift += n
        return list(range(first, first + n))

    def inject(self, oid, blob):
        """Queue one whole message the host made (one fragment)."""
        piece = _Piece(oid, START | END, blob)
        self.items.append(piece)
        self.bytes += len(blob)
        return len(blob)

    def push(self, fragments):
        added = 0
        for oid, _fid, flags, blob in fragments:
            self.max_oid = max(self.max_oid, oid)
            piece = _Piece(oid + self.oid_shift, flags, blob)
            if self.watch_state:
                self._watch(piece)
            self.items.append(piece)
            added += len(blob)
        self.bytes += added
        return added

    def _watch(self, piece):
        """Reassemble PIPELINE_STATE messages only, to see the end."""
        oid, blob = piece.oid, piece.blob
        if piece.flags & START:
            self.states.pop(oid, None)
            if len(blob) >= 8 and struct.unpack_from("<I", blob, 4)[0] \
                    == PIPELINE_STATE:
                self.states[oid] = bytearray(blob)
        elif oid in self.states:
            self.states[oid] += blob
            if len(self.states[oid]) > STATE_MSG_CAP:
                del self.states[oid]
        if piece.flags & END and oid in self.states:
            m = STATE_RE.search(bytes(self.states.pop(oid)[40:]))
            if m and int(m.group(1)) in TERMINAL_STATES:
                piece.terminal = True
                self.final_seen = True

    def take(self, room, overhead):
        """Fragments (bytes) whose rsp:Stream elements fit in room bytes,
        each element costing overhead plus its base64.  A fragment that
        does not fit is cut only if nothing else was taken.  Returns
        (fragments, bytes taken, whether the terminal state went out)."""
        out, taken, finished = [], 0, False
        while self.items and not finished and len(out) < MAX_STREAMS:
            p = self.items[0]
            left = room - overhead
            fit = left // 4 * 3 - FRAGMENT.size   # largest blob that fits
            if len(p.blob) <= fit:
                n = len(p.blob)
            elif out or fit < 1:
                break
            else:
                n = fit
            part, rest = p.blob[:n], p.blob[n:]
            flags = 0
            if not p.started and p.flags & START:
                flags |= START
                self.next_fid[p.oid] = 0
            if not rest and p.flags & END:
                flags |= END
            fid = self.next_fid.get(p.oid, 0)
            if flags & END:
                self.next_fid.pop(p.oid, None)
            else:
                self.next_fid[p.oid] = fid + 1
            out.append(FRAGMENT.pack(p.oid, fid, flags, len(part)) + part)
            room -= overhead + _b64_len(FRAGMENT.size + n)
            taken += n
            p.started, p.blob = True, rest
            if not rest:
                self.items.popleft()
                if p.terminal:
                    finished = True
        self.bytes -= taken
        if finished:
            self.done = True
        return out, taken, finished


# -- shells ------------------------------------------------------------------

class Command:
    def __init__(self, command_id, guid):
        self.id = command_id
        self.guid = guid           # PowerShell instance id, as pwsh writes it
        self.outbox = Outbox(watch_state=True)
        self.closed = False


class Shell:
    def __init__(self, shell_id, uri, owner, client_ip, idle_timeout,
                 profile, input_streams, output_streams, locale, data_locale):
        self.id = shell_id
        self.uri = uri
        self.owner = owner
        self.client_ip = client_ip
        self.idle_timeout = idle_timeout
        self.profile = profile
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.locale = locale
        self.data_locale = data_locale
        self.created = time.monotonic()
        self.last_used = self.created
        self.cond = threading.Condition()
        self.pool = Outbox(watch_state=False)
        self.commands = {}         # CommandId -> Command
        self.by_guid = {}          # pwsh's PSGuid -> Command
        self.buffered = 0
        self.closed = False
        self.client = None
        # Disconnect / Reconnect / Connect (MS-PSRP 3.1.4.9-11)
        self.state = CONNECTED
        self.buffer_mode = "Block"
        self.session_id = None     # p:SessionId of the client holding it
        self.rpid = None           # the pool's RPID bytes, as the client
        self.min_rs = self.max_rs = None   # wrote them; pool size
        self.capability = None     # pwsh's SESSION_CAPABILITY CLIXML
        self.minmax_pending = {}   # call id -> ("min"|"max", value)

    def touch(self):
        self.last_used = time.monotonic()

    def start(self, pwsh, creation, log_name):
        home = os.environ.get("HOME") or "/"
        self.client = OutOfProcClient(
            [pwsh] + PWSH_ARGS, pwsh_env(), home if os.path.isdir(home)
            else "/", self._on_data, self._on_exit, log_name)
        self.client.send_data(ZERO_GUID, creation, STARTUP_TIMEOUT)

    # -- from pwsh (reader thread) -----------------------------------------
    def _on_data(self, guid, data):
        try:
            fragments = split_fragments(data)
        except ValueError as exc:
            _log("shell %s: bad fragments from pwsh: %s" % (self.id, exc))
            return
        with self.cond:
            while self.buffered >= OUTPUT_CAP and not self.closed:
                self.cond.wait(0.5)     # nobody receives: let pwsh block
            if self.closed:
                return
            if guid == ZERO_GUID:
                box = self.pool
                self._watch_pool(fragments)
            else:
                cmd = self.by_guid.get(guid)
                if cmd is None:         # closed (terminate) or never ours
                    return
                box = cmd.outbox
            self.buffered += box.push(fragments)
            self.cond.notify_all()

    def _on_exit(self):
        with self.cond:
            self.cond.notify_all()

    def _watch_pool(self, fragments):
        """Keep what Connect needs from pwsh's pool messages (whole
        one-fragment messages only; these are): its SESSION_CAPABILITY and
        its answers to SET_MIN/MAX_RUNSPACES.  Called with cond held."""
        for _oid, _fid, flags, blob in fragments:
            if flags & (START | END) != START | END or len(blob) < 40:
                continue
            try:
                msg = psrp_connect.Message(blob)
            except ValueError:
                continue
            if msg.type == psrp_connect.SESSION_CAPABILITY and \
                    self.capability is None:
                self.capability = msg.data
                continue
            answer = psrp_connect.minmax_answer(msg)
            if answer is not None:
                ci, ok = answer
                pending = self.minmax_pending.pop(ci, None)
                if pending is not None and ok:
                    if pending[0] == "max":
                        self.max_rs = pending[1]
                    else:
                        self.min_rs = pending[1]

    def watch_client_pool(self, data):
        """A pool Send from the client: remember SET_MIN/MAX_RUNSPACES until
        pwsh answers them."""
        try:
            messages = psrp_connect.reassemble(split_fragments(data))
        except ValueError:
            return
        with self.cond:
            for msg in messages:
                req = psrp_connect.minmax_request(msg)
                if req is not None and len(self.minmax_pending) < 64:
                    self.minmax_pending[req[0]] = req[1:]

    def check_connected(self):
        if self.state != CONNECTED:
            raise faults.shell_disconnected(self.id)

    # -- operations --------------------------------------------------------
    def command(self, command_id):
        with self.cond:
            cmd = self.commands.get((command_id or "").upper())
        if cmd is None:
            raise faults.command_not_found()
        return cmd

    def start_command(self, command_id, guid, first_fragment):
        cmd = Command(command_id, guid)
        with self.cond:
            if command_id in self.commands or guid in self.by_guid:
                raise faults.invalid_parameter()
            self.commands[command_id] = cmd
            self.by_guid[guid] = cmd
        try:
            self.client.command(guid, ACK_TIMEOUT)
            self.client.send_data(guid, first_fragment, ACK_TIMEOUT)
        except (PwshGone, AckTimeout) as exc:
            self._drop(cmd)
            if isinstance(exc, AckTimeout):
                raise faults.timed_out()
            raise _gone_fault(self)
        return cmd

    def send(self, cmd, stream, data):
        guid = cmd.guid if cmd is not None else ZERO_GUID
        try:
            self.client.send_data(guid, data, ACK_TIMEOUT, stream)
        except AckTimeout:
            raise faults.timed_out()
        except PwshGone:
            raise _gone_fault(self)

    def stop(self, cmd):
        try:
            self.client.signal(cmd.guid, ACK_TIMEOUT)
        except AckTimeout:
            raise faults.timed_out()
        except PwshGone:
            raise _gone_fault(self)

    def terminate(self, cmd):
        """Close one pipeline and forget it (Signal other than crtl_c)."""
        self._drop(cmd)
        try:
            self.client.close(cmd.guid, ACK_TIMEOUT)
        except AckTimeout:
            raise faults.timed_out()
        except PwshGone:
            pass                        # nothing left to close

    def _drop(self, cmd):
        with self.cond:
            cmd.closed = True
            self.commands.pop(cmd.id, None)
            if self.by_guid.get(cmd.guid) is cmd:
                del self.by_guid[cmd.guid]
            self.buffered -= cmd.outbox.bytes
            cmd.outbox.items.clear()
            cmd.outbox.bytes = 0
            self.cond.notify_all()

    def receive(self, cmd, timeout, room, overhead):
        """(fragments, done) or None when nothing came within timeout."""
        box = self.pool if cmd is None else cmd.outbox
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if self.closed:
                    raise faults.shell_not_found(self.id)
                if self.state != CONNECTED:
                    raise faults.shell_disconnected(self.id)
                if cmd is not None and cmd.closed:
                    raise faults.command_not_found()
                if box.items:
                    frags, taken, finished = box.take(room, overhead)
                    self.buffered -= taken
                    self.cond.notify_all()
                    return frags, finished
                if cmd is not None and box.done:
                    return [], True     # Done again (as WinRS does here)
                if self.client.gone:
                    raise _gone_fault(self)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.5))

    def close(self, polite):
        """Delete: Close(P) for each open pipeline, Close(0), each waiting
        for its CloseAck; then end pwsh and its process group."""
        with self.cond:
            if self.closed:
                return
            self.closed = True          # also unblocks _on_data
            self.cond.notify_all()
        if self.client is None:
            return
        if polite and not self.client.gone:
            # pwsh acks Close(0) only once every pipeline it knows is
            # closed, so the pipelines nobody terminated go first.
            with self.cond:
                guids = [c.guid for c in self.commands.values()]
            try:
                for guid in guids:
                    self.client.close(guid, CLOSE_TIMEOUT)
                self.client.close(ZERO_GUID, CLOSE_TIMEOUT)
            except (PwshGone, AckTimeout):
                pass
        self.client.terminate(0)


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.shells = {}
        self.starting = 0
        self._stop = threading.Event()
        threading.Thread(target=self._reaper, daemon=True,
                         name="psrp-reaper").start()

    def create(self, shell, pwsh, creation):
        with self.lock:
            mine = sum(1 for s in self.shells.values()
                       if s.owner == shell.owner)
            if mine >= MAX_SHELLS_PER_USER or \
                    len(self.shells) + self.starting >= MAX_PWSH:
                raise faults.quota(
                    "The WS-Management service cannot process the request. "
                    "This user is allowed a maximum number of %d concurrent "
                    "shells, which has been exceeded. Close existing "
                    "shells or raise the quota for this user. "
                    % (MAX_SHELLS_PER_USER if mine >= MAX_SHELLS_PER_USER
                       else MAX_PWSH))
            if not shell.id or shell.id in self.shells:
                shell.id = soap.new_guid()
            self.starting += 1
        ok = False
        try:
            shell.start(pwsh, creation, "psrp shell %s" % shell.id)
            with self.lock:
                self.shells[shell.id] = shell
            ok = True
        except OSError as exc:
            raise host_process_fault(
                "The PowerShell host process could not be started "
                "(%s: %s). " % (pwsh, exc.strerror or exc))
        except AckTimeout:
            raise faults.timed_out()
        except PwshGone:
            raise host_process_fault(
                "The PowerShell host process (pwsh, pid %d) ended with "
                "status %s before the runspace pool was created; the "
                "testhost log has its stderr. "
                % (shell.client.pid, shell.client.exit_status))
        finally:
            if not ok:
                shell.close(False)
            with self.lock:
                self.starting -= 1
        return shell

    def get(self, shell_id, owner):
        shell = self.lookup(shell_id, owner)
        if shell is None:
            raise faults.shell_not_found(shell_id or "")
        shell.touch()
        return shell

    def lookup(self, shell_id, owner):
        """The shell, or None; not counted as use (Get, Enumerate)."""
        with self.lock:
            shell = self.shells.get((shell_id or "").upper())
        if shell is None or shell.owner != owner:
            return None
        return shell

    def owned_by(self, owner):
        """This user's shells, oldest first (Enumerate)."""
        with self.lock:
            shells = [s for s in self.shells.values() if s.owner == owner]
        return sorted(shells, key=lambda s: s.created)

    def delete(self, shell_id, owner):
        shell = self.get(shell_id, owner)
        with self.lock:
            self.shells.pop(shell.id, None)
        shell.close(True)

    def close_all(self):
        self._stop.set()
        with self.lock:
            shells = list(self.shells.values())
            self.shells.clear()
        for shell in shells:
            shell.close(False)

    def _reaper(self):
        # WinRM deletes a shell nobody used for its IdleTimeOut.
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self.lock:
                idle = [s for s in self.shells.values()
                        if now - s.last_used > s.idle_timeout]
                for s in idle:
                    del self.shells[s.id]
            for s in idle:
                _log("shell %s idle for %.0f s: deleted" % (
                    s.id, s.idle_timeout))
                s.close(True)


_registry = [None]
_registry_lock = threading.Lock()


def registry():
    """The one registry; made on first use.  Its pwsh children end when
    the host exits (SIGTERM makes main() return; atexit runs then)."""
    with _registry_lock:
        if _registry[0] is None:
            _registry[0] = Registry()
            atexit.register(close_all)
        return _registry[0]


def close_all():
    """End every pwsh (idempotent; main.py may call it on SIGTERM too)."""
    with _registry_lock:
        reg = _registry[0]
    if reg is not None:
        reg.close_all()


# -- WS-Man operations --------------------------------------------------------

def dispatch(req, ctx, timeout, max_env):
    """Envelope text for a request on a PowerShell resource URI; raises
    faults.WSManFault."""
    handler = HANDLERS.get(req.action)
    if handler is None:
        raise faults.action_not_supported(req.action)
    return handler(req, ctx, timeout, max_env)


def _child_text(el, local):
    child = el.find(q("rsp", local))
    return None if child is None else (child.text or "").strip()


def _lang(req, prefix, local):
    el = req.header.find(q(prefix, local))
    if el is None:
        return "en-US"
    return el.get("{http://www.w3.org/XML/1998/namespace}lang") or "en-US"


def _decode(text):
    try:
        return base64.b64decode((text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise faults.invalid_parameter()


def create(req, ctx, timeout, max_env):
    pwsh = _pwsh_or_fault(req.resource_uri)
    shell_el = req.body_child()
    if shell_el is None or shell_el.tag != q("rsp", "Shell"):
        raise faults.invalid_parameter()
    creation_el = shell_el.find("{%s}creationXml" % PS_NS)
    if creation_el is None:
        raise faults.invalid_parameter()
    creation = _decode(creation_el.text)
    try:
        if not split_fragments(creation):
            raise ValueError("empty")
    except ValueError:
        raise faults.invalid_parameter()
    idle = None
    idle_text = _child_text(shell_el, "IdleTimeOut")
    if idle_text:
        idle = xsduration.parse(idle_text)
        if idle is None:
            raise faults.invalid_parameter()
    noprofile = req.options.get("WINRS_NOPROFILE", "").upper() == "TRUE"
    rpid = min_rs = max_rs = None
    try:
        for msg in psrp_connect.reassemble(split_fragments(creation)):
            if msg.type == psrp_connect.INIT_RUNSPACEPOOL:
                rpid = msg.rpid
                min_rs, max_rs = psrp_connect.pool_size(msg.data)
    except ValueError:
        pass                    # pwsh will say; the shell never opens
    shell = Shell(
        (shell_el.get("ShellId") or "").upper(), req.resource_uri, ctx.user,
        ctx.client_ip, idle or DEFAULT_IDLE_TIMEOUT,
        "No" if noprofile else "Yes",
        _child_text(shell_el, "InputStreams") or "stdin pr",
        _child_text(shell_el, "OutputStreams") or "stdout",
        _lang(req, "w", "Locale"), _lang(req, "p", "DataLocale"))
    shell.rpid, shell.min_rs, shell.max_rs = rpid, min_rs, max_rs
    shell.session_id = req.session_id
    shell = registry().create(shell, pwsh, creation)
    scheme = "https" if getattr(ctx.config, "tls", False) else "http"
    address = "%s://%s/wsman" % (scheme, ctx.host or "localhost")
    body = (
        "<x:ResourceCreated><a:Address>%s</a:Address><a:ReferenceParameters>"
        "<w:ResourceURI>%s</w:ResourceURI><w:SelectorSet>"
        '<w:Selector Name="ShellId">%s</w:Selector></w:SelectorSet>'
        "</a:ReferenceParameters></x:ResourceCreated>"
        % (soap.text(address), soap.text(shell.uri), shell.id))
    body += shell_xml(shell)
    return soap.envelope(soap.PREFIXES_SHELL, A_CREATE + "Response",
                         req.message_id, body)


def shell_xml(shell, full=False):
    """rsp:Shell as Windows returns it for a PowerShell shell (recorded
    element order).  full: as Get and Enumerate return it, with
    MemoryUsed and ChildProcesses after ShellInactivity (recorded)."""
    t = soap.text
    now = time.monotonic()
    parts = [
        ("ShellId", shell.id), ("ResourceUri", shell.uri),
        ("Owner", shell.owner), ("ClientIP", shell.client_ip),
        ("ProcessId", str(shell.client.pid)),
        ("IdleTimeOut", xsduration.format_seconds(shell.idle_timeout)),
        ("InputStreams", shell.input_streams),
        ("OutputStreams", shell.output_streams),
        ("MaxIdleTimeOut", MAX_IDLE), ("Locale", shell.locale),
        ("DataLocale", shell.data_locale),
        ("CompressionMode", "NoCompression"),
        ("ProfileLoaded", shell.profile), ("Encoding", "UTF8"),
        ("BufferMode", shell.buffer_mode), ("State", shell.state),
        ("ShellRunTime", xsduration.format_dhms(now - shell.created)),
        ("ShellInactivity", xsduration.format_dhms(now - shell.last_used)),
    ]
    if full:
        memory, children = _group_usage(shell.client)
        parts += [("MemoryUsed", "%dMB" % memory),
                  ("ChildProcesses", str(children))]
    return '<rsp:Shell xmlns:rsp="%s">%s</rsp:Shell>' % (SHELL_NS, "".join(
        "<rsp:%s>%s</rsp:%s>" % (n, t(v), n) for n, v in parts))


def delete(req, ctx, timeout, max_env):
    registry().delete(req.selectors.get("ShellId"), ctx.user)
    return soap.envelope(soap.PREFIXES_DELETE, A_DELETE + "Response",
                         req.message_id, "")


def command(req, ctx, timeout, max_env):
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    shell.check_connected()
    line = req.body_child()
    if line is None or line.tag != q("rsp", "CommandLine"):
        raise faults.invalid_parameter()
    args = line.findall(q("rsp", "Arguments"))
    if len(args) != 1:
        raise faults.invalid_parameter()
    first = _decode(args[0].text)
    # The first fragment of CREATE_PIPELINE (or GET_COMMAND_METADATA); the
    # pipeline id is the message's PID (offset 24 of the message).
    try:
        frags = split_fragments(first)
    except ValueError:
        raise faults.invalid_parameter()
    if not frags or not frags[0][2] & START or len(frags[0][3]) < 40:
        raise faults.invalid_parameter()
    guid = str(uuid.UUID(bytes_le=bytes(frags[0][3][24:40])))
    if guid == ZERO_GUID:
        raise faults.invalid_parameter()
    command_id = (line.get("CommandId") or soap.new_guid()).upper()
    shell.start_command(command_id, guid, first)
    body = ("<rsp:CommandResponse><rsp:CommandId>%s</rsp:CommandId>"
            "</rsp:CommandResponse>" % soap.text(command_id))
    return soap.envelope(soap.PREFIXES_SHELL, A_COMMAND + "Response",
                         req.message_id, body)


def send(req, ctx, timeout, max_env):
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    shell.check_connected()
    send_el = req.body_child()
    if send_el is None or send_el.tag != q("rsp", "Send"):
        raise faults.invalid_parameter()
    for stream in send_el.findall(q("rsp", "Stream")):
        name = stream.get("Name", "stdin")
        if name not in ("stdin", "pr"):
            raise faults.invalid_parameter()
        cid = stream.get("CommandId")
        cmd = shell.command(cid) if cid else None
        data = _decode(stream.text)
        if data and cmd is None:
            shell.watch_client_pool(data)
        if data:
            shell.send(cmd, "PromptResponse" if name == "pr" else "Default",
                       data)
    shell.touch()
    return soap.envelope(soap.PREFIXES_SHELL, A_SEND + "Response",
                         req.message_id, "<rsp:SendResponse/>")


def signal_(req, ctx, timeout, max_env):
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    shell.check_connected()
    sig_el = req.body_child()
    if sig_el is None or sig_el.tag != q("rsp", "Signal"):
        raise faults.invalid_parameter()
    code = _child_text(sig_el, "Code") or ""
    if code.startswith(MS_PREFIX):
        code = code[len(MS_PREFIX):]
    cid = sig_el.get("CommandId")
    # Like the PowerShell plugin: a shell-level signal does nothing; on a
    # command crtl_c stops the pipeline and anything else closes it.
    if cid:
        cmd = shell.command(cid)
        if code == STOP_SIGNAL:
            shell.stop(cmd)
        else:
            shell.terminate(cmd)
    return soap.envelope(soap.PREFIXES_SHELL, A_SIGNAL + "Response",
                         req.message_id, "<rsp:SignalResponse/>")


def _stream(cid, fragment):
    return '<rsp:Stream Name="stdout"%s>%s</rsp:Stream>' % (
        ' CommandId="%s"' % cid if cid else "",
        base64.b64encode(fragment).decode("ascii"))


def _receive_body(cid, fragments, done):
    out = "".join(_stream(cid, f) for f in fragments)
    if done:
        out += ('<rsp:CommandState CommandId="%s" State="%s">'
                "<rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>"
                % (cid, DONE))
    return "<rsp:ReceiveResponse>%s</rsp:ReceiveResponse>" % out


def receive(req, ctx, timeout, max_env):
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    shell.check_connected()
    recv_el = req.body_child()
    if recv_el is None or recv_el.tag != q("rsp", "Receive"):
        raise faults.invalid_parameter()
    desired = recv_el.find(q("rsp", "DesiredStream"))
    cid = None if desired is None else desired.get("CommandId")
    cmd = shell.command(cid) if cid else None
    cid = cmd.id if cmd is not None else None
    # Room for the rsp:Stream elements: MaxEnvelopeSize less the largest
    # reply without them (with CommandState), and some slack.
    skeleton = len(soap.envelope(
        soap.PREFIXES_RECEIVE, A_RECEIVE + "Response", req.message_id,
        _receive_body(cid or soap.new_guid(), [], True)).encode("utf-8"))
    overhead = len(_stream(cid, b""))
    room = max_env - skeleton - 64
    got = shell.receive(cmd, timeout, room, overhead)
    shell.touch()
    if got is None:
        raise faults.timed_out()
    fragments, done = got
    return soap.envelope(soap.PREFIXES_RECEIVE, A_RECEIVE + "Response",
                         req.message_id,
                         _receive_body(cid, fragments,
                                       done and cmd is not None))


# -- Disconnect / Reconnect / Connect (MS-PSRP 3.1.5.3.16-18) ----------------

def _group_usage(client):
    """(MB resident, child processes) of a pwsh's process group, from
    /proc: the launcher and the `dotnet pwsh.dll` it starts are pwsh
    itself, anything else in the group is a child process."""
    if client is None or client.gone:
        return 0, 0
    rss_kb, members = 0, []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return 0, 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid, "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2:].split()
            ppid, pgrp = int(fields[1]), int(fields[2])
            if pgrp != client.pgid:
                continue
            with open("/proc/%d/statm" % pid, "rb") as f:
                rss_kb += int(f.read().split()[1]) * (
                    os.sysconf("SC_PAGE_SIZE") // 1024)
            members.append((pid, ppid))
        except (OSError, ValueError, IndexError):
            continue
    core = {client.pid} | {pid for pid, ppid in members
                           if ppid == client.pid}
    children = sum(1 for pid, _ in members if pid not in core)
    return rss_kb // 1024, children


def disconnect(req, ctx, timeout, max_env):
    """Disconnect (recorded: an empty DisconnectResponse body).  The shell,
    its pwsh and its pipelines go on; their output stays queued (Block: pwsh
    blocks once 8 MiB wait).  rsp:IdleTimeOut becomes the shell's idle
    timeout; rsp:BufferMode is kept and reported (Drop is not acted on)."""
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    body = req.body_child()
    if body is None or body.tag != q("rsp", "Disconnect"):
        raise faults.invalid_parameter()
    idle, mode = _child_text(body, "IdleTimeOut"), _child_text(body, "BufferMode")
    if idle:
        idle = xsduration.parse(idle)
        if idle is None or idle <= 0:
            raise faults.invalid_parameter()
    if mode and mode not in ("Block", "Drop"):
        raise faults.invalid_parameter()
    shell.check_connected()
    with shell.cond:
        shell.state = DISCONNECTED
        if idle:
            shell.idle_timeout = idle
        if mode:
            shell.buffer_mode = mode
        shell.cond.notify_all()     # a Receive still waiting ends
    _log("shell %s disconnected" % shell.id)
    return soap.envelope(soap.PREFIXES_DELETE, A_DISCONNECT + "Response",
                         req.message_id, "")


def reconnect(req, ctx, timeout, max_env):
    """Reconnect (recorded: empty body both ways): Connected again; what
    pwsh sent meanwhile comes with the next Receives.  Reconnecting a
    connected shell is accepted (unverified)."""
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    with shell.cond:
        shell.state = CONNECTED
        if req.session_id:
            shell.session_id = req.session_id
    _log("shell %s reconnected" % shell.id)
    return soap.envelope(soap.PREFIXES_DELETE, A_RECONNECT + "Response",
                         req.message_id, "")


def connect(req, ctx, timeout, max_env):
    """Connect to a disconnected pool from any client (psrp_connect.py says
    why the host answers this itself rather than pwsh)."""
    shell = registry().get(req.selectors.get("ShellId"), ctx.user)
    body = req.body_child()
    if body is None or body.tag != q("rsp", "Connect"):
        raise faults.invalid_parameter()
    xml_el = body.find("{%s}connectXml" % PS_NS)
    if xml_el is None:
        raise faults.invalid_parameter()
    try:
        messages = psrp_connect.reassemble(split_fragments(
            _decode(xml_el.text)))
    except ValueError:
        raise faults.invalid_parameter()
    with shell.cond:
        if shell.state != DISCONNECTED:
            raise faults.shell_connected_elsewhere(shell.id)
        if shell.client is None or shell.client.gone:
            raise _gone_fault(shell)
        if shell.capability is None or shell.rpid is None or \
                shell.min_rs is None:
            _log("shell %s: Connect refused: the pool never opened"
                 % shell.id)
            raise faults.invalid_parameter()
        try:
            psrp_connect.check_connect(messages, shell.rpid, shell.min_rs,
                                       shell.max_rs)
        except psrp_connect.ConnectRefused as exc:
            _log("shell %s: Connect refused: %s" % (shell.id, exc))
            raise faults.invalid_parameter()
        reply = psrp_connect.connect_response(
            shell.rpid, shell.capability, shell.min_rs, shell.max_rs)
        oids = shell.pool.reserve_oids(len(reply) + 1)
        reply_bytes = b"".join(
            FRAGMENT.pack(oid, 0, START | END, len(m)) + m
            for oid, m in zip(oids, reply))
        # The new client's first pool Receive: RUNSPACEPOOL_STATE Opened
        # (recorded).
        shell.buffered += shell.pool.inject(
            oids[-1], psrp_connect.pool_state(shell.rpid,
                                              psrp_connect.OPENED))
        shell.state = CONNECTED
        shell.session_id = req.session_id
        shell.cond.notify_all()
    shell.touch()
    _log("shell %s connected by a new client" % shell.id)
    out = ("<rsp:ConnectResponse><rsp:InputStreams>%s</rsp:InputStreams>"
           "<rsp:OutputStreams>%s</rsp:OutputStreams>"
           '<connectResponseXml xmlns="%s">%s</connectResponseXml>'
           "</rsp:ConnectResponse>"
           % (soap.text(shell.input_streams), soap.text(shell.output_streams),
              PS_NS, base64.b64encode(reply_bytes).decode("ascii")))
    return soap.envelope(soap.PREFIXES_SHELL, A_CONNECT + "Response",
                         req.message_id, out)


HANDLERS = {
    A_CREATE: create, A_DELETE: delete, A_COMMAND: command, A_SEND: send,
    A_RECEIVE: receive, A_SIGNAL: signal_, A_DISCONNECT: disconnect,
    A_RECONNECT: reconnect, A_CONNECT: connect,
}
