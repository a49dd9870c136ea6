#!/usr/bin/python3
"""make_corpus.py: write the seed corpora of the fuzz targets from the real
recordings in tests/fixtures (see tests/fuzz/README.md).

    /usr/bin/python3 tests/fuzz/make_corpus.py [--check]

Every corpus/<target>/ directory is replaced. The inputs are taken from:

  pypsrp/responses/*.yml     SOAP replies and faults; the PSRP fragments of
                             rsp:Stream (responses) and rsp:Send/creationXml
                             (requests); the messages reassembled from them;
                             their CLIXML bodies; the wsa:To endpoints
  pypsrp/data/*.xml          CLIXML as PowerShell writes it to stderr
  winrb-winrm/responses      OMI and Windows replies and faults
  pyspnego/ntlm_*            NTLM messages from a Windows DC
  ntlm-ms-nlmp-4.2           the MS-NLMP 4.2.4 CHALLENGE and AUTHENTICATE
  tests/unit/test_options.c  the command lines the unit tests pin

Inputs that need framing the recordings do not have (multipart/encrypted
bodies, HTTP header blocks, out-of-process lines, TrustedHosts patterns) are
built here around the recorded bytes, in the layout the parsers' comments
draw. The output is deterministic: running it twice gives the same files.
--check only reports what would change (exit 1 if anything would).

Packages: python3-yaml (Debian), as the test host uses.
"""
import base64
import hashlib
import json
import os
import re
import shutil
import struct
import sys
import tempfile
import xml.etree.ElementTree as ET

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures"))
UNIT = os.path.normpath(os.path.join(HERE, "..", "unit"))

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "ps": "http://schemas.microsoft.com/powershell",
}
MAX_SEED = 48 * 1024  # bytes per seed file: small seeds fuzz faster

MSG_TYPES = {
    0x00010002: "SESSION_CAPABILITY", 0x00010004: "INIT_RUNSPACEPOOL",
    0x00010005: "PUBLIC_KEY", 0x00010006: "ENCRYPTED_SESSION_KEY",
    0x00010007: "PUBLIC_KEY_REQUEST", 0x00010008: "CONNECT_RUNSPACEPOOL",
    0x00021002: "SET_MAX_RUNSPACES", 0x00021003: "SET_MIN_RUNSPACES",
    0x00021004: "RUNSPACE_AVAILABILITY", 0x00021005: "RUNSPACEPOOL_STATE",
    0x00021006: "CREATE_PIPELINE", 0x00021007: "GET_AVAILABLE_RUNSPACES",
    0x00021008: "USER_EVENT", 0x00021009: "APPLICATION_PRIVATE_DATA",
    0x0002100A: "GET_COMMAND_METADATA", 0x0002100B: "RUNSPACEPOOL_INIT_DATA",
    0x0002100C: "RESET_RUNSPACE_STATE", 0x00021100: "RUNSPACEPOOL_HOST_CALL",
    0x00021101: "RUNSPACEPOOL_HOST_RESPONSE", 0x00041002: "PIPELINE_INPUT",
    0x00041003: "END_OF_PIPELINE_INPUT", 0x00041004: "PIPELINE_OUTPUT",
    0x00041005: "ERROR_RECORD", 0x00041006: "PIPELINE_STATE",
    0x00041007: "DEBUG_RECORD", 0x00041008: "VERBOSE_RECORD",
    0x00041009: "WARNING_RECORD", 0x00041010: "PROGRESS_RECORD",
    0x00041011: "INFORMATION_RECORD", 0x00041100: "PIPELINE_HOST_CALL",
    0x00041101: "PIPELINE_HOST_RESPONSE",
}


# ---------------------------------------------------------------------------
# Reading the recordings


