#!/usr/bin/python3
"""Fixture faithfulness: replay recorded pypsrp requests against the
testhost and compare each reply's XML structure with what real Windows
answered (shared/fixtures/pypsrp/responses).

Compared: element names with their prefixes, in order; attribute names
including the xmlns declarations; the HTTP status.  Not compared: text
(ids, dates, output).  p:ActivityId is left out: Windows adds it only
when ETW tracing is on.  Recorded ids are replaced by the ones this host
hands out; "cmd.exe /c X" becomes "X" because /bin/sh stands in for cmd.

Run: /usr/bin/python3 tests/integration/test_testhost_shapes.py
"""

import base64
import http.client
import os
import re
import sys
import time
import unittest
import uuid
import xml.dom.minidom
from urllib.parse import urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import yaml  # noqa: E402

from testhost_proc import TestHost, run_suite  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE_DIRS = [
    os.environ.get("WINRSH_PYPSRP_FIXTURES", ""),
    os.path.join(HERE, "..", "fixtures", "pypsrp", "responses"),
    os.path.join(HERE, "..", "..", "..", "shared", "fixtures", "pypsrp",
                 "responses"),
]
USER, PASSWORD = "vagrant", "vagrant"
IGNORED = {"p:ActivityId"}
GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-" \
       r"[0-9A-Fa-f]{12}"


def fixture(name):
    """Path of a recording: the repository's copy first, else the shared
    one (the repository may hold only a subset)."""
    for d in FIXTURE_DIRS:
        path = os.path.join(d, name) if d else ""
        if path and os.path.isfile(path):
            return path
    raise RuntimeError("recording %s not found in %s" % (name, FIXTURE_DIRS))


def shape(node):
    """(prefixed name, sorted attribute names, [child shapes])."""
    attrs = tuple(sorted(node.attributes.keys())) if node.attributes else ()
    kids = [shape(c) for c in node.childNodes
            if c.nodeType == c.ELEMENT_NODE and c.tagName not in IGNORED]
    return (node.tagName, attrs, kids)


def diff(want, got, path=""):
    """First difference between two shapes, as text, or None."""
    here = path + "/" + want[0]
    if want[0] != got[0]:
        return "%s: element %s, want %s" % (path or "/", got[0], want[0])
    if want[1] != got[1]:
        return "%s: attributes %s, want %s" % (here, got[1], want[1])
    if len(want[2]) != len(got[2]):
        return "%s: children %s, want %s" % (
            here, [k[0] for k in got[2]], [k[0] for k in want[2]])
    for w, g in zip(want[2], got[2]):
        d = diff(w, g, here)
        if d:
            return d
    return None


def adapt_command(doc):
    """cmd.exe /c X -> X: the host runs commands with /bin/sh."""
    command = doc.getElementsByTagName("rsp:Command")
    if not command or command[0].firstChild is None:
        return
    if command[0].firstChild.data.lower() != "cmd.exe":
        return
    args = doc.getElementsByTagName("rsp:Arguments")
    words = [a.firstChild.data if a.firstChild else "" for a in args]
    words[0] = re.sub(r"^/c\s*", "", words[0], flags=re.I)
    words = [w for w in words if w]
    command[0].firstChild.data = words[0]
    for a, w in zip(args, words[1:] + [None] * len(args)):
        if w is None:
            a.parentNode.removeChild(a)
        else:
            a.firstChild.data = w


