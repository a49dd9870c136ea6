"""The client side of PowerShell's OutOfProc transport, towards a
`pwsh -s` child over its stdin/stdout (docs: PROTOCOL.md section 5, "OutOfProc
framing"; the same framing pwsh uses over SSH and named pipes).

Each packet is one line of XML ending in a newline:

  | packet                                          | direction        |
  |-------------------------------------------------|------------------|
  | <Data Stream='Default' PSGuid='g'>BASE64</Data> | both             |
  | <Data Stream='PromptResponse' PSGuid='g'>..     | client -> server |
  | <DataAck PSGuid='g' />                          | server -> client |
  | <Command PSGuid='g' />  / <CommandAck .. />     | client / server  |
  | <Signal PSGuid='g' />   / <SignalAck .. />      | client / server  |
  | <Close PSGuid='g' />    / <CloseAck .. />       | client / server  |

PSGuid is lower-case GUID text, all zeros for the runspace pool, the
PowerShell (pipeline) instance id otherwise.  BASE64 is a run of whole
MS-PSRP fragments.  The client sends one Data packet per GUID and waits for
its DataAck before the next; Command, Signal and Close are answered by
their Ack.  The server sends Data whenever it likes and nobody acks it.

This module knows nothing about WS-Man: psrp_endpoint.py maps shells and
commands onto it.
"""

import base64
import binascii
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
ACK_OF = {"Data": "DataAck", "Command": "CommandAck", "Signal": "SignalAck",
          "Close": "CloseAck"}
STDERR_LOG_LINES = 200          # pwsh stderr lines copied to our log, at most
MAX_LINE = 64 * 1024 * 1024     # a longer stdout line means pwsh went mad


class PwshGone(Exception):
    """The pwsh process ended (or was never usable)."""


class AckTimeout(Exception):
    """No Ack within the time allowed."""


