"""Command line -> settings shared by the whole host."""

import argparse
import os

from . import auth, faults_inject


class Config:
    def __init__(self, args):
        host, _, port = args.listen.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        if not port.isdigit() or int(port) > 65535:
            raise SystemExit("testhost: --listen wants HOST:PORT")
        self.port = int(port)
        self.users = {}
        for spec in args.user:
            name, sep, password = spec.partition(":")
            if not sep or not name:
                raise SystemExit("testhost: --user wants NAME:PASSWORD")
            if any(c in name for c in ":\\@/\n") or "\n" in password:
                raise SystemExit("testhost: --user %r: the name may not "
                                 "contain : \\ @ / or newlines" % name)
            self.users[name] = password
        self.auth = []
        for name in (a.strip().lower() for a in args.auth.split(",")):
            if not name or name in self.auth:
                continue
            if name in auth.PLANNED:
                raise SystemExit("testhost: --auth %s is not implemented yet"
                                 % name)
            if name not in auth.KNOWN:
                raise SystemExit("testhost: unknown --auth %s" % name)
            self.auth.append(name)
        self.allow_unencrypted = args.allow_unencrypted
        self.operation_timeout_cap = args.operation_timeout_cap
        self.log_requests = args.log_requests
        self.https = args.https              # None or (CERT, KEY)
        self.client_ca = args.client_ca
        self.cbt = args.cbt                  # off | relaxed | strict
        self.faults = {}            # --fault KIND[:ARG] -> {KIND: ARG}
        for spec in args.fault:     # kinds and ARGs: faults_inject.py
            kind, value = faults_inject.parse(spec)
            if kind in self.faults:
                raise SystemExit("testhost: --fault %s given twice" % kind)
            self.faults[kind] = value
        self.domains = [d.strip() for d in args.domain if d.strip()]
        for d in self.domains:
            if any(c in d for c in ":\\@/\n"):
                raise SystemExit("testhost: bad --domain %r" % d)
        if self.https:
            for path in self.https:
                if not os.path.isfile(path):
                    raise SystemExit("testhost: --https: no file %s" % path)
        if "certificate" in self.auth and not (self.https and self.client_ca):
            raise SystemExit("testhost: --auth certificate needs --https "
                             "and --client-ca")
        if self.client_ca and not self.https:
            raise SystemExit("testhost: --client-ca needs --https")
        # Filled in by main.py once the private directory exists.
        self.ntlm_user_file = None
        self.kdc = None

    @property
    def tls(self):
        return self.https is not None

    def wants(self, *names):
        return any(n in self.auth for n in names)

    @property
    def gss(self):
        """Whether any GSSAPI-backed mechanism is on."""
        return self.wants("negotiate", "ntlm", "kerberos")


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="testhost", description="Local stand-in for a Windows WinRM "
        "service (WS-Man + WinRS cmd shell).")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="address to listen on; port 0 picks a free port")
    p.add_argument("--user", action="append", default=[],
                   metavar="NAME:PASSWORD", help="an account (repeatable)")
    p.add_argument("--auth", default="basic", metavar="LIST",
                   help="enabled mechanisms, comma separated: basic, "
                   "negotiate, ntlm, kerberos, certificate (default basic)")
    p.add_argument("--allow-unencrypted", action="store_true",
                   help="AllowUnencrypted=true: accept Basic and unsealed "
                   "bodies over HTTP")
    p.add_argument("--https", nargs=2, metavar=("CERT", "KEY"),
                   help="serve HTTPS with this certificate (PEM) and key")
    p.add_argument("--client-ca", metavar="FILE",
                   help="CA (PEM) that signs client certificates for "
                   "--auth certificate")
    p.add_argument("--cbt", choices=("off", "relaxed", "strict"),
                   default="off", help="HTTPS channel binding (CBT) check "
                   "for Negotiate/Kerberos: off (default), relaxed (check "
                   "bindings the client sends), strict (require them)")
    p.add_argument("--fault", action="append", default=[],
                   metavar="KIND[:ARG]", help="test only, repeatable: "
                   "break the host on purpose (kinds in faults_inject.py "
                   "and tests/server/README.md)")
    p.add_argument("--domain", action="append", default=[], metavar="NAME",
                   help="NTLM: also accept NAME\\user (repeatable)")
    p.add_argument("--operation-timeout-cap", type=float, metavar="S",
                   help="cap every w:OperationTimeout at S seconds")
    p.add_argument("--log-requests", metavar="FILE",
                   help="append one JSON line per HTTP request")
    return Config(p.parse_args(argv))
