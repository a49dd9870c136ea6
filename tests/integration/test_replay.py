#!/usr/bin/python3
"""Replay real recorded Windows WinRS traffic to `winrsh` (issue 2).

tests/server/replayhost serves the recorded responses of one pypsrp
recording (tests/fixtures/pypsrp/responses/, see SOURCE.md there) and checks
each request the client sends against the recorded one: action, the ShellId
and CommandIds the recorded server handed out, the command line, the stdin
bytes, the signal.  For every recording that runs a command, winrsh must
print exactly the recorded stdout and stderr bytes, exit with the recorded
exit code, and walk the whole conversation (Create, Command, [Send...],
Receive, Delete) with no mismatch.  winrsh deletes the shell right after
the command is Done and sends no terminate signal first (deleting a shell
ends its commands, MS-WSMV 3.1.4.4.1), so replayhost runs with
--allow-unreleased-delete and the recorded release signal must be the one
message skipped.

The first cases check replayhost itself, independently of winrsh: they POST
the raw recorded requests (and altered ones) with urllib.

Environment (set by ctest): WINRSH_BUILD_DIR (holds the `winrsh` binary),
WINRSH_SOURCE_DIR (the repository root).  Runs under Debian's
/usr/bin/python3; every wait is bounded and the whole run takes well under
60 s.  Prints `N passed, N failed` last; exits 0 only if nothing failed.
"""

import base64
import json
import os
import re
import select
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import yaml

SOURCE_DIR = os.environ.get("WINRSH_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("WINRSH_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
REPLAYHOST = os.path.join(SOURCE_DIR, "tests", "server", "replayhost")
FIXTURES = os.path.join(SOURCE_DIR, "tests", "fixtures", "pypsrp", "responses")
WINRSH = os.path.join(BUILD_DIR, "winrsh")

BUDGET_S = 55          # the whole file
READY_TIMEOUT_S = 15   # replayhost start
STOP_TIMEOUT_S = 10    # replayhost exit after SIGTERM
HTTP_TIMEOUT_S = 10    # one raw request
WINRSH_TIMEOUT_S = 6   # one winrsh run (a local replay takes well under 1 s)

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
}
SHELL = NS["rsp"]
DONE = SHELL + "/CommandState/Done"
TERMINATE = SHELL + "/signal/terminate"

# The recordings that run one command to completion (or fail doing so).
RECORDINGS = [
    "test_winrs_standard",
    "test_winrs_stderr_rc",
    "test_winrs_extra_opts",
    "test_winrs_noprofile",
    "test_winrs_send",
    "test_winrs_no_cmd_shell",
    "test_client_execute_cmd_environment",
]


# ---------------------------------------------------------------------------
# Reading the recordings (independently of replayhost's own parser)

def load(name):
    with open(os.path.join(FIXTURES, name + ".yml"), encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["messages"]


def action_of(xml_text):
    return ET.fromstring(xml_text).findtext("s:Header/a:Action", namespaces=NS).strip()


def scenario(name):
    """What winrsh is run with and must produce, all taken from the recording.

    argv: rsp:Command then each rsp:Arguments text of the first Command.
    stdin: the concatenated bytes of the recorded Sends (None: run with -n).
    stdout / stderr: the concatenated stream bytes of the Receive responses.
    rc: the ExitCode of the Done state.
    fault: the reason text when the first Command was answered by a fault.
    """
    sc = {"argv": None, "stdin": None, "stdout": b"", "stderr": b"", "rc": None, "fault": None,
          "shell_id": None}
    for m in load(name):
        req = ET.fromstring(m["request"])
        resp = ET.fromstring(m["response"])
        act = req.findtext("s:Header/a:Action", namespaces=NS).strip()
        if act == SHELL + "/Command" and sc["argv"] is None:
            line = req.find("s:Body/rsp:CommandLine", NS)
            sc["argv"] = [line.findtext("rsp:Command", namespaces=NS) or ""] + [
                a.text or "" for a in line.findall("rsp:Arguments", NS)]
            if m.get("transport_error"):
                sc["fault"] = resp.findtext("s:Body/s:Fault/s:Reason/s:Text", namespaces=NS).strip()
        elif act.endswith("/transfer/Create"):
            sc["shell_id"] = resp.findtext(".//w:Selector[@Name='ShellId']", namespaces=NS)
        elif act == SHELL + "/Send":
            sc["stdin"] = (sc["stdin"] or b"") + b"".join(
                base64.b64decode(s.text or "") for s in req.iterfind("s:Body/rsp:Send/rsp:Stream", NS))
        elif act == SHELL + "/Receive" and not m.get("transport_error"):
            for st in resp.iterfind("s:Body/rsp:ReceiveResponse/rsp:Stream", NS):
                sc[st.get("Name")] += base64.b64decode(st.text or "")
            state = resp.find("s:Body/rsp:ReceiveResponse/rsp:CommandState", NS)
            if state is not None and state.get("State") == DONE:
                sc["rc"] = int(state.findtext("rsp:ExitCode", namespaces=NS))
    return sc


# ---------------------------------------------------------------------------
# replayhost

class ReplayHost:
    def __init__(self, recording, *extra):
        self.tmp = tempfile.TemporaryDirectory(prefix="replay-")
        self.report_path = os.path.join(self.tmp.name, "report.json")
        self.stderr_path = os.path.join(self.tmp.name, "stderr.txt")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-I", REPLAYHOST,
             "--recording", os.path.join(FIXTURES, recording + ".yml"),
             "--listen", "127.0.0.1:0", "--report", self.report_path, "--lifetime", "120"]
            + list(extra),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr)
        self.returncode = None
        self.url = self._ready()

    def _ready(self):
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise AssertionError("replayhost did not print READY (%r): %s"
                                     % (line, self.stderr()))
            if select.select([self.proc.stdout], [], [], left)[0]:
                byte = os.read(self.proc.stdout.fileno(), 1)
                if not byte:
                    time.sleep(0.05)
                line += byte
        word, _, url = line.decode().strip().partition(" ")
        if word != "READY" or not re.match(r"^http://127\.0\.0\.1:\d+/wsman$", url):
            self.stop()
            raise AssertionError("bad first line from replayhost: %r" % line)
        return url

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM, wait, and return the final report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.returncode = self.proc.returncode
        self.proc.stdout.close()
        self._stderr.close()
        with open(self.report_path, encoding="utf-8") as f:
            return json.load(f)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.tmp.cleanup()