def recordings():
    """(name, [(request, response, http_500)]) for every pypsrp recording."""
    d = os.path.join(FIXTURES, "pypsrp", "responses")
    for fn in sorted(os.listdir(d)):
        if not fn.endswith(".yml") or fn.startswith("_"):
            continue
        with open(os.path.join(d, fn), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        msgs = []
        for m in (doc or {}).get("messages") or []:
            te = m.get("transport_error") or {}
            msgs.append((m.get("request"), m.get("response"), te.get("code") == 500))
        yield fn[:-4], msgs


def xml_of(text):
    try:
        return ET.fromstring(text.encode("utf-8"))
    except ET.ParseError:
        return None


def action_of(text):
    """The short action of a reply ("ReceiveResponse", "Fault", ...)."""
    root = xml_of(text)
    if root is None:
        return "notxml"
    body = root.find("s:Body", NS)
    if body is not None and body.find("s:Fault", NS) is not None:
        return "Fault"
    act = root.find("s:Header/a:Action", NS)
    if act is not None and act.text:
        return act.text.rstrip("/").rsplit("/", 1)[-1]
    if body is not None and len(body):
        return body[0].tag.split("}")[-1]
    return "empty"


def fragments_in(text, request):
    """The decoded PSRP fragment buffers of one envelope, in order."""
    root = xml_of(text) if text else None
    if root is None:
        return []
    out = []
    if request:
        # CREATE_PIPELINE travels in the Command's rsp:Arguments.
        paths = [".//rsp:Send/rsp:Stream", ".//ps:creationXml", ".//ps:connectXml",
                 ".//rsp:CommandLine/rsp:Arguments"]
    else:
        paths = [".//rsp:ReceiveResponse/rsp:Stream", ".//ps:connectResponseXml"]
    seen = set()
    for p in paths:
        for el in root.findall(p, NS):
            if id(el) in seen or not (el.text or "").strip():
                continue
            seen.add(id(el))
            try:
                out.append(base64.b64decode(el.text.strip(), validate=False))
            except Exception:
                pass
    return out


def split_fragments(buf):
    """[(object_id, fragment_id, flags, blob)], or None if malformed."""
    out, off = [], 0
    while off < len(buf):
        if len(buf) - off < 21:
            return None
        oid, fid, flags, blen = struct.unpack(">QQBI", buf[off:off + 21])
        if len(buf) - off - 21 < blen:
            return None
        out.append((oid, fid, flags, buf[off + 21:off + 21 + blen]))
        off += 21 + blen
    return out


def psrp_streams():
    """Every fragment buffer of the recordings: (recording, direction, bytes)."""
    for name, msgs in recordings():
        for req, resp, _ in msgs:
            for b in fragments_in(req, True):
                yield name, "c2s", b
            for b in fragments_in(resp, False):
                yield name, "s2c", b


def reassembled():
    """Complete PSRP messages: (recording, direction, message bytes)."""
    for name, msgs in recordings():
        for direction, idx in (("c2s", 0), ("s2c", 1)):
            partial = {}
            for m in msgs:
                for b in fragments_in(m[idx], direction == "c2s"):
                    frags = split_fragments(b)
                    for oid, fid, flags, blob in frags or []:
                        if flags & 1:
                            partial[oid] = bytearray()
                        if oid not in partial:
                            continue
                        partial[oid] += blob
                        if flags & 2:
                            yield name, direction, bytes(partial.pop(oid))


# ---------------------------------------------------------------------------
# Writing


class Corpus:
    def __init__(self, root):
        self.root = root
        self.files = {}  # target -> {name: bytes}

    def add(self, target, name, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:100]
        files = self.files.setdefault(target, {})
        if data in files.values():
            return  # the same input twice adds nothing
        base, n = name, 1
        while name in files:
            n += 1
            name = "%s-%d" % (base, n)
        files[name] = data

    def write(self, check):
        changed = []
        for target in sorted(self.files):
            d = os.path.join(self.root, target)
            want = self.files[target]
            have = {}
            if os.path.isdir(d):
                for fn in os.listdir(d):
                    with open(os.path.join(d, fn), "rb") as f:
                        have[fn] = f.read()
            if have != want:
                changed.append(target)
                if not check:
                    shutil.rmtree(d, ignore_errors=True)
                    os.makedirs(d)
                    for fn, data in sorted(want.items()):
                        with open(os.path.join(d, fn), "wb") as f:
                            f.write(data)
        return changed

    def summary(self):
        total = 0
        for target in sorted(self.files):
            n = sum(len(v) for v in self.files[target].values())
            total += n
            print("%-16s %4d files %8d bytes" % (target, len(self.files[target]), n))
        print("%-16s %4d files %8d bytes" % ("total", sum(len(v) for v in self.files.values()), total))


def pick_smallest(items, key, limit_each=1, max_size=MAX_SEED):
    """From (key, data) pairs keep, per key, the smallest and (limit_each 2)
    also the largest below max_size: the short form and the rich one."""
    by = {}
    for k, data in items:
        if len(data) <= max_size:
            by.setdefault(key(k), []).append((len(data), k, data))
    out = []
    for k in sorted(by):
        ranked = sorted(by[k], key=lambda t: (t[0], t[1]))
        chosen = ranked[:1] + (ranked[-1:] if limit_each > 1 and len(ranked) > 1 else [])
        for _, name, data in chosen:
            out.append((name, data))
    return out


# ---------------------------------------------------------------------------
# The targets


def soap(c):
    items = []
    for name, msgs in recordings():
        for i, (req, resp, h500) in enumerate(msgs):
            if resp:
                act = action_of(resp) + ("-500" if h500 else "")
                items.append(((act, name, i), resp.encode("utf-8")))
    # Per action: the smallest and one of the larger ones (real stream data).
    for (act, name, i), data in pick_smallest(items, key=lambda k: k[0], limit_each=2):
        c.add("soap", "%s-%s-%d.xml" % (act, name, i), data)
    # The last Receive of a command: CommandState Done with its ExitCode.
    done = [(k, d) for k, d in items if k[0] == "ReceiveResponse" and b"<rsp:ExitCode>" in d]
    for (act, name, i), data in pick_smallest(done, key=lambda k: k[0]):
        c.add("soap", "%s-Done-%s-%d.xml" % (act, name, i), data)
    d = os.path.join(FIXTURES, "winrb-winrm", "responses")
    for fn in sorted(os.listdir(d)):
        with open(os.path.join(d, fn), "rb") as f:
            c.add("soap", "winrb-" + fn, f.read())
    # Identify (DSP0226 11) is not in the recordings: the reply as Windows
    # sends it, so the Identify path of the target starts from a real shape.
    c.add("soap", "synth-IdentifyResponse.xml",
          '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
          'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
          "<s:Header/><s:Body><wsmid:IdentifyResponse>"
          "<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
          "</wsmid:ProtocolVersion><wsmid:ProductVendor>Microsoft Corporation"
          "</wsmid:ProductVendor><wsmid:ProductVersion>OS: 0.0.0 SP: 0.0 Stack: 3.0"
          "</wsmid:ProductVersion></wsmid:IdentifyResponse></s:Body></s:Envelope>")


def small_replies(n):
    """n small recorded replies of different actions, for wrapping."""
    items = []
    for name, msgs in recordings():
        for i, (req, resp, _) in enumerate(msgs):
            if resp:
                items.append(((action_of(resp), name, i), resp.encode("utf-8")))
    picked = pick_smallest(items, key=lambda k: k[0], max_size=4096)
    return [(k[0], d) for k, d in picked[:n]]


SPNEGO = "application/HTTP-SPNEGO-session-encrypted"
KERBEROS = "application/HTTP-Kerberos-session-encrypted"
CREDSSP = "application/HTTP-CredSSP-session-encrypted"


def pair(protocol, plain, sig_len, length=None, boundary="--Encrypted Boundary"):
    """One encrypted pair as encrypt.c draws it; the fake mechanism of the
    target unwraps by copying, so the sealed bytes are the plaintext."""
    if length is None:
        length = len(plain)
    return (("%s\r\n\tContent-Type: %s\r\n"
             "\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n"
             "%s\r\n\tContent-Type: application/octet-stream\r\n")
            % (boundary, protocol, length, boundary)).encode() + \
        struct.pack("<I", sig_len) + bytes(range(sig_len)) + plain


def content_type(kind, protocol, quoted=True):
    b = '"Encrypted Boundary"' if quoted else "Encrypted Boundary"
    return ("%s;protocol=\"%s\";boundary=%s" % (kind, protocol, b)).encode()


def encrypted(c):
    replies = small_replies(4)
    for act, plain in replies[:2]:
        c.add("encrypted", "spnego-%s" % act,
              content_type("multipart/encrypted", SPNEGO) + b"\n" +
              pair(SPNEGO, plain, 16) + b"--Encrypted Boundary--\r\n")
    act, plain = replies[2]
    c.add("encrypted", "kerberos-%s" % act,
          content_type("multipart/encrypted", KERBEROS, quoted=False) + b"\n" +
          pair(KERBEROS, plain, 60) + b"--Encrypted Boundary--\r\n")
    # Exchange's spelling: a space after the dashes, no final CRLF.
    act, plain = replies[3]
    c.add("encrypted", "spnego-spaced-%s" % act,
          content_type("multipart/encrypted", SPNEGO) + b"\n" +
          pair(SPNEGO, plain, 16, boundary="-- Encrypted Boundary") + b"-- Encrypted Boundary--")
    # CredSSP over 16 KiB: one pair per chunk (chunks kept small here).
    act, plain = replies[0]
    body = b""
    for off in range(0, len(plain), 400):
        body += pair(CREDSSP, plain[off:off + 400], 37)
    c.add("encrypted", "credssp-multi-%s" % act,
          content_type("multipart/x-multi-encrypted", CREDSSP) + b"\n" + body +
          b"--Encrypted Boundary--\r\n")
    # Kerberos RC4 pads: Length counts the padding the mechanism appended.
    act, plain = replies[1]
    c.add("encrypted", "kerberos-padded-%s" % act,
          content_type("multipart/encrypted", KERBEROS) + b"\n" +
          pair(KERBEROS, plain + b"\x01", 45) + b"--Encrypted Boundary--\r\n")


def read_fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), "rb") as f:
        return f.read()


