"""WinRS shells: the state behind the cmd shell resource URI.

A Shell holds the Create-time settings (environment, working directory,
code page, idle timeout) and its Commands.  The Registry owns all shells,
enforces the WinRS quotas and reaps idle shells.
"""

import os
import shlex
import signal
import threading
import time

from . import codepage, faults, soap
from .process import Command

# WinRS quotas (MS-WSMV 2.2.4.42 WinrsType defaults).
MAX_SHELLS_PER_USER = 30
MAX_PROCESSES_PER_SHELL = 25
MAX_SHELLS = 200                 # whole host, so nothing grows unbounded
DEFAULT_IDLE_TIMEOUT = 7200.0    # what Server 2016+ reports (PT7200.000S)


class Shell:
    def __init__(self, shell_id, owner, client_ip, env, cwd, cp,
                 idle_timeout, input_streams, output_streams):
        self.id = shell_id
        self.owner = owner
        self.client_ip = client_ip
        self.env = env                  # [(name, value)] in request order
        self.cwd = cwd
        self.codepage = cp
        self.idle_timeout = idle_timeout
        self.input_streams = input_streams
        self.output_streams = output_streams
        self.created = time.monotonic()
        self.last_used = self.created
        self.commands = {}
        self.lock = threading.Lock()

    def touch(self):
        self.last_used = time.monotonic()

    def command(self, command_id):
        with self.lock:
            cmd = self.commands.get((command_id or "").upper())
        if cmd is None:
            raise faults.command_not_found()
        return cmd

    def start(self, command_id, command, arguments, skip_cmd_shell):
        """Start "<command> <args...>" like cmd.exe /c would."""
        line = " ".join([command] + list(arguments))
        cwd = self.cwd or os.environ.get("HOME") or "/"
        if not os.path.isdir(cwd):
            raise faults.directory_invalid()
        env = dict(os.environ)
        env.update(self.env)
        if skip_cmd_shell:
            # WINRS_SKIP_CMD_SHELL: the command line goes to the program
            # directly, no shell in between.
            try:
                argv = shlex.split(line)
            except ValueError:
                raise faults.invalid_parameter()
            if not argv:
                raise faults.invalid_parameter()
        else:
            argv = ["/bin/sh", "-c", line]
        with self.lock:
            running = sum(1 for c in self.commands.values() if c.running())
            if running >= MAX_PROCESSES_PER_SHELL:
                raise faults.quota(
                    "The Windows Remote Shell cannot process the request. "
                    "The shell has reached the maximum number of processes "
                    "it can run (MaxProcessesPerShell). ")
            if command_id in self.commands:
                raise faults.invalid_parameter()
            try:
                cmd = Command(command_id, argv, cwd, env, self.codepage)
            except FileNotFoundError:
                raise faults.file_not_found()
            except (PermissionError, NotADirectoryError):
                raise faults.win32_error(2147942405, "Access is denied. ")
            self.commands[command_id] = cmd
        return cmd

    def forget(self, command_id):
        with self.lock:
            cmd = self.commands.pop(command_id, None)
        if cmd is not None:
            cmd.close()

    def close(self):
        with self.lock:
            cmds = list(self.commands.values())
            self.commands.clear()
        for cmd in cmds:
            cmd.close()


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.shells = {}
        self._stop = threading.Event()
        threading.Thread(target=self._reaper, daemon=True).start()

    def create(self, owner, client_ip, shell_id, env, cwd, cp, idle_timeout,
               input_streams, output_streams):
        if codepage.codec_name(cp) is None:
            raise faults.invalid_parameter()
        with self.lock:
            mine = sum(1 for s in self.shells.values() if s.owner == owner)
            if mine >= MAX_SHELLS_PER_USER or len(self.shells) >= MAX_SHELLS:
                # Text from MS-WSMV 3.1.4.5.2.1.
                raise faults.quota(
                    "The Windows Remote Shell cannot process the request. "
                    "The server is already executing the maximum number of "
                    "concurrent shells a user can remotely open on the same "
                    "system. Retry later. ")
            shell_id = (shell_id or soap.new_guid()).upper()
            if shell_id in self.shells:
                shell_id = soap.new_guid()
            shell = Shell(shell_id, owner, client_ip, env, cwd, cp,
                          idle_timeout or DEFAULT_IDLE_TIMEOUT,
                          input_streams, output_streams)
            self.shells[shell_id] = shell
        return shell

    def get(self, shell_id, owner):
        """The shell, touched; another user's shell is "not found" too."""
        with self.lock:
            shell = self.shells.get((shell_id or "").upper())
        if shell is None or shell.owner != owner:
            raise faults.shell_not_found(shell_id or "")
        shell.touch()
        return shell

    def delete(self, shell_id, owner):
        shell = self.get(shell_id, owner)
        with self.lock:
            self.shells.pop(shell.id, None)
        shell.close()

    def close_all(self):
        self._stop.set()
        with self.lock:
            shells = list(self.shells.values())
            self.shells.clear()
        for shell in shells:
            shell.close()

    def _reaper(self):
        # WinRS deletes a shell nobody used for IdleTimeOut.
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self.lock:
                idle = [s for s in self.shells.values()
                        if now - s.last_used > s.idle_timeout]
                for s in idle:
                    del self.shells[s.id]
            for s in idle:
                s.close()


SIGNALS = {
    "ctrl_c": signal.SIGINT,
    "ctrl_break": signal.SIGQUIT,
}