class HostCase(unittest.TestCase):
    """One testhost and one kept-alive connection per test class."""

    @classmethod
    def setUpClass(cls):
        cls.host = TestHost("--allow-unencrypted",
                            "--user", "%s:%s" % (USER, PASSWORD))
        u = urlparse(cls.host.url)
        cls.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        cls.auth = "Basic " + base64.b64encode(
            ("%s:%s" % (USER, PASSWORD)).encode()).decode()

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.host.stop()

    def post(self, body):
        self.conn.request("POST", "/wsman", body=body, headers={
            "Authorization": self.auth,
            "Content-Type": "application/soap+xml;charset=UTF-8"})
        resp = self.conn.getresponse()
        data = resp.read()
        self.assertEqual(resp.getheader("Content-Type"),
                         "application/soap+xml;charset=UTF-8")
        self.assertEqual(int(resp.getheader("Content-Length")), len(data))
        return resp.status, data

    def replay(self, name):
        with open(fixture(name), encoding="utf-8") as f:
            messages = yaml.safe_load(f)["messages"]
        ids = {}                     # recorded id -> id this host gave out
        for i, msg in enumerate(messages):
            req = msg["request"]
            for old, new in ids.items():
                req = req.replace(old, new)
            req = re.sub(r"<wsa:To>[^<]*</wsa:To>",
                         "<wsa:To>%s</wsa:To>" % self.host.url, req)
            message_id = "uuid:" + str(uuid.uuid4()).upper()
            req = re.sub(r"(<wsa:MessageID>)[^<]*(</wsa:MessageID>)",
                         r"\g<1>%s\g<2>" % message_id, req)
            doc = xml.dom.minidom.parseString(req)
            adapt_command(doc)
            if "/Receive<" in req:
                time.sleep(0.5)      # let the command finish, as recorded
            status, body = self.post(doc.toxml(encoding="utf-8"))

            want_status = (msg.get("transport_error") or {}).get("code", 200)
            where = "%s message %d" % (name, i)
            self.assertEqual(status, want_status, where + ": " + body.decode())
            want = xml.dom.minidom.parseString(msg["response"])
            got = xml.dom.minidom.parseString(body)
            problem = diff(shape(want.documentElement),
                           shape(got.documentElement))
            self.assertIsNone(problem, "%s: %s\n%s" % (where, problem,
                                                       body.decode()))
            self.check_headers(got, message_id, where)
            self.learn_ids(msg["response"], body.decode(), ids)

    def check_headers(self, doc, message_id, where):
        def text(tag):
            return doc.getElementsByTagName(tag)[0].firstChild.data
        self.assertEqual(text("a:RelatesTo"), message_id, where)
        self.assertRegex(text("a:MessageID"), "^uuid:%s$" % GUID.replace(
            "a-f", ""), where)
        self.assertEqual(text("a:MessageID"), text("a:MessageID").upper()
                         .replace("UUID:", "uuid:"), where)
        self.assertEqual(
            text("a:To"),
            "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous")

    @staticmethod
    def learn_ids(recorded, ours, ids):
        for pattern in (r'Name="ShellId">(%s)<' % GUID,
                        r"<rsp:CommandId>(%s)<" % GUID):
            r, o = re.search(pattern, recorded), re.search(pattern, ours)
            if r and o:
                ids[r.group(1)] = o.group(1)



class Replay(HostCase):
    def test_winrs_standard(self):
        self.replay("test_winrs_standard.yml")

    def test_winrs_stderr_rc(self):
        self.replay("test_winrs_stderr_rc.yml")

    def test_winrs_bad_cmd_id(self):
        self.replay("test_winrs_bad_cmd_id.yml")


def request(url, action, body="", shell_id=None, timeout="PT20S",
            max_envelope="153600"):
    """A minimal WS-Man request, written the way pypsrp writes them."""
    sel = ""
    if shell_id:
        sel = ('<wsman:SelectorSet><wsman:Selector Name="ShellId">%s'
               "</wsman:Selector></wsman:SelectorSet>" % shell_id)
    return (
        '<s:Envelope xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/'
        'windows/shell" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">'
        '<s:Header><wsa:Action s:mustUnderstand="true">%s</wsa:Action>'
        '<wsman:MaxEnvelopeSize s:mustUnderstand="true">%s'
        "</wsman:MaxEnvelopeSize><wsa:MessageID>uuid:%s</wsa:MessageID>"
        "<wsman:OperationTimeout>%s</wsman:OperationTimeout>"
        '<wsman:ResourceURI s:mustUnderstand="true">http://schemas.microsoft'
        ".com/wbem/wsman/1/windows/shell/cmd</wsman:ResourceURI>"
        "<wsa:To>%s</wsa:To>%s</s:Header><s:Body>%s</s:Body></s:Envelope>"
        % (action, max_envelope, str(uuid.uuid4()).upper(), timeout, url,
           sel, body)).encode()


SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
NEW_SHELL = ("<rsp:Shell><rsp:InputStreams>stdin</rsp:InputStreams>"
             "<rsp:OutputStreams>stdout stderr</rsp:OutputStreams>"
             "</rsp:Shell>")