def nlmp_424():
    with open(os.path.join(FIXTURES, "ntlm-ms-nlmp-4.2", "ms-nlmp-4.2-vectors.json")) as f:
        v = json.load(f)["ntlmv2_4.2.4"]
    return bytes.fromhex(v["challenge_message"]), bytes.fromhex(v["authenticate_message"])


def ntlm(c):
    for fn in ("ntlm_negotiate", "ntlm_challenge", "ntlm_authenticate",
               "ntlm_authenticate_no_sign_seal"):
        c.add("ntlm_challenge", "pyspnego-" + fn, read_fixture("pyspnego", fn))
    ch, auth = nlmp_424()
    c.add("ntlm_challenge", "ms-nlmp-4.2.4-challenge", ch)
    c.add("ntlm_challenge", "ms-nlmp-4.2.4-authenticate", auth)
    # The AV pair list alone (the target also parses its input as one).
    with open(os.path.join(FIXTURES, "ntlm-ms-nlmp-4.2", "ms-nlmp-4.2-vectors.json")) as f:
        av = bytes.fromhex(json.load(f)["ntlmv2_4.2.4"]["target_info_av_pairs"])
    c.add("ntlm_challenge", "ms-nlmp-4.2.4-av-pairs", av)

    # Client: 2-byte length, CHALLENGE, then a sealed message (16-byte
    # signature + sealed bytes) for unwrap.
    sealed = bytes.fromhex("01000000") + bytes(12) + b"sealed message body"
    for label, msg in (("pyspnego", read_fixture("pyspnego", "ntlm_challenge")),
                       ("ms-nlmp-4.2.4", ch)):
        c.add("ntlm_client", label + "-challenge", struct.pack(">H", len(msg)) + msg)
        c.add("ntlm_client", label + "-challenge-sealed",
              struct.pack(">H", len(msg)) + msg + sealed)


