#!/usr/bin/python3
"""NTLM acceptor for tests/unit/test_ntlm_interop.c (not a test by itself).

Runs python3-gssapi with the gss-ntlmssp mechanism (OID 1.3.6.1.4.1.311.2.2.10)
as the server side of an NTLM exchange and of WinRM-style message sealing.
Credentials come from the arguments, written to a temporary NTLM_USER_FILE as
DOMAIN:USER:PASSWORD lines.

Line protocol on stdin/stdout (hex payloads, one request -> one answer):
  step HEX     -> "token HEX" or "token -", then "done NAME" once complete;
                  "error TEXT" if the acceptor refuses
  unwrap HEX   -> "plain HEX": HEX is signature (16 bytes) || sealed body
  wrap HEX     -> "wrapped HEX": gss_wrap output (signature || sealed body)
  quit
At start it prints "ready", or "skip REASON" when gssapi or the NTLM
mechanism is unavailable.
"""
import os
import sys
import tempfile


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    fd, path = tempfile.mkstemp(prefix="ntlm-users-")
    with os.fdopen(fd, "w") as f:
        for entry in sys.argv[1:]:
            f.write(entry + "\n")
    os.environ["NTLM_USER_FILE"] = path
    try:
        try:
            import gssapi
        except ImportError as e:
            say("skip python3-gssapi is not importable: %s" % e)
            return
        try:
            oid = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
            creds = gssapi.Credentials(usage="accept", mechs=[oid])
            ctx = gssapi.SecurityContext(creds=creds, usage="accept")
        except Exception as e:  # gss-ntlmssp missing or misconfigured
            say("skip no NTLM acceptor (gss-ntlmssp): %s" % e)
            return
        say("ready")
        for line in sys.stdin:
            parts = line.split()
            if not parts or parts[0] == "quit":
                break
            cmd = parts[0]
            data = bytes.fromhex(parts[1]) if len(parts) > 1 and parts[1] != "-" else b""
            try:
                if cmd == "step":
                    out = ctx.step(data)
                    say("token " + (out.hex() if out else "-"))
                    if ctx.complete:
                        say("done " + str(ctx.initiator_name))
                elif cmd == "unwrap":
                    res = ctx.unwrap(data)
                    say("plain " + (res.message.hex() or "-"))
                elif cmd == "wrap":
                    res = ctx.wrap(data, True)
                    say("wrapped " + res.message.hex())
                else:
                    say("error unknown command " + cmd)
            except Exception as e:
                say("error " + " ".join(str(e).split()))
    finally:
        os.unlink(path)


if __name__ == "__main__":
    main()
