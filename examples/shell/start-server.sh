#!/bin/sh
# examples/shell/start-server.sh: start ./server once the database accepts connections.
# service-precheck waits, then execs the server in its place (same PID, so signals reach it);
# if the database is not up within the deadline it exits 1 and the server never starts.
# DB_HOST, DB_PORT and DB_WAIT choose what to wait for and how long; arguments go to the server.
set -eu
exec service-precheck --timeout "${DB_WAIT:-60s}" "${DB_HOST:-db}:${DB_PORT:-5432}" -- ./server "$@"