def http_headers(c):
    ch = read_fixture("pyspnego", "ntlm_challenge")
    tok = base64.b64encode(ch).decode()
    soap_reply = small_replies(1)[0][1]
    c.add("http_headers", "401-offer",
          "HTTP/1.1 401 \r\nServer: Microsoft-HTTPAPI/2.0\r\n"
          "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: Kerberos\r\n"
          "WWW-Authenticate: CredSSP\r\nDate: Tue, 01 Jan 2019 00:00:00 GMT\r\n"
          "Content-Length: 0\r\n\r\n")
    c.add("http_headers", "401-ntlm-challenge",
          "HTTP/1.1 401 \r\nWWW-Authenticate: Negotiate %s\r\n"
          "Content-Length: 0\r\n\r\n" % tok)
    c.add("http_headers", "401-basic-realm",
          'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="WSMAN"\r\n'
          "WWW-Authenticate: NTLM\r\n\r\n")
    c.add("http_headers", "200-soap",
          b"HTTP/1.1 200 \r\nContent-Type: application/soap+xml;charset=UTF-8\r\n"
          b"Content-Length: %d\r\n\r\n" % len(soap_reply) + soap_reply)
    c.add("http_headers", "200-encrypted",
          b"HTTP/1.1 200 \r\nWWW-Authenticate: Negotiate oRswGaADCgEAoxIEEAEAAAA=\r\n"
          b"Content-Type: " + content_type("multipart/encrypted", SPNEGO) + b"\r\n\r\n" +
          pair(SPNEGO, soap_reply, 16) + b"--Encrypted Boundary--\r\n")


