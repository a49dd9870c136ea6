#!/usr/bin/python3
"""The testhost's answers to what a client does with PowerShell shells
beyond running pipelines: Disconnect, Reconnect, Connect, and Get and
Enumerate of .../windows/shell (and .../windows/shell/Command), compared
with Windows by replaying the requests pypsrp sent to it:

  test_psrp_disconnect_runspaces.yml   Create x2, Disconnect, Reconnect,
                                       Enumerate shells and commands,
                                       Connect from a new client, Delete
  test_psrp_is_alive_invalid_selectors.yml   Get (alive), Get (gone:
                                       w:InvalidSelectors, Shell provider)
  test_psrp_is_alive_other_wsman_error.yml   Get with a bad timeout

Each reply's structure (prefixed names, attribute names, HTTP status) must
be Windows'; the connectResponseXml must hold the same PSRP messages, byte
for byte, as Windows sent (pwsh 7.6 reports the same SESSION_CAPABILITY
as PowerShell 5.1).  Pool Receives are matched by the PSRP messages they
carry, since the host may deliver in one Receive what Windows spread over
several (README, "Differences from Windows").  tests/unit/
test_connect_testhost.c drives the same operations through winrsh.

Skipped, with the reason printed, when no pwsh is found.

Run: /usr/bin/python3 tests/integration/test_testhost_connect.py
"""

import base64
import collections
import os
import re
import struct
import sys
import unittest
import xml.dom.minidom

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import yaml  # noqa: E402

from testhost_proc import TestHost, run_suite  # noqa: E402
from test_testhost_psrp import (  # noqa: E402
    PASSWORD, RUNSPACE_AVAILABILITY, SESSION_CAPABILITY, SET_MAX_RUNSPACES,
    SHELL, USER, ZERO, Client, Pool, fault_code, final_state, fixture,
    gone_within, session_capability, shape)
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

PWSH, NO_PWSH_REASON = find_pwsh()
FRAGMENT = struct.Struct(">QQBI")
RUNSPACEPOOL_STATE = 0x00021005
STREAM_RE = re.compile(r"<rsp:Stream [^>]*>([^<]*)</rsp:Stream>")
SHELL_ID_RE = re.compile(
    r'<(?:wsman|w):Selector Name="ShellId">([^<]+)<')
CONNECT_XML_RE = re.compile(r"<connectResponseXml[^>]*>([^<]*)<")


def action_of(text):
    return re.search(r"Action[^>]*>([^<]*)<", text).group(1).rsplit(
        "/", 1)[-1]


def fragments(data):
    out, i = [], 0
    while i < len(data):
        oid, fid, flags, n = FRAGMENT.unpack_from(data, i)
        i += FRAGMENT.size
        out.append((oid, fid, flags, data[i:i + n]))
        i += n
    return out


def messages_in(text):
    """[(type, whole message bytes)] of the rsp:Stream elements of a
    Receive reply (messages whole in one reply)."""
    out, parts = [], {}
    for m in STREAM_RE.finditer(text):
        for oid, _fid, flags, blob in fragments(base64.b64decode(m.group(1))):
            if flags & 1:
                parts[oid] = b""
            parts[oid] = parts.get(oid, b"") + blob
            if flags & 2:
                msg = parts.pop(oid)
                out.append((struct.unpack_from("<I", msg, 4)[0], msg))
    return out


def tree(body):
    return shape(xml.dom.minidom.parseString(body).documentElement,
                 collapse=True)


