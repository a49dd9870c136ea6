"""bench/run: winrsh against its peers on the test WinRM host (issue 7).

Run through bench/run (Debian's /usr/bin/python3).  See bench/README.md.

Every case runs each client alternately (A B A B ...) for several rounds
after a warm-up round that is not counted, and reports the median with the
min-max of every figure and the ratio winrsh / peer of the medians.  The
machine is shared, so single numbers mean little: look at the ranges.

Nothing here fails on speed: the exit status is 1 only when winrsh itself
gave a wrong answer (a wrong output, an error), 2 on a usage or build
error.  A missing peer prints `skipped: <why>`.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.realpath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "tests", "server"))

import harness  # noqa: E402  (TestHost, make_config_dir, base_env)

PYTHON = "/usr/bin/python3"
USER, PASSWORD = "alice", "Bench-Pa55.w0rd"
MB = 1024 * 1024
STDIN_CHUNK = 64 * 1024   # what winrsh's client sends per Send (run_winrs.c)
RESULTS_MARK = "<!-- Everything below this line is kept by bench/run --write. -->"

# OpenSSL 3 keeps MD4 (NTLM's NT hash) in the legacy provider; pywinrm's
# NTLM needs it (tests/integration/test_testhost_auth.py).  pywinrm only.
LEGACY_CNF = """\
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
legacy = legacy_sect
[default_sect]
activate = 1
[legacy_sect]
activate = 1
"""

SPAWN_MEASURE = None      # set by Bench.build()
A_COMMAND = harness.A_COMMAND
A_DELETE = harness.A_DELETE


class Skip(Exception):
    """A peer (or a transport) is not available: `skipped: <why>`."""


class WrongAnswer(Exception):
    """A client ran but its answer was wrong."""


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# running a client


def host_cpu(pid):
    """user+system seconds of a process (all its threads) so far."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sample(dict):
    """One run's figures: name -> number."""


def run_client(argv, env, stdin_path=None, timeout=900, keep=4096):
    """Run argv under build-bench/spawn_measure; return (rc, stdout head
    bytes, stdout byte count, stderr text, wall s, user+sys s, peak RSS
    KiB).  stdout is drained and counted by a thread (every byte counted,
    only the first `keep` kept)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    resfile = tempfile.NamedTemporaryFile(prefix="rusage-", delete=False)
    resfile.close()
    head = []
    count = [0]

    def reader(fd):
        got = 0
        while True:
            try:
                b = os.read(fd, 1 << 20)
            except OSError:
                break
            if not b:
                break
            if got < keep:
                head.append(b[:keep - got])
            got += len(b)
        count[0] = got

    proc = subprocess.Popen([SPAWN_MEASURE, resfile.name] + list(argv),
                            stdin=stdin, stdout=subprocess.PIPE,
                            stderr=err, env=env, close_fds=True,
                            start_new_session=True)
    th = threading.Thread(target=reader, args=(proc.stdout.fileno(),),
                          daemon=True)
    th.start()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    th.join(30)
    proc.stdout.close()
    if stdin_path:
        stdin.close()
    err.seek(0)
    errtext = err.read().decode("utf-8", "replace")
    err.close()
    with open(resfile.name) as f:
        fields = f.read().split()
    os.unlink(resfile.name)
    if len(fields) != 5:
        raise WrongAnswer("%s: no measurement (killed after %d s?): %s"
                          % (argv[0], timeout, errtext.strip()[-300:]))
    wall, user, sys_, rss = (float(x) for x in fields[:4])
    status = int(fields[4])
    rc = os.waitstatus_to_exitcode(status)
    return (rc, b"".join(head), count[0], errtext, wall, user + sys_,
            int(rss))


def check(ok, what, rc, err):
    if not ok:
        raise WrongAnswer("%s (exit %s)%s" % (
            what, rc, ": " + err.strip()[-600:] if err.strip() else ""))


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    return None


def split_requests(reqs):
    """(WS-Man requests, auth-only requests: 401 legs and the empty POSTs
    that finish a handshake) of a run's request log lines."""
    wsman = sum(1 for r in reqs if r.get("action"))
    return wsman, len(reqs) - wsman


def loop_requests(reqs, n):
    """Requests per command between the first Command and the Delete."""
    first = next((i for i, r in enumerate(reqs)
                  if r.get("action") == A_COMMAND), None)
    last = max((i for i, r in enumerate(reqs)
                if r.get("action") == A_DELETE), default=len(reqs))
    if first is None:
        return float("nan")
    return (last - first) / float(n)


def all_sealed(reqs):
    return all(r.get("encrypted") for r in reqs if r.get("action"))


