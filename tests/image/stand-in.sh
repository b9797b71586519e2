#!/bin/sh
# tests/image/stand-in.sh: a stand-in for a database server in the kube and compose scenarios,
# where no image of MySQL, PostgreSQL, Redis, ZooKeeper or a gRPC server can be pulled. Run by busybox `nc -ll -e` once
# per connection, with the connection on stdin and stdout, it answers the first exchange of
# PROTOCOL the way the real server does in a state: the bytes are those the real servers sent
# (tests/{mysql,postgres,redis,zookeeper,grpc}.rs check the probe against the servers themselves).
#
# Usage: nc -ll -p PORT -e /bin/stand-in.sh PROTOCOL
# The state is the first line of /tmp/state (or $STAND_IN_STATE; the test changes it with `podman
# exec`), "ready" when there is none:
#   mysql      ready: greeting, then ERR 1045 access denied to the probe's login (the server
#              authenticated it: it serves); busy: ERR 1040 Too many connections at once.
#   postgres   ready: an MD5 password request; starting: FATAL 57P03 the database system is
#              starting up.
#   redis      ready: PING answered +PONG; loading: -LOADING Redis is loading the dataset.
#   zk         ready: `srvr` answered with Mode: follower; busy: not currently serving requests.
#   grpc       ready: SETTINGS, then Health/Check answered SERVING with grpc-status 0; busy: the
#              same with NOT_SERVING.
# Printed with octal escapes only: busybox's printf knows no \x.
state=ready
file=${STAND_IN_STATE:-/tmp/state}
[ -s "$file" ] && read -r state <"$file"

# Reads what the client sends until it closes, so that closing here never resets the connection.
drain() { cat >/dev/null; }

case "$1:$state" in
    mysql:ready)
        # Protocol 10 greeting, sequence 0: version, connection id, scramble, capabilities (with
        # PROTOCOL_41 and PLUGIN_AUTH), charset, status, auth plugin.
        printf '\123\000\000\000\01210.11.6-MariaDB\000\011\000\000\000ABCDEFGH\000\376\367\055\002\000\377\201\025\000\000\000\000\000\000\035\000\000\000IJKLMNOPQRST\000mysql_native_password\000'
        head -c 4 >/dev/null
        # ERR 1045 #28000, sequence 2.
        printf "\123\000\000\002\377\025\004#28000Access denied for user 'service-precheck'@'10.89.0.9' (using password: NO)"
        drain
        ;;
    mysql:busy)
        # ERR 1040 as the first packet: no SQLSTATE before the login.
        printf '\027\000\000\000\377\020\004Too many connections'
        ;;
    postgres:ready)
        head -c 8 >/dev/null
        # AuthenticationMD5Password with its salt.
        printf 'R\000\000\000\014\000\000\000\005salt'
        drain
        ;;
    postgres:starting)
        head -c 8 >/dev/null
        # ErrorResponse: severity, SQLSTATE, message.
        printf 'E\000\000\000\076SFATAL\000VFATAL\000C57P03\000Mthe database system is starting up\000\000'
        ;;
    redis:ready)
        head -c 4 >/dev/null
        printf '+PONG\r\n'
        drain
        ;;
    redis:loading)
        head -c 4 >/dev/null
        printf '%s\r\n' '-LOADING Redis is loading the dataset in memory'
        drain
        ;;
    zk:ready)
        head -c 4 >/dev/null
        printf 'Zookeeper version: 3.8.0, built on 2023-03-15 08:19 UTC\nLatency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\nOutstanding: 0\nZxid: 0x100000000\nMode: follower\nNode count: 5\n'
        ;;
    zk:busy)
        head -c 4 >/dev/null
        printf 'This ZooKeeper instance is not currently serving requests\n'
        ;;
    grpc:*)
        # The client preface, then what the client sends with it is read by drain.
        head -c 24 >/dev/null
        # HealthCheckResponse: status 1 SERVING, 2 NOT_SERVING.
        serving=1
        [ "$state" = ready ] || serving=2
        # SETTINGS; HEADERS :status 200, content-type application/grpc; DATA with the message;
        # trailers grpc-status 0 with END_STREAM.
        printf '\000\000\000\004\000\000\000\000\000'
        printf '\000\000\024\001\004\000\000\000\001\210\017\020\020application/grpc'
        printf "\000\000\007\000\000\000\000\000\001\000\000\000\000\002\010\00$serving"
        printf '\000\000\017\001\005\000\000\000\001\000\013grpc-status\0010'
        drain
        ;;
    *)
        echo "stand-in.sh: no answer for protocol '$1' in state '$state'" >&2
        exit 2
        ;;
esac
