#!/usr/bin/env python3
# bench/protocols.py: one protocol check of service-precheck against the client people use for
# it today (issues 19 and 20), on servers that are up: the wall time per check in paired runs,
# and the bytes each client brings into an image. Writes bench/PROTOCOLS.md.
"""Usage: SERVICE_PRECHECK_STATIC=PATH [PROTO_PAIRS=N] python3 bench/protocols.py

Starts, on 127.0.0.1 ports of their own, in temp dirs, as unprivileged users when run as root:
PostgreSQL (initdb + pg_ctl, user postgres), Redis (nobody), MariaDB (user mysql), ZooKeeper
(java QuorumPeerMain, nobody) and a grpcio health server (tests/servers/grpc_health.py in the
venv PRECHECK_GRPC_PYTHON, default /opt/precheck-grpc/bin/python, nobody). A server or client
that is not installed is skipped with one line. Each server is stopped by its PID at the end.

For each protocol: PROTO_PAIRS pairs (default 51) after 2 unrecorded warm-up pairs, each pair
running our check and the peer's once, alternating which goes first. Wall time in ms from just
before posix_spawn to the return of wait4, stdout and stderr to /dev/null; every run must exit 0.
Bytes: the client's ELF plus the unique files of its ldd closure (for the Python gRPC client:
the files one check opens, found by strace), against our static binary.
"""
import glob
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PATIENCE = 60  # seconds a server may take to start before the bench fails
TIME_GOAL = 0.20  # issue 19: at most a fifth of the client's wall time per check
BYTES_GOAL = 0.05  # issue 19: "a few hundredths of its bytes"

GRPC_CLIENT = """\
import sys, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
with grpc.insecure_channel(sys.argv[1]) as channel:
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=10)
print(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
sys.exit(0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1)
"""


def say(msg):
    print(f"protocols: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    sys.exit(f"protocols: {msg}")


def is_root():
    return os.geteuid() == 0


def user(name):
    """(uid, gid) of `name`, or of nobody when it does not exist; ourselves when not root."""
    if not is_root():
        return (os.getuid(), os.getgid())
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        pw = pwd.getpwnam("nobody")
    return (pw.pw_uid, pw.pw_gid)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workdir(name, owner):
    d = tempfile.mkdtemp(prefix=f"precheck-bench-{name}-")
    os.chmod(d, 0o755)
    os.chown(d, *owner)
    return d


def spawn_as(owner, argv, log, **kw):
    """A server process as `owner`, in a session of its own, output to `log`."""
    out = open(log, "ab")
    extra = {}
    if is_root():
        extra = dict(user=owner[0], group=owner[1], extra_groups=[])
    return subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=out,
                            stdin=kw.pop("stdin", subprocess.DEVNULL), start_new_session=True,
                            **extra, **kw)


def run_as(owner, argv, log, **kw):
    p = spawn_as(owner, argv, log, **kw)
    return p.wait()


def poll(what, condition, proc=None, log=None):
    """Polls `condition` every 50 ms until it holds; fails after PATIENCE seconds."""
    until = time.monotonic() + PATIENCE
    while not condition():
        if proc is not None and proc.poll() is not None:
            fail(f"{what}: the server exited {proc.returncode}\n{tail(log)}")
        if time.monotonic() > until:
            fail(f"{what}: not within {PATIENCE} s\n{tail(log)}")
        time.sleep(0.05)


def tail(path):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-20:])
    except (OSError, TypeError):
        return ""


def ask(port, request, until_eof=False):
    """Sends `request` to 127.0.0.1:port and returns what comes back (b"" on any error)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(request)
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    return data
                data += chunk
                if not until_eof and data.endswith(b"\r\n"):
                    return data
    except OSError:
        return b""


def stop(proc, grace=10):
    """SIGTERM to the server's PID, SIGKILL after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def first_of(*candidates):
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
        found = shutil.which(c) if c else None
        if found:
            return found
    return None


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def dpkg_version(package):
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


# --- servers ------------------------------------------------------------------------------------
# Each start returns (server, why_not): server is a dict with port, stop() and versions.

class Skip(Exception):
    pass