class Replay(unittest.TestCase):
    host = None

    @classmethod
    def setUpClass(cls):
        if PWSH is None:
            raise unittest.SkipTest("no pwsh: %s" % NO_PWSH_REASON)
        cls.host = TestHost("--user", "%s:%s" % (USER, PASSWORD),
                            "--allow-unencrypted")

    @classmethod
    def tearDownClass(cls):
        if cls.host is not None:
            cls.host.stop()

    def setUp(self):
        self.client = Client(self.host.url)
        self.seen = collections.defaultdict(collections.Counter)

    def tearDown(self):
        self.client.close()

    def diff(self, want, got, where):
        if want != got:
            self.fail("%s: reply structure differs from Windows'\n"
                      "Windows: %r\nhost:    %r" % (where, want, got))

    def receive_like(self, i, req, recorded):
        """A recorded pool Receive: skip it if we already received what it
        carried; else Receive until we have, comparing the first reply."""
        shell = SHELL_ID_RE.search(req).group(1)
        want = collections.Counter(t for t, _ in messages_in(recorded))
        if not want - self.seen[shell]:
            return None
        first = None
        for _ in range(20):
            status, body = self.client.post(req.encode())
            self.assertEqual(status, 200, body[:2000])
            text = body.decode()
            first = first or text
            self.seen[shell].update(t for t, _ in messages_in(text))
            if not want - self.seen[shell]:
                break
        self.assertFalse(want - self.seen[shell],
                         "step %d: never received %r" % (i, want))
        self.diff(tree(recorded), tree(first), "step %d Receive" % i)
        return first

    def replay(self, name):
        recs = yaml.safe_load(open(fixture(name)))["messages"]
        shells = set()
        replies = []
        for i, rec in enumerate(recs):
            req, recorded = rec["request"], rec["response"]
            if recorded is None:            # an HTTP error was injected
                break
            act = action_of(req)
            if act == "Receive" and "CommandId" not in req:
                replies.append((act, self.receive_like(i, req, recorded)))
                continue
            m = SHELL_ID_RE.search(req)
            if act == "Get" and "InvalidSelectors" in recorded and m and \
                    m.group(1) in shells:
                # pypsrp's test removed the shell behind the client's back.
                self.delete(m.group(1))
                shells.discard(m.group(1))
            status, body = self.client.post(req.encode())
            text = body.decode()
            want_status = 500 if "<s:Fault>" in recorded else 200
            self.assertEqual(status, want_status,
                             "step %d %s: %s" % (i, act, text[:3000]))
            self.diff(tree(recorded), tree(text), "step %d %s" % (i, act))
            if act == "Create":
                shells.add(re.search(r'ShellId="([^"]+)"', req).group(1))
            elif act == "Delete" and m:
                shells.discard(m.group(1))
            elif act == "Connect":
                self.seen[m.group(1)].clear()   # a new client
            replies.append((act, text))
        for shell in shells:
            self.delete(shell)
        return recs, replies

    def delete(self, shell):
        req = yaml.safe_load(open(fixture(
            "test_psrp_disconnect_runspaces.yml")))["messages"][18]["request"]
        req = SHELL_ID_RE.sub(
            lambda m: m.group(0).replace(m.group(1), shell), req)
        status, body = self.client.post(req.encode())
        self.assertEqual(status, 200, body[:2000])

    def test_disconnect_runspaces(self):
        recs, replies = self.replay("test_psrp_disconnect_runspaces.yml")
        self.assertEqual(len(replies), len(recs))
        for i, (act, text) in enumerate(replies):
            recorded = recs[i]["response"]
            if act == "Enumerate" and "shell/Command" not in \
                    recs[i]["request"]:
                states = re.findall(r"<rsp:State>(\w+)<", text)
                self.assertEqual(states, ["Disconnected", "Disconnected"])
                self.assertEqual(
                    re.findall(r"<rsp:ShellId>([^<]+)<", text),
                    re.findall(r"<rsp:ShellId>([^<]+)<", recorded))
            if act == "Connect":
                # The same PSRP messages as Windows', ObjectIds included.
                ours = base64.b64decode(CONNECT_XML_RE.search(text).group(1))
                theirs = base64.b64decode(
                    CONNECT_XML_RE.search(recorded).group(1))
                self.assertEqual(fragments(ours), fragments(theirs))
            if act == "Receive" and i in (15, 17):  # after Connect
                got = messages_in(text)
                self.assertEqual([t for t, _ in got], [RUNSPACEPOOL_STATE])
                self.assertEqual(got, messages_in(recorded))

    def test_is_alive_invalid_selectors(self):
        recs, replies = self.replay(
            "test_psrp_is_alive_invalid_selectors.yml")
        acts = [a for a, _ in replies]
        self.assertEqual(acts[-2:], ["Get", "Get"])
        self.assertIn("<rsp:State>Connected</rsp:State>", replies[-2][1])
        self.assertIn('Code="2150858843"', replies[-1][1])
        self.assertIn('provider="Shell provider"', replies[-1][1])

    def test_is_alive_other_wsman_error(self):
        _, replies = self.replay("test_psrp_is_alive_other_wsman_error.yml")
        self.assertIn('Code="2150858767"', dict(replies)["Get"])

    def test_pwsh_survives_disconnect(self):
        """The shell's pwsh runs on while disconnected and ends with the
        Delete."""
        recs = yaml.safe_load(open(fixture(
            "test_psrp_disconnect_runspaces.yml")))["messages"]
        status, body = self.client.post(recs[0]["request"].encode())
        self.assertEqual(status, 200)
        pid = int(re.search(rb"<rsp:ProcessId>(\d+)<", body).group(1))
        status, _ = self.client.post(recs[4]["request"].encode())
        self.assertEqual(status, 200)          # Disconnect
        self.assertFalse(gone_within(pid, 1.0))
        # A Receive on a disconnected shell is refused.
        status, body = self.client.post(recs[1]["request"].encode())
        self.assertEqual(status, 500)
        self.assertIn(b'Code="2150859204"', body)
        self.delete(re.search(r'ShellId="([^"]+)"',
                              recs[0]["request"]).group(1))
        self.assertTrue(gone_within(pid, 10.0))

    def test_connect_reports_the_pool_size(self):
        """Connect answers the pool's size as pwsh last accepted it, the
        pool then runs pipelines for the new client, and a connectXml asking
        for another size is refused (ExecuteConnect's checks)."""
        pool = Pool(self, self.client)
        pool.open()
        data = pool.fragment(SET_MAX_RUNSPACES, ZERO,
                             '<Obj RefId="0"><MS><I32 N="MaxRunspaces">3'
                             '</I32><I64 N="ci">1</I64></MS></Obj>')
        self.assertEqual(pool.send("stdin", data)[0], 200)
        pool.collect(lambda m, d: any(
            t == RUNSPACE_AVAILABILITY for t, _, _ in m))
        status, body = pool.post(SHELL + "Disconnect", "<rsp:Disconnect>"
                                 "<rsp:IdleTimeOut>PT600S</rsp:IdleTimeOut>"
                                 "</rsp:Disconnect>")
        self.assertEqual(status, 200, body)

        def connect(size_xml):
            xml = pool.fragment(SESSION_CAPABILITY, ZERO,
                                session_capability())
            xml += pool.fragment(0x00010008, ZERO, size_xml)
            return pool.post(SHELL + "Connect", "<rsp:Connect><connectXml "
                             'xmlns="http://schemas.microsoft.com/powershell">'
                             "%s</connectXml></rsp:Connect>"
                             % base64.b64encode(xml).decode())

        status, body = connect('<Obj RefId="0"><MS><I32 N="MinRunspaces">2'
                               '</I32><I32 N="MaxRunspaces">2</I32></MS>'
                               "</Obj>")
        self.assertEqual((status, fault_code(body)), (500, 87))
        status, body = connect("<S />")
        self.assertEqual(status, 200, body)
        msgs = fragments(base64.b64decode(
            CONNECT_XML_RE.search(body.decode()).group(1)))
        init = msgs[1][3][40:]
        self.assertIn(b'<I32 N="MinRunspaces">1</I32><I32 N="MaxRunspaces">'
                      b"3</I32>", init)
        self.assertIn(b"<rsp:IdleTimeOut>PT600.000S</rsp:IdleTimeOut>",
                      self.client.post(
                          re.sub(r"ShellId\">[^<]+<", 'ShellId">%s<'
                                 % pool.shell_id, yaml.safe_load(open(fixture(
                                     "test_psrp_is_alive_invalid_selectors"
                                     ".yml")))["messages"][3]["request"])
                          .encode())[1])
        # A second Connect while this client holds it: refused.
        status, body = connect("<S />")
        self.assertEqual((status, fault_code(body)), (500, 2150859213))
        pool.collect(lambda m, d: any(
            t == 0x00021005 for t, _, _ in m))
        cid, _ = pool.run("'after connect'")
        msgs = pool.finish(cid)
        self.assertEqual(final_state(self, msgs), 4)
        self.assertIn("<S>after connect</S>", [t for _, _, t in msgs])
        self.assertEqual(pool.delete()[0], 200)


if __name__ == "__main__":
    if PWSH is None:
        print("SKIP: the PowerShell endpoint tests need pwsh: %s"
              % NO_PWSH_REASON)
    sys.exit(run_suite([Replay], budget_seconds=110))