class OutOfProcClient:
    """One `pwsh -s` child in its own process group (session).

    on_data(psguid, data) is called on the reader thread for every Data
    packet pwsh sends, with the decoded fragment bytes; it may block, which
    stops reading (pwsh then blocks on its stdout: back-pressure).
    on_exit() is called once, on the reader thread, when stdout ends.
    """

    def __init__(self, argv, env, cwd, on_data, on_exit, log_name):
        self.log_name = log_name
        self._on_data = on_data
        self._on_exit = on_exit
        self._cond = threading.Condition()
        self._acks = {}             # (ack kind, guid) -> count received
        self._busy = set()          # (kind, guid) with a packet in flight
        self._write_lock = threading.Lock()
        self.gone = False
        self.exit_status = None
        self.ending = False         # we asked it to end: stop echoing stderr
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd, env=env, close_fds=True,
            start_new_session=True)
        self.pid = self.proc.pid
        self.pgid = self.proc.pid
        threading.Thread(target=self._reader, daemon=True,
                         name="pwsh-%d-out" % self.pid).start()
        threading.Thread(target=self._stderr_reader, daemon=True,
                         name="pwsh-%d-err" % self.pid).start()

    def _log(self, text):
        sys.stderr.write("testhost: %s: %s\n" % (self.log_name, text))

    # -- reading ---------------------------------------------------------
    def _reader(self):
        out = self.proc.stdout
        try:
            while True:
                line = out.readline(MAX_LINE)
                if not line:
                    break
                line = line.strip()
                if line:
                    self._packet(line)
        except (OSError, ValueError) as exc:
            self._log("reading pwsh stdout failed: %s" % exc)
        finally:
            try:
                rc = self.proc.wait(5)
            except subprocess.TimeoutExpired:
                rc = None
            with self._cond:
                self.gone = True
                self.exit_status = rc
                self._cond.notify_all()
            self._log("pwsh (pid %d) ended, status %s" % (self.pid, rc))
            try:
                self._on_exit()
            except Exception as exc:   # a callback bug must not hang us
                self._log("on_exit failed: %r" % exc)

    def _packet(self, line):
        try:
            el = ET.fromstring(line)
        except ET.ParseError:
            # pwsh writes errors it cannot frame as plain text.
            self._log("pwsh said: %s" % line[:2000].decode("utf-8",
                                                           "replace"))
            return
        guid = (el.get("PSGuid") or "").lower()
        if el.tag == "Data":
            try:
                data = base64.b64decode(el.text or "", validate=True)
            except (binascii.Error, ValueError):
                self._log("bad base64 in a Data packet from pwsh")
                return
            self._on_data(guid, data)
        elif el.tag in ACK_OF.values():
            with self._cond:
                key = (el.tag, guid)
                self._acks[key] = self._acks.get(key, 0) + 1
                self._cond.notify_all()
        else:
            self._log("unexpected packet from pwsh: %s" % el.tag)

    def _stderr_reader(self):
        count = 0
        for line in self.proc.stderr:
            # Closing stdin makes pwsh -s complain ("An unknown element ''
            # was received"): expected then, so not logged.
            if count < STDERR_LOG_LINES and not self.ending:
                self._log("pwsh stderr: %s" % line.rstrip().decode(
                    "utf-8", "replace"))
            count += 1
        self.proc.stderr.close()

    # -- writing ---------------------------------------------------------
    def _write(self, text):
        with self._write_lock:
            try:
                self.proc.stdin.write(text.encode("utf-8"))
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError, ValueError):
                raise PwshGone()

    def _exchange(self, kind, guid, line, timeout):
        """Write one packet and wait for its Ack.  At most one packet of
        each kind per GUID is in flight (PROTOCOL.md 5, step 1)."""
        deadline = time.monotonic() + timeout
        ack = (ACK_OF[kind], guid)
        with self._cond:
            while (kind, guid) in self._busy and not self.gone:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AckTimeout()
                self._cond.wait(left)
            if self.gone:
                raise PwshGone()
            self._busy.add((kind, guid))
            want = self._acks.get(ack, 0) + 1
        try:
            self._write(line)
            with self._cond:
                while self._acks.get(ack, 0) < want:
                    if self.gone:
                        raise PwshGone()
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise AckTimeout()
                    self._cond.wait(left)
        finally:
            with self._cond:
                self._busy.discard((kind, guid))
                self._cond.notify_all()

    def send_data(self, guid, data, timeout, stream="Default"):
        line = "<Data Stream='%s' PSGuid='%s'>%s</Data>\n" % (
            stream, guid, base64.b64encode(data).decode("ascii"))
        self._exchange("Data", guid, line, timeout)

    def _simple(self, kind, guid, timeout):
        self._exchange(kind, guid, "<%s PSGuid='%s' />\n" % (kind, guid),
                       timeout)

    def command(self, guid, timeout):
        self._simple("Command", guid, timeout)

    def signal(self, guid, timeout):
        self._simple("Signal", guid, timeout)

    def close(self, guid, timeout):
        self._simple("Close", guid, timeout)

    # -- ending ----------------------------------------------------------
    def terminate(self, grace):
        """Close stdin (pwsh -s exits on EOF), wait up to grace seconds,
        then kill the whole process group."""
        self.ending = True
        # No write lock here: a writer stuck on a full pipe must not keep
        # us from killing pwsh (its write then fails and is reported).
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError):
            pass
        if grace > 0:
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        # The group, not just pwsh: anything it started goes too.
        self.ending = True
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self._log("pwsh (pid %d) survived SIGKILL" % self.pid)
        # The launcher is gone, but the `dotnet pwsh.dll` it started may
        # still be dying; its end closes our stdout pipe, so wait for EOF.
        deadline = time.monotonic() + 5
        with self._cond:
            while not self.gone and time.monotonic() < deadline:
                self._cond.wait(0.1)
            self._cond.notify_all()
