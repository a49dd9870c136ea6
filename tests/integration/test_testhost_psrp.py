#!/usr/bin/python3
"""The testhost's PowerShell endpoint (http://schemas.microsoft.com/
powershell/<name>), which bridges every WS-Man shell to its own
`pwsh -s` child.

No independent PSRP-over-WS-Man client runs on this machine (pypsrp is not
in Debian; pwsh's own WSMan client needs libmi/OMI, see README), so the
endpoint is driven by a small PSRP client written here, and by replaying
the requests pypsrp sent to real Windows (test_client_execute_ps.yml,
test_psrp_open_runspace.yml) with the reply shapes compared to Windows'.

Skipped, with the reason printed, only when no pwsh is found (the same
search as the host: WINRSH_TEST_PWSH, the scripts/setup cache, PATH).

Run: /usr/bin/python3 tests/integration/test_testhost_psrp.py
"""

import base64
import http.client
import os
import re
import struct
import sys
import time
import unittest
import uuid
import xml.dom.minidom
import xml.etree.ElementTree as ET
from urllib.parse import urlparse
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "server"))

import yaml  # noqa: E402

from testhost_proc import TestHost, run_suite  # noqa: E402
from winrm_host.psrp_endpoint import find_pwsh  # noqa: E402

USER, PASSWORD = "vagrant", "vagrant"
PS_URI = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
STOP = "http://schemas.microsoft.com/powershell/signal/crtl_c"
TERMINATE = SHELL + "signal/terminate"
DONE = SHELL + "CommandState/Done"
FIXTURE_DIRS = [
    os.environ.get("WINRSH_PYPSRP_FIXTURES", ""),
    os.path.join(HERE, "..", "fixtures", "pypsrp", "responses"),
    os.path.join(HERE, "..", "..", "..", "shared", "fixtures", "pypsrp",
                 "responses"),
]
NSMAP = {"s": "http://www.w3.org/2003/05/soap-envelope",
         "rsp": SHELL.rstrip("/"),
         "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"}
ZERO = uuid.UUID(int=0)

# MS-PSRP message types used here (PROTOCOL.md 4).
SESSION_CAPABILITY = 0x00010002
INIT_RUNSPACEPOOL = 0x00010004
SET_MAX_RUNSPACES = 0x00021002
RUNSPACE_AVAILABILITY = 0x00021004
RUNSPACEPOOL_STATE = 0x00021005
CREATE_PIPELINE = 0x00021006
APPLICATION_PRIVATE_DATA = 0x00021009
PIPELINE_INPUT = 0x00041002
END_OF_PIPELINE_INPUT = 0x00041003
PIPELINE_OUTPUT = 0x00041004
PIPELINE_STATE = 0x00041006
PIPELINE_HOST_CALL = 0x00041100
PIPELINE_HOST_RESPONSE = 0x00041101
FRAGMENT = struct.Struct(">QQBI")


def fixture(name):
    for d in FIXTURE_DIRS:
        path = os.path.join(d, name) if d else ""
        if path and os.path.isfile(path):
            return path
    raise RuntimeError("recording %s not found in %s" % (name, FIXTURE_DIRS))


