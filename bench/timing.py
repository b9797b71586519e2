#!/usr/bin/env python3
# bench/timing.py: the measuring half of bench/run.sh, for what a shell times too coarsely:
# a record or listener appearing at a random moment, exit times, CPU, peak RSS and threads of
# a child (wait4), and a TCP server for the immediate-success runs. Prints one summary line.
"""Usage (every mode runs COMMAND RUNS times and prints one line of numbers):
  appear-dns RUNS LO HI HOSTS_FILE DNSMASQ_PID LINE -- COMMAND...
      at a random moment in [LO, HI] s after the start, append LINE to HOSTS_FILE and SIGHUP
      dnsmasq; print `n min median p90 max mean` of (exit - appearance) in ms
  appear-tcp RUNS LO HI ADDR PORT -- COMMAND...
      the same with a listener on ADDR:PORT appearing
  exits RUNS RC -- COMMAND...
      print `n min median p90 max mean` of the wall time from spawn to exit in ms
  usage RUNS RC -- COMMAND...
      print medians `wall_ms cpu_s maxrss_kib` and the peak of threads sampled every 5 ms
  serve ADDR PORT [COUNT]
      accept and close connections on COUNT ports from PORT on, until killed; prints
      `listening` once it listens
  of-json FIELD FILE
      hyperfine --export-json FILE: print each command's FIELD (median, max) in ms, one a line
"""
import json
import os
import random
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time


def dist(values):
    v = sorted(values)
    p90 = v[min(len(v) - 1, -(-9 * len(v) // 10) - 1)]  # nearest rank
    return (f"{len(v)} {v[0]:.1f} {statistics.median(v):.1f} {p90:.1f} {v[-1]:.1f}"
            f" {statistics.mean(v):.1f}")


def spawn(cmd):
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def check(proc, want, rc):
    if rc != want:
        sys.exit(f"timing: {proc.args[0]} exited {rc}, expected {want}")


def appear(runs, lo, hi, make, undo, cmd):
    out = []
    for _ in range(runs):
        proc = spawn(cmd)
        time.sleep(random.uniform(lo, hi))
        thing = make()
        appeared = time.monotonic()
        rc = proc.wait()
        out.append((time.monotonic() - appeared) * 1000)
        undo(thing)
        check(proc, 0, rc)
    print(dist(out))


def appear_dns(runs, lo, hi, hosts, pid, line, cmd):
    def make():
        with open(hosts, "a") as f:
            f.write(line + "\n")
        os.kill(pid, signal.SIGHUP)

    def undo(_):
        open(hosts, "w").close()
        os.kill(pid, signal.SIGHUP)

    undo(None)
    appear(runs, lo, hi, make, undo, cmd)


def appear_tcp(runs, lo, hi, addr, port, cmd):
    def make():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(128)
        return s

    appear(runs, lo, hi, make, lambda s: s.close(), cmd)


def exits(runs, want, cmd):
    out = []
    for _ in range(runs):
        start = time.monotonic()
        proc = spawn(cmd)
        rc = proc.wait()
        out.append((time.monotonic() - start) * 1000)
        check(proc, want, rc)
    print(dist(out))


def usage(runs, want, cmd):
    # Peak RSS comes from GNU time: a child forked from this Python process would inherit its
    # high-water mark (ru_maxrss survives exec), one forked from time(1) does not.
    walls, cpus, rss, threads = [], [], [], []
    out = f"/tmp/timing-rss.{os.getpid()}"
    for _ in range(runs):
        start = time.monotonic()
        proc = spawn(["/usr/bin/time", "-f", "%M", "-o", out] + cmd)
        peak = [0]
        done = threading.Event()

        def sample():
            status = None
            while not done.is_set():
                try:
                    if status is None:
                        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                            kids = f.read().split()
                        status = f"/proc/{kids[0]}/status" if kids else None
                    if status:
                        with open(status) as f:
                            for row in f:
                                if row.startswith("Threads:"):
                                    peak[0] = max(peak[0], int(row.split()[1]))
                except OSError:
                    pass
                done.wait(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        _, status, ru = os.wait4(proc.pid, 0)
        walls.append((time.monotonic() - start) * 1000)
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        check(proc, want, proc.returncode)
        # time(1) itself adds well under a millisecond of CPU.
        cpus.append(ru.ru_utime + ru.ru_stime)
        with open(out) as f:
            rss.append(int(f.read().split()[-1]))
        threads.append(peak[0])
    os.unlink(out)
    m = statistics.median
    print(f"{m(walls):.1f} {m(cpus):.3f} {m(rss):.0f} {max(threads)}")


def serve(addr, port, count):
    sel = selectors.DefaultSelector()
    for p in range(port, port + count):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, p))
        s.listen(1024)
        sel.register(s, selectors.EVENT_READ)
    print("listening", flush=True)
    while True:
        for key, _ in sel.select():
            key.fileobj.accept()[0].close()


def of_json(field, path):
    with open(path) as f:
        for r in json.load(f)["results"]:
            print(f"{r[field] * 1000:.2f}")


def main(argv):
    mode, args = argv[0], argv[1:]
    cmd = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    if mode == "appear-dns":
        appear_dns(int(args[0]), float(args[1]), float(args[2]), args[3], int(args[4]), args[5],
                   cmd)
    elif mode == "appear-tcp":
        appear_tcp(int(args[0]), float(args[1]), float(args[2]), args[3], int(args[4]), cmd)
    elif mode == "exits":
        exits(int(args[0]), int(args[1]), cmd)
    elif mode == "usage":
        usage(int(args[0]), int(args[1]), cmd)
    elif mode == "serve":
        serve(args[0], int(args[1]), int(args[2]) if len(args) > 2 else 1)
    elif mode == "of-json":
        of_json(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