def start_postgres():
    bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = first_of("initdb", *bindir[::-1])
    if not initdb:
        raise Skip("initdb not found (apt-get install postgresql)")
    bindir = os.path.dirname(os.path.realpath(initdb))
    pg_ctl = os.path.join(bindir, "pg_ctl")
    owner = user("postgres")
    d = workdir("pg", owner)
    data, log, sock = f"{d}/data", f"{d}/server.log", f"{d}/sock"
    if run_as(owner, [os.path.join(bindir, "initdb"), "-A", "trust", "-U", "postgres", "-E",
                      "UTF8", "--locale=C", "-N", "-D", data], f"{d}/initdb.log", cwd=d):
        fail(f"initdb failed\n{tail(f'{d}/initdb.log')}")
    os.mkdir(sock)
    os.chown(sock, *owner)
    port = free_port()
    with open(f"{data}/postgresql.conf", "a") as f:
        f.write(f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{sock}'\nfsync = off\nlog_connections = off\n")
    ctl = [pg_ctl, "-D", data, "-l", log]
    if run_as(owner, ctl + ["-w", "-t", "60", "start"], f"{d}/pg_ctl.log", cwd=d):
        fail(f"pg_ctl start failed\n{tail(log)}")
    with open(f"{data}/postmaster.pid") as f:
        pid = int(f.readline())

    def stop_it():
        if run_as(owner, ctl + ["-m", "immediate", "-w", "-t", "10", "stop"], f"{d}/pg_ctl.log",
                  cwd=d):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(d, ignore_errors=True)

    return dict(port=port, stop=stop_it, bindir=bindir,
                version=version([os.path.join(bindir, "postgres"), "--version"]))


def start_redis():
    server = first_of("redis-server", "/usr/bin/redis-server")
    if not server:
        raise Skip("redis-server not found (apt-get install redis-server)")
    owner = user("nobody")
    d = workdir("redis", owner)
    port = free_port()
    log = f"{d}/log"
    proc = spawn_as(owner, [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--daemonize", "no", "--dir", d], log, cwd=d)
    poll("redis answers PONG", lambda: ask(port, b"PING\r\n") == b"+PONG\r\n", proc, log)

    def stop_it():
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)

    return dict(port=port, stop=stop_it, version=version([server, "--version"]))


def start_mariadb():
    server = first_of("mariadbd", "/usr/sbin/mariadbd")
    install = first_of("mariadb-install-db")
    client = first_of("mariadb")
    if not (server and install and client):
        raise Skip("mariadbd not found (apt-get install mariadb-server)")
    owner = user("mysql")
    d = workdir("mariadb", owner)
    data, sockf, log = f"{d}/data", f"{d}/mysqld.sock", f"{d}/server.log"
    if run_as(owner, [install, "--no-defaults", "--auth-root-authentication-method=normal",
                      "--skip-test-db", "--skip-name-resolve", f"--datadir={data}"],
              f"{d}/install.log", cwd=d):
        fail(f"mariadb-install-db failed\n{tail(f'{d}/install.log')}")
    port = free_port()
    proc = spawn_as(owner, [server, "--no-defaults", f"--datadir={data}", f"--socket={sockf}",
                            f"--pid-file={d}/mysqld.pid", f"--log-error={log}",
                            "--bind-address=127.0.0.1", f"--port={port}",
                            "--innodb-buffer-pool-size=16M", "--skip-log-bin"],
                    f"{d}/console.log", cwd=d)

    def answers():
        # Over the socket, not TCP: every TCP connect-and-close is logged.
        r = subprocess.run([client, "--no-defaults", "--batch", "-u", "root", f"--socket={sockf}",
                            "-e", "SELECT 1"], capture_output=True, stdin=subprocess.DEVNULL)
        return r.returncode == 0

    poll("mariadbd answers on its socket", answers, proc, log)

    def stop_it():
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)

    return dict(port=port, stop=stop_it, version=version([server, "--version"]))


ZK_JAR = "/usr/share/java/zookeeper.jar"
ZK_SLF4J = "/usr/share/java/slf4j-simple.jar"
ZK_FLAGS = ["-Xms16m", "-Xmx64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-XX:-UsePerfData", "-Xss512k", "-Djava.net.preferIPv4Stack=true",
            "-Dzookeeper.forceSync=no", "-Dzookeeper.preAllocSize=64"]


def start_zookeeper():
    java = first_of("java")
    if not java or not os.path.exists(ZK_JAR):
        raise Skip(f"java or {ZK_JAR} not found (apt-get install zookeeper)")
    owner = user("nobody")
    d = workdir("zk", owner)
    os.mkdir(f"{d}/data")
    os.chown(f"{d}/data", *owner)
    port = free_port()
    with open(f"{d}/zoo.cfg", "w") as f:
        f.write(f"tickTime=1000\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\n"
                f"clientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n")
    cp = ZK_JAR + (f":{ZK_SLF4J}" if os.path.exists(ZK_SLF4J) else "")
    log = f"{d}/server.log"
    proc = spawn_as(owner, [java] + ZK_FLAGS + ["-cp", cp,
                                                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                                                f"{d}/zoo.cfg"], log, cwd=d)
    poll("zookeeper says Mode: standalone",
         lambda: b"Mode: standalone" in ask(port, b"srvr", until_eof=True), proc, log)

    def stop_it():
        # SIGKILL: its data is throwaway (SIGTERM takes seconds).
        proc.kill()
        proc.wait()
        shutil.rmtree(d, ignore_errors=True)

    jar = os.path.basename(os.path.realpath(ZK_JAR))
    return dict(port=port, stop=stop_it, version=f"{jar} on {version([java, '-version'])}")


def grpc_python():
    py = os.environ.get("PRECHECK_GRPC_PYTHON", "/opt/precheck-grpc/bin/python")
    ok = subprocess.run([py, "-I", "-c", "import grpc, grpc_health.v1.health"],
                        capture_output=True) if os.path.exists(py) else None
    return py if ok is not None and ok.returncode == 0 else None


def start_grpc():
    py = grpc_python()
    if not py:
        raise Skip("no venv with grpcio (python3 -m venv /opt/precheck-grpc && "
                   "/opt/precheck-grpc/bin/pip install grpcio grpcio-health-checking)")
    owner = user("nobody")
    d = workdir("grpc", owner)
    script = f"{d}/grpc_health.py"
    shutil.copy(f"{ROOT}/tests/servers/grpc_health.py", script)
    port = free_port()
    log = f"{d}/log"
    # -I: the script's directory is not on sys.path (its name would hide grpc_health).
    proc = spawn_as(owner, [py, "-I", script, str(port)], log, cwd=d, stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE)
    line = proc.stdout.readline().decode().strip()
    if line != "listening":
        fail(f"the grpcio server said {line!r}, not 'listening'\n{tail(log)}")
    poll("grpcio accepts", lambda: ask(port, b"") == b"", proc, log)

    def stop_it():
        proc.stdin.close()  # EOF on stdin stops the server
        stop(proc)
        shutil.rmtree(d, ignore_errors=True)

    out = subprocess.run([py, "-I", "-c", "import grpc; print(grpc.__version__)"],
                         capture_output=True, text=True)
    return dict(port=port, stop=stop_it, python=py, version=f"grpcio {out.stdout.strip()}")


# --- timing -------------------------------------------------------------------------------------

def run(argv, env, devnull, stdin_fd, stdout_fd=None):
    """Wall ms of one run; fails the bench if the command does not exit 0."""
    if stdin_fd != devnull:
        os.lseek(stdin_fd, 0, os.SEEK_SET)
    if stdout_fd is not None:
        os.ftruncate(stdout_fd, 0)
        os.lseek(stdout_fd, 0, os.SEEK_SET)
    actions = [(os.POSIX_SPAWN_DUP2, stdin_fd, 0),
               (os.POSIX_SPAWN_DUP2, devnull if stdout_fd is None else stdout_fd, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e6
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        fail(f"{' '.join(argv)} exited {code} (wanted 0)")
    return wall


def startup_message(user):
    body = b"\0\3\0\0" + b"user\0%s\0database\0%s\0\0" % (user, user)
    return (len(body) + 4).to_bytes(4, "big") + body


# The server's part: the same conversation from this process, on a socket (no process start,
# no client library): connect, send, read the first answer (ZooKeeper: to its close), close.
# A floor for any client, ours included. None: not measured (gRPC's h2c is not redone here).
RAW = {
    "postgres": (startup_message(b"postgres"), False),
    "redis": (b"PING\r\n", False),
    "mysql": (b"", False),  # the greeting only: the login is not redone here
    "zk": (b"srvr", True),
    "tcp": (None, False),
}


def raw(port, scheme):
    """Wall ms of the server's part of one check (RAW), from this process."""
    request, to_eof = RAW[scheme]
    start = time.perf_counter_ns()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if request is not None:
            if request:
                s.sendall(request)
            got = s.recv(65536)
            while to_eof and got:
                got = s.recv(65536)
            if scheme == "postgres":
                s.sendall(b"X\0\0\0\4")  # Terminate, as libpq does
    return (time.perf_counter_ns() - start) / 1e6


def p90(values):
    v = sorted(values)
    return v[min(len(v) - 1, -(-9 * len(v) // 10) - 1)]  # nearest rank


def temp_fd(data=b""):
    fd, path = tempfile.mkstemp(prefix="precheck-bench-")
    os.write(fd, data)
    os.unlink(path)
    return fd


def pairs(ours, theirs, n, env, stdin_data=None, server=None, want=""):
    """Medians, p90s and ratios of `n` paired runs of two argvs; with `server` (port, scheme),
    also the median of the server's part (raw), measured once in each pair. Their stdout goes
    to a file: `lost` counts their recorded runs that exited 0 without printing `want`."""
    devnull = os.open(os.devnull, os.O_RDWR)
    their_out = temp_fd()
    lost = 0
    stdin_fd = devnull
    if stdin_data is not None:
        stdin_fd = temp_fd(stdin_data)
    o, t, r = [], [], []
    if server and RAW.get(server[1]):
        for _ in range(50):  # the server warmed up (ZooKeeper's JIT) before anything counts
            raw(*server)
    try:
        for i in range(n + 2):
            if i % 2:
                tw = run(theirs, env, devnull, stdin_fd, their_out)
                ow = run(ours, env, devnull, stdin_fd)
            else:
                ow = run(ours, env, devnull, stdin_fd)
                tw = run(theirs, env, devnull, stdin_fd, their_out)
            answered = want.encode() in os.pread(their_out, 1 << 16, 0)
            rw = raw(*server) if server and RAW.get(server[1]) else None
            if i >= 2:
                o.append(ow)
                t.append(tw)
                r.append(rw)
                lost += not answered
    finally:
        os.close(devnull)
        os.close(their_out)
        if stdin_fd != devnull:
            os.close(stdin_fd)
    m = statistics.median
    return dict(ours=m(o), ours90=p90(o), theirs=m(t), theirs90=p90(t), ratio=m(o) / m(t),
                pair=m(a / b for a, b in zip(o, t)), lost=lost, n=n,
                raw=m(r) if r and r[0] is not None else None)


def sanity(argv, want, stdin_data=None):
    """A run with its output read: it must exit 0 and print `want` (the server really
    answered, not only accepted), in one of 5 tries (`echo srvr | nc` loses some answers)."""
    for _ in range(5):
        r = subprocess.run(argv, input=stdin_data or b"", capture_output=True, timeout=60)
        text = (r.stdout + r.stderr).decode(errors="replace")
        if r.returncode == 0 and want in text:
            return
    fail(f"{' '.join(argv)}: exit {r.returncode}, no {want!r} in its output:\n{text}")


# --- bytes --------------------------------------------------------------------------------------

def libc6_files():
    out = subprocess.run(["dpkg", "-L", "libc6"], capture_output=True, text=True).stdout
    return {os.path.realpath(p) for p in out.split() if os.path.isfile(p)}


def ldd_closure(path):
    """The ELF and the files its ldd closure loads, real paths, unique."""
    files = {os.path.realpath(path)}
    out = subprocess.run(["ldd", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        words = line.split()
        for i, w in enumerate(words):
            if w.startswith("/") and (i == 0 or words[i - 1] == "=>"):
                files.add(os.path.realpath(w))
    return files


def opened_files(argv):
    """The regular files one run of argv opens or executes (strace -f), real paths, unique;
    configuration and temporary files (/etc, /tmp, /proc, /sys, /dev) left out."""
    fd, trace = tempfile.mkstemp(prefix="precheck-bench-strace-")
    os.close(fd)
    try:
        subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat,open,execve", "-o", trace]
                       + argv, capture_output=True, check=True, timeout=60)
        files = set()
        with open(trace, errors="replace") as f:
            for line in f:
                if '"' not in line or "= -1" in line or "O_DIRECTORY" in line:
                    continue
                p = os.path.realpath(line.split('"')[1])
                if os.path.isfile(p) and not p.startswith(("/etc/", "/tmp/", "/proc/", "/sys/",
                                                           "/dev/")):
                    files.add(p)
        return files
    finally:
        os.unlink(trace)


def size(files):
    return sum(os.path.getsize(f) for f in files)


# --- main ---------------------------------------------------------------------------------------

def fmt_bytes(n):
    return f"{n:,}"


def cell(text):
    """Text for a Markdown table cell: a | would end the cell, even inside backticks."""
    return text.replace("|", "\\|")


def main():
    binary = os.environ.get("SERVICE_PRECHECK_STATIC", "")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        fail("set SERVICE_PRECHECK_STATIC to the static binary ('make bench-protocols' does)")
    binary = os.path.realpath(binary)
    n = int(os.environ.get("PROTO_PAIRS", "51"))
    out_path = os.environ.get("PROTO_OUT", f"{HERE}/PROTOCOLS.md")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open("/proc/loadavg") as f:
        load_before = " ".join(f.read().split()[:3])
    t0 = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRECHECK_")
           and k != "RUST_LOG"}
    ours = [binary, "-t", "30s"]

    commit = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    versions = [f"{version([binary, '-V'])} ({os.path.getsize(binary):,} bytes, "
                f"built from the worktree at {commit})"]
    rows, sizes, skipped = [], [], []
    servers = []
    try:
        plan = [
            ("postgres", start_postgres), ("redis", start_redis), ("mysql", start_mariadb),
            ("zk", start_zookeeper), ("grpc", start_grpc),
        ]
        for scheme, start in plan:
            say(f"{scheme}://: starting the server")
            try:
                s = start()
            except Skip as why:
                say(f"skipping {scheme}://: {why}")
                skipped.append((scheme, str(why)))
                continue
            servers.append(s)
            versions.append(f"{scheme} server: {s['version']}")
            port = s["port"]
            target = f"{scheme}://127.0.0.1:{port}"
            stdin, elf, also = None, None, None
            if scheme == "postgres":
                elf = first_of(os.path.join(s["bindir"], "pg_isready"))
                theirs = [elf, "-h", "127.0.0.1", "-p", str(port), "-U", "postgres"]
                want, label = "accepting connections", \
                    f"`pg_isready -h 127.0.0.1 -p P -U postgres` ({s['bindir']})"
                missing = "pg_isready not found (apt-get install postgresql-client)"
            elif scheme == "redis":
                elf = first_of("redis-cli")
                theirs = [elf, "-p", str(port), "ping"]
                want, label = "PONG", "`redis-cli -p P ping`"
                missing = "redis-cli not found (apt-get install redis-tools)"
            elif scheme == "mysql":
                elf = first_of("mysqladmin", "mariadb-admin")
                theirs = [elf, "ping", "--skip-ssl", "-h", "127.0.0.1", "-P", str(port)]
                want, label = "mysqld is alive", "`mysqladmin ping --skip-ssl -h 127.0.0.1 -P P`"
                missing = "mysqladmin not found (apt-get install mariadb-client)"
            elif scheme == "zk":
                elf = first_of("nc.openbsd")
                theirs = [elf, "127.0.0.1", str(port)]
                stdin = b"srvr\n"
                want, label = "Mode: standalone", \
                    "`echo srvr | nc 127.0.0.1 P` (netcat-openbsd; stdin a file holding `srvr\\n`)"
                missing = "nc.openbsd not found (apt-get install netcat-openbsd)"
            else:
                theirs = [s["python"], "-I", "-c", GRPC_CLIENT, f"127.0.0.1:{port}"]
                want, label = "SERVING", \
                    "a Python grpcio health client, one `Health/Check` call (below)"
                missing = None
            if elf is None and missing:
                say(f"skipping {scheme}:// against its client: {missing}")
                skipped.append((scheme, missing))
                continue
            sanity(ours + [target], "")
            sanity(theirs, want, stdin)
            say(f"{scheme}://: {n} pairs")
            r = pairs(ours + [target], theirs, n, env, stdin, (port, scheme), want)
            rows.append((f"`{scheme}://127.0.0.1:P`", label, r))
            if scheme == "postgres":
                # Debian's /usr/bin/pg_isready is pg_wrapper, a Perl script that execs the above.
                wrapper = "/usr/bin/pg_isready"
                if os.path.realpath(wrapper) != os.path.realpath(elf) and os.path.exists(wrapper):
                    w = [wrapper] + theirs[1:]
                    sanity(w, want)
                    say(f"{scheme}:// against Debian's pg_isready wrapper: {n} pairs")
                    rows.append((f"`{scheme}://127.0.0.1:P`",
                                 "`pg_isready ...` through Debian's /usr/bin/pg_isready "
                                 "(pg_wrapper, Perl)",
                                 pairs(ours + [target], w, n, env, None, (port, scheme), want)))
                versions.append(f"pg_isready: {version([elf, '--version'])}")
            elif scheme == "redis":
                versions.append(f"redis-cli: {version([elf, '--version'])}")
                # The floor: our tcp:// against `nc -z`, on the same listening port.
                nc = first_of("nc.openbsd")
                if nc:
                    say(f"tcp://: {n} pairs against nc -z")
                    rows.append(("`tcp://127.0.0.1:P` (the floor)", "`nc -z 127.0.0.1 P`",
                                 pairs(ours + [f"tcp://127.0.0.1:{port}"],
                                       [nc, "-z", "127.0.0.1", str(port)], n, env, None,
                                       (port, "tcp"))))
            elif scheme == "mysql":
                versions.append(f"mysqladmin: {version([elf, '--version'])}")
            elif scheme == "zk":
                versions.append(f"nc: netcat-openbsd {dpkg_version('netcat-openbsd')}")
                # What an exec probe or a script runs: the pipe needs a shell.
                shell = os.path.realpath("/bin/sh")
                piped = [shell, "-c", f"echo srvr | {elf} 127.0.0.1 {port}"]
                sanity(piped, want)
                say(f"{scheme}:// against sh -c 'echo srvr | nc': {n} pairs")
                rows.append((f"`{scheme}://127.0.0.1:P`",
                             f"`sh -c 'echo srvr | nc 127.0.0.1 P'` (sh: {shell})",
                             pairs(ours + [target], piped, n, env, None, (port, scheme), want)))
                also = (f"nc with {shell} for the pipe", ldd_closure(elf) | ldd_closure(shell))
            if elf:
                sizes.append((label.split(" (")[0], ldd_closure(elf)))
            else:
                files = opened_files(theirs)
                files.add(os.path.realpath(s["python"]))
                sizes.append(("Python grpcio client (files one check opens)", files))
            if also:
                sizes.append(also)
    finally:
        for s in reversed(servers):
            s["stop"]()

    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    seconds = round(time.monotonic() - t0)
    ours_size = os.path.getsize(binary)
    glibc = libc6_files()
    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    cmd = f"SERVICE_PRECHECK_STATIC={os.environ['SERVICE_PRECHECK_STATIC']}"
    if n != 51:
        cmd = f"PROTO_PAIRS={n} {cmd}"
    lines = [
        "# One protocol check: service-precheck against the clients people use today",
        "",
        "Written by bench/protocols.py (`make bench-protocols`, also run by `make bench`); do not",
        "edit by hand. Issues 19 and 20 set the goals.",
        "",
        f"- Date: {started}; the run took {seconds} s.",
        f"- Machine: {os.cpu_count()} cores, {cpu}, Linux {os.uname().release}.",
        f"- Load average (1, 5, 15 min): {load_before} before, {load_after} after.",
        f"- Command: `{cmd} python3 bench/protocols.py`",
        "  (`make static` builds the binary).",
        "- Versions: " + "; ".join(versions) + ".",
    ]
    for scheme, why in skipped:
        lines.append(f"- {scheme}://: **skipped**, {why}.")
    lines += [
        "",
        "## Wall time of one check against a server that is up",
        "",
        f"Each server runs on 127.0.0.1 in a temp dir as an unprivileged user. {n} pairs per row",
        "after two unrecorded warm-up pairs; each pair runs both commands once, alternating which",
        "goes first. Wall time in ms from just before posix_spawn to the return of wait4 (process",
        "start included); stderr to /dev/null, their stdout to a file. Every run exited 0. Their",
        "answer missing: recorded runs of theirs whose stdout lacked what says the server answered",
        "(`accepting connections`, `PONG`, `mysqld is alive`, `Mode: standalone`, `SERVING`; the",
        "nc rows exit 0 all the same). Ours runs as",
        "`service-precheck -t 30s TARGET`, its default logging. Ratio: ours / theirs (below 1.00×",
        f"is faster); goal (issue 19): at most {TIME_GOAL:.2f}× per check. The server's part: the",
        "median ms of the same conversation made from the bench's own process on a socket, once",
        "in each pair (connect, send, read the first answer, close; ZooKeeper: read to its close;",
        "MariaDB: the greeting only, no login; gRPC: not measured), so no process start and no",
        "client library: the floor under any client's time, ours included. 50 such",
        "conversations warm each server up before its first row.",
        "",
        "`echo srvr | nc` loses answers: ZooKeeper acts on the first 4 bytes, answers and closes",
        "with the newline unread, and when the reset that follows reaches nc before it has read",
        "the answer, nc sees an error on the socket and exits 0 having printed nothing (seen with",
        "strace). Our `zk://` sends exactly `srvr`; it never exited otherwise than 0 here.",
        "",
        "| our check | median (p90) | their check | median (p90) | ratio of medians "
        "| median of pair ratios | goal | the server's part | their answer missing |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for ours_label, label, r in rows:
        goal = "-" if "floor" in ours_label else (
            f"met (≤ {TIME_GOAL:.2f}×)" if r["ratio"] <= TIME_GOAL else
            f"**missed** (≤ {TIME_GOAL:.2f}×)")
        lines.append(f"| {ours_label} | {r['ours']:.2f} ({r['ours90']:.2f}) | {cell(label)} | "
                     f"{r['theirs']:.2f} ({r['theirs90']:.2f}) | {r['ratio']:.2f}× | "
                     f"{r['pair']:.2f}× | {goal} | "
                     f"{'-' if r['raw'] is None else format(r['raw'], '.2f')} | "
                     f"{r['lost']} of {r['n']} |")
    lines += [
        "",
        "What each conversation is: `postgres://` sends a StartupMessage for user postgres and",
        "closes after the first answer (AuthenticationOk here: trust), as pg_isready does;",
        "`redis://` sends PING; `mysql://` reads the greeting, logs in as `service-precheck`",
        "without a password and takes ERR 1045 as up, where mysqladmin logs in as root (no",
        "password on this server) and pings; `zk://` sends `srvr` and reads to the close, as nc",
        "does; `grpc://` makes one `grpc.health.v1.Health/Check` call over h2c, as the Python",
        "client does. The Python client is a stand-in: the usual tool, grpc_health_probe (Go),",
        "is not installed here. The Python client:",
        "",
        "```python",
        GRPC_CLIENT.rstrip(),
        "```",
        "",
        "## Bytes each client brings into an image",
        "",
        "The client's ELF plus every file of its `ldd` closure (real paths, each file once,",
        "`stat` sizes), against our static binary, which needs nothing else. \"Without libc6\":",
        "the same, less the files of Debian's libc6 package (libc, libm, the loader ...), which an",
        "image based on a glibc distribution has anyway. For the Python client: the files one",
        "check opens (strace -f; the interpreter, its libraries, the grpcio and protobuf modules",
        "and the stdlib modules it imports), so a lower bound of what an image needs.",
        f"Goal (issue 19): a few hundredths; here read as at most {BYTES_GOAL:.2f}×.",
        "",
        "| client | files | bytes | without libc6 | ours / theirs | ours / theirs without libc6 "
        "| goal |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, files in sizes:
        total = size(files)
        rest = size(files - glibc)
        ratio, ratio_rest = ours_size / total, ours_size / rest
        goal = f"met (≤ {BYTES_GOAL:.2f}×)" if ratio_rest <= BYTES_GOAL else \
            f"**missed** (≤ {BYTES_GOAL:.2f}×)"
        lines.append(f"| {cell(label)} | {len(files)} | {fmt_bytes(total)} | {fmt_bytes(rest)} | "
                     f"{ratio:.3f}× | {ratio_rest:.3f}× | {goal} |")
    lines.append(f"| service-precheck, static musl (all of the above in one file) | 1 | "
                 f"{fmt_bytes(ours_size)} | {fmt_bytes(ours_size)} | 1.000× | 1.000× | |")
    lines += ["", "The files besides libc6's, largest first (bytes):", ""]
    for label, files in sizes:
        rest = sorted(files - glibc, key=os.path.getsize, reverse=True)
        names = [f"{f} ({fmt_bytes(os.path.getsize(f))})" for f in rest[:10]]
        if len(rest) > 10:
            names.append(f"and {len(rest) - 10} more ({fmt_bytes(size(rest[10:]))})")
        lines.append(f"- {label}: {', '.join(names)}.")
    text = "\n".join(lines) + "\n"
    with open(out_path, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