def gone_within(pid, seconds=5.0):
    """True once pid's group has ended, polling for at most `seconds`: the
    host answers Delete before the kernel has finished tearing down a busy
    pwsh, so on a loaded machine the last process may lag a little."""
    deadline = time.monotonic() + seconds
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def process_alive(pid):
    """True while pid, or anything in process group pid, runs (not a
    zombie).  The pwsh of a dotnet tool install is a launcher that starts
    `dotnet pwsh.dll` as its child, in the same group; the host starts each
    pwsh as a group leader, so the group is what has to go."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if state != "Z" and (int(name) == pid or pgrp == pid):
            return True
    return False


# -- a small PSRP client (MS-PSRP 2.2; CLIXML written by hand) ---------------

PSA = "System.Management.Automation."


class Clixml:
    """RefIds and TN/TNRef bookkeeping for one message."""

    def __init__(self):
        self.ref = -1
        self.types = {}

    def refid(self):
        self.ref += 1
        return self.ref

    def tn(self, names):
        key = tuple(names)
        if key in self.types:
            return '<TNRef RefId="%d" />' % self.types[key]
        self.types[key] = len(self.types)
        return '<TN RefId="%d">%s</TN>' % (
            self.types[key], "".join("<T>%s</T>" % n for n in names))

    def enum(self, name, type_name, text, value):
        return ('<Obj N="%s" RefId="%d">%s<ToString>%s</ToString>'
                "<I32>%d</I32></Obj>" % (
                    name, self.refid(), self.tn([
                        type_name, "System.Enum", "System.ValueType",
                        "System.Object"]), text, value))

    def host_info(self, null=True):
        flag = "true" if null else "false"
        return ('<Obj N="HostInfo" RefId="%d"><MS><B N="_isHostNull">%s</B>'
                '<B N="_isHostUINull">%s</B><B N="_isHostRawUINull">true</B>'
                '<B N="_useRunspaceHost">%s</B></MS></Obj>'
                % (self.refid(), flag, flag, flag))


def session_capability():
    return ('<Obj RefId="0"><MS><Version N="protocolversion">2.3</Version>'
            '<Version N="PSVersion">2.0</Version><Version N="Serialization'
            'Version">1.1.0.1</Version></MS></Obj>')


def init_runspacepool():
    c = Clixml()
    top = c.refid()
    return ('<Obj RefId="%d"><MS><I32 N="MinRunspaces">1</I32>'
            '<I32 N="MaxRunspaces">1</I32>%s%s%s<Nil N="ApplicationArguments"'
            " /></MS></Obj>" % (
                top, c.enum("PSThreadOptions", PSA + "Runspaces.PSThread"
                            "Options", "Default", 0),
                c.enum("ApartmentState", PSA + "Runspaces.ApartmentState",
                       "Unknown", 2), c.host_info()))


def create_pipeline(script, no_input=True, host=False):
    """One script command, no arguments."""
    c = Clixml()
    out = '<Obj RefId="%d"><MS><B N="NoInput">%s</B>' % (
        c.refid(), "true" if no_input else "false")
    out += c.enum("ApartmentState", PSA + "Runspaces.ApartmentState",
                  "Unknown", 2)
    out += c.enum("RemoteStreamOptions", PSA + "RemoteStreamOptions",
                  "None", 0)
    out += '<B N="AddToHistory">false</B>' + c.host_info(null=not host)
    ps, cmds, cmd = c.refid(), c.refid(), c.refid()
    merges = "".join(
        c.enum(n, PSA + "Runspaces.PipelineResultTypes", "None", 0)
        for n in ("MergeMyResult", "MergeToResult", "MergePreviousResults",
                  "MergeError", "MergeWarning", "MergeVerbose",
                  "MergeDebug", "MergeInformation"))
    out += ('<Obj N="PowerShell" RefId="%d"><MS><B N="IsNested">false</B>'
            '<Nil N="ExtraCmds" /><Obj N="Cmds" RefId="%d"><LST>'
            '<Obj RefId="%d"><MS><S N="Cmd">%s</S><B N="IsScript">true</B>'
            '<Nil N="UseLocalScope" />%s<Obj N="Args" RefId="%d"><LST />'
            '</Obj></MS></Obj></LST></Obj><Nil N="History" />'
            '<B N="RedirectShellErrorOutputPipe">false</B></MS></Obj>'
            '<B N="IsNested">false</B></MS></Obj>'
            % (ps, cmds, cmd, escape(script), merges, c.refid()))
    return out


def message(mtype, rpid, pid, data):
    """MS-PSRP 2.2.1: destination 2 (server), LE header, .NET GUIDs."""
    return struct.pack("<II", 2, mtype) + rpid.bytes_le + pid.bytes_le + \
        data.encode("utf-8")


class Defragmenter:
    """Rebuilds messages from fragments; checks FragmentIds count up."""

    def __init__(self, case):
        self.case = case
        self.parts = {}      # object id -> [next fragment id, bytes]

    def feed(self, data):
        messages, i = [], 0
        while i < len(data):
            oid, fid, flags, length = FRAGMENT.unpack_from(data, i)
            blob = data[i + FRAGMENT.size:i + FRAGMENT.size + length]
            i += FRAGMENT.size + length
            if flags & 1:
                self.case.assertEqual(fid, 0)
                self.case.assertNotIn(oid, self.parts)
                self.parts[oid] = [0, b""]
            part = self.parts[oid]
            self.case.assertEqual(fid, part[0], "fragment ids in order")
            part[0] += 1
            part[1] += blob
            if flags & 2:
                raw = self.parts.pop(oid)[1]
                dest, mtype = struct.unpack_from("<II", raw)
                self.case.assertEqual(dest, 1)
                text = raw[40:]
                if text.startswith(b"\xef\xbb\xbf"):
                    text = text[3:]
                messages.append((mtype, uuid.UUID(bytes_le=raw[24:40]),
                                 text.decode("utf-8")))
        return messages


def state_of(text, name):
    m = re.search(r'<I32 N="%s">(\d+)</I32>' % name, text)
    return int(m.group(1)) if m else None


# -- WS-Man -------------------------------------------------------------------

def envelope(url, action, resource, body="", shell_id=None, timeout="PT20S",
             max_env=153600, options=()):
    """A request written the way pypsrp writes them."""
    head = ('<wsa:Action s:mustUnderstand="true">%s</wsa:Action>'
            '<wsman:Locale s:mustUnderstand="false" xml:lang="en-US" />'
            '<wsman:MaxEnvelopeSize s:mustUnderstand="true">%d'
            "</wsman:MaxEnvelopeSize><wsa:MessageID>uuid:%s</wsa:MessageID>"
            "<wsman:OperationTimeout>%s</wsman:OperationTimeout>"
            '<wsman:ResourceURI s:mustUnderstand="true">%s</wsman:ResourceURI>'
            "<wsa:To>%s</wsa:To>" % (action, max_env,
                                     str(uuid.uuid4()).upper(), timeout,
                                     resource, url))
    if options:
        head += ('<wsman:OptionSet s:mustUnderstand="true">%s'
                 "</wsman:OptionSet>" % "".join(
                     '<wsman:Option Name="%s"%s>%s</wsman:Option>'
                     % (n, ' MustComply="true"' if must else "", v)
                     for n, v, must in options))
    if shell_id:
        head += ('<wsman:SelectorSet><wsman:Selector Name="ShellId">%s'
                 "</wsman:Selector></wsman:SelectorSet>" % shell_id)
    return (
        '<s:Envelope xmlns:rsp="%s" xmlns:s="http://www.w3.org/2003/05/soap-'
        'envelope" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/'
        'addressing" xmlns:wsman="http://schemas.dmtf.org/wbem/wsman/1/'
        'wsman.xsd"><s:Header>%s</s:Header><s:Body>%s</s:Body></s:Envelope>'
        % (SHELL.rstrip("/"), head, body)).encode("utf-8")


def shape(node, collapse=False):
    """(prefixed name, attribute names, [child shapes]); with collapse,
    a run of siblings of the same shape counts once (rsp:Stream)."""
    attrs = tuple(sorted(node.attributes.keys())) if node.attributes else ()
    kids = []
    for c in node.childNodes:
        if c.nodeType == c.ELEMENT_NODE and c.tagName != "p:ActivityId":
            k = shape(c, collapse)
            if not (collapse and kids and kids[-1] == k):
                kids.append(k)
    return (node.tagName, attrs, kids)


def fault_code(body):
    root = ET.fromstring(body)
    el = root.find(".//f:WSManFault", NSMAP)
    return None if el is None else int(el.get("Code"))


class Client:
    """One HTTP connection to the host, Basic auth over loopback."""

    def __init__(self, url):
        self.url = url
        u = urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port,
                                               timeout=90)
        self.auth = "Basic " + base64.b64encode(
            ("%s:%s" % (USER, PASSWORD)).encode()).decode()

    def post(self, body):
        self.conn.request("POST", "/wsman", body=body, headers={
            "Authorization": self.auth,
            "Content-Type": "application/soap+xml;charset=UTF-8"})
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self):
        self.conn.close()


class Pool:
    """A runspace pool on the endpoint, driven by hand."""

    def __init__(self, case, client, uri=PS_URI, max_env=153600):
        self.case = case
        self.client = client
        self.uri = uri
        self.max_env = max_env
        self.rpid = uuid.uuid4()
        self.shell_id = str(self.rpid).upper()
        self.oid = 0
        self.defrag = {}
        self.pid = None           # pwsh's process id (rsp:ProcessId)
        self.replies = 0          # Receive replies with rsp:Stream in them

    def fragment(self, mtype, pid, data):
        self.oid += 1
        blob = message(mtype, self.rpid, pid, data)
        return FRAGMENT.pack(self.oid, 0, 3, len(blob)) + blob

    def post(self, action, body="", timeout="PT20S", options=(),
             selector=True):
        status, data = self.client.post(envelope(
            self.client.url, action, self.uri, body,
            self.shell_id if selector else None, timeout, self.max_env,
            options))
        self.case.assertLessEqual(len(data), self.max_env)
        return status, data

    def create(self):
        creation = self.fragment(SESSION_CAPABILITY, ZERO,
                                 session_capability())
        creation += self.fragment(INIT_RUNSPACEPOOL, ZERO,
                                  init_runspacepool())
        status, body = self.post(
            TRANSFER + "Create",
            '<rsp:Shell ShellId="%s"><rsp:InputStreams>stdin pr'
            "</rsp:InputStreams><rsp:OutputStreams>stdout</rsp:OutputStreams>"
            '<creationXml xmlns="http://schemas.microsoft.com/powershell">%s'
            "</creationXml></rsp:Shell>" % (
                self.shell_id, base64.b64encode(creation).decode()),
            options=[("protocolversion", "2.3", True)], selector=False)
        self.case.assertEqual(status, 200, body.decode())
        root = ET.fromstring(body)
        self.pid = int(root.find(".//rsp:ProcessId", NSMAP).text)
        return body

    def receive(self, cid=None, timeout="PT20S"):
        """(status, body, messages, done)."""
        attr = ' CommandId="%s"' % cid if cid else ""
        status, body = self.post(
            SHELL + "Receive", "<rsp:Receive><rsp:DesiredStream%s>stdout"
            "</rsp:DesiredStream></rsp:Receive>" % attr, timeout)
        if status != 200:
            return status, body, [], False
        root = ET.fromstring(body)
        msgs, done = [], False
        box = self.defrag.setdefault(cid, Defragmenter(self.case))
        if root.find(".//rsp:Stream", NSMAP) is not None:
            self.replies += 1
        for el in root.iter():
            if el.tag == "{%s}Stream" % NSMAP["rsp"]:
                self.case.assertEqual(el.get("Name"), "stdout")
                self.case.assertEqual(el.get("CommandId"), cid)
                msgs += box.feed(base64.b64decode(el.text or ""))
            elif el.tag == "{%s}CommandState" % NSMAP["rsp"]:
                self.case.assertIsNotNone(cid, "CommandState on the pool")
                self.case.assertEqual(el.get("CommandId"), cid)
                self.case.assertEqual(el.get("State"), DONE)
                done = True
        return status, body, msgs, done

    def collect(self, until, cid=None, seconds=30):
        """Receive until until(messages, done) holds; TimedOut faults are
        retried, as clients do."""
        deadline = time.monotonic() + seconds
        got, done = [], False
        while time.monotonic() < deadline:
            status, body, msgs, done = self.receive(cid, "PT5S")
            if status == 500 and fault_code(body) == 2150858793:
                continue
            self.case.assertEqual(status, 200, body.decode())
            got += msgs
            if until(got, done):
                return got, done
        self.case.fail("nothing conclusive within %d s: %s" % (
            seconds, [(hex(m[0]), m[2][:80]) for m in got]))

    def open(self):
        self.create()
        msgs, _ = self.collect(lambda m, d: any(
            t == RUNSPACEPOOL_STATE for t, _, _ in m))
        return msgs

    def run(self, script, no_input=True, host=False):
        """Command with the whole CREATE_PIPELINE as its first fragment;
        returns (CommandId, PowerShell instance id)."""
        pid = uuid.uuid4()
        cid = str(pid).upper()
        arg = self.fragment(CREATE_PIPELINE, pid,
                            create_pipeline(script, no_input, host))
        status, body = self.post(
            SHELL + "Command", '<rsp:CommandLine CommandId="%s">'
            "<rsp:Command /><rsp:Arguments>%s</rsp:Arguments>"
            "</rsp:CommandLine>" % (cid, base64.b64encode(arg).decode()))
        self.case.assertEqual(status, 200, body.decode())
        self.case.assertIn(("<rsp:CommandId>%s</rsp:CommandId>" % cid)
                           .encode(), body)
        return cid, pid

    def finish(self, cid, seconds=30):
        return self.collect(lambda m, d: d, cid, seconds)[0]

    def send(self, stream, data, cid=None):
        attr = ' CommandId="%s"' % cid if cid else ""
        return self.post(SHELL + "Send", '<rsp:Send><rsp:Stream Name="%s"%s>'
                         "%s</rsp:Stream></rsp:Send>" % (
                             stream, attr, base64.b64encode(data).decode()))

    def signal(self, cid, code):
        return self.post(SHELL + "Signal", '<rsp:Signal CommandId="%s">'
                         "<rsp:Code>%s</rsp:Code></rsp:Signal>" % (cid, code))

    def delete(self):
        return self.post(TRANSFER + "Delete")


def final_state(case, msgs):
    states = [state_of(t, "PipelineState") for m, _, t in msgs
              if m == PIPELINE_STATE]
    case.assertEqual(len(states), 1, msgs)
    case.assertEqual(msgs[-1][0], PIPELINE_STATE)
    return states[0]


PWSH, NO_PWSH_REASON = find_pwsh()


@unittest.skipIf(PWSH is None, "no pwsh: %s" % NO_PWSH_REASON)
class Endpoint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = TestHost("--allow-unencrypted",
                            "--user", "%s:%s" % (USER, PASSWORD))
        cls.client = Client(cls.host.url)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        log = cls.host.stderr()
        cls.host.stop()
        if os.environ.get("WINRSH_TEST_SHOW_LOG"):
            sys.stdout.write(log)
        # Every exchange with pwsh was acked in time; nothing crashed.
        assert "Traceback" not in log, log

    def setUp(self):
        self.pools = []

    def tearDown(self):
        for pool in self.pools:
            pool.delete()

    def pool(self, **kw):
        pool = Pool(self, self.client, **kw)
        self.pools.append(pool)
        return pool

    def test_pool_opens(self):
        pool = self.pool()
        body = pool.create()
        self.assertTrue(process_alive(pool.pid))
        want = xml.dom.minidom.parseString(self.recorded(
            "test_psrp_open_runspace.yml", 0))
        got = xml.dom.minidom.parseString(body)
        self.assertEqual(shape(got.documentElement),
                         shape(want.documentElement))
        self.assertIn(("<rsp:ShellId>%s</rsp:ShellId>" % pool.shell_id)
                      .encode(), body)
        self.assertIn(b"<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut>", body)
        status, body, msgs, _ = pool.receive()
        self.assertEqual(status, 200, body)
        self.assert_shape_like(body, "test_psrp_open_runspace.yml",
                               SHELL + "ReceiveResponse")
        if not any(t == RUNSPACEPOOL_STATE for t, _, _ in msgs):
            msgs += pool.collect(lambda m, d: any(
                t == RUNSPACEPOOL_STATE for t, _, _ in m))[0]
        types = [t for t, _, _ in msgs]
        self.assertEqual(types, [SESSION_CAPABILITY, APPLICATION_PRIVATE_DATA,
                                 RUNSPACEPOOL_STATE])
        self.assertEqual(state_of(msgs[-1][2], "RunspaceState"), 2)
        self.assertTrue(all(pid == ZERO for _, pid, _ in msgs))

    def test_pipeline_output_and_done(self):
        pool = self.pool()
        pool.open()
        cid, pid = pool.run('1+1; "h\u00e9llo"; (Get-Date).Year -gt 2000')
        status, body, msgs, done = pool.receive(cid)
        self.assertEqual(status, 200)
        while not done:
            status, body, more, done = pool.receive(cid)
            self.assertEqual(status, 200)
            msgs += more
        self.assert_shape_like(body, "test_psrp_long_running_cmdlet.yml",
                               SHELL + "ReceiveResponse", "CommandState")
        out = [t for m, _, t in msgs if m == PIPELINE_OUTPUT]
        self.assertEqual(out, ["<I32>2</I32>", "<S>h\u00e9llo</S>",
                               "<B>true</B>"])
        self.assertTrue(all(p == pid for _, p, _ in msgs))
        self.assertEqual(final_state(self, msgs), 4)     # Completed
        # Done again on a Receive after Done, until terminate.
        status, body, msgs, done = pool.receive(cid, "PT2S")
        self.assertEqual((status, msgs, done), (200, [], True))
        status, body = pool.signal(cid, TERMINATE)
        self.assertEqual(status, 200, body)
        self.assertIn(b"<rsp:SignalResponse/>", body)
        status, body, _, _ = pool.receive(cid, "PT2S")
        self.assertEqual((status, fault_code(body)), (500, 2150858843))

    def test_failed_pipeline_is_done(self):
        pool = self.pool()
        pool.open()
        cid, _ = pool.run("throw 'boom'")
        msgs = pool.finish(cid)
        self.assertEqual(final_state(self, msgs), 5)     # Failed
        self.assertIn("boom", msgs[-1][2])

    def test_idle_receive_times_out(self):
        pool = self.pool()
        pool.open()
        start = time.monotonic()
        status, body, _, _ = pool.receive(None, "PT1S")
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(status, 500)
        want = xml.dom.minidom.parseString(self.recorded_fault(
            "test_psrp_long_running_cmdlet.yml", 2150858793))
        got = xml.dom.minidom.parseString(body)
        self.assertEqual(shape(got.documentElement),
                         shape(want.documentElement))
        self.assertEqual(fault_code(body), 2150858793)
        # A running pipeline: TimedOut too, not a reply without data.
        cid, _ = pool.run("Start-Sleep 2; 'late'")
        status, body, _, _ = pool.receive(cid, "PT0.5S")
        self.assertEqual((status, fault_code(body)), (500, 2150858793))
        msgs = pool.finish(cid)
        self.assertIn("<S>late</S>", [t for _, _, t in msgs])

    def test_crtl_c_stops_sleep(self):
        pool = self.pool()
        pool.open()
        cid, _ = pool.run("Start-Sleep 60")
        status, body, _, _ = pool.receive(cid, "PT1S")
        self.assertEqual((status, fault_code(body)), (500, 2150858793))
        start = time.monotonic()
        status, body = pool.signal(cid, STOP)
        self.assertEqual(status, 200, body)
        self.assert_shape_like(body, "test_psrp_nested_command.yml",
                               SHELL + "SignalResponse")
        msgs = pool.finish(cid, seconds=3)
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(final_state(self, msgs), 3)     # Stopped

    def test_terminate_running_pipeline(self):
        pool = self.pool()
        pool.open()
        cid, _ = pool.run("Start-Sleep 60")
        status, body = pool.signal(cid, TERMINATE)
        self.assertEqual(status, 200, body)
        status, body, _, _ = pool.receive(cid, "PT1S")
        self.assertEqual((status, fault_code(body)), (500, 2150858843))
        # The pool is still usable.
        cid, _ = pool.run("'after'")
        msgs = pool.finish(cid)
        self.assertIn("<S>after</S>", [t for _, _, t in msgs])

    def test_pipeline_input_on_stdin(self):
        pool = self.pool()
        pool.open()
        cid, pid = pool.run("$input | ForEach-Object { $_ * 2 }",
                            no_input=False)
        data = pool.fragment(PIPELINE_INPUT, pid, "<I32>21</I32>")
        data += pool.fragment(END_OF_PIPELINE_INPUT, pid, "")
        status, body = pool.send("stdin", data, cid)
        self.assertEqual(status, 200, body)
        self.assert_shape_like(body, "test_psrp_small_msg_size.yml",
                               SHELL + "SendResponse")
        msgs = pool.finish(cid)
        self.assertEqual([t for m, _, t in msgs if m == PIPELINE_OUTPUT],
                         ["<I32>42</I32>"])

    def test_host_call_answered_on_pr(self):
        pool = self.pool()
        pool.open()
        cid, pid = pool.run("'got ' + $host.UI.ReadLine()", host=True)
        msgs, _ = pool.collect(lambda m, d: any(
            t == PIPELINE_HOST_CALL for t, _, _ in m), cid)
        call = [t for m, _, t in msgs if m == PIPELINE_HOST_CALL][0]
        ci = re.search(r'<I64 N="ci">(\d+)</I64>', call).group(1)
        self.assertIn("<I32>11</I32>", call)             # ReadLine
        answer = (
            '<Obj RefId="0"><MS><S N="mr">typed</S><I64 N="ci">%s</I64>'
            '<Obj N="mi" RefId="1"><TN RefId="0"><T>System.Management.'
            "Automation.Remoting.RemoteHostMethodId</T><T>System.Enum</T>"
            "<T>System.ValueType</T><T>System.Object</T></TN><ToString>"
            "ReadLine</ToString><I32>11</I32></Obj></MS></Obj>" % ci)
        status, body = pool.send("pr", pool.fragment(
            PIPELINE_HOST_RESPONSE, pid, answer), cid)
        self.assertEqual(status, 200, body)
        msgs = pool.finish(cid)
        self.assertIn("<S>got typed</S>", [t for _, _, t in msgs])

    def test_pool_message_on_send_without_command_id(self):
        pool = self.pool()
        pool.open()
        data = pool.fragment(SET_MAX_RUNSPACES, ZERO,
                             '<Obj RefId="0"><MS><I32 N="MaxRunspaces">2'
                             '</I32><I64 N="ci">1</I64></MS></Obj>')
        status, body = pool.send("stdin", data)
        self.assertEqual(status, 200, body)
        msgs, _ = pool.collect(lambda m, d: any(
            t == RUNSPACE_AVAILABILITY for t, _, _ in m))
        reply = [t for m, _, t in msgs if m == RUNSPACE_AVAILABILITY][0]
        self.assertIn('<B N="SetMinMaxRunspacesResponse">true</B>', reply)

    def test_small_envelope_splits_fragments(self):
        pool = self.pool(max_env=8192)
        pool.open()
        cid, _ = pool.run("'x' * 100000; 'y' * 30")
        before = pool.replies
        msgs = pool.finish(cid)
        # 100 kB of output in replies of at most 8192 bytes (Pool.post
        # checks each reply's size).
        self.assertGreater(pool.replies - before, 100000 // 8192)
        out = [t for m, _, t in msgs if m == PIPELINE_OUTPUT]
        self.assertEqual(out, ["<S>%s</S>" % ("x" * 100000),
                               "<S>%s</S>" % ("y" * 30)])
        self.assertEqual(final_state(self, msgs), 4)

    def test_pwsh_dying_gives_fault(self):
        pool = self.pool()
        pool.open()
        cid, _ = pool.run("[Environment]::Exit(7)")
        status, body, _, _ = pool.receive(cid, "PT10S")
        self.assertEqual((status, fault_code(body)), (500, 2147943467))
        self.assertIn(b"ended with status 7", body)
        status, body, _, _ = pool.receive(None, "PT10S")
        self.assertEqual((status, fault_code(body)), (500, 2147943467))
        self.assertTrue(gone_within(pool.pid))

    def test_other_endpoint_name(self):
        pool = self.pool(uri="http://schemas.microsoft.com/powershell/"
                         "JEARole")
        pool.open()
        cid, _ = pool.run("21*2")
        msgs = pool.finish(cid)
        self.assertIn("<I32>42</I32>", [t for _, _, t in msgs])

    def test_delete_ends_pwsh(self):
        pool = Pool(self, self.client)
        pool.open()
        pid = pool.pid
        self.assertTrue(process_alive(pid))
        pool.finish(pool.run("'done, never terminated'")[0])
        pool.run("Start-Sleep 60")
        start = time.monotonic()
        status, body = pool.delete()
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(status, 200, body)
        want = xml.dom.minidom.parseString(self.recorded(
            "test_psrp_open_runspace.yml", 3))
        self.assertEqual(shape(xml.dom.minidom.parseString(body)
                               .documentElement), shape(want.documentElement))
        self.assertTrue(gone_within(pid), "pwsh %d still there" % pid)
        status, body, _, _ = pool.receive(None, "PT1S")
        self.assertEqual((status, fault_code(body)), (500, 2150858843))

    def test_replay_pypsrp_execute_ps(self):
        """pypsrp's requests to Windows, ids changed: the recorded
        creationXml and CREATE_PIPELINE (GUIDs in pypsrp's byte order, a
        Get-Service script that fails on Linux) run as they are.  Replies
        are compared with Windows' by shape; Receive replies by element
        kinds, since their number depends on timing and output."""
        with open(fixture("test_client_execute_ps.yml"),
                  encoding="utf-8") as f:
            messages = yaml.safe_load(f)["messages"]
        shell_old = re.search(r'ShellId="([0-9A-F-]{36})"',
                              messages[0]["request"]).group(1)
        ids = {shell_old: str(uuid.uuid4()).upper()}
        deadline = time.monotonic() + 40
        pool_open, done, pid = False, False, None
        boxes = {}
        for i, msg in enumerate(messages):
            req = msg["request"]
            m = re.search(r'<rsp:CommandLine CommandId="([0-9A-F-]{36})"',
                          req)
            if m:
                ids[m.group(1)] = str(uuid.uuid4()).upper()
            for old, new in ids.items():
                req = req.replace(old, new)
            req = re.sub(r"<wsa:To>[^<]*</wsa:To>",
                         "<wsa:To>%s</wsa:To>" % self.client.url, req)
            if "/Receive<" not in req:
                status, body = self.client.post(req.encode("utf-8"))
                self.assertEqual(status, 200, "message %d: %s" % (i, body))
                want = xml.dom.minidom.parseString(msg["response"])
                got = xml.dom.minidom.parseString(body)
                self.assertEqual(shape(got.documentElement),
                                 shape(want.documentElement),
                                 "message %d" % i)
                if "/Create<" in req:
                    pid = int(ET.fromstring(body).find(
                        ".//rsp:ProcessId", NSMAP).text)
                continue
            m = re.search(r'DesiredStream CommandId="([0-9A-F-]{36})"', req)
            cid = m.group(1) if m else None
            box = boxes.setdefault(cid, Defragmenter(self))
            # The recorded Receives ended with the pool's state and with
            # Done; ours may split or merge them differently.
            while not (done if cid else pool_open):
                self.assertLess(time.monotonic(), deadline)
                status, body = self.client.post(req.encode("utf-8"))
                if status == 500:
                    self.assertEqual(fault_code(body), 2150858793)
                    continue
                self.assertEqual(status, 200, body)
                self.assert_receive_shape(body, cid)
                for el in ET.fromstring(body).iter(
                        "{%s}Stream" % NSMAP["rsp"]):
                    for t, _, _ in box.feed(base64.b64decode(el.text)):
                        pool_open |= t == RUNSPACEPOOL_STATE
                done |= b"CommandState/Done" in body
        self.assertTrue(pool_open and done)
        self.assertTrue(gone_within(pid))

    def assert_receive_shape(self, body, cid):
        root = ET.fromstring(body)
        resp = root.find(".//rsp:ReceiveResponse", NSMAP)
        kids = list(resp)
        self.assertTrue(kids)
        for el in kids:
            if el.tag.endswith("}Stream"):
                self.assertEqual(sorted(el.keys()),
                                 ["CommandId", "Name"] if cid else ["Name"])
            else:
                self.assertIs(el, kids[-1])
                self.assertEqual(el.get("State"), DONE)
                self.assertEqual(el.find("rsp:ExitCode", NSMAP).text, "0")

    def assert_shape_like(self, body, name, action, contains=""):
        """body has the shape of the first reply with this action (and
        text) in recording name; runs of rsp:Stream count once."""
        with open(fixture(name), encoding="utf-8") as f:
            for msg in yaml.safe_load(f)["messages"]:
                if "<a:Action>%s</a:Action>" % action in msg["response"] \
                        and contains in msg["response"]:
                    want = xml.dom.minidom.parseString(msg["response"])
                    break
            else:
                raise AssertionError("no %s in %s" % (action, name))
        got = xml.dom.minidom.parseString(body)
        self.assertEqual(shape(got.documentElement, True),
                         shape(want.documentElement, True), body)

    @staticmethod
    def recorded(name, index):
        with open(fixture(name), encoding="utf-8") as f:
            return yaml.safe_load(f)["messages"][index]["response"]

    @staticmethod
    def recorded_fault(name, code):
        with open(fixture(name), encoding="utf-8") as f:
            for msg in yaml.safe_load(f)["messages"]:
                if 'Code="%d"' % code in (msg.get("response") or ""):
                    return msg["response"]
        raise AssertionError("no fault %d in %s" % (code, name))


@unittest.skipIf(PWSH is None, "no pwsh: %s" % NO_PWSH_REASON)
class Lifecycle(unittest.TestCase):
    def test_sigterm_ends_pwsh(self):
        host = TestHost("--allow-unencrypted",
                        "--user", "%s:%s" % (USER, PASSWORD))
        try:
            client = Client(host.url)
            pool = Pool(self, client)
            pool.open()
            cid, _ = pool.run("Start-Sleep 60")
            client.close()
        finally:
            host.stop()
        for _ in range(50):
            if not process_alive(pool.pid):
                return
            time.sleep(0.1)
        self.fail("pwsh %d survived the host's SIGTERM" % pool.pid)


class NoPwsh(unittest.TestCase):
    def test_clear_fault_without_pwsh(self):
        old = os.environ.get("WINRSH_TEST_PWSH")
        os.environ["WINRSH_TEST_PWSH"] = "/nonexistent/pwsh"
        try:
            host = TestHost("--allow-unencrypted",
                            "--user", "%s:%s" % (USER, PASSWORD))
        finally:
            if old is None:
                del os.environ["WINRSH_TEST_PWSH"]
            else:
                os.environ["WINRSH_TEST_PWSH"] = old
        try:
            client = Client(host.url)
            pool = Pool(self, client)
            status, body = pool.post(TRANSFER + "Create", '<rsp:Shell>'
                                     '<creationXml xmlns="http://schemas.'
                                     'microsoft.com/powershell">AAAA'
                                     "</creationXml></rsp:Shell>",
                                     selector=False)
            client.close()
            log = host.stderr()
        finally:
            host.stop()
        self.assertEqual(status, 500)
        self.assertEqual(fault_code(body), 2150858770)
        self.assertIn(b"WINRSH_TEST_PWSH=/nonexistent/pwsh", body)
        self.assertIn("PowerShell endpoint unavailable: WINRSH_TEST_PWSH",
                      log)


if __name__ == "__main__":
    if PWSH is None:
        print("SKIP: the PowerShell endpoint tests need pwsh: %s"
              % NO_PWSH_REASON)
    sys.exit(run_suite([Endpoint, Lifecycle, NoPwsh], budget_seconds=110))
