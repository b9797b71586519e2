#!/bin/sh
# bench/run.sh (`make bench`): service-precheck against the tools users would pick instead
# (wait-for-it, the busybox nslookup loop), side by side in one run, as issue 5 asks. Scenarios
# 2-6 run in namespaces of their own (bench/scenarios.sh); 7, size and scale against
# docker-compose-wait (issue 10), is bench/scale.sh, which needs COMPOSE_WAIT for the peer and
# writes bench/SCALE.md; 8 is bench/memory.sh (MEMORY.md); 9, one protocol check against
# pg_isready, redis-cli, mysqladmin, nc and a grpcio client (issues 19, 20), is bench/protocols.py
# (PROTOCOLS.md); this writes bench/RESULTS.md.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() {
    echo "bench: $*" >&2
    exit 1
}
bin=${SERVICE_PRECHECK_STATIC:-}
[ -x "$bin" ] || fail "set SERVICE_PRECHECK_STATIC to the static binary ('make bench' does)"
bin=$(realpath "$bin")
[ "$(id -u)" = 0 ] || fail "needs root: network namespaces, and iptables inside them"
for tool in hyperfine wait-for-it busybox dnsmasq iptables strace unshare ip timeout; do
    command -v "$tool" >/dev/null ||
        fail "$tool is missing (apt-get install hyperfine wait-for-it busybox-static dnsmasq iptables strace)"
done
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || fail "python3 is missing"

work=$here/work
rm -rf "$work"
mkdir -p "$work"
vals=$work/values.sh
: >"$vals"
started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)

# --- 1. Size ----------------------------------------------------------------------------------
echo "bench: 1: size" >&2
size_bin=$(stat -c %s "$bin")
stripped=$(file -b "$bin" | grep -o 'not stripped\|stripped' || echo unknown)
busybox=$(realpath "$(command -v busybox)")
size_busybox=$(stat -c %s "$busybox")
size_image="not built (make image)"
if command -v podman >/dev/null && podman image exists service-precheck:latest 2>/dev/null; then
    size_image=$(podman image inspect service-precheck:latest --format '{{.Size}}')
    size_image="$size_image ($(awk -v b="$size_image" 'BEGIN { printf "%.0f KiB", b / 1024 }'))"
fi
size_gzip=$(gzip -9 -c "$bin" | wc -c)
# The floor: hello world with this crate's release profile, same target and toolchain.
size_hello="not measured (no cargo)"
if command -v cargo >/dev/null; then
    size_hello="not measured (its build failed)"
    mkdir -p "$work/hello/src"
    echo 'fn main() { println!("hello"); }' >"$work/hello/src/main.rs"
    sed -n '/^\[profile.release\]/,/^\[/p' "$here/../Cargo.toml" | sed '$ { /^\[/d }' >"$work/profile"
    printf '[package]\nname = "hello"\nversion = "0.0.0"\nedition = "2024"\n[workspace]\n' \
        >"$work/hello/Cargo.toml"
    cat "$work/profile" >>"$work/hello/Cargo.toml"
    (cd "$work/hello" && cargo build -q --release --offline --target x86_64-unknown-linux-musl) &&
        size_hello=$(stat -c %s "$work/hello/target/x86_64-unknown-linux-musl/release/hello")
fi

# --- 2-6, in fresh network, mount and PID namespaces ------------------------------------------
unshare --net --mount --pid --fork --kill-child --mount-proc \
    env BENCH_BIN="$bin" BENCH_PY="$py" BENCH_DIR="$here" BENCH_WORK="$work" BENCH_VALS="$vals" \
    sh "$here/scenarios.sh"

# --- 7. Against docker-compose-wait: size and scale (loopback only, no namespace needed) -------
echo "bench: 7: size and scale against docker-compose-wait" >&2
sh "$here/scale.sh" >/dev/null

# --- 8. Memory per waiting target (bench/memory.sh writes bench/MEMORY.md) ---------------------
echo "bench: 8: memory per target" >&2
SERVICE_PRECHECK_STATIC="$bin" sh "$here/memory.sh"

# --- 9. One protocol check against the usual clients (bench/protocols.py writes PROTOCOLS.md) --
echo "bench: 9: protocol checks against pg_isready, redis-cli, mysqladmin, nc, grpcio" >&2
SERVICE_PRECHECK_STATIC="$bin" "$py" "$here/protocols.py" >/dev/null
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
minutes=$((($(date +%s) - t0 + 59) / 60))
# shellcheck disable=SC1090 # written by scenarios.sh
. "$vals"