def psrp(c):
    # Fragments: per recording and direction, the buffers with the most
    # distinct message types first; small ones only.
    items = []
    for name, direction, buf in psrp_streams():
        frags = split_fragments(buf)
        if frags is None:
            continue
        types = tuple(sorted({struct.unpack("<I", b[4:8])[0] for _, fid, fl, b in frags
                              if fl & 1 and len(b) >= 8}))
        items.append(((direction, types, name), buf))
    for (direction, types, name), buf in pick_smallest(items, key=lambda k: (k[0], k[1])):
        tn = "+".join(MSG_TYPES.get(t, "%08x" % t) for t in types) or "continuation"
        c.add("psrp_fragment", "%s-%s-%s" % (direction, tn, name), buf)

    # Messages and their CLIXML: the smallest and the largest (below the
    # size bound) of each type.
    items = []
    for name, direction, msg in reassembled():
        if len(msg) >= 40:
            items.append(((struct.unpack("<I", msg[4:8])[0], direction, name), msg))
    for (t, direction, name), msg in pick_smallest(items, key=lambda k: (k[0], k[1]),
                                                   limit_each=2, max_size=16 * 1024):
        label = "%s-%s-%s" % (MSG_TYPES.get(t, "%08x" % t), direction, name)
        c.add("psrp_message", label, msg)
        body = msg[40:]
        if body.strip():
            c.add("clixml", label + ".xml", body)
    # The recordings carry few primitive kinds (S, I32, B, Obj...): one
    # object with every primitive of MS-PSRP 2.2.5.1, values as its examples
    # write them, so the fuzzer starts from each kind and from the edges of
    # the numeric ranges.
    prims = [
        ("S", "Str", "a_x000A_b_x005F_x_xD83D__xDE00_"), ("C", "Char", "97"),
        ("B", "Bool", "true"), ("DT", "Date", "2008-04-11T10:42:32.2731993-07:00"),
        ("TS", "Span", "PT9.0269026S"), ("By", "U8", "254"), ("SB", "I8", "-127"),
        ("U16", "U16", "65535"), ("I16", "I16", "-32768"), ("U32", "U32", "4294967295"),
        ("I32", "I32", "-2147483648"), ("U64", "U64", "18446744073709551615"),
        ("I64", "I64", "-9223372036854775808"), ("Sg", "Float", "12.34"),
        ("Db", "Double", "-1.7976931348623157E+308"), ("D", "Decimal", "12.34"),
        ("BA", "Bytes", "AQIDBA=="), ("G", "Guid", "792e5b37-4505-47ef-b7d2-8711bb7affa8"),
        ("URI", "Uri", "http://www.microsoft.com/"), ("Version", "Version", "6.2.1.3"),
        ("XD", "Xml", "&lt;name attribute=\"value\"&gt;Content&lt;/name&gt;"),
        ("SBK", "Script", "get-command -type cmdlet"),
        ("SS", "Secure", "ZQBuAGMAcgB5AHAAdABlAGQA"),
    ]
    ms = "".join('<%s N="%s">%s</%s>' % (t, n, v, t) for t, n, v in prims)
    c.add("clixml", "synth-all-primitives.xml",
          '<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
          '<Obj RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
          '<T>System.Object</T></TN><ToString>all</ToString><MS>' + ms + '<Nil N="Null" />'
          '<Obj N="Stack" RefId="1"><TN RefId="1"><T>System.Collections.Stack</T></TN>'
          '<STK><I32>1</I32></STK></Obj><Obj N="Queue" RefId="2"><TNRef RefId="1" />'
          '<QUE><I32>2</I32></QUE></Obj><Obj N="Enumerable" RefId="3"><IE><Ref RefId="1" />'
          '</IE></Obj></MS></Obj></Objs>')
    for fn in sorted(os.listdir(os.path.join(FIXTURES, "pypsrp", "data"))):
        text = read_fixture("pypsrp", "data", fn)
        # PowerShell's stderr form starts with "#< CLIXML"; the document follows.
        c.add("clixml", fn, re.sub(rb"^#< CLIXML\r?\n", b"", text))