def post(url, text, auth=True, content_type="application/soap+xml;charset=UTF-8"):
    headers = {"Content-Type": content_type}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(b"vagrant:vagrant").decode()
    req = urllib.request.Request(url, data=text.encode("utf-8"), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as r:
            return r.status, r.read().decode("utf-8"), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8"), e.headers


def with_message_id(xml_text, mid):
    return re.sub(r"(<wsa:MessageID>)[^<]*(</wsa:MessageID>)", r"\g<1>%s\g<2>" % mid, xml_text)


def with_relates_to(xml_text, mid):
    return re.sub(r"(<a:RelatesTo>)[^<]*(</a:RelatesTo>)", r"\g<1>%s\g<2>" % mid, xml_text)


def with_send(xml_text, data, end):
    """The recorded Send request with its stream replaced."""
    def repl(mo):
        attrs = re.sub(r'\s*End="[^"]*"', "", mo.group(1))
        return '<rsp:Stream%s%s>%s</rsp:Stream>' % (
            attrs, ' End="true"' if end else "", base64.b64encode(data).decode())
    return re.sub(r"<rsp:Stream([^>]*)>[^<]*</rsp:Stream>", repl, xml_text)


def replay_raw(recording, requests, *extra):
    """POST `requests` [(xml, expected status or None)] in order; return (results, report)."""
    host = ReplayHost(recording, *extra)
    try:
        results = []
        for text, want in requests:
            status, body, headers = post(host.url, text)
            if want is not None:
                assert status == want, "request %d (%s): HTTP %d, expected %d: %s" % (
                    len(results) + 1, action_of(text).rsplit("/", 1)[-1], status, want, body[:400])
            results.append((status, body, headers))
        report = host.stop()
        report["_exit"] = host.returncode
        report["_stderr"] = host.stderr()
        return results, report
    finally:
        host.cleanup()


def assert_clean(report, skipped=()):
    assert report["mismatches"] == [], "mismatches: %s" % report["mismatches"]
    assert report["complete"], "recording not consumed: %d of %d" % (
        report["consumed"], report["recorded"])
    assert report["skipped"] == list(skipped), "skipped %s" % report["skipped"]
    assert report["_exit"] == 0, "replayhost exit %s" % report["_exit"]


# ---------------------------------------------------------------------------
# Self-check of replayhost with raw recorded requests

def selfcheck_verbatim():
    """Every recording, request by request: the recorded status and the recorded bytes."""
    for name in RECORDINGS:
        msgs = load(name)
        results, report = replay_raw(name, [(m["request"], None) for m in msgs])
        for i, (m, (status, body, headers)) in enumerate(zip(msgs, results)):
            want = 500 if m.get("transport_error") else 200
            assert status == want, "%s #%d: HTTP %d, recorded %d" % (name, i, status, want)
            assert body == m["response"], "%s #%d: body differs from the recording" % (name, i)
            assert headers.get("Content-Type") == "application/soap+xml;charset=UTF-8", headers
        assert_clean(report)
        assert report["served"] == len(msgs), report["served"]


def selfcheck_relates_to():
    """Fresh MessageIDs: RelatesTo is rewritten, nothing else changes."""
    msgs = load("test_winrs_standard")
    ids = ["uuid:%s" % str(uuid.uuid4()).upper() for _ in msgs]
    results, report = replay_raw("test_winrs_standard",
                                 [(with_message_id(m["request"], i), 200) for m, i in zip(msgs, ids)])
    for m, i, (_, body, _) in zip(msgs, ids, results):
        assert body == with_relates_to(m["response"], i), "RelatesTo not rewritten to %s" % i
    assert_clean(report)


def selfcheck_basic_challenge():
    """No Authorization: 401 Basic, not counted as a request."""
    host = ReplayHost("test_winrs_standard")
    try:
        status, _, headers = post(host.url, load("test_winrs_standard")[0]["request"], auth=False)
        assert status == 401, status
        assert "Basic" in headers.get("WWW-Authenticate", ""), headers
        report = host.stop()
        assert report["served"] == 0 and report["auth_challenges"] == 1, report
        assert not report["complete"] and host.returncode == 1, "an unfinished replay must fail"
    finally:
        host.cleanup()


def send_msgs():
    msgs = load("test_winrs_send")
    sends = [m for m in msgs if action_of(m["request"]).endswith("/Send")]
    data = b"".join(base64.b64decode(re.search(r">([^<]*)</rsp:Stream>", m["request"]).group(1))
                    for m in sends)
    return msgs, sends[0]["request"], data


def selfcheck_send_rechunked():
    """stdin cut differently (3 data Sends, then an empty End) replays cleanly;
    so does all of it in one Send with End."""
    msgs, tmpl, data = send_msgs()
    head = [(m["request"], 200) for m in msgs[:2]]
    tail = [(m["request"], 200) for m in msgs[4:]]
    chunks = [(data[:5], False), (data[5:30], False), (data[30:], False), (b"", True)]
    _, report = replay_raw("test_winrs_send",
                           head + [(with_send(tmpl, d, e), 200) for d, e in chunks] + tail)
    assert_clean(report)
    _, report = replay_raw("test_winrs_send", head + [(with_send(tmpl, data, True), 200)] + tail)
    assert_clean(report)


def selfcheck_send_wrong():
    """Wrong bytes, too few bytes, or no End: mismatches."""
    msgs, tmpl, data = send_msgs()
    head = [(m["request"], 200) for m in msgs[:2]]
    bad = data[:10] + b"X" + data[11:]
    _, report = replay_raw("test_winrs_send", head + [(with_send(tmpl, bad, True), 400)])
    assert "differs at byte 10" in str(report["mismatches"]), report["mismatches"]
    # all bytes but never End, then Receive
    _, report = replay_raw("test_winrs_send", head + [(with_send(tmpl, data, False), 200),
                                                      (msgs[4]["request"], 400)])
    assert "not closed" in str(report["mismatches"]), report["mismatches"]
    assert not report["complete"]
    # End before all bytes
    _, report = replay_raw("test_winrs_send", head + [(with_send(tmpl, data[:-1], True), 400)])
    assert "closed (End) after" in str(report["mismatches"]), report["mismatches"]


def selfcheck_wrong_ids():
    """A ShellId or CommandId the server did not hand out, or another command line: 400."""
    msgs = load("test_winrs_standard")
    create = (msgs[0]["request"], 200)
    bad_shell = msgs[1]["request"].replace("4283CBDC-3706-415B-88BD-B385F3E51A53",
                                           "11111111-2222-3333-4444-555555555555")
    _, report = replay_raw("test_winrs_standard", [create, (bad_shell, 400)])
    assert "ShellId selector" in str(report["mismatches"]), report["mismatches"]
    bad_cmd = msgs[2]["request"].replace("CF84C20A-0A35-43FA-AF78-0B4711DA5F30",
                                         "CF84C20A-0A35-43FA-AF78-0B4711DA5F31")
    _, report = replay_raw("test_winrs_standard", [create, (msgs[1]["request"], 200), (bad_cmd, 400)])
    assert "CommandId attributes" in str(report["mismatches"]), report["mismatches"]
    bad_args = msgs[1]["request"].replace("<rsp:Arguments>hi</rsp:Arguments>",
                                          "<rsp:Arguments>ho</rsp:Arguments>")
    _, report = replay_raw("test_winrs_standard", [create, (bad_args, 400)])
    assert "rsp:Arguments" in str(report["mismatches"]), report["mismatches"]
    _, report = replay_raw("test_winrs_standard", [(msgs[1]["request"], 400)])
    assert "action" in str(report["mismatches"]), report["mismatches"]


def selfcheck_signal():
    """The release signal after Done may be terminate (either case); ctrl_break may not."""
    msgs = load("test_winrs_standard")
    head = [(m["request"], 200) for m in msgs[:3]]
    for code, want in (("terminate", 200), ("Terminate", 200), ("ctrl_break", 400)):
        sig = msgs[3]["request"].replace("/signal/ctrl_c", "/signal/" + code)
        _, report = replay_raw("test_winrs_standard",
                               head + [(sig, want), (msgs[4]["request"], 200 if want == 200 else 400)])
        if want == 200:
            assert_clean(report)
            assert report["log"][3]["signal"].endswith("/signal/" + code), report["log"][3]
        else:
            assert report["mismatches"], code


def selfcheck_after_end():
    """A request after the recording ended: 500 and a mismatch."""
    msgs = load("test_winrs_standard")
    _, report = replay_raw("test_winrs_standard",
                           [(m["request"], 200) for m in msgs] + [(msgs[4]["request"], 500)])
    assert "after the recording ended" in str(report["mismatches"]), report["mismatches"]
    assert report["_exit"] == 1


def selfcheck_early_delete():
    """no_cmd_shell: Create, Command (fault), Delete skips the recorded retry only
    with --allow-early-delete."""
    msgs = load("test_winrs_no_cmd_shell")
    reqs = [(msgs[0]["request"], 200), (msgs[1]["request"], 500), (msgs[5]["request"], 200)]
    _, report = replay_raw("test_winrs_no_cmd_shell", reqs, "--allow-early-delete")
    assert_clean(report, skipped=[2, 3, 4])
    reqs[-1] = (msgs[5]["request"], 400)
    _, report = replay_raw("test_winrs_no_cmd_shell", reqs)
    assert report["mismatches"] and not report["complete"]


def selfcheck_unreleased_delete():
    """standard: Create, Command, Receive (Done), Delete skips the recorded release
    Signal only with --allow-unreleased-delete, and never skips a Receive."""
    msgs = load("test_winrs_standard")
    assert [action_of(m["request"]).rsplit("/", 1)[-1] for m in msgs] == [
        "Create", "Command", "Receive", "Signal", "Delete"]
    reqs = [(msgs[i]["request"], 200) for i in (0, 1, 2, 4)]
    _, report = replay_raw("test_winrs_standard", reqs, "--allow-unreleased-delete")
    assert_clean(report, skipped=[3])
    reqs[-1] = (msgs[4]["request"], 400)
    _, report = replay_raw("test_winrs_standard", reqs)
    assert report["mismatches"] and not report["complete"]
    # Before Done the recorded Signal is no release: the Delete may not skip
    # the Receive nor it.
    reqs = [(msgs[0]["request"], 200), (msgs[1]["request"], 200), (msgs[4]["request"], 400)]
    _, report = replay_raw("test_winrs_standard", reqs, "--allow-unreleased-delete")
    assert report["mismatches"] and not report["complete"] and report["skipped"] == []


SELFCHECKS = [selfcheck_verbatim, selfcheck_relates_to, selfcheck_basic_challenge,
              selfcheck_send_rechunked, selfcheck_send_wrong, selfcheck_wrong_ids,
              selfcheck_signal, selfcheck_after_end, selfcheck_early_delete,
              selfcheck_unreleased_delete]


# ---------------------------------------------------------------------------
# winrsh against the replays

def run_winrsh(url, sc, tmp):
    config = os.path.join(tmp, "config")
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "trustedhosts"), "w") as f:
        f.write("127.0.0.1\n")
    env = dict(os.environ)
    env.update(WINRSH_PASSWORD="vagrant", WINRSH_CONFIG_DIR=config, HOME=tmp,
               XDG_CONFIG_HOME=os.path.join(tmp, "xdg"), LC_ALL="C.UTF-8")
    cmd = [WINRSH, "--shell", "cmd", "-a", "basic", "--allow-unencrypted", "-u", "vagrant"]
    if sc["stdin"] is None:
        cmd.append("-n")
    cmd += [url] + sc["argv"]
    try:
        p = subprocess.run(cmd, input=sc["stdin"] if sc["stdin"] is not None else None,
                           stdin=subprocess.DEVNULL if sc["stdin"] is None else None,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=WINRSH_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("winrsh did not finish in %d s: %s\nstderr: %r"
                             % (WINRSH_TIMEOUT_S, shlex.join(cmd), e.stderr))
    return cmd, p


def replay_winrsh(name):
    if not os.access(WINRSH, os.X_OK):
        raise AssertionError("no winrsh binary at %s (build it first)" % WINRSH)
    sc = scenario(name)
    extra = ["--allow-early-delete"] if sc["fault"] else ["--allow-unreleased-delete"]
    host = ReplayHost(name, *extra)
    tmp = tempfile.TemporaryDirectory(prefix="replay-winrsh-")
    try:
        cmd, p = run_winrsh(host.url, sc, tmp.name)
        report = host.stop()
        errs = []
        if sc["fault"]:
            # winrsh does not retry a failed Command (pypsrp did, with a full
            # path): exit 255, the server's fault text on stderr, and the
            # shell still deleted (Create, Command, Delete; the recorded retry
            # skipped).
            if p.returncode != 255:
                errs.append("exit %d, expected 255 (winrsh failed)" % p.returncode)
            if p.stdout != b"":
                errs.append("stdout %r, expected nothing" % p.stdout)
            if sc["fault"].encode() not in p.stderr:
                errs.append("stderr lacks the fault's text %r" % sc["fault"])
            want_skipped = list(range(2, report["recorded"] - 1))
        else:
            if p.returncode != sc["rc"]:
                errs.append("exit %d, recorded %d" % (p.returncode, sc["rc"]))
            if p.stdout != sc["stdout"]:
                errs.append("stdout %r, recorded %r" % (p.stdout[:300], sc["stdout"][:300]))
            if p.stderr != sc["stderr"]:
                errs.append("stderr %r, recorded %r" % (p.stderr[:600], sc["stderr"][:300]))
            # The recorded release signal after Done is the one message
            # winrsh leaves out: its Delete follows at once (MS-WSMV 3.1.4.4.1).
            msgs = load(name)
            want_skipped = [i for i, m in enumerate(msgs)
                            if action_of(m["request"]) == SHELL + "/Signal"][-1:]
            signals = [e.get("signal") for e in report["log"] if e.get("signal")]
            if signals:
                errs.append("signals sent %r, expected none: the shell's Delete ends the "
                            "finished command" % signals)
        for mm in report["mismatches"]:
            errs.append("replay mismatch at request %s (recorded #%s): %s"
                        % (mm["request"], mm["recorded_index"], "; ".join(mm["problems"])))
        if not report["complete"]:
            msgs = load(name)
            nxt = msgs[report["consumed"]]["request"] if report["consumed"] < len(msgs) else None
            errs.append("recording not consumed: %d of %d messages answered; next recorded: %s"
                        % (report["consumed"], report["recorded"],
                           action_of(nxt).rsplit("/", 1)[-1] if nxt else "-"))
        if report["skipped"] != want_skipped:
            errs.append("skipped recorded messages %r, expected %r" % (report["skipped"], want_skipped))
        if errs:
            raise AssertionError(
                "\n    ".join(["%s:" % shlex.join(cmd)] + errs)
                + "\n    requests: %s" % ", ".join(
                    "%s->%s" % ((e.get("action") or "?").rsplit("/", 1)[-1], e.get("status"))
                    for e in report["log"])
                + "\n    winrsh stderr: %r" % p.stderr[:800]
                + "\n    replayhost stderr:\n      "
                + "\n      ".join(host.stderr().splitlines()[-15:]))
    finally:
        host.cleanup()
        tmp.cleanup()


# ---------------------------------------------------------------------------

def main():
    def on_alarm(signum, frame):
        raise TimeoutError("test_replay exceeded %d s" % BUDGET_S)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(BUDGET_S)
    cases = [("selfcheck/" + f.__name__[len("selfcheck_"):], f) for f in SELFCHECKS]
    cases += [("replay/" + name, (lambda n=name: replay_winrsh(n))) for name in RECORDINGS]
    passed = failed = 0
    for label, fn in cases:
        t0 = time.monotonic()
        try:
            fn()
        except TimeoutError:
            failed += 1
            print("FAIL %s: out of time" % label)
            break
        except AssertionError as e:
            failed += 1
            print("FAIL %s: %s" % (label, e))
        except Exception:  # noqa: BLE001 - a broken case must not hide the others
            failed += 1
            print("FAIL %s: %s" % (label, traceback.format_exc()))
        else:
            passed += 1
            print("ok   %s (%.2f s)" % (label, time.monotonic() - t0))
        sys.stdout.flush()
    signal.alarm(0)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