# ---------------------------------------------------------------------------
# the environment: builds, hosts, peers


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.tmp = tempfile.mkdtemp(prefix="winrsh-bench-")
        self.build_dir = os.path.abspath(args.build_dir)
        self.config_dir = harness.make_config_dir(self.tmp)
        self.legacy_cnf = os.path.join(self.tmp, "openssl-legacy.cnf")
        with open(self.legacy_cnf, "w") as f:
            f.write(LEGACY_CNF)
        self.hosts = {}
        self.sshd = None
        self.ssh_why = None
        self.notes = []
        self.failures = []
        self.pwsh_path, self.pwsh_why = self._find_pwsh()

    # -- build ---------------------------------------------------------------
    def build(self):
        b = self.build_dir
        steps = [
            ["cmake", "-S", SRC, "-B", b, "-DCMAKE_BUILD_TYPE=Release",
             "-DWINRSH_WERROR=OFF", "-DWINRSH_TESTS=OFF"],
            ["cmake", "--build", b, "-j", str(self.args.jobs), "--target",
             "winrsh", "winrsh_program"],
        ]
        for argv in steps:
            t0 = time.monotonic()
            r = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0:
                sys.stdout.write(r.stdout.decode("utf-8", "replace")[-4000:])
                raise SystemExit("bench: build failed: %s" % " ".join(argv))
            log("bench: %s (%.1f s)" % (" ".join(argv[:3]),
                                       time.monotonic() - t0))
        cc = os.environ.get("CC") or "cc"
        for name in ("many_commands", "psrp_session", "spawn_measure"):
            out = os.path.join(b, "bench_" + name)
            src = os.path.join(HERE, name + ".c")
            lib = os.path.join(b, "libwinrsh.so")
            if (os.path.exists(out) and os.path.getmtime(out) >
                    max(os.path.getmtime(src), os.path.getmtime(lib))):
                continue
            argv = [cc, "-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L",
                    "-Wall", "-Wextra", "-I", os.path.join(SRC, "include"),
                    src, "-o", out]
            if name != "spawn_measure":   # keep the measurer small
                argv += ["-L", b, "-lwinrsh", "-Wl,-rpath," + b]
            r = subprocess.run(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode != 0:
                sys.stdout.write(r.stdout.decode("utf-8", "replace"))
                raise SystemExit("bench: cannot compile %s" % src)
        global SPAWN_MEASURE
        SPAWN_MEASURE = os.path.join(b, "bench_spawn_measure")
        self.winrsh = os.path.join(b, "winrsh")
        self.many = os.path.join(b, "bench_many_commands")
        self.psrp = os.path.join(b, "bench_psrp_session")

    # -- hosts ---------------------------------------------------------------
    def host(self, kind):
        """'basic': Basic over HTTP, AllowUnencrypted (lab mode);
        'ntlm': Negotiate only, no AllowUnencrypted, so every body must be
        sealed."""
        if kind not in self.hosts:
            if kind == "basic":
                h = harness.TestHost(users={USER: PASSWORD}, auth="basic",
                                     allow_unencrypted=True,
                                     workdir=self.tmp)
            else:
                h = harness.TestHost(users={USER: PASSWORD},
                                     auth="negotiate",
                                     allow_unencrypted=False,
                                     workdir=self.tmp)
            h.start()
            self.hosts[kind] = h
        return self.hosts[kind]

    def env(self, **extra):
        return harness.winrsh_env(PASSWORD, self.config_dir, **extra)

    def pywinrm_env(self, auth):
        if auth == "ntlm":
            return self.env(OPENSSL_CONF=self.legacy_cnf)
        return self.env()

    def have_pywinrm(self):
        r = subprocess.run([PYTHON, "-c", "import winrm"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise Skip("pywinrm: /usr/bin/python3 cannot import winrm "
                       "(apt install python3-winrm)")

    # -- PowerShell and sshd ------------------------------------------------
    @staticmethod
    def _find_pwsh():
        try:
            from winrm_host.psrp_endpoint import find_pwsh
            return find_pwsh()
        except Exception as e:  # noqa: BLE001
            return None, "cannot look for pwsh: %s" % e

    def ssh(self):
        """A private sshd on 127.0.0.1 whose `powershell` subsystem is
        pwsh -sshs, and a bin/ssh wrapper (first on PATH for the clients)
        that points OpenSSH's client at our key and config."""
        if self.sshd is not None:
            return self.sshd
        if self.ssh_why:
            raise Skip(self.ssh_why)
        try:
            self.sshd = self._start_sshd()
        except Skip as e:
            self.ssh_why = str(e)
            raise
        return self.sshd

    def _start_sshd(self):
        if not self.pwsh_path:
            raise Skip("PowerShell over SSH: %s" % self.pwsh_why)
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        for prog in (sshd, shutil.which("ssh"), shutil.which("ssh-keygen")):
            if not prog or not os.access(prog, os.X_OK):
                raise Skip("PowerShell over SSH: OpenSSH (sshd, ssh, "
                           "ssh-keygen) not installed")
        d = os.path.join(self.tmp, "ssh")
        os.makedirs(os.path.join(d, "bin"))
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                            "-f", os.path.join(d, key)], check=True)
        shutil.copy(os.path.join(d, "client_key.pub"),
                    os.path.join(d, "authorized_keys"))
        if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
            os.makedirs("/run/sshd", mode=0o755)   # sshd's privsep dir
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        user = os.environ.get("USER") or __import__("pwd").getpwuid(
            os.geteuid()).pw_name
        with open(os.path.join(d, "sshd_config"), "w") as f:
            f.write("\n".join([
                "Port %d" % port, "ListenAddress 127.0.0.1",
                "HostKey %s/host_key" % d, "PidFile none",
                "AuthorizedKeysFile %s/authorized_keys" % d,
                "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password", "UsePAM no",
                "StrictModes no",
                "Subsystem powershell %s -sshs -NoLogo -NoProfile"
                % self.pwsh_path, ""]))
        with open(os.path.join(d, "ssh_config"), "w") as f:
            f.write("\n".join([
                "Host *", "  IdentityFile %s/client_key" % d,
                "  IdentitiesOnly yes", "  StrictHostKeyChecking no",
                "  UserKnownHostsFile /dev/null", "  LogLevel ERROR",
                "  BatchMode yes", ""]))
        wrapper = os.path.join(d, "bin", "ssh")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec %s -F %s/ssh_config \"$@\"\n"
                    % (shutil.which("ssh"), d))
        os.chmod(wrapper, 0o755)
        err = open(os.path.join(d, "sshd.log"), "wb")
        proc = subprocess.Popen([sshd, "-D", "-e", "-f",
                                 os.path.join(d, "sshd_config")],
                                stdin=subprocess.DEVNULL, stdout=err,
                                stderr=err, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    with open(os.path.join(d, "sshd.log"), "rb") as f:
                        why = f.read().decode("utf-8", "replace").strip()
                    raise Skip("PowerShell over SSH: sshd did not start: %s"
                               % why[-300:])
                time.sleep(0.05)
        env = self.env()
        env["PATH"] = os.path.join(d, "bin") + ":" + env["PATH"]
        return {"proc": proc, "port": port, "user": user, "dir": d,
                "env": env, "log": err}

    # -- cleanup -------------------------------------------------------------
    def close(self):
        for h in self.hosts.values():
            try:
                h.stop()
            except Exception as e:  # noqa: BLE001
                log("bench: stopping the test host: %s" % e)
        if self.sshd:
            p = self.sshd["proc"]
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            self.sshd["log"].close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------
# the cases: each subject is a function returning a Sample


class Case:
    """name, title, subjects [(label, fn)], pairs [(winrsh label, peer
    label)], metrics [(key, label, unit, better, fmt)]."""

    def __init__(self, name, title, subjects, pairs, metrics, notes=None):
        self.name, self.title = name, title
        self.subjects, self.pairs, self.metrics = subjects, pairs, metrics
        self.notes = notes   # fn(samples) -> [str]
        self.samples = {}
        self.skipped = {}
        self.failed = {}


def measured(bench, host, argv, env, stdin_path=None):
    """Run a client against host, with the host's CPU and request log."""
    mark = host.mark()
    c0 = host_cpu(host.proc.pid)
    res = run_client(argv, env, stdin_path)
    c1 = host_cpu(host.proc.pid)
    reqs = host.wait_for(lambda r: True, since=mark, timeout=0)
    return res, c1 - c0, reqs


def oneshot_case(b, auth):
    host_kind = "basic" if auth == "basic" else "ntlm"

    def winrsh():
        h = b.host(host_kind)
        argv = [b.winrsh, "--shell", "cmd", "-a", auth, "-u", USER]
        if auth == "basic":
            argv.append("--allow-unencrypted")
        (rc, out, n, err, wall, cpu, rss), hcpu, reqs = measured(
            b, h, argv + [h.url, "echo hi"], b.env())
        check(rc == 0 and out == b"hi\n", "winrsh echo hi: %r" % out, rc, err)
        if auth == "ntlm":
            check(all_sealed(reqs), "winrsh sent an unsealed body", rc, "")
        wsman, authreq = split_requests(reqs)
        return Sample(wall_ms=wall * 1e3, wsman=wsman, auth=authreq,
                      cpu_ms=cpu * 1e3, rss_mb=rss / 1024.0)

    def pywinrm():
        b.have_pywinrm()
        h = b.host(host_kind)
        extra = ", message_encryption='always'" if auth == "ntlm" else ""
        code = ("import os, sys, winrm; r = winrm.Session(%r, auth=(%r, "
                "os.environ['WINRSH_PASSWORD']), transport=%r%s).run_cmd("
                "'echo hi'); sys.stdout.buffer.write(r.std_out); "
                "sys.exit(r.status_code)" % (h.url, USER, auth, extra))
        (rc, out, n, err, wall, cpu, rss), hcpu, reqs = measured(
            b, h, [PYTHON, "-c", code], b.pywinrm_env(auth))
        check(rc == 0 and out == b"hi\n", "pywinrm echo hi: %r" % out, rc,
              err)
        wsman, authreq = split_requests(reqs)
        return Sample(wall_ms=wall * 1e3, wsman=wsman, auth=authreq,
                      cpu_ms=cpu * 1e3, rss_mb=rss / 1024.0)

    def notes(case):
        # The same with -n (no stdin at all, never closed), to compare with
        # the /dev/null run above (End held back, so no Send either).
        h = b.host(host_kind)
        argv = [b.winrsh, "--shell", "cmd", "-a", auth, "-u", USER, "-n"]
        if auth == "basic":
            argv.append("--allow-unencrypted")
        (rc, out, n, err, wall, cpu, rss), hcpu, reqs = measured(
            b, h, argv + [h.url, "echo hi"], b.env())
        acts = [(r.get("action") or "(auth)").rsplit("/", 1)[-1]
                for r in reqs]
        return ["winrsh -n (no stdin) made %d WS-Man + %d auth requests: %s"
                % (split_requests(reqs) + (" ".join(acts),))]

    label = ("Basic/HTTP (unencrypted)" if auth == "basic"
             else "NTLM + message encryption")
    return Case(
        "oneshot-" + auth, "1. one-shot `echo hi`, fresh process, " + label,
        [("winrsh", winrsh), ("pywinrm", pywinrm)], [("winrsh", "pywinrm")],
        [("wall_ms", "wall time", "ms", "lower"),
         ("wsman", "WS-Man requests", "", "lower"),
         ("auth", "auth handshake requests", "", "lower"),
         ("cpu_ms", "client CPU", "ms", "lower"),
         ("rss_mb", "client peak RSS", "MB", "lower")],
        notes)


def many_case(b, auth, n):
    host_kind = "basic" if auth == "basic" else "ntlm"

    def sample(res, hcpu, reqs, peer):
        rc, out, nb, err, wall, cpu, rss = res
        j = last_json(out.decode("utf-8", "replace"))
        check(rc == 0 and j and j["failures"] == 0 and j["bytes"] == 3 * n,
              "%s: %r" % (peer, out[:300]), rc, err)
        if auth == "ntlm":
            check(all_sealed(reqs), "%s sent an unsealed body" % peer, rc, "")
        s = Sample(per_cmd_ms=j["per_cmd_ms"],
                   req_per_cmd=loop_requests(reqs, n),
                   cpu_per_cmd_ms=j["loop_cpu_s"] * 1e3 / n,
                   host_per_cmd_ms=hcpu * 1e3 / n, rss_mb=rss / 1024.0)
        if "requests_loop" in j:
            s["lib_req_per_cmd"] = j["requests_loop"] / float(n)
        return s

    def winrsh():
        h = b.host(host_kind)
        res, hcpu, reqs = measured(b, h, [b.many, h.url, USER, auth, str(n)],
                                   b.env())
        return sample(res, hcpu, reqs, "many_commands")

    def pywinrm():
        b.have_pywinrm()
        h = b.host(host_kind)
        res, hcpu, reqs = measured(
            b, h, [PYTHON, os.path.join(HERE, "pywinrm_peer.py"), "many",
                   h.url, USER, auth, str(n)], b.pywinrm_env(auth))
        return sample(res, hcpu, reqs, "pywinrm")

    def notes(case):
        s = case.samples.get("winrsh") or []
        out = []
        if s and "lib_req_per_cmd" in s[0]:
            out.append("winrsh_session_request_count() agrees with the host "
                       "log: %s" % ("yes" if all(
                           abs(x["lib_req_per_cmd"] - x["req_per_cmd"]) < 1e-9
                           for x in s) else "NO (%r)" % [
                           (x["lib_req_per_cmd"], x["req_per_cmd"])
                           for x in s]))
        return out

    label = "Basic/HTTP" if auth == "basic" else "NTLM + encryption"
    return Case(
        "many-" + auth, "2. %d x `echo hi` in one shell, one connection, %s"
        % (n, label),
        [("winrsh", winrsh), ("pywinrm", pywinrm)], [("winrsh", "pywinrm")],
        [("per_cmd_ms", "time per command", "ms", "lower"),
         ("req_per_cmd", "requests per command", "", "lower"),
         ("cpu_per_cmd_ms", "client CPU per command (loop only)", "ms",
          "lower"),
         ("host_per_cmd_ms", "host CPU per command (whole run)", "ms",
          "lower"),
         ("rss_mb", "client peak RSS", "MB", "lower")],
        notes)


def throughput_sample(res, hcpu, reqs, size, auth, who, expect_out=None):
    rc, out, nbytes, err, wall, cpu, rss = res
    if expect_out is None:
        check(rc == 0 and nbytes == size, "%s: %d bytes of %d"
              % (who, nbytes, size), rc, err)
    else:
        check(rc == 0 and out.strip() == expect_out, "%s: %r" % (who, out),
              rc, err)
    if auth == "ntlm":
        check(all_sealed(reqs), "%s sent an unsealed body" % who, rc, "")
    per100 = 100.0 * MB / size
    return Sample(mbps=size / MB / wall, wall_s=wall, cpu_100=cpu * per100,
                  rss_mb=rss / 1024.0, host_100=hcpu * per100,
                  host_busy=100.0 * hcpu / wall, requests=len(reqs),
                  timed_out=sum(1 for r in reqs if r.get("status") == 500 and
                                (r.get("action") or "").endswith("/Receive")))


THROUGHPUT_METRICS = [
    ("mbps", "throughput", "MB/s", "higher"),
    ("cpu_100", "client CPU per 100 MB", "s", "lower"),
    ("rss_mb", "client peak RSS", "MB", "lower"),
    ("host_100", "host CPU per 100 MB", "s", "lower"),
    ("host_busy", "host CPU / wall", "%", None),
    ("requests", "HTTP requests", "", "lower"),
    ("timed_out", "Receives that timed out (w:TimedOut)", "", None),
]


def output_case(b, auth, size):
    host_kind = "basic" if auth == "basic" else "ntlm"
    command = "head -c %d /dev/zero" % size

    def winrsh():
        h = b.host(host_kind)
        argv = [b.winrsh, "--shell", "cmd", "-a", auth, "-u", USER, "-n"]
        if auth == "basic":
            argv.append("--allow-unencrypted")
        res, hcpu, reqs = measured(b, h, argv + [h.url, command], b.env())
        return throughput_sample(res, hcpu, reqs, size, auth, "winrsh")

    def pywinrm():
        b.have_pywinrm()
        h = b.host(host_kind)
        res, hcpu, reqs = measured(
            b, h, [PYTHON, os.path.join(HERE, "pywinrm_peer.py"), "output",
                   h.url, USER, auth, command], b.pywinrm_env(auth))
        return throughput_sample(res, hcpu, reqs, size, auth, "pywinrm")

    label = "Basic/HTTP" if auth == "basic" else "NTLM + encryption"
    return Case(
        "output-" + auth, "3. output: `%s` (%d MB) to the client's stdout, %s"
        % (command, size // MB or 1, label),
        [("winrsh", winrsh), ("pywinrm", pywinrm)], [("winrsh", "pywinrm")],
        THROUGHPUT_METRICS)


def input_case(b, auth, size):
    host_kind = "basic" if auth == "basic" else "ntlm"
    path = os.path.join(b.tmp, "input-%d.bin" % size)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            block = bytes(range(32, 127)) * 11035   # printable, no period
            left = size
            while left:
                f.write(block[:min(left, len(block))])
                left -= min(left, len(block))
    expect = str(size).encode()

    def winrsh():
        h = b.host(host_kind)
        argv = [b.winrsh, "--shell", "cmd", "-a", auth, "-u", USER]
        if auth == "basic":
            argv.append("--allow-unencrypted")
        res, hcpu, reqs = measured(b, h, argv + [h.url, "wc -c"], b.env(),
                                   stdin_path=path)
        return throughput_sample(res, hcpu, reqs, size, auth, "winrsh",
                                 expect_out=expect)

    def pywinrm():
        b.have_pywinrm()
        h = b.host(host_kind)
        res, hcpu, reqs = measured(
            b, h, [PYTHON, os.path.join(HERE, "pywinrm_peer.py"), "input",
                   h.url, USER, auth, str(STDIN_CHUNK)], b.pywinrm_env(auth),
            stdin_path=path)
        return throughput_sample(res, hcpu, reqs, size, auth, "pywinrm",
                                 expect_out=expect)

    label = "Basic/HTTP" if auth == "basic" else "NTLM + encryption"
    return Case(
        "input-" + auth, "4. input: %d MB piped into `wc -c`, %s"
        % (size // MB or 1, label),
        [("winrsh", winrsh), ("pywinrm", pywinrm)], [("winrsh", "pywinrm")],
        THROUGHPUT_METRICS)


# -- PSRP -------------------------------------------------------------------

PWSH_SESSION_PS1 = r"""
$ErrorActionPreference = 'Stop'
$port, $user, $rt, $obj = [int]$args[0], $args[1], [int]$args[2], [int]$args[3]
$sw = [Diagnostics.Stopwatch]::StartNew()
$s = New-PSSession -HostName 127.0.0.1 -Port $port -UserName $user
$open = $sw.Elapsed.TotalSeconds
$times = [Collections.Generic.List[double]]::new()
for ($i = 0; $i -lt $rt; $i++) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $r = Invoke-Command -Session $s -ScriptBlock { Get-Date }
    $times.Add($sw.Elapsed.TotalMilliseconds)
    if ($null -eq $r) { throw "no Get-Date" }
}
$sorted = $times | Sort-Object
$n = $sorted.Count
$median = if ($n % 2) { $sorted[[int][Math]::Floor($n / 2)] } else { ($sorted[$n / 2 - 1] + $sorted[$n / 2]) / 2 }
$me = [Diagnostics.Process]::GetCurrentProcess()
$c0 = $me.TotalProcessorTime.TotalSeconds
$sw = [Diagnostics.Stopwatch]::StartNew()
$out = Invoke-Command -Session $s -ScriptBlock ([scriptblock]::Create("1..$obj"))
$objs = $sw.Elapsed.TotalSeconds
$me.Refresh()
$c1 = $me.TotalProcessorTime.TotalSeconds
Remove-PSSession $s
@{ open_s = $open; rt_median_ms = $median; objects = $out.Count;
   objects_s = $objs; objects_cpu_s = $c1 - $c0 } | ConvertTo-Json -Compress
"""


def psrp_session_case(b, rt, nobj):
    def winrsh_wsman():
        if not b.pwsh_path:
            raise Skip("the test host's PowerShell endpoint: %s"
                       % b.pwsh_why)
        h = b.host("basic")
        res, hcpu, reqs = measured(
            b, h, [b.psrp, h.url, USER, "basic", str(rt), str(nobj)],
            b.env())
        rc, out, nb, err, wall, cpu, rss = res
        j = last_json(out.decode("utf-8", "replace"))
        check(rc == 0 and j and j["objects"] == nobj,
              "psrp_session: %r" % out[:300], rc, err)
        return Sample(open_s=j["open_s"], rt_ms=j["rt_median_ms"],
                      obj_s=j["objects_s"],
                      obj_per_s=nobj / j["objects_s"],
                      obj_cpu=j["objects_cpu_s"], rss_mb=rss / 1024.0,
                      requests_obj=j["requests_objects"],
                      requests_rt=j["requests_rt"])

    def winrsh_ssh():
        s = b.ssh()
        url = "ssh://%s@127.0.0.1:%d" % (s["user"], s["port"])
        rc, out, nb, err, wall, cpu, rss = run_client(
            [b.psrp, url, s["user"], "none", str(rt), str(nobj)], s["env"])
        j = last_json(out.decode("utf-8", "replace"))
        if rc != 0 or not j or j["objects"] != nobj:
            raise Skip("winrsh over ssh:// (library): %s"
                       % (err.strip().splitlines() or ["exit %d" % rc])[-1])
        return Sample(open_s=j["open_s"], rt_ms=j["rt_median_ms"],
                      obj_s=j["objects_s"],
                      obj_per_s=nobj / j["objects_s"],
                      obj_cpu=j["objects_cpu_s"], rss_mb=rss / 1024.0)

    def pwsh_ssh():
        s = b.ssh()
        script = os.path.join(b.tmp, "pwsh_session.ps1")
        with open(script, "w") as f:
            f.write(PWSH_SESSION_PS1)
        rc, out, nb, err, wall, cpu, rss = run_client(
            [b.pwsh_path, "-NoLogo", "-NoProfile", "-NonInteractive",
             "-File", script, str(s["port"]), s["user"], str(rt),
             str(nobj)], s["env"])
        j = last_json(out.decode("utf-8", "replace"))
        if rc != 0 or not j:
            raise Skip("pwsh over SSH failed: %s" % (err or out.decode(
                "utf-8", "replace")).strip()[-300:])
        check(j["objects"] == nobj, "pwsh: %r" % out[:300], rc, err)
        return Sample(open_s=j["open_s"], rt_ms=j["rt_median_ms"],
                      obj_s=j["objects_s"],
                      obj_per_s=nobj / j["objects_s"],
                      obj_cpu=j["objects_cpu_s"], rss_mb=rss / 1024.0)

    return Case(
        "psrp-session", "5. PSRP in an open session: `Get-Date` round trip "
        "(median of %d), then `1..%d` (%d objects)" % (rt, nobj, nobj),
        [("winrsh (WS-Man)", winrsh_wsman), ("winrsh (SSH)", winrsh_ssh),
         ("pwsh (SSH)", pwsh_ssh)],
        [("winrsh (WS-Man)", "pwsh (SSH)"), ("winrsh (SSH)", "pwsh (SSH)")],
        [("open_s", "open the runspace pool", "s", "lower"),
         ("rt_ms", "Get-Date round trip", "ms", "lower"),
         ("obj_per_s", "objects per second", "obj/s", "higher"),
         ("obj_cpu", "client CPU for the objects", "s", "lower"),
         ("rss_mb", "client peak RSS", "MB", "lower"),
         ("requests_obj", "HTTP requests for the objects", "", None)])


def psrp_oneshot_case(b):
    def winrsh_wsman():
        if not b.pwsh_path:
            raise Skip("the test host's PowerShell endpoint: %s"
                       % b.pwsh_why)
        h = b.host("basic")
        (rc, out, n, err, wall, cpu, rss), hcpu, reqs = measured(
            b, h, [b.winrsh, "-a", "basic", "--allow-unencrypted", "-u",
                   USER, h.url, "Get-Date"], b.env())
        check(rc == 0 and re.search(rb"\d\d:\d\d:\d\d", out),
              "winrsh Get-Date: %r" % out, rc, err)
        wsman, authreq = split_requests(reqs)
        return Sample(wall_s=wall, cpu_s=cpu, rss_mb=rss / 1024.0,
                      requests=wsman)

    def winrsh_ssh():
        s = b.ssh()
        rc, out, n, err, wall, cpu, rss = run_client(
            [b.winrsh, "ssh://%s@127.0.0.1:%d" % (s["user"], s["port"]),
             "Get-Date"], s["env"])
        if rc != 0 or not re.search(rb"\d\d:\d\d:\d\d", out):
            raise Skip("winrsh over ssh://: %s" % (
                err.strip().splitlines() or ["exit %d" % rc])[-1])
        return Sample(wall_s=wall, cpu_s=cpu, rss_mb=rss / 1024.0)

    def pwsh_ssh():
        if b.quick:
            raise Skip("pwsh one-shot: not run with --quick (its start-up "
                       "alone takes seconds; the session case has pwsh)")
        s = b.ssh()
        rc, out, n, err, wall, cpu, rss = run_client(
            [b.pwsh_path, "-NoLogo", "-NoProfile", "-NonInteractive",
             "-Command", "Invoke-Command -HostName 127.0.0.1 -Port %d "
             "-UserName %s -ScriptBlock { Get-Date }"
             % (s["port"], s["user"])], s["env"])
        if rc != 0 or not re.search(rb"\d\d:\d\d:\d\d", out):
            raise Skip("pwsh over SSH failed: %s" % (err or out.decode(
                "utf-8", "replace")).strip()[-300:])
        return Sample(wall_s=wall, cpu_s=cpu, rss_mb=rss / 1024.0)

    return Case(
        "psrp-oneshot", "5. PSRP one-shot `Get-Date`, fresh process "
        "(the server starts a pwsh for it in every case)",
        [("winrsh (WS-Man)", winrsh_wsman), ("winrsh (SSH)", winrsh_ssh),
         ("pwsh (SSH)", pwsh_ssh)],
        [("winrsh (WS-Man)", "pwsh (SSH)"), ("winrsh (SSH)", "pwsh (SSH)")],
        [("wall_s", "wall time", "s", "lower"),
         ("cpu_s", "client CPU", "s", "lower"),
         ("rss_mb", "client peak RSS", "MB", "lower"),
         ("requests", "WS-Man requests", "", None)])


# ---------------------------------------------------------------------------
# rounds and the report


def run_case(case, rounds, warmup):
    log("bench: %s" % case.title)
    case.title += " (%d round%s)" % (rounds, "" if rounds == 1 else "s")
    live = list(case.subjects)
    for r in range(-1 if warmup else 0, rounds):
        for label, fn in list(live):
            t0 = time.monotonic()
            try:
                s = fn()
            except Skip as e:
                case.skipped[label] = str(e)
                live.remove((label, fn))
                log("  %s: skipped: %s" % (label, e))
                continue
            except WrongAnswer as e:
                case.failed[label] = str(e)
                live.remove((label, fn))
                log("  %s: FAILED: %s" % (label, e))
                continue
            if r >= 0:
                case.samples.setdefault(label, []).append(s)
            log("  %s %s: %.2f s" % ("round %d" % (r + 1) if r >= 0
                                     else "warm-up", label,
                                     time.monotonic() - t0))
    if case.notes and case.samples:
        try:
            case.extra_notes = case.notes(case)
        except Exception as e:  # noqa: BLE001
            case.extra_notes = ["(notes failed: %s)" % e]
    else:
        case.extra_notes = []


def fmt(v):
    if v is None or v != v:
        return "-"
    a = abs(v)
    if a >= 1000:
        return "%.0f" % v
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    if a == 0:
        return "0"
    return "%.3f" % v


def summary(values):
    if not values:
        return None
    med = statistics.median(values)
    lo, hi = min(values), max(values)
    if lo == hi:
        return med, "%s" % fmt(med)
    return med, "%s [%s–%s]" % (fmt(med), fmt(lo), fmt(hi))


def table(cases):
    """Markdown table rows: case, metric, winrsh, peer, ratio, speedup."""
    lines = ["| case | metric | winrsh: median [min–max] | peer: median "
             "[min–max] | winrsh/peer | verdict |",
             "|---|---|---|---|---|---|"]
    for c in cases:
        lines.append("| **%s** | | | | | |" % c.title)
        for a, p in c.pairs:
            if a in c.skipped or a in c.failed:
                why = c.skipped.get(a) or "FAILED: " + c.failed[a]
                lines.append("| %s vs %s | | skipped: %s | | | |"
                             % (a, p, why.replace("|", "/")))
                continue
            if a not in c.samples:
                continue
            peer_why = c.skipped.get(p) or (
                "FAILED: " + c.failed[p] if p in c.failed else None)
            for key, label, unit, better in c.metrics:
                av = [s[key] for s in c.samples[a] if key in s]
                if not av:
                    continue
                pv = [s[key] for s in c.samples.get(p, []) if key in s]
                sa, sp = summary(av), summary(pv)
                u = " (%s)" % unit if unit else ""
                ratio = verdict = ""
                if sa and sp and sp[0]:
                    ratio = "%.3g" % (sa[0] / sp[0])
                    if better and sa[0] > 0:
                        x = (sp[0] / sa[0] if better == "lower"
                             else sa[0] / sp[0])
                        verdict = ("%.3gx better" % x if x >= 1.05 else
                                   "%.3gx worse" % (1 / x) if x <= 0.95
                                   else "same")
                peer_cell = (sp[1] if sp else
                             "skipped: %s" % peer_why.replace("|", "/")
                             if peer_why and key == c.metrics[0][0] else "")
                lines.append("| %s vs %s | %s%s | %s | %s | %s | %s |" % (
                    a, p, label, u, sa[1], peer_cell, ratio, verdict))
    return "\n".join(lines)


def med(case, subject, key):
    v = [s[key] for s in case.samples.get(subject, []) if key in s]
    return statistics.median(v) if v else None


def targets(cases):
    """The issue's targets, checked against the medians."""
    by = {c.name: c for c in cases}
    out = []

    def line(ok, text):
        out.append("- %s %s" % ("met:" if ok else "MISSED:", text))

    for auth in ("basic", "ntlm"):
        c = by.get("oneshot-" + auth)
        if not c:
            continue
        ws, au = med(c, "winrsh", "wsman"), med(c, "winrsh", "auth")
        if ws is not None:
            line(ws <= 4, "one-shot %s: %d WS-Man requests (+%d auth), "
                 "target <= 4 plus the handshake" % (auth, ws, au))
        w, p = med(c, "winrsh", "wall_ms"), med(c, "pywinrm", "wall_ms")
        if w and p:
            line(p / w >= 10, "one-shot %s: %.1fx faster than pywinrm "
                 "(target >= 10x)" % (auth, p / w))
    for kind in ("output", "input"):
        for auth in ("basic", "ntlm"):
            c = by.get("%s-%s" % (kind, auth))
            if not c:
                continue
            w, p = med(c, "winrsh", "mbps"), med(c, "pywinrm", "mbps")
            wc, pc = med(c, "winrsh", "cpu_100"), med(c, "pywinrm", "cpu_100")
            wb, pb = med(c, "winrsh", "host_busy"), med(c, "pywinrm",
                                                       "host_busy")
            if w and p and wc and pc:
                host_bound = wb is not None and wb >= 70
                ok = w / p >= 10 or (host_bound and wc / pc <= 0.1)
                line(ok, "%s %s: %.2fx pywinrm's MB/s, %.2fx its client CPU "
                     "per MB (target >= 10x MB/s, or <= 0.1x CPU where the "
                     "host limits; host busy %.0f%% of the wall time with "
                     "winrsh, %.0f%% with pywinrm)"
                     % (kind, auth, w / p, wc / pc, wb or 0, pb or 0))
            r = med(c, "winrsh", "rss_mb")
            if r is not None and kind == "output":
                line(r < 20, "%s %s: winrsh peak RSS %.1f MB (target < 20 MB)"
                     % (kind, auth, r))
    return "\n".join(out)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
        with open("/proc/meminfo") as f:
            mem = int(re.search(r"MemTotal:\s*(\d+)", f.read()).group(1))
    except (OSError, AttributeError):
        mem = 0
    return "%d CPUs (nproc), %s, %.1f GiB RAM, Linux %s" % (
        os.cpu_count() or 0, cpu, mem / 1048576.0, platform.release())


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def commit():
    try:
        head = subprocess.run(["git", "-C", SRC, "rev-parse", "HEAD"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              check=True).stdout.decode().strip()
        dirty = subprocess.run(["git", "-C", SRC, "status", "--porcelain",
                                "--untracked-files=no"],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL).stdout.strip()
        return head + (" dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def versions(b):
    out = []
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}",
                            "python3-winrm"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
        out.append("pywinrm %s (Debian python3-winrm), Python %s" % (
            r.stdout.decode() or "?", subprocess.run(
                [PYTHON, "-c", "import platform; print(platform."
                 "python_version())"], stdout=subprocess.PIPE
            ).stdout.decode().strip()))
    except OSError:
        pass
    if b.pwsh_path and b.quick:
        out.append("PowerShell at %s" % b.pwsh_path)
    elif b.pwsh_path:
        r = subprocess.run([b.pwsh_path, "-NoLogo", "-NoProfile", "-Command",
                            "$PSVersionTable.PSVersion.ToString()"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out.append("PowerShell %s (%s)" % (r.stdout.decode().strip(),
                                           b.pwsh_path))
    r = subprocess.run(["ssh", "-V"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    out.append(r.stdout.decode().strip())
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="bench/run", description="winrsh against pywinrm and "
        "PowerShell on the test WinRM host; prints a table of medians.")
    ap.add_argument("--quick", action="store_true",
                    help="1 round, no warm-up, tiny sizes (CI; < 1 min)")
    ap.add_argument("--rounds", type=int, help="measured rounds per case")
    ap.add_argument("--only", help="comma-separated case names (oneshot, "
                    "many, output, input, psrp; or full names like "
                    "output-ntlm)")
    ap.add_argument("--build-dir", default=os.path.join(SRC, "build-bench"))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--write", action="store_true",
                    help="write bench/RESULTS.md (keeps its notes section)")
    args = ap.parse_args(argv)

    q = args.quick
    rounds = args.rounds or (1 if q else 5)
    sizes = {
        "many": 10 if q else 200,
        "output": (2 if q else 200) * MB,
        "input": (1 if q else 100) * MB,
        "rt": 3 if q else 50,
        "objects": 1000 if q else 100000,
    }
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    b = Bench(args)
    load0 = loadavg()
    try:
        b.build()
        cases = []
        for auth in ("basic", "ntlm"):
            cases.append((oneshot_case(b, auth), max(rounds, 1 if q else 11)))
        for auth in ("basic", "ntlm"):
            cases.append((many_case(b, auth, sizes["many"]), rounds))
        for auth in ("basic", "ntlm"):
            cases.append((output_case(b, auth, sizes["output"]),
                          1 if q else min(rounds, 3)))
        for auth in ("basic", "ntlm"):
            cases.append((input_case(b, auth, sizes["input"]),
                          1 if q else min(rounds, 3)))
        cases.append((psrp_session_case(b, sizes["rt"], sizes["objects"]),
                      1 if q else min(rounds, 3)))
        cases.append((psrp_oneshot_case(b), 1 if q else min(rounds, 5)))
        if args.only:
            want = [w.strip() for w in args.only.split(",") if w.strip()]
            cases = [(c, r) for c, r in cases
                     if any(c.name == w or c.name.split("-")[0] == w
                            for w in want)]
        for c, r in cases:
            run_case(c, r, warmup=not q)
        cases = [c for c, _ in cases]
        tab = table(cases)
        tgt = targets(cases)
        notes = []
        for c in cases:
            for label, why in sorted(c.skipped.items()):
                notes.append("%s, %s: skipped: %s" % (c.name, label, why))
            for label, why in sorted(c.failed.items()):
                notes.append("%s, %s: FAILED: %s" % (c.name, label, why))
            for n in c.extra_notes:
                notes.append("%s: %s" % (c.name, n))
        elapsed = time.monotonic() - t_start
        header = [
            "date: %s" % started.strftime("%Y-%m-%d %H:%M UTC"),
            "commit: %s" % commit(),
            "machine: %s" % machine(),
            "load average at start / end: %s / %s (the machine is shared)"
            % (load0, loadavg()),
            "mode: %s; the measured rounds of each case are in its title, "
            "%s; bench took %.0f s" % (
                "--quick" if q else "full",
                "no warm-up" if q else "after one warm-up round",
                elapsed),
        ] + ["peer: %s" % v for v in versions(b)]
        report = "\n".join(
            ["## Machine and run", ""] + ["- " + h for h in header] +
            ["", "## Results", "", tab, "", "## Targets", "", tgt or "-",
             "", "## Notes from the run", ""] +
            ["- " + n for n in notes] + [""])
        print(report)
        for c in cases:
            for label, why in sorted(c.skipped.items()):
                print("skipped: %s: %s" % (label, why))
        if args.write:
            write_results(report)
        failed = any(lbl.startswith("winrsh") for c in cases
                     for lbl in c.failed)
        return 1 if failed else 0
    finally:
        b.close()


def write_results(report):
    path = os.path.join(HERE, "RESULTS.md")
    kept = ""
    try:
        with open(path) as f:
            old = f.read()
        if RESULTS_MARK in old:
            kept = old.split(RESULTS_MARK, 1)[1]
    except OSError:
        pass
    intro = (
        "# winrsh benchmark results\n\n"
        "Written by `bench/run --write` (see bench/README.md for what each "
        "case does and how it is measured). Every figure is the median "
        "[min–max] over the measured rounds; `winrsh/peer` is the ratio of "
        "the medians (for times, below 1 means winrsh is faster; for MB/s "
        "and objects/s, above 1); `verdict` says which way is better for "
        "winrsh. MB = 2^20 bytes.\n\n")
    with open(path, "w") as f:
        f.write(intro + report + "\n" + RESULTS_MARK + kept)
    log("bench: wrote %s" % path)


if __name__ == "__main__":
    sys.exit(main())
