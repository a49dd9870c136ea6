"""A throwaway MIT KDC on loopback, for Kerberos authentication.

Lives in a private temp directory: kdc.conf, krb5.conf, the database, the
service keytab.  Principals: NAME@WINRSH.TEST for every --user (with its
password) and HTTP/localhost@WINRSH.TEST with a random key, exported to
the keytab the acceptor reads (KRB5_KTNAME).  krb5kdc runs in the
foreground (-n) as our child and is killed by stop().

Clients use the krb5.conf whose path main.py prints after READY
("KRB5_CONFIG <path>"): default realm WINRSH.TEST, the KDC at
127.0.0.1:PORT (UDP and TCP), no DNS, localhost -> WINRSH.TEST.
"""

import ctypes
import os
import secrets
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time

REALM = "WINRSH.TEST"
SERVICE = "HTTP/localhost"
START_TIMEOUT = 10.0

KRB5_CONF = """\
[libdefaults]
    default_realm = {realm}
    rdns = false
    dns_canonicalize_hostname = false
    dns_lookup_kdc = false
    dns_lookup_realm = false
    ignore_acceptor_hostname = false
    udp_preference_limit = 1

[realms]
    {realm} = {{
        kdc = 127.0.0.1:{port}
        admin_server = 127.0.0.1:{port}
    }}

[domain_realm]
    localhost = {realm}
    .localhost = {realm}

[logging]
    kdc = FILE:{dir}/kdc.log
"""

KDC_CONF = """\
[kdcdefaults]
    kdc_ports = {port}
    kdc_tcp_ports = {port}

[realms]
    {realm} = {{
        database_name = {dir}/principal
        key_stash_file = {dir}/stash
        acl_file = {dir}/kadm5.acl
        max_life = 10h 0m 0s
        max_renewable_life = 7d 0h 0m 0s
        supported_enctypes = {enctypes}
    }}

[logging]
    kdc = FILE:{dir}/kdc.log
"""


def _die_with_parent():
    """preexec: the KDC gets SIGTERM if the testhost dies without
    cleaning up (SIGKILL)."""
    try:
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig,
                                                signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def free_port():
    """A loopback port free for both UDP and TCP (best effort)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port for the KDC")


class KDC:
    def __init__(self, users, parent=None):
        self.realm = REALM
        self.dir = tempfile.mkdtemp(prefix="kdc-", dir=parent)
        self.proc = None
        self.port = free_port()
        self.krb5_conf = os.path.join(self.dir, "krb5.conf")
        self.kdc_conf = os.path.join(self.dir, "kdc.conf")
        self.keytab = os.path.join(self.dir, "http.keytab")
        fmt = {"realm": REALM, "port": self.port, "dir": self.dir,
               "enctypes": "aes256-cts-hmac-sha1-96:normal "
                           "aes128-cts-hmac-sha1-96:normal"}
        with open(self.krb5_conf, "w") as f:
            f.write(KRB5_CONF.format(**fmt))
        with open(self.kdc_conf, "w") as f:
            f.write(KDC_CONF.format(**fmt))
        with open(os.path.join(self.dir, "kadm5.acl"), "w") as f:
            f.write("")
        self.env = dict(os.environ, KRB5_CONFIG=self.krb5_conf,
                        KRB5_KDC_PROFILE=self.kdc_conf)
        try:
            self._create(users)
            self._start()
        except BaseException:
            self.stop()
            raise

    def _run(self, args, stdin=None):
        res = subprocess.run(args, env=self.env, input=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=30)
        if res.returncode != 0:
            raise RuntimeError("%s failed: %s" % (
                args[0], res.stdout.decode("utf-8", "replace")))
        return res.stdout

    def _kadmin(self, query):
        self._run(["kadmin.local", "-r", REALM, "-q", query])

    def _create(self, users):
        self._run(["kdb5_util", "create", "-s", "-r", REALM,
                   "-P", secrets.token_hex(16)])
        for name, password in users.items():
            # kadmin.local -q takes one line; a password with quotes or
            # newlines would not survive it, use the prompt instead.
            self._run(["kadmin.local", "-r", REALM, "-q",
                       "addprinc %s@%s" % (name, REALM)],
                      stdin=("%s\n%s\n" % (password, password)).encode())
        self._kadmin("addprinc -randkey %s@%s" % (SERVICE, REALM))
        self._kadmin("ktadd -k %s %s@%s" % (self.keytab, SERVICE, REALM))

    def _start(self):
        log = open(os.path.join(self.dir, "krb5kdc.out"), "wb")
        self.proc = subprocess.Popen(
            ["krb5kdc", "-n", "-r", REALM], env=self.env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited (%s): %s" % (
                    self.proc.returncode, self._tail()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("krb5kdc did not listen on %d: %s"
                           % (self.port, self._tail()))

    def _tail(self):
        try:
            with open(os.path.join(self.dir, "krb5kdc.out"), "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


if __name__ == "__main__":   # manual check: python3 -m winrm_host.kdc
    k = KDC({"alice": "Secret123"})
    print("KRB5_CONFIG", k.krb5_conf, "port", k.port)
    sys.stdout.flush()
    try:
        time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
    finally:
        k.stop()
