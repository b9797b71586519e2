#!/bin/sh
# tests/image/netns.sh: run a command in a private network and mount namespace made for podman
# networks, so that no DNS query of a test can reach this machine's resolver.
#
# aardvark-dns forwards names it does not know to the host's nameservers, and podman writes those
# into every container's resolv.conf, where musl asks them all at once. Here the "host" is a
# namespace with only lo: its resolv.conf (bind-mounted) names 192.0.2.53, an address on that lo
# where tests/image/upstream-dns.py answers NXDOMAIN to everything after 50 ms, as a real upstream
# a hop away would for a container's name. Podman's shared network state (/run/containers/networks: the IPAM database
# and aardvark's configuration and pid file) gets a tmpfs of its own, and the network definitions a
# directory of their own, so nothing is shared with podman outside; CONTAINERS_CONF points podman
# (and podman-compose, which runs podman) at a containers.conf with what this machine needs: runc,
# cgroupfs, no default ulimits, and the netavark backend (with aardvark-dns).
#
# Usage: sh tests/image/netns.sh COMMAND [ARG...]
# Exits with COMMAND's status, or 77 with one line on stderr when something needed is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
upstream=192.0.2.53

if [ "${1:-}" != --inside ]; then
    missing() { echo "$1" >&2; exit 77; }
    [ "$(id -u)" -eq 0 ] || missing "podman networks need root here (run as root)"
    command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 ||
        missing "unshare and ip are needed (apt-get install util-linux iproute2)"
    unshare --net --mount true 2>/dev/null || missing "cannot make network namespaces (unshare --net --mount failed)"
    found=
    for dir in /usr/lib/podman /usr/libexec/podman /usr/local/lib/podman /usr/local/libexec/podman; do
        [ -x "$dir/netavark" ] && [ -x "$dir/aardvark-dns" ] && found=$dir && break
    done
    [ -n "$found" ] || missing "netavark and aardvark-dns are needed (apt-get install netavark aardvark-dns)"
    command -v python3 >/dev/null 2>&1 || missing "python3 is needed for the upstream DNS server"

    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    mkdir "$dir/networks"
    printf 'nameserver %s\n' "$upstream" >"$dir/resolv.conf"
    printf '127.0.0.1 localhost\n::1 localhost\n' >"$dir/hosts"
    cat >"$dir/containers.conf" <<EOF
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
network_config_dir = "$dir/networks"
EOF
    status=0
    unshare --net --mount sh "$here/netns.sh" --inside "$dir" "$@" || status=$?
    exit "$status"
fi

# Inside the new namespaces (unshare made every mount private to them).
dir=$2
shift 2
ip link set lo up
ip addr add "$upstream/32" dev lo
mkdir -p /run/containers/networks
mount -t tmpfs -o mode=0755 precheck-networks /run/containers/networks
mount --bind "$dir/resolv.conf" /etc/resolv.conf
mount --bind "$dir/hosts" /etc/hosts
export CONTAINERS_CONF="$dir/containers.conf"

# stop_helpers: end the upstream DNS server and, if a test left a container behind (netavark ends
# aardvark-dns when the last container leaves its networks), this namespace's aardvark-dns,
# whose pid file is in the tmpfs above.
dns_pid=
stop_helpers() {
    [ -z "$dns_pid" ] || kill "$dns_pid" 2>/dev/null || true
    pidfile=/run/containers/networks/aardvark-dns/aardvark.pid
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = aardvark-dns ]; then
        kill "$pid" 2>/dev/null || true
    fi
}
trap stop_helpers EXIT
# On a signal, the command (which cleans up after itself) finishes first, then this shell exits.
trap 'exit 130' INT
trap 'exit 143' TERM

python3 "$here/upstream-dns.py" "$upstream" 50 >"$dir/upstream.out" 2>&1 &
dns_pid=$!
tries=0
until grep -qs listening "$dir/upstream.out"; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ] || ! kill -0 "$dns_pid" 2>/dev/null; then
        echo "netns: the upstream DNS server did not start:" >&2
        cat "$dir/upstream.out" >&2
        exit 1
    fi
    sleep 0.05
done

status=0
"$@" || status=$?
exit "$status"