def outofproc(c):
    # Real fragments (a SESSION_CAPABILITY + INIT_RUNSPACEPOOL from the
    # client side, the server's answers) in the packets of PROTOCOL.md 5.
    c2s = s2c = None
    for name, direction, buf in psrp_streams():
        if direction == "c2s" and c2s is None and len(buf) < 8192:
            c2s = buf
        if direction == "s2c" and s2c is None and len(buf) < 8192:
            s2c = buf
    zero = "00000000-0000-0000-0000-000000000000"
    pid = "4a3b0f5e-2c1d-4e6f-8a9b-0c1d2e3f4a5b"

    def data(guid, buf, stream="Default"):
        return "<Data Stream='%s' PSGuid='%s'>%s</Data>\n" % (
            stream, guid, base64.b64encode(buf).decode())

    c.add("outofproc", "pool-open",
          data(zero, c2s) + "<DataAck PSGuid='%s' />\n" % zero + data(zero, s2c))
    c.add("outofproc", "pipeline-lifecycle",
          "<Command PSGuid='%s' />\n<CommandAck PSGuid='%s' />\n" % (pid, pid) +
          data(pid, s2c) + "<DataAck PSGuid='%s' />\r\n" % pid +
          "<Signal PSGuid='%s' />\n<SignalAck PSGuid='%s' />\n" % (pid, pid) +
          "<Close PSGuid='%s' />\n<CloseAck PSGuid='%s' />\n" % (pid, pid) +
          "<CloseAck PSGuid='%s' />\n" % zero)
    c.add("outofproc", "prompt-response-crlf",
          data(pid, c2s, "PromptResponse").replace("\n", "\r\n") +
          '<DataAck PSGuid="%s"/>\r\n' % pid)
    c.add("outofproc", "empty-data", "<Data Stream='Default' PSGuid='%s'></Data>\n" % zero)
    c.add("outofproc", "hyperv-error",
          "__HyperVSocketError__:The credential is invalid.\n")
    c.add("outofproc", "ssh-text-error",
          "subsystem request failed on channel 0\r\n<CloseAck PSGuid='%s' />\n" % zero)
    # fuzz_outofproc_conn: the same streams, and one whole conversation in
    # the order that target's client goes (see its comment).
    for name, data_ in list(c.files["outofproc"].items()):
        c.add("outofproc_conn", name, data_)
    c.add("outofproc_conn", "conversation",
          "<DataAck PSGuid='%s' />\n" % zero + data(zero, s2c) +
          "<CommandAck PSGuid='%s' />\n" % pid + data(pid, s2c) +
          "<DataAck PSGuid='%s' />\n<SignalAck PSGuid='%s' />\n" % (pid, pid) +
          data(pid, s2c) + "<CloseAck PSGuid='%s' />\n<CloseAck PSGuid='%s' />\n" % (pid, zero))


def trustedhosts(c):
    hosts_file = "# winrsh TrustedHosts\n*.domain.local\n\n192.168.56.*, [::1]\nserver2019.domain.test\n"
    cases = [
        ("star", "*", "server2019.domain.test"),
        ("suffix", "*.domain.local", "server2016.domain.local"),
        ("ipv4-glob", "192.168.56.*", "192.168.56.11"),
        ("ipv4-exact", "127.0.0.1", "127.0.0.1"),
        ("ipv6", "::1", "[0:0::1]"),
        ("ipv6-bracket-zone", "[fe80::1%eth0]", "fe80::1%eth0"),
        ("ipv6-glob", "fe80::*", "[FE80::1]"),
        ("local", "<local>", "server2008r2"),
        ("prefix", "web*", "webserver.domain.test."),
        ("list", "server2016.domain.local, 192.168.56.6,*.domain.test", "192.168.56.6"),
        ("bad", "bad pattern,", "host"),
    ]
    for label, pattern, host in cases:
        c.add("trustedhosts", label, "%s\n%s\n%s" % (pattern, host, hosts_file if label in (
            "star", "list") else ""))


def c_strings(args):
    """The C string literals of a macro argument list, unescaped."""
    out = []
    for m in re.finditer(r'"((?:[^"\\]|\\.)*)"', args):
        s = m.group(1)
        s = re.sub(r"\\(.)", lambda e: {"n": "\n", "t": "\t", "0": "\0"}.get(e.group(1),
                                                                             e.group(1)), s)
        out.append(s)
    return out


