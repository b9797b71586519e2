#!/usr/bin/env python3
"""tests/image/upstream-dns.py: the "host's DNS server" of a podman network test: answers every query
NXDOMAIN, as a real upstream does for a container name it cannot know.

aardvark-dns forwards names it does not know to the nameservers of the host's resolv.conf, and
podman lists those nameservers in every container's resolv.conf after aardvark's; musl asks all of
them at once and takes the first answer. Without an upstream that answers, every lookup of a name
that does not exist yet would wait out the resolver timeout (5 s) instead of failing at once, so
tests/image/netns.sh runs this on an address of the private namespace's loopback.

It answers after DELAY milliseconds, like a server a network hop away. Answering at once from the
same machine, it beats aardvark-dns to most answers, and musl takes the first one: a waiter then
lost three attempts in a row to NXDOMAIN although aardvark-dns knew the name.

Usage: upstream-dns.py ADDRESS DELAY  (port 53, UDP; prints "listening" once bound)
"""

import heapq
import select
import socket
import sys
import time


def question_end(query):
    """Offset just past the question section's first entry, or None if the query is malformed."""
    at = 12
    while at < len(query):
        length = query[at]
        if length == 0:
            at += 1 + 4  # the root label, then QTYPE and QCLASS
            return at if at <= len(query) else None
        if length & 0xC0:
            return None  # a query's name is never compressed
        at += 1 + length
    return None


def nxdomain(query):
    """The NXDOMAIN answer to query: same id, opcode, RD and question; QR and RA set."""
    end = question_end(query)
    if len(query) < 12 or query[2] & 0x80 or query[4:6] != b"\x00\x01" or end is None:
        return None
    flags = bytes([0x80 | (query[2] & 0x79), 0x80 | 3])
    return query[:2] + flags + b"\x00\x01" + b"\x00" * 6 + query[12:end]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: upstream-dns.py ADDRESS DELAY_MS")
    delay = int(sys.argv[2]) / 1000
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((sys.argv[1], 53))
    print("listening", flush=True)
    pending = []  # (when to send, sequence number, answer, peer), the earliest first
    sequence = 0
    while True:
        wait = max(0, pending[0][0] - time.monotonic()) if pending else None
        if select.select([sock], [], [], wait)[0]:
            query, peer = sock.recvfrom(4096)
            answer = nxdomain(query)
            if answer is not None:
                sequence += 1
                heapq.heappush(pending, (time.monotonic() + delay, sequence, answer, peer))
        while pending and pending[0][0] <= time.monotonic():
            _, _, answer, peer = heapq.heappop(pending)
            sock.sendto(answer, peer)


if __name__ == "__main__":
    main()
