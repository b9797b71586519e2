"""A grpcio server on 127.0.0.1:PORT whose health statuses the test sets, for tests/grpc.rs.

Usage: grpc_health.py PORT [--no-health]
With --no-health the server has no service at all (a health check gets UNIMPLEMENTED).
Lines on stdin: `set STATUS [SERVICE]` (STATUS: SERVING, NOT_SERVING, SERVICE_UNKNOWN, UNKNOWN;
no SERVICE: the server as a whole, ""), answered with `ok` on stdout once applied.
`listening` on stdout when the server has started. EOF on stdin stops the server.
"""

import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main():
    port = int(sys.argv[1])
    with_health = "--no-health" not in sys.argv[2:]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    if with_health:
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("listening", flush=True)
    for line in sys.stdin:
        words = line.split()
        if len(words) in (2, 3) and words[0] == "set":
            status = health_pb2.HealthCheckResponse.ServingStatus.Value(words[1])
            servicer.set(words[2] if len(words) == 3 else "", status)
            print("ok", flush=True)
        elif words:
            print(f"unknown command {line!r}", file=sys.stderr, flush=True)
    server.stop(0)


if __name__ == "__main__":
    main()