def cli_options(c):
    with open(os.path.join(UNIT, "test_options.c"), encoding="utf-8") as f:
        src = f.read()
    seen = []
    for m in re.finditer(r"\bPARSE\(((?:[^()]|\([^()]*\))*)\)", src):
        argv = c_strings(m.group(1))
        if argv and argv not in seen:
            seen.append(argv)
    # Every third invocation: tens of seeds, each option and TARGET form
    # still present several times over.
    for i, argv in enumerate(seen):
        if i % 3 == 0:
            c.add("cli_options", "test_options-%03d" % i, "\0".join(argv))
    # Endpoints of the recordings as TARGETs.
    for i, url in enumerate(endpoints()):
        c.add("cli_options", "endpoint-%02d" % i, "-u\0DOMAIN\\user\0%s\0ipconfig\0/all" % url)


def endpoints():
    urls = set()
    for name, msgs in recordings():
        for req, _, _ in msgs:
            for m in re.finditer(r"<wsa:To>([^<]+)</wsa:To>", req or ""):
                urls.add(m.group(1))
    return sorted(urls)


def session_url(c):
    for i, url in enumerate(endpoints()):
        c.add("session_url", "endpoint-%02d" % i, url)
    for label, url in (("ipv6", "https://[fe80::1]:5986/wsman"),
                       ("no-path", "HTTP://Server2019.domain.test:5985"),
                       ("omi-path", "https://omi.example:5986/wsman/"),
                       ("userinfo", "http://user:pass@host/wsman"),
                       ("query", "http://host:5985/wsman?x=1"),
                       ("ssh", "ssh://DOMAIN%5Cuser@[fe80::1]:22"),
                       ("vsock", "vsock://3:5985"),
                       ("vmbus", "vmbus://user@{2fb1a4ad-fc2e-4c9c-b2f6-d4d1e5a3a9c7}/JEA"),
                       ("process", "process:///usr/bin/pwsh")):
        c.add("session_url", label, url)


def hvsocket(c):
    # The conversations of transport/hvsocket.h: one reply per line, an
    # empty line between connections (broker, [broker again,] server).
    vm = "{2fb1a4ad-fc2e-4c9c-b2f6-d4d1e5a3a9c7}"
    token = "TOKEN 5d41402abc4b2a76b9719d911017c592"
    modern = ["VERSION_2", "PASS", "PASS", "PASS", "CONF", "PASS", token, "",
              "VERSION_2", "PASS", "PASS", ""]
    c.add("hvsocket", "modern-config",
          "vmbus://Administrator@%s/Microsoft.PowerShell\n" % vm + "\n".join(modern) + "\n")
    c.add("hvsocket", "modern-no-config",
          "vmbus://DOMAIN%%5Cuser@%s\n" % vm.strip("{}") +
          "\n".join(["VERSION_2", "PASS", "PASS", "PASS", "PASS", token, "",
                     "VERSION_3", "PASS", "PASS"]) + "\n")
    # The target's second pass has a password and a configuration name.
    c.add("hvsocket", "modern-password",
          "vmbus://%s\n" % vm + "\n".join(["VERSION_2", "PASS", "PASS", "PASS", "PASS", "CONF",
                                           "PASS", token, "", "VERSION_2", "PASS", "PASS"]))
    c.add("hvsocket", "legacy",
          "vmbus://user@%s\n" % vm + "\n".join(["PASS", "PASS", "FAIL", "", "PASS", "PASS",
                                                "CONF", "", ""]) + "\n")
    c.add("hvsocket", "bad-credentials",
          "vmbus://user@%s\n" % vm + "\n".join(["VERSION_2", "PASS", "PASS", "PASS", "FAIL"]))
    c.add("hvsocket", "token-refused",
          "vmbus://user@%s/cfg\n" % vm + "\n".join(modern[:8] + ["VERSION_2", "PASS",
                                                                "FAIL\0\0"]))


def main():
    check = "--check" in sys.argv[1:]
    c = Corpus(os.path.join(HERE, "corpus"))
    soap(c)
    encrypted(c)
    ntlm(c)
    http_headers(c)
    psrp(c)
    outofproc(c)
    trustedhosts(c)
    cli_options(c)
    session_url(c)
    hvsocket(c)
    c.summary()
    changed = c.write(check)
    if check and changed:
        print("out of date: " + ", ".join(changed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
