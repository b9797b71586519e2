#!/bin/sh
# bench/scenarios.sh: scenarios 2-6 of the benchmark, run by bench/run.sh inside fresh network,
# mount and PID namespaces, so all traffic stays on this namespace's loopback and every name is
# answered by our own dnsmasq. Writes shell assignments (key='value') to $BENCH_VALS.
# shellcheck disable=SC2046,SC2086 # name lists, medians and $opts split into words on purpose
set -eu

B=$BENCH_BIN
timing() { "$BENCH_PY" "$BENCH_DIR/timing.py" "$@"; }
lab=$BENCH_WORK
vals=$BENCH_VALS
put() { printf "%s='%s'\n" "$1" "$2" >>"$vals"; }
# m KEY COMMAND...: runs COMMAND (failing the bench if it fails) and stores what it printed.
m() {
    key=$1
    shift
    v=$("$@")
    put "$key" "$v"
}
note() { printf 'bench: %s\n' "$*" >&2; }
names() { seq -f "$1%g.bench" 1 "$2" | tr '\n' ' '; }
# hf ARGS...: hyperfine, quiet; prints the median of each command in ms, one per line.
hf() {
    json=$lab/hf.json
    # Its warnings about outliers go to a file; they are shown only when it fails.
    hyperfine --style none --export-json "$json" "$@" >/dev/null 2>"$lab/hyperfine.err" ||
        { cat "$lab/hyperfine.err" >&2 && return 1; }
    timing of-json median "$json"
}

# --- The namespace: loopback, our resolv.conf and hosts, dnsmasq as the cluster DNS ----------
ip link set lo up
printf 'nameserver 127.0.0.1\n' >"$lab/resolv.conf"
printf '127.0.0.1 localhost\n' >"$lab/hosts"
mount --bind "$lab/resolv.conf" /etc/resolv.conf
mount --bind "$lab/hosts" /etc/hosts
: >"$lab/zone.hosts"
i=1
while [ "$i" -le 1000 ]; do
    echo "127.1.$((i / 250)).$((i % 250 + 1)) s$i.bench"
    i=$((i + 1))
done >"$lab/names.hosts"
# Without --keep-in-foreground dnsmasq returns once it serves: no polling needed.
# local=/bench/ makes it answer NXDOMAIN (or NODATA) itself for names it does not have.
dnsmasq --conf-file=/dev/null --pid-file="$lab/dnsmasq.pid" --user=root --no-resolv --no-hosts \
    --listen-address=127.0.0.1 --bind-interfaces --cache-size=0 --local=/bench/ \
    --addn-hosts="$lab/zone.hosts" --addn-hosts="$lab/names.hosts" \
    --log-facility="$lab/dnsmasq.log"
dnsmasq_pid=$(cat "$lab/dnsmasq.pid")
mkfifo "$lab/serve.fifo"
"$BENCH_PY" "$BENCH_DIR/timing.py" serve 127.0.0.1 7001 >"$lab/serve.fifo" &
serve_pid=$!
read -r _ <"$lab/serve.fifo"

# --- 2. Immediate success ---------------------------------------------------------------------
note "2: immediate success"
r=$(hf -N --warmup 10 --runs 50 \
    "$B -q 127.0.0.1:7001" "wait-for-it -q 127.0.0.1:7001" "wait-for-it -q -t 0 127.0.0.1:7001" \
    "$B -q s1.bench" "busybox nslookup s1.bench")
set -- $r
put s2_tcp "$1"
put s2_wfi "$2"
put s2_wfi0 "$3"
put s2_dns "$4"
put s2_nslookup "$5"

# --- 3. Readiness -> exit latency -------------------------------------------------------------
note "3: readiness -> exit latency (about 110 s)"
line="127.1.9.1 appear.bench"
zone="$lab/zone.hosts $dnsmasq_pid"
m s3_dns_100ms timing appear-dns 20 0.1 1.1 $zone "$line" -- "$B" -q -i 100ms appear.bench
m s3_dns_1s timing appear-dns 20 0.1 1.1 $zone "$line" -- "$B" -q -i 1s appear.bench
m s3_dns_loop timing appear-dns 10 0.1 2.1 $zone "$line" -- \
    sh -c 'until busybox nslookup appear.bench >/dev/null 2>&1; do sleep 2; done'
m s3_tcp_100ms timing appear-tcp 20 0.1 1.1 127.0.0.1 7002 -- "$B" -q -i 100ms 127.0.0.1:7002
m s3_tcp_1s timing appear-tcp 20 0.1 1.1 127.0.0.1 7002 -- "$B" -q -i 1s 127.0.0.1:7002
m s3_tcp_wfi timing appear-tcp 10 0.1 1.1 127.0.0.1 7002 -- wait-for-it -q 127.0.0.1:7002

