#!/usr/bin/python3
"""pywinrm (Debian python3-winrm) against tests/server/testhost.

An independent client checks the test host: if pywinrm, written against
real Windows, gets exact bytes and exit codes back, the host speaks WinRS
well enough for winrsh's own tests to rely on it.  /bin/sh stands in for
cmd.exe on the host, so commands are POSIX shell.

Run: /usr/bin/python3 tests/integration/test_pywinrm.py
"""

import base64
import os
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import winrm  # noqa: E402
import xmltodict  # noqa: E402  (a dependency of python3-winrm)
from winrm.exceptions import (InvalidCredentialsError,  # noqa: E402
                              WinRMError, WinRMTransportError)

from testhost_proc import TestHost, run_suite  # noqa: E402

USER, PASSWORD = "alice", "Secret123"
SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
CMD_URI = SHELL_NS + "/cmd"


def send_stdin(protocol, shell_id, command_id, data, end):
    """pywinrm 0.3 has no stdin API: build the WinRS Send ourselves."""
    req = {"env:Envelope": protocol._get_soap_header(
        resource_uri=CMD_URI, action=SHELL_NS + "/Send", shell_id=shell_id)}
    stream = {"@Name": "stdin", "@CommandId": command_id,
              "#text": base64.b64encode(data).decode("ascii")}
    if end:
        stream["@End"] = "true"
    req["env:Envelope"]["env:Body"] = {"rsp:Send": {"rsp:Stream": stream}}
    return protocol.send_message(xmltodict.unparse(req))