class Faults(HostCase):
    """Faults the recordings show, provoked on purpose; each compared with
    the recorded Windows fault of the same kind."""

    def recorded(self, name, code):
        with open(fixture(name), encoding="utf-8") as f:
            for msg in yaml.safe_load(f)["messages"]:
                if 'Code="%s"' % code in (msg.get("response") or ""):
                    return msg["response"]
        raise AssertionError("no fault %s in %s" % (code, name))

    def assert_like(self, status, body, name, code):
        self.assertEqual(status, 500, body)
        want = xml.dom.minidom.parseString(self.recorded(name, code))
        got = xml.dom.minidom.parseString(body)
        problem = diff(shape(want.documentElement), shape(got.documentElement))
        self.assertIsNone(problem, "%s\n%s" % (problem, body.decode()))
        self.assertIn(('Code="%s"' % code).encode(), body)

    def shell_and_command(self, command):
        status, body = self.post(request(self.host.url, CREATE, NEW_SHELL))
        self.assertEqual(status, 200)
        shell_id = re.search(r'Name="ShellId">(%s)<' % GUID,
                             body.decode()).group(1)
        status, body = self.post(request(
            self.host.url, SHELL + "Command", "<rsp:CommandLine><rsp:Command>"
            "%s</rsp:Command></rsp:CommandLine>" % command, shell_id))
        self.assertEqual(status, 200)
        cid = re.search(r"<rsp:CommandId>(%s)<" % GUID, body.decode())
        return shell_id, cid.group(1)

    def receive(self, shell_id, cid, timeout):
        return self.post(request(
            self.host.url, SHELL + "Receive", '<rsp:Receive><rsp:DesiredStream'
            ' CommandId="%s">stdout stderr</rsp:DesiredStream></rsp:Receive>'
            % cid, shell_id, timeout=timeout))

    def test_timed_out(self):
        shell_id, cid = self.shell_and_command("sleep 5")
        start = time.monotonic()
        status, body = self.receive(shell_id, cid, "PT0.500S")
        self.assertLess(time.monotonic() - start, 3)
        self.assert_like(status, body, "test_psrp_long_running_cmdlet.yml",
                         2150858793)

    def test_invalid_timeout(self):
        shell_id, cid = self.shell_and_command("true")
        status, body = self.receive(shell_id, cid, "PT-1S")
        self.assert_like(status, body,
                         "test_psrp_is_alive_other_wsman_error.yml",
                         2150858767)

    def test_unknown_shell(self):
        status, body = self.receive(str(uuid.uuid4()).upper(),
                                    str(uuid.uuid4()).upper(), "PT5S")
        self.assert_like(status, body, "test_winrs_bad_cmd_id.yml",
                         2150858843)
        self.assertIn(b"shell was not found on the server", body)

    def test_request_too_large(self):
        status, body = self.post(request(
            self.host.url, CREATE, NEW_SHELL.replace(
                "</rsp:Shell>", "<!--%s--></rsp:Shell>" % ("x" * 520000))))
        self.assertEqual(status, 500)
        self.assertIn(b"<s:Value>w:EncodingLimit</s:Value>", body)
        self.assertIn(b"faultDetail/ServiceEnvelopeLimit", body)

    def test_bad_xml_and_unknown_action(self):
        status, body = self.post(b"<s:Envelope")
        self.assertEqual(status, 500)
        self.assertIn(b"<s:Fault>", body)
        status, body = self.post(request(self.host.url, SHELL + "Bogus"))
        self.assertEqual(status, 500)
        self.assertIn(b"a:ActionNotSupported", body)
        # The host is still there and still talks.
        status, _ = self.post(request(self.host.url, CREATE, NEW_SHELL))
        self.assertEqual(status, 200)


class Lifecycle(unittest.TestCase):
    def test_sigterm_kills_commands(self):
        host = TestHost("--allow-unencrypted", "--user", "u:p")
        try:
            u = urlparse(host.url)
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            hdrs = {"Authorization": "Basic " + base64.b64encode(
                b"u:p").decode(), "Content-Type": "application/soap+xml"}

            def post(body):
                conn.request("POST", "/wsman", body=body, headers=hdrs)
                return conn.getresponse().read().decode()

            shell_id = re.search(r'Name="ShellId">(%s)<' % GUID, post(
                request(host.url, CREATE, NEW_SHELL))).group(1)
            cid = re.search(r"<rsp:CommandId>(%s)<" % GUID, post(request(
                host.url, SHELL + "Command", "<rsp:CommandLine><rsp:Command>"
                "echo $$; sleep 60</rsp:Command></rsp:CommandLine>",
                shell_id))).group(1)
            out = post(request(
                host.url, SHELL + "Receive", '<rsp:Receive><rsp:DesiredStream'
                ' CommandId="%s">stdout</rsp:DesiredStream></rsp:Receive>'
                % cid, shell_id, timeout="PT5S"))
            data = re.search(r'Name="stdout"[^>]*>([^<]+)<', out).group(1)
            pgid = int(base64.b64decode(data))
            conn.close()
        finally:
            host.stop()
        for _ in range(50):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        self.fail("process group %d survived SIGTERM" % pgid)


if __name__ == "__main__":
    sys.exit(run_suite([Replay, Faults, Lifecycle]))