# --- 4. Deadline precision --------------------------------------------------------------------
note "4: deadline precision (about 60 s)"
# DNS blackholed: the only nameserver drops every query (nothing answers, not even ICMP).
iptables -A INPUT -d 127.0.0.2 -p udp --dport 53 -j DROP
iptables -A INPUT -d 127.0.0.2 -p tcp --dport 53 -j DROP
# A connect that hangs: SYNs to 127.0.0.3:7003 vanish.
iptables -A INPUT -d 127.0.0.3 -p tcp --dport 7003 -j DROP
printf 'nameserver 127.0.0.2\n' >"$lab/resolv.conf"
m s4_dns timing exits 10 1 -- "$B" -q -t 2s blackhole.bench
m s4_dns_wfi timing exits 5 124 -- wait-for-it -q -t 2 blackhole.bench:7003
printf 'nameserver 127.0.0.1\n' >"$lab/resolv.conf"
m s4_tcp timing exits 10 1 -- "$B" -q -t 2s 127.0.0.3:7003
m s4_tcp_wfi timing exits 5 124 -- wait-for-it -q -t 2 127.0.0.3:7003

# --- 5. Scale ---------------------------------------------------------------------------------
note "5: scale (about 90 s)"
i=1
while [ "$i" -le 1000 ]; do
    echo "127.2.$((i / 250)).$((i % 250 + 1)) h$i.bench"
    i=$((i + 1))
done >>"$lab/hosts"
# UDP datagrams the kernel dropped because a receive buffer (dnsmasq's) was full.
rcvbuf_errors() { awk '/^Udp:/ { if (h) print $6; h = 1 }' /proc/net/snmp; }
drops=$(rcvbuf_errors)
for n in 1 10 100 1000; do
    r=$(hf -N --warmup 3 --runs 20 "$B -q $(names s "$n")" "$B -q $(names h "$n")")
    set -- $r
    put "s5_dns_wall_$n" "$1"
    put "s5_hosts_wall_$n" "$2"
    set -- $(timing of-json max "$lab/hf.json")
    put "s5_dns_max_$n" "$1"
    put "s5_hosts_max_$n" "$2"
    for kind in s h; do
        m "s5_${kind}_usage_$n" timing usage 5 0 -- "$B" -q $(names "$kind" "$n")
        # Threads the process created: one clone per thread (the signal thread and the probes).
        strace -f -qq -e trace=clone,clone3 -o "$lab/strace" "$B" -q $(names "$kind" "$n")
        m "s5_${kind}_clones_$n" grep -c 'clone3\?(' "$lab/strace"
    done
done
put s5_udp_drops "$(($(rcvbuf_errors) - drops))"
# The original method checks one name after another; the loop over N names:
for n in 1 10 100 1000; do
    runs=10
    [ "$n" -lt 1000 ] || runs=3
    m "s5_loop_wall_$n" hf --runs "$runs" \
        "for n in $(names s "$n"); do until busybox nslookup \$n >/dev/null 2>&1; do sleep 2; done; done"
done
printf '127.0.0.1 localhost\n' >"$lab/hosts"
# Never ready (NXDOMAIN) for 10 s, default interval 1 s.
m s5_never_1000 timing usage 3 1 -- "$B" -q -t 10s $(names x 1000)
m s5_never_100 timing usage 3 1 -- "$B" -q -t 10s $(names x 100)
m s5_never_loop timing usage 1 124 -- timeout 10 sh -c \
    'until busybox nslookup x1.bench >/dev/null 2>&1; do sleep 2; done'

# --- 6. 20 targets that fail slowly once, then are ready -------------------------------------
note "6: slow failures (about 100 s)"
kill "$serve_pid"
"$BENCH_PY" "$BENCH_DIR/timing.py" serve 127.0.0.1 7100 20 >"$lab/serve.fifo" &
read -r _ <"$lab/serve.fifo"
ports=$(seq 7100 7119 | tr '\n' ' ')
: >"$lab/reset.sh"
for p in $ports; do
    # The first SYN to each port is dropped (the connect hangs), every later one goes through.
    iptables -A INPUT -p tcp --dport "$p" --syn -m recent --name "p$p" --rcheck -j ACCEPT
    iptables -A INPUT -p tcp --dport "$p" --syn -m recent --name "p$p" --set -j DROP
    echo "echo / >/proc/net/xt_recent/p$p" >>"$lab/reset.sh"
done
targets=$(for p in $ports; do printf '127.0.0.1:%s ' "$p"; done)
opts="-q --connect-timeout 500ms -i 100ms"
r=$(hf --prepare "sh $lab/reset.sh" --runs 3 \
    "$B $opts $targets" \
    "for t in $targets; do $B $opts \$t; done" \
    "for t in $targets; do wait-for-it -q \$t; done")
set -- $r
put s6_parallel "$1"
put s6_serial "$2"
put s6_wfi "$3"
note "done"
