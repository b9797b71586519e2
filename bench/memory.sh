#!/bin/sh
# bench/memory.sh: what one waiting target costs in memory, and how many fit in 16 MiB.
#
# Runs the static binary in a memory cgroup (v1 or v2, whichever this machine has; needs root)
# with N targets that never become ready, for 3 s, and reads the cgroup's peak usage: user
# memory and the kernel's (thread stacks, task structs, page tables) alike, as a pod's limit
# counts them. TCP targets are closed loopback ports; DNS targets are names looked up inside a
# private network namespace whose only nameserver (127.0.0.1) does not answer.
# Usage: SERVICE_PRECHECK_STATIC=path sh bench/memory.sh   (writes bench/MEMORY.md; `make bench`
# runs it too)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${MEMORY_OUT:-$here/MEMORY.md}
bin=${SERVICE_PRECHECK_STATIC:?set SERVICE_PRECHECK_STATIC to the static binary}
work=$(mktemp -d)
trap 'rmdir "$cg" 2>/dev/null || true; rm -rf "$work"' EXIT

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    parent=/sys/fs/cgroup; v=2
else
    parent=/sys/fs/cgroup/memory$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup); v=1
fi
cg=$parent/precheck-bench-$$
mkdir "$cg"
limit() { if [ $v = 2 ]; then echo "$1" >"$cg/memory.max"; else echo "$1" >"$cg/memory.limit_in_bytes"; fi; }
peak() {
    if [ $v = 2 ]; then cat "$cg/memory.peak"; else cat "$cg/memory.max_usage_in_bytes"; fi
}
reset() { if [ $v = 1 ]; then echo 0 >"$cg/memory.max_usage_in_bytes"; fi; }

printf 'nameserver 127.0.0.1\noptions timeout:5 attempts:1\n' >"$work/resolv.conf"
printf '127.0.0.1 localhost\n' >"$work/hosts"

targets() { # kind n
    i=0
    while [ $i -lt "$2" ]; do
        if [ "$1" = tcp ]; then printf '127.0.0.1:%d ' $((20000 + i)); else printf 'pod-%d.svc.invalid ' $i; fi
        i=$((i + 1))
    done
}

# run kind n limit -> "exit peak"
run() {
    limit "$3"
    reset
    list=$(targets "$1" "$2")
    # shellcheck disable=SC2086 # the target list is meant to split
    sh -c 'echo $$ >"$1/cgroup.procs"; shift; exec "$@"' sh "$cg" \
        unshare --net --mount sh -c 'ip link set lo up; mount --bind "$1/resolv.conf" /etc/resolv.conf;
            mount --bind "$1/hosts" /etc/hosts; shift; exec "$@"' sh "$work" \
        "$bin" -q -4 -t 3s $list 2>/dev/null && rc=0 || rc=$?
    echo "$rc $(peak)"
}

exec 3>"$out"
exec >&3
echo "# Memory per waiting target"
echo
echo "Written by bench/memory.sh (also run by \`make bench\`); do not edit by hand."
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); cgroup v$v; $(nproc) cores."
echo "- Command: \`SERVICE_PRECHECK_STATIC=$bin sh bench/memory.sh\`"
echo "- Each run: N targets that never become ready, \`-q -4 -t 3s\`, the peak of the cgroup's"
echo "  memory (user and kernel, as a pod's limit counts it)."
echo
echo "| targets | kind | exit | peak memory (cgroup) |"
echo "|---|---|---|---|"
for kind in tcp dns; do
    for n in 1 100 400; do
        set -- $(run $kind $n 1073741824)
        echo "| $n | $kind | $1 | $2 B |"
        eval "peak_${kind}_$n=$2"
    done
    eval "per=\$(( (peak_${kind}_400 - peak_${kind}_100) / 300 ))"
    echo "| per target | $kind | | $per B |"
done
echo
echo "Under a 16 MiB limit (exit 1 = the deadline, the run survived; 3 = refused by the memory rule at the start; 137 = OOM-killed):"
echo
for kind in tcp dns; do
    for n in 100 200 300 400 500 600; do
        set -- $(run $kind $n 16777216)
        echo "- $kind, $n targets: exit $1, peak $2 B"
    done
done
