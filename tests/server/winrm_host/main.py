"""Process lifecycle: prepare the auth environment (NTLM user file, the
KDC), start listening, print READY, stop cleanly on SIGTERM/SIGINT
(killing every process group the shells started, and the KDC)."""

import os
import shutil
import signal
import socket
import sys
import tempfile
import threading

from . import config as config_mod
from .httpd import Server
from .reqlog import RequestLog
from .winrs import Registry


def netbios_name():
    """This machine's NetBIOS-style name (what a client puts in front of
    a local account: HOST\\user)."""
    return (socket.gethostname().split(".")[0] or "TESTHOST").upper()[:15]


def prepare_auth(cfg, private):
    """Environment for python3-gssapi, set before it is first used."""
    if not cfg.gss:
        return
    # gss-ntlmssp: DOMAIN:USER:PASSWORD.  An empty domain accepts clients
    # that send none; HOST\user and each --domain NAME\user get their own
    # line (the domain takes part in the NTLMv2 hash).
    path = os.path.join(private, "ntlm-users")
    domains = [""] + [netbios_name()] + cfg.domains
    with open(path, "w", encoding="utf-8") as f:
        for name, password in cfg.users.items():
            for dom in domains:
                f.write("%s:%s:%s\n" % (dom, name, password))
    os.chmod(path, 0o600)
    os.environ["NTLM_USER_FILE"] = path
    # The names gss-ntlmssp puts in its CHALLENGE (a workgroup machine:
    # its domain is its own name).
    os.environ["NETBIOS_COMPUTER_NAME"] = netbios_name()
    os.environ["NETBIOS_DOMAIN_NAME"] = netbios_name()
    cfg.ntlm_user_file = path
    os.environ["KRB5CCNAME"] = "MEMORY:testhost"
    os.environ["KRB5RCACHEDIR"] = private
    if cfg.wants("kerberos"):
        from .kdc import KDC
        cfg.kdc = KDC(cfg.users, parent=private)
        os.environ["KRB5_CONFIG"] = cfg.kdc.krb5_conf
        os.environ["KRB5_KTNAME"] = "FILE:" + cfg.kdc.keytab
    else:
        # No Kerberos: no keytab (and never the system's).
        os.environ["KRB5_KTNAME"] = "FILE:" + os.path.join(private, "none")


def main(argv=None):
    cfg = config_mod.parse_args(sys.argv[1:] if argv is None else argv)
    if not cfg.users:
        sys.stderr.write("testhost: warning: no --user given; every "
                         "request will get 401\n")
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    # Handlers first: a SIGTERM while the KDC starts still cleans up.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    private = tempfile.mkdtemp(prefix="testhost-")
    try:
        prepare_auth(cfg, private)
        if stop.is_set():
            return 0
        return serve(cfg, stop)
    finally:
        if cfg.kdc is not None:
            cfg.kdc.stop()
        shutil.rmtree(private, ignore_errors=True)


def serve(cfg, stop):
    registry = Registry()
    server = Server(cfg, registry, RequestLog(cfg.log_requests))
    host, port = server.server_address[:2]
    # serve_forever runs in a thread so the main thread is free to react to
    # signals (shutdown() from the serving thread itself would deadlock).
    thread = threading.Thread(target=server.serve_forever,
                              kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    url_host = "[%s]" % host if ":" in host else host
    sys.stdout.write("READY %s://%s:%d/wsman\n" % (
        "https" if cfg.tls else "http", url_host, port))
    if cfg.kdc is not None:
        sys.stdout.write("KRB5_CONFIG %s\n" % cfg.kdc.krb5_conf)
    sys.stdout.flush()
    sys.stderr.write("testhost: listening on %s:%d auth=%s tls=%s "
                     "allow_unencrypted=%s\n"
                     % (host, port, ",".join(cfg.auth), cfg.tls,
                        cfg.allow_unencrypted))
    while not stop.wait(1.0):
        pass
    sys.stderr.write("testhost: stopping\n")
    registry.close_all()
    server.shutdown()
    server.server_close()
    thread.join(5)
    return 0
