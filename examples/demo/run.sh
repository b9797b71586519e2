#!/bin/sh
# examples/demo/run.sh: the ZooKeeper story from the blog post, played in a throwaway DNS lab.
#
# A pod's initContainer waits for zookeeper-{0,1,2}.zookeeper-headless.ns1 while the ZooKeeper
# pods "become ready" one by one: each appears in the cluster DNS (dnsmasq here) as its readiness
# probe would put it there. Then service-precheck execs the real command.
#
# Needs: root (or unprivileged user namespaces), unshare and ip (util-linux, iproute2), dnsmasq,
# and the static binary in SERVICE_PRECHECK_STATIC (`make demo` builds it and sets it).
# It touches nothing outside the network and mount namespaces it makes.
set -eu

if [ "${DEMO_INSIDE:-}" != 1 ]; then
    bin=${SERVICE_PRECHECK_STATIC:-target/x86_64-unknown-linux-musl/release/service-precheck}
    if [ ! -x "$bin" ]; then
        echo "demo: no binary at $bin; run 'make static' or 'make demo'" >&2
        exit 1
    fi
    dnsmasq=$(command -v dnsmasq || ls /usr/sbin/dnsmasq 2>/dev/null || true)
    if [ -z "$dnsmasq" ]; then
        echo "demo: dnsmasq is not installed (apt-get install dnsmasq)" >&2
        exit 1
    fi
    user=""
    [ "$(id -u)" = 0 ] || user="--user --map-root-user"
    # shellcheck disable=SC2086 # $user is two words or none
    exec unshare --net --mount --pid --fork --kill-child --mount-proc $user \
        env DEMO_INSIDE=1 DEMO_BIN="$(realpath "$bin")" DEMO_DNSMASQ="$dnsmasq" sh "$0"
fi

# From here on: inside fresh network, mount and PID namespaces.
say() { printf '\033[1mdemo>\033[0m %s\n' "$*"; }
[ -t 1 ] || say() { printf 'demo> %s\n' "$*"; }

lab=$(mktemp -d)
trap 'rm -rf "$lab"' EXIT
ip link set lo up
printf 'nameserver 127.0.0.1\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n' \
    >"$lab/resolv.conf"
printf '127.0.0.1 localhost\n' >"$lab/hosts"
mount --bind "$lab/resolv.conf" /etc/resolv.conf
mount --bind "$lab/hosts" /etc/hosts
mkdir "$lab/zone"

# The cluster DNS: answers from the files in $lab/zone (re-read when they change), NXDOMAIN for
# anything else in the cluster's zones, no cache.
"$DEMO_DNSMASQ" --no-daemon --conf-file=/dev/null --pid-file= --user=root \
    --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces --cache-size=0 \
    --local=/cluster.local/ --local=/ns1/ --hostsdir="$lab/zone" \
    --log-facility="$lab/dnsmasq.log" >/dev/null 2>&1 &
dnsmasq=$!
tries=0
until grep -q started "$lab/dnsmasq.log" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$dnsmasq" 2>/dev/null; then
        echo "demo: dnsmasq did not start:" >&2
        cat "$lab/dnsmasq.log" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.05
done

say "A pod in namespace ns1 (an HDFS namenode, as in the blog post) has this resolv.conf:"
sed 's/^/        /' /etc/resolv.conf
say "Its initContainer waits for the ZooKeeper ensemble, then starts the real command:"
zk0=zookeeper-0.zookeeper-headless.ns1
zk1=zookeeper-1.zookeeper-headless.ns1
zk2=zookeeper-2.zookeeper-headless.ns1
say "  service-precheck -i 500ms -t 30s $zk0 $zk1 $zk2 -- echo ..."
echo
NO_COLOR=1 "$DEMO_BIN" -i 500ms -t 30s "$zk0" "$zk1" "$zk2" \
    -- echo "namenode: ZooKeeper quorum is resolvable, starting" 2>&1 &
precheck=$!

sleep 2
for i in 0 1 2; do
    say "zookeeper-$i passes its readiness probe: the cluster DNS now has zookeeper-$i (10.244.2.$((i + 1)))"
    echo "10.244.2.$((i + 1)) zookeeper-$i.zookeeper-headless.ns1.svc.cluster.local" \
        >"$lab/zone/zookeeper-$i"
    [ "$i" = 2 ] || sleep 2
done

code=0
wait "$precheck" || code=$?
echo
say "service-precheck exited with $code after exec'ing the command (0: the quorum was ready)."
exit "$code"