# --- RESULTS.md -------------------------------------------------------------------------------
# "n min median p90 max mean" -> words.
dist() {
    # shellcheck disable=SC2086 # six numbers
    set -- $1
    printf 'median %s, p90 %s, max %s (min %s, mean %s; n=%s)' "$3" "$4" "$5" "$2" "$6" "$1"
}
field() { echo "$1" | cut -d' ' -f"$2"; }
# ratio OURS PEER: how many times the peer's figure is ours.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f×", b / a }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
verdict() { if le "$1" "$2"; then echo "**met**"; else echo "**missed**"; fi; }
kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# the worst of several distributions' maxima
worst() {
    w=0
    for d in "$@"; do w=$(awk -v w="$w" -v m="$(field "$d" 5)" 'BEGIN { print (m > w ? m : w) }'); done
    echo "$w"
}

cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
results=$here/RESULTS.md
{
    cat <<EOF
# Benchmarks: service-precheck against wait-for-it and the busybox nslookup loop

Written by \`make bench\` (bench/run.sh); do not edit by hand. Issue 5 defines the scenarios.

- Date: $started; the run took about $minutes min.
- Machine: $(nproc) cores, $cpu_model, Linux $(uname -r).
- Load average (1, 5, 15 min): $load_before before, $load_after after.
- Command: \`make bench\`, that is \`make static\` (both targets) then
  \`SERVICE_PRECHECK_STATIC=$bin sh bench/run.sh\`$([ -z "${COMPOSE_WAIT:-}" ] || echo ", with COMPOSE_WAIT set (section 7)").
- Versions: $("$bin" -V), wait-for-it $(dpkg-query -W -f '${Version}' wait-for-it 2>/dev/null || echo '?'),
  $(busybox 2>&1 | head -n 1 | cut -d' ' -f1-2), $(dnsmasq --version | head -n 1 | cut -d' ' -f1-3),
  $(hyperfine --version).
- Scenarios 2-6 run in fresh network, mount and PID namespaces: loopback only, /etc/resolv.conf
  and /etc/hosts bind-mounted from files the bench writes, dnsmasq on 127.0.0.1 as the cluster
  DNS (\`local=/bench/\`: unknown names get NXDOMAIN at once, no cache). Wall times of single
  commands are hyperfine medians; distributions are in ms, from spawn (or from the moment the
  record or listener appeared) to exit, measured by bench/timing.py.
- Ratios are the peer's figure divided by service-precheck's, both from this run.

## 1. Size

| | bytes | vs busybox-static |
|---|---|---|
| service-precheck, static musl, $stripped | $size_bin ($(kib "$size_bin")) | $(ratio "$size_bin" "$size_busybox") smaller |
| the same, gzip -9 (as an image layer travels) | $size_gzip ($(kib "$size_gzip")) | |
| image service-precheck:latest (podman image inspect) | $size_image | |
| busybox-static ($busybox, $(busybox 2>&1 | head -n 1 | cut -d' ' -f2)) | $size_busybox ($(kib "$size_busybox")) | 1.0× |
| hello world, same profile, target and linker settings, no unwinder stubs (built by this run) | $size_hello | |

## 2. Immediate success, one target (hyperfine, 50 runs, median wall time)

| command | median | ratio |
|---|---|---|
| \`service-precheck 127.0.0.1:PORT\` (listening) | $s2_tcp ms | 1.0× |
| \`wait-for-it -q 127.0.0.1:PORT\` (default \`-t 15\`) | $s2_wfi ms | $(ratio "$s2_tcp" "$s2_wfi") |
| \`wait-for-it -q -t 0 127.0.0.1:PORT\` | $s2_wfi0 ms | $(ratio "$s2_tcp" "$s2_wfi0") |
| \`service-precheck NAME\` (in DNS) | $s2_dns ms | 1.0× |
| \`busybox nslookup NAME\` | $s2_nslookup ms | $(ratio "$s2_dns" "$s2_nslookup") |

## 3. Readiness → exit latency (ms from the appearance to the exit)

The record or listener appears at a uniformly random moment 0.1-1.1 s after the start (0.1-2.1 s
for the 2 s loop). A DNS record "appears" when the bench has appended it to dnsmasq's hosts file
and sent SIGHUP; dnsmasq's reload time is counted against the tool.

| tool | DNS record appears | listener appears |
|---|---|---|
| service-precheck \`-i 100ms\` | $(dist "$s3_dns_100ms") | $(dist "$s3_tcp_100ms") |
| service-precheck \`-i 1s\` (default) | $(dist "$s3_dns_1s") | $(dist "$s3_tcp_1s") |
| \`until busybox nslookup NAME; do sleep 2; done\` | $(dist "$s3_dns_loop") | cannot: DNS only |
| \`wait-for-it -q HOST:PORT\` (1 s sleep) | cannot: TCP only | $(dist "$s3_tcp_wfi") |

A tool that polls every P seconds sees an appearance after P/2 on average and P at worst, so
with 10-20 random moments the means and maxima compare the tools better than the medians.

| ratio, peer / service-precheck | of the means | of the maxima |
|---|---|---|
| nslookup loop / \`-i 1s\` (DNS) | $(ratio "$(field "$s3_dns_1s" 6)" "$(field "$s3_dns_loop" 6)") | $(ratio "$(field "$s3_dns_1s" 5)" "$(field "$s3_dns_loop" 5)") |
| nslookup loop / \`-i 100ms\` (DNS) | $(ratio "$(field "$s3_dns_100ms" 6)" "$(field "$s3_dns_loop" 6)") | $(ratio "$(field "$s3_dns_100ms" 5)" "$(field "$s3_dns_loop" 5)") |
| wait-for-it / \`-i 1s\` (TCP) | $(ratio "$(field "$s3_tcp_1s" 6)" "$(field "$s3_tcp_wfi" 6)") | $(ratio "$(field "$s3_tcp_1s" 5)" "$(field "$s3_tcp_wfi" 5)") |
| wait-for-it / \`-i 100ms\` (TCP) | $(ratio "$(field "$s3_tcp_100ms" 6)" "$(field "$s3_tcp_wfi" 6)") | $(ratio "$(field "$s3_tcp_100ms" 5)" "$(field "$s3_tcp_wfi" 5)") |

## 4. Deadline precision (ms from spawn to exit, deadline 2 s)

DNS blackholed: the only nameserver in resolv.conf (127.0.0.2) drops every query (iptables DROP
in the namespace). Hanging connect: SYNs to 127.0.0.3:7003 are dropped.

| tool | DNS blackholed | connect hangs |
|---|---|---|
| \`service-precheck -t 2s\` (exit 1) | $(dist "$s4_dns") | $(dist "$s4_tcp") |
| \`wait-for-it -q -t 2\` (exit 124) | $(dist "$s4_dns_wfi") (NAME:PORT) | $(dist "$s4_tcp_wfi") |
| the nslookup loop | cannot: no deadline (needs \`timeout 2\` around it) | cannot: DNS only |

## 5. Scale

All ready: names in dnsmasq (\`sN.bench\`), or in /etc/hosts (\`hN.bench\`, 1000 lines in the
file). Wall: hyperfine median (and slowest) of 20 runs. CPU (wait4) and peak RSS (GNU time %M):
medians of 5 runs. Threads: clone calls counted by strace, run with \`-q\` (one per target, the
signal thread and the starter; no log writer, as no line is logged). UDP datagrams dropped for
a full receive buffer during these runs (dnsmasq's socket, /proc/net/snmp RcvbufErrors):
$s5_udp_drops.

| targets | DNS: wall (slowest) | DNS: CPU s | DNS: peak RSS | threads created | /etc/hosts: wall (slowest) | /etc/hosts: CPU s | /etc/hosts: peak RSS | nslookup loop over the names | ratio loop / DNS |
|---|---|---|---|---|---|---|---|---|---|
EOF
    for n in 1 10 100 1000; do
        eval "dw=\$s5_dns_wall_$n hw=\$s5_hosts_wall_$n du=\$s5_s_usage_$n hu=\$s5_h_usage_$n"
        eval "dm=\$s5_dns_max_$n hm=\$s5_hosts_max_$n dc=\$s5_s_clones_$n lw=\$s5_loop_wall_$n"
        printf '| %s | %s ms (%s) | %s | %s | %s | %s ms (%s) | %s | %s | %s ms | %s |\n' "$n" \
            "$dw" "$dm" "$(field "$du" 2)" "$(mib "$(field "$du" 3)")" "$dc" "$hw" "$hm" \
            "$(field "$hu" 2)" "$(mib "$(field "$hu" 3)")" "$lw" "$(ratio "$dw" "$lw")"
    done
    cat <<EOF

Never ready (NXDOMAIN), \`-t 10s\`, default interval 1 s; medians of 3 runs; threads sampled
from /proc every 5 ms (peak). The CPU is the tool's own; dnsmasq's is not counted.

| | CPU s in 10 s | peak RSS | peak threads |
|---|---|---|---|
| service-precheck, 1000 targets | $(field "$s5_never_1000" 2) | $(mib "$(field "$s5_never_1000" 3)") | $(field "$s5_never_1000" 4) |
| service-precheck, 100 targets | $(field "$s5_never_100" 2) | $(mib "$(field "$s5_never_100" 3)") | $(field "$s5_never_100" 4) |
| the nslookup loop, 1 name (it checks one name at a time) | $(field "$s5_never_loop" 2) | $(mib "$(field "$s5_never_loop" 3)") | |

wait-for-it cannot check names without a port, nor more than one target per run.

## 6. 20 targets that each fail slowly once, then are ready

Each of 20 loopback ports drops the first SYN it gets (iptables \`recent\` in the namespace) and
accepts every later one. service-precheck runs with \`--connect-timeout 500ms -i 100ms\`, so
its first attempt at each target times out after 0.5 s; wait-for-it has no connect timeout, so
its first connect waits for the kernel's SYN retransmission (1 s). hyperfine, 3 runs, medians.

| how | total | ratio |
|---|---|---|
| service-precheck, all 20 targets in one run | $s6_parallel ms | 1.0× |
| service-precheck once per target, one after another | $s6_serial ms | $(ratio "$s6_parallel" "$s6_serial") |
| wait-for-it once per target, one after another | $s6_wfi ms | $(ratio "$s6_parallel" "$s6_wfi") |
| the nslookup loop | cannot: DNS only | |

## 7. Against docker-compose-wait (bench/scale.sh, also in bench/SCALE.md)

EOF
    # SCALE.md without its title and "written by" line, its sections one level down.
    sed '1,4d; s/^## /### /' "$here/SCALE.md"
    cat <<EOF

## 8. Memory per waiting target (bench/memory.sh, also in bench/MEMORY.md)

EOF
    sed '1,4d' "$here/MEMORY.md"
    cat <<EOF

## 9. One protocol check against the usual clients (bench/protocols.py, also in bench/PROTOCOLS.md)

EOF
    # PROTOCOLS.md without its title and "written by" lines, its sections one level down.
    sed '1,5d; s/^## /### /' "$here/PROTOCOLS.md"
    cat <<EOF

## Targets (issue 5)

EOF
    rx=$(worst "$s3_dns_100ms" "$s3_tcp_100ms")
    rx1=$(worst "$s3_dns_1s" "$s3_tcp_1s")
    dl=$(awk -v a="$(worst "$s4_dns" "$s4_tcp")" 'BEGIN { printf "%.1f", a - 2000 }')
    rss=$(awk -v a="$(field "$s5_s_usage_1000" 3)" -v b="$(field "$s5_h_usage_1000" 3)" \
        'BEGIN { print (a > b ? a : b) }')
    cpu100=$(field "$s5_never_100" 2)
    cat <<EOF
| figure | target | measured | |
|---|---|---|---|
| binary size | ≤ 512 KiB | $(kib "$size_bin") ($size_bin bytes; hello world floor: $size_hello) | $(verdict "$size_bin" 524288) |
| readiness → exit, \`-i 100ms\` | ≤ 120 ms in every run | worst $rx ms | $(verdict "$rx" 120) |
| readiness → exit, \`-i 1s\` | ≤ 1020 ms in every run | worst $rx1 ms | $(verdict "$rx1" 1020) |
| deadline overshoot | ≤ 20 ms | worst $dl ms (spawn to exit, minus 2 s) | $(verdict "$dl" 20) |
| 1000 ready targets in DNS, wall | ≤ 100 ms | $s5_dns_wall_1000 ms | $(verdict "$s5_dns_wall_1000" 100) |
| 1000 ready targets in /etc/hosts, wall | ≤ 100 ms | $s5_hosts_wall_1000 ms | $(verdict "$s5_hosts_wall_1000" 100) |
| 1000 ready targets, peak RSS | ≤ 16 MiB | $(mib "$rss") (worse of DNS and /etc/hosts) | $(verdict "$rss" 16384) |
| 100 targets waiting 10 s at a 1 s interval | ≤ 0.1 s CPU | $cpu100 s | $(verdict "$cpu100" 0.1) |
EOF
    echo
    cat "$here/ANALYSIS.md"
} >"$results"

# Print the tables (everything but the analysis).
sed '/^## Why targets are missed/,$d' "$results"
