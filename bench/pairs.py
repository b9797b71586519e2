#!/usr/bin/env python3
# bench/pairs.py: the measuring half of bench/scale.sh. Opens N TCP listeners on 127.0.0.1
# (ephemeral ports, so nothing else on the machine is hit), then times service-precheck and
# docker-compose-wait against all of them in paired runs, alternating which goes first.
"""Usage: pairs.py N PAIRS OURS [PEER]
  OURS runs as `OURS -t 30s 127.0.0.1:P1 ... 127.0.0.1:PN`, PEER (docker-compose-wait) with
  WAIT_HOSTS=127.0.0.1:P1,...,127.0.0.1:PN and its defaults otherwise (WAIT_TIMEOUT=30).
  Both with their default logging, stdout and stderr to /dev/null. Every run must exit 0.
  Two unrecorded warm-up pairs come first. Wall time: from just before posix_spawn to the
  return of wait4, in ms. Prints one line:
    ours_median ours_p90 peer_median peer_p90 ratio median_pair_ratio
  ratio is ours_median / peer_median; median_pair_ratio the median of each pair's ours/peer.
  Without PEER the peer's fields are "-". N=0 times start-up and exit alone: OURS -V, and PEER
  without WAIT_HOSTS (it logs its configuration and exits 0).
"""
import os
import selectors
import signal
import socket
import statistics
import sys
import time


def serve(listeners):
    """Accept and close connections until killed (a child process: no GIL shared with timing)."""
    sel = selectors.DefaultSelector()
    for s in listeners:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            try:
                conn, _ = key.fileobj.accept()
                conn.close()
            except BlockingIOError:
                pass


def run(argv, env, devnull):
    """Wall ms of one run; exits the bench if the command does not exit 0."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    wall = (time.perf_counter_ns() - start) / 1e6
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"pairs.py: {argv[0]} exited {code} (wanted 0) with {len(argv)} arguments")
    return wall


def p90(values):
    v = sorted(values)
    return v[min(len(v) - 1, -(-9 * len(v) // 10) - 1)]  # nearest rank


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    n, pairs, ours = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    peer = sys.argv[4] if len(sys.argv) == 5 else None

    listeners = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        s.listen(1024)
        listeners.append(s)
    targets = [f"127.0.0.1:{s.getsockname()[1]}" for s in listeners]
    server = os.fork()
    if server == 0:
        serve(listeners)
    for s in listeners:
        s.close()  # the server child keeps its copies

    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PRECHECK_", "WAIT_")) and k != "RUST_LOG"}
    if n == 0:
        ours_cmd = ([ours, "-V"], base)
        peer_cmd = ([peer], base) if peer else None
    else:
        ours_cmd = ([ours, "-t", "30s"] + targets, base)
        peer_cmd = ([peer], dict(base, WAIT_HOSTS=",".join(targets))) if peer else None
    devnull = os.open(os.devnull, os.O_WRONLY)
    o, p = [], []
    try:
        for i in range(pairs + 2):
            if peer_cmd and i % 2:
                pw = run(*peer_cmd, devnull)
                ow = run(*ours_cmd, devnull)
            else:
                ow = run(*ours_cmd, devnull)
                pw = run(*peer_cmd, devnull) if peer_cmd else None
            if i >= 2:
                o.append(ow)
                p.append(pw)
    finally:
        os.kill(server, signal.SIGKILL)
        os.waitpid(server, 0)

    fields = [f"{statistics.median(o):.3f}", f"{p90(o):.3f}"]
    if peer_cmd:
        fields += [f"{statistics.median(p):.3f}", f"{p90(p):.3f}",
                   f"{statistics.median(o) / statistics.median(p):.2f}",
                   f"{statistics.median(a / b for a, b in zip(o, p)):.2f}"]
    else:
        fields += ["-"] * 4
    print(" ".join(fields))


if __name__ == "__main__":
    main()
