"""The pywinrm side of bench/run (Debian python3-winrm 0.3, /usr/bin/python3).

    /usr/bin/python3 bench/pywinrm_peer.py MODE URL USER AUTH [ARGS]

The password comes from $WINRSH_PASSWORD.  AUTH is `basic` (plain HTTP,
the host's AllowUnencrypted) or `ntlm` (message_encryption="always"; the
caller sets OPENSSL_CONF to a config with OpenSSL's legacy provider, for
MD4).  Modes, each what a careful pywinrm user would write:

  many N          winrm.Protocol: open_shell once, then N x run_command /
                  get_command_output / cleanup_command of `echo hi`; prints
                  one JSON line like bench/many_commands.c (loop only timed)
  output COMMAND  runs COMMAND, streaming its stdout to our stdout as each
                  Receive brings it (_raw_get_command_output in a loop:
                  get_command_output would hold all of it in memory)
  input CHUNK     runs `wc -c`, sends our stdin in CHUNK-byte Sends (pywinrm
                  0.3 has no stdin API: the Send is built as pywinrm builds
                  its own messages, as tests/integration/test_pywinrm.py
                  does), then prints the command's stdout

The one-shot case does not use this file: bench/run runs
`python3 -c 'import winrm; ... run_cmd(...)'` itself.  Shells use code page
65001 like winrsh, so the host passes bytes through in both cases.
"""

import base64
import json
import os
import sys
import time

import winrm
import xmltodict
from winrm.exceptions import WinRMOperationTimeoutError

SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


def protocol(url, user, auth):
    kw = {}
    if auth == "ntlm":
        kw["message_encryption"] = "always"
    return winrm.Protocol(url, transport=auth, username=user,
                          password=os.environ["WINRSH_PASSWORD"], **kw)


def send_stdin(p, shell_id, command_id, data, end):
    req = {"env:Envelope": p._get_soap_header(
        resource_uri=SHELL_NS + "/cmd", action=SHELL_NS + "/Send",
        shell_id=shell_id)}
    stream = {"@Name": "stdin", "@CommandId": command_id,
              "#text": base64.b64encode(data).decode("ascii")}
    if end:
        stream["@End"] = "true"
    req["env:Envelope"]["env:Body"] = {"rsp:Send": {"rsp:Stream": stream}}
    p.send_message(xmltodict.unparse(req))


def many(p, n):
    t0 = time.monotonic()
    shell = p.open_shell(codepage=65001)
    t1, c1 = time.monotonic(), time.process_time()
    nbytes = failures = 0
    for _ in range(n):
        cid = p.run_command(shell, "echo hi")
        out, err, code = p.get_command_output(shell, cid)
        p.cleanup_command(shell, cid)
        nbytes += len(out)
        failures += code != 0
    t2, c2 = time.monotonic(), time.process_time()
    p.close_shell(shell)
    print(json.dumps({"n": n, "setup_s": t1 - t0, "loop_s": t2 - t1,
                      "per_cmd_ms": (t2 - t1) * 1000.0 / n,
                      "loop_cpu_s": c2 - c1, "bytes": nbytes,
                      "failures": failures}))
    return 1 if failures else 0


def output(p, command):
    shell = p.open_shell(codepage=65001)
    try:
        cid = p.run_command(shell, command)
        out = sys.stdout.buffer
        done, code = False, -1
        while not done:
            try:
                stdout, stderr, code, done = p._raw_get_command_output(
                    shell, cid)
            except WinRMOperationTimeoutError:
                continue
            if stdout:
                out.write(stdout)
            if stderr:
                sys.stderr.buffer.write(stderr)
        out.flush()
        p.cleanup_command(shell, cid)
    finally:
        p.close_shell(shell)
    return code


def input_(p, chunk):
    shell = p.open_shell(codepage=65001)
    try:
        cid = p.run_command(shell, "wc -c")
        inp = sys.stdin.buffer
        buf = inp.read(chunk)
        while True:
            nxt = inp.read(chunk)
            send_stdin(p, shell, cid, buf, end=not nxt)
            if not nxt:
                break
            buf = nxt
        out, err, code = p.get_command_output(shell, cid)
        sys.stdout.buffer.write(out)
        sys.stderr.buffer.write(err)
        p.cleanup_command(shell, cid)
    finally:
        p.close_shell(shell)
    return code


def main(argv):
    mode, url, user, auth = argv[1:5]
    p = protocol(url, user, auth)
    if mode == "many":
        return many(p, int(argv[5]))
    if mode == "output":
        return output(p, argv[5])
    if mode == "input":
        return input_(p, int(argv[5]))
    raise SystemExit("unknown mode %r" % mode)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
