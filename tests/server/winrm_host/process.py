"""One WinRS command: a real process in its own process group, its output
buffered in arrival order, its stdin fed by a writer thread.

/bin/sh stands in for cmd.exe.  Everything is bounded: buffered output and
queued stdin are capped (the reader stops reading, so the process blocks on
its pipe, as it would on Windows when nobody sends Receive).
"""

import os
import signal
import subprocess
import threading
import time

from . import codepage

OUTPUT_CAP = 8 * 1024 * 1024    # buffered, not yet received output bytes
STDIN_CAP = 8 * 1024 * 1024     # queued, not yet written stdin bytes
READ_SIZE = 65536
# After the process exits, wait this long for its pipes to reach EOF (a
# background child may hold them open); then report Done regardless, as
# WinRS reports Done when the command's process ends.
EOF_GRACE = 1.0


class Command:
    def __init__(self, command_id, argv, cwd, env, cp):
        self.id = command_id
        self.cond = threading.Condition()
        self.chunks = []           # [(stream name, bytes)] not yet received
        self.buffered = 0
        self.eof = {"stdout": False, "stderr": False}
        self.exit_code = None
        self.exited_at = None
        self.closed = False        # terminated / shell deleted
        self.stdin_queue = []
        self.stdin_queued = 0
        self.stdin_end = False
        self.in_tx = codepage.input_transcoder(cp)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=cwd, env=env, close_fds=True,
            start_new_session=True)   # own process group for signals
        self.pgid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._reader, daemon=True,
                             args=("stdout", self.proc.stdout, cp)),
            threading.Thread(target=self._reader, daemon=True,
                             args=("stderr", self.proc.stderr, cp)),
            threading.Thread(target=self._waiter, daemon=True),
            threading.Thread(target=self._writer, daemon=True),
        ]
        for t in self._threads:
            t.start()

    # -- threads ---------------------------------------------------------
    def _reader(self, name, pipe, cp):
        tx = codepage.output_transcoder(cp)
        fd = pipe.fileno()
        try:
            while True:
                with self.cond:
                    while self.buffered >= OUTPUT_CAP and not self.closed:
                        self.cond.wait(0.5)
                    if self.closed:
                        break
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError:
                    data = b""
                out = tx.feed(data, final=not data)
                with self.cond:
                    if out:
                        self._append(name, out)
                    if not data:
                        self.eof[name] = True
                    self.cond.notify_all()
                if not data:
                    break
        finally:
            pipe.close()

    def _append(self, name, data):
        # Merge with the previous chunk of the same stream: fewer elements.
        if self.chunks and self.chunks[-1][0] == name:
            self.chunks[-1] = (name, self.chunks[-1][1] + data)
        else:
            self.chunks.append((name, data))
        self.buffered += len(data)

    def _waiter(self):
        rc = self.proc.wait()
        with self.cond:
            # A signal death reads as 128+N, the shell convention.
            self.exit_code = rc if rc >= 0 else 128 - rc
            self.exited_at = time.monotonic()
            self.cond.notify_all()

    def _writer(self):
        pipe = self.proc.stdin
        try:
            while True:
                with self.cond:
                    while not self.stdin_queue and not self.stdin_end \
                            and not self.closed:
                        self.cond.wait(0.5)
                    if self.closed:
                        break
                    if not self.stdin_queue and self.stdin_end:
                        break
                    data = self.stdin_queue.pop(0)
                try:
                    pipe.write(data)
                    pipe.flush()
                except (BrokenPipeError, OSError, ValueError):
                    with self.cond:
                        self.stdin_queue.clear()
                        self.stdin_queued = 0
                        self.cond.notify_all()
                    break
                with self.cond:
                    self.stdin_queued -= len(data)
                    self.cond.notify_all()
        finally:
            try:
                pipe.close()
            except (BrokenPipeError, OSError):
                pass

    # -- operations ------------------------------------------------------
    def send(self, data, end, timeout):
        """Queue client stdin (in the code page); False if the queue did not
        drain within timeout."""
        deadline = time.monotonic() + timeout
        data = self.in_tx.feed(data, final=end)
        with self.cond:
            while self.stdin_queued + len(data) > STDIN_CAP \
                    and self.stdin_queued and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.5))
            if self.stdin_end or self.exit_code is not None:
                return True   # Windows ignores input after close/exit
            if data:
                self.stdin_queue.append(data)
                self.stdin_queued += len(data)
            if end:
                self.stdin_end = True
            self.cond.notify_all()
        return True

    def _done_locked(self):
        if self.chunks or self.exit_code is None:
            return False
        if all(self.eof.values()):
            return True
        return time.monotonic() - self.exited_at >= EOF_GRACE

    def receive(self, timeout, budget, max_chunks):
        """Wait up to timeout for output.  Returns (chunks, exit_code or
        None) with at most budget raw bytes in at most max_chunks pieces,
        or None if nothing arrived in time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.chunks and not self._done_locked():
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.25))
            taken = []
            while self.chunks and budget > 0 and len(taken) < max_chunks:
                name, data = self.chunks[0]
                piece = data[:budget]
                taken.append((name, piece))
                budget -= len(piece)
                self.buffered -= len(piece)
                if len(piece) == len(data):
                    self.chunks.pop(0)
                else:
                    self.chunks[0] = (name, data[len(piece):])
            self.cond.notify_all()
            done = self._done_locked()
            return taken, (self.exit_code if done else None)

    def running(self):
        return self.exit_code is None

    def signal(self, signum):
        if self.exit_code is None:
            try:
                os.killpg(self.pgid, signum)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self):
        """Kill the process group and free the threads (terminate/Delete)."""
        self.signal(signal.SIGKILL)
        try:
            os.killpg(self.pgid, signal.SIGKILL)  # stragglers after exit
        except (ProcessLookupError, PermissionError):
            pass
        with self.cond:
            self.closed = True
            self.cond.notify_all()