class PyWinRM(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = TestHost("--auth", "basic", "--allow-unencrypted",
                            "--user", "%s:%s" % (USER, PASSWORD))

    @classmethod
    def tearDownClass(cls):
        cls.host.stop()

    def protocol(self, **kw):
        return winrm.Protocol(self.host.url, transport="basic",
                              username=USER, password=PASSWORD, **kw)

    def run_in_shell(self, command, args=(), stdin=None, **shell_kw):
        p = self.protocol()
        shell = p.open_shell(**shell_kw)
        try:
            cid = p.run_command(shell, command, list(args))
            if stdin is not None:
                send_stdin(p, shell, cid, stdin, end=True)
            out = p.get_command_output(shell, cid)
            p.cleanup_command(shell, cid)
            return out
        finally:
            p.close_shell(shell)

    def test_session_echo(self):
        s = winrm.Session(self.host.url, auth=(USER, PASSWORD),
                          transport="basic")
        r = s.run_cmd("echo", ["hello"])
        self.assertEqual(r.std_out, b"hello\n")
        self.assertEqual(r.std_err, b"")
        self.assertEqual(r.status_code, 0)

    def test_exit_code(self):
        self.assertEqual(self.run_in_shell("exit 7"), (b"", b"", 7))

    def test_stderr_and_exit_code(self):
        self.assertEqual(self.run_in_shell("echo out; echo err >&2; exit 3"),
                         (b"out\n", b"err\n", 3))

    def test_stdin(self):
        self.assertEqual(self.run_in_shell("cat", stdin=b"line1\nline2\n"),
                         (b"line1\nline2\n", b"", 0))

    def test_stdin_in_two_sends(self):
        p = self.protocol()
        shell = p.open_shell(codepage=65001)
        try:
            cid = p.run_command(shell, "cat")
            send_stdin(p, shell, cid, b"first ", end=False)
            send_stdin(p, shell, cid, b"second", end=True)
            self.assertEqual(p.get_command_output(shell, cid),
                             (b"first second", b"", 0))
        finally:
            p.close_shell(shell)

    def test_stdin_decoded_from_codepage(self):
        # 0x82 is e-acute in cp437; the process sees UTF-8 (2 bytes) + \n.
        self.assertEqual(self.run_in_shell("wc -c", stdin=b"\x82\n",
                                           codepage=437),
                         (b"3\n", b"", 0))

    def test_environment(self):
        self.assertEqual(
            self.run_in_shell('printf %s "$WINRSH_VAR"',
                              env_vars={"WINRSH_VAR": "a b & c"}),
            (b"a b & c", b"", 0))

    def test_working_directory(self):
        with tempfile.TemporaryDirectory() as d:
            real = os.path.realpath(d)
            self.assertEqual(self.run_in_shell("pwd", working_directory=real),
                             (real.encode() + b"\n", b"", 0))

    def test_codepage_437(self):
        # e-acute -> 0x82; the euro sign has no cp437 form -> '?'.
        self.assertEqual(self.run_in_shell("printf", ["'\u00e9\u20ac\\n'"],
                                           codepage=437),
                         (b"\x82?\n", b"", 0))

    def test_codepage_65001(self):
        self.assertEqual(self.run_in_shell("printf", ["'\u00e9\u20ac\\n'"],
                                           codepage=65001),
                         ("\u00e9\u20ac\n".encode("utf-8"), b"", 0))

    def test_long_output_byte_exact(self):
        size = 5 * 1000 * 1000
        expected = bytes(i % 251 for i in range(size))
        before = self._count("Receive")
        gen = ("/usr/bin/python3 -c 'import sys; sys.stdout.buffer.write("
               "bytes(i %% 251 for i in range(%d)))'" % size)
        out, err, rc = self.run_in_shell(gen, codepage=65001)
        self.assertEqual((len(out), err, rc), (size, b"", 0))
        self.assertTrue(out == expected, "5 MB output differs")
        # pywinrm asks for 153600-byte envelopes: many Receives needed.
        self.assertGreater(self._count("Receive") - before, 30)
        # ... and every reply fits the envelope size pywinrm asked for.
        sizes = [r["length"] for r in self.host.requests()
                 if (r.get("action") or "").endswith("/Receive")]
        self.assertLessEqual(max(sizes), 153600)

    def test_slow_command_timed_out_then_retried(self):
        p = self.protocol(operation_timeout_sec=1, read_timeout_sec=5)
        shell = p.open_shell()
        try:
            before = self._count("Receive", status=500)
            start = time.monotonic()
            cid = p.run_command(shell, "sleep 3; echo late")
            self.assertEqual(p.get_command_output(shell, cid),
                             (b"late\n", b"", 0))
            self.assertGreaterEqual(time.monotonic() - start, 2.5)
            # At least one Receive ended in the w:TimedOut fault (HTTP 500).
            self.assertGreaterEqual(self._count("Receive", status=500)
                                    - before, 1)
        finally:
            p.close_shell(shell)

    def test_terminate_then_receive_is_bad_command(self):
        p = self.protocol()
        shell = p.open_shell()
        try:
            cid = p.run_command(shell, "sleep 30")
            p.cleanup_command(shell, cid)   # Signal terminate
            with self.assertRaises(WinRMError) as cm:
                p.get_command_output(shell, cid)
            self.assertIn("2150858843", str(cm.exception))
        finally:
            p.close_shell(shell)

    def test_unknown_shell(self):
        p = self.protocol()
        with self.assertRaises(WinRMError) as cm:
            p.run_command(str(uuid.uuid4()).upper(), "echo", ["x"])
        self.assertIn("2150858843", str(cm.exception))
        self.assertIn("shell was not found", str(cm.exception))

    def test_wrong_password(self):
        p = winrm.Protocol(self.host.url, transport="basic",
                           username=USER, password="wrong")
        with self.assertRaises(InvalidCredentialsError):
            p.open_shell()

    def _count(self, action_suffix, status=None):
        return sum(1 for r in self.host.requests()
                   if (r.get("action") or "").endswith("/" + action_suffix)
                   and (status is None or r.get("status") == status))


class Unencrypted(unittest.TestCase):
    """Without --allow-unencrypted, Basic over HTTP is refused with 401
    even with the right password, as Windows does."""

    def test_basic_refused_over_http(self):
        host = TestHost("--user", "%s:%s" % (USER, PASSWORD))
        try:
            p = winrm.Protocol(host.url, transport="basic",
                               username=USER, password=PASSWORD)
            with self.assertRaises((InvalidCredentialsError,
                                    WinRMTransportError)):
                p.open_shell()
            statuses = [r["status"] for r in host.requests()]
            self.assertTrue(statuses and all(s == 401 for s in statuses),
                            statuses)
        finally:
            host.stop()


if __name__ == "__main__":
    sys.exit(run_suite([PyWinRM, Unencrypted]))
