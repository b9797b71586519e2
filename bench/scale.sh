#!/bin/sh
# bench/scale.sh: service-precheck against docker-compose-wait (issue 10), size and scale, side by
# side. Writes bench/SCALE.md (bench/run.sh, so `make bench`, copies it into RESULTS.md).
#
#   COMPOSE_WAIT=PATH SERVICE_PRECHECK_STATIC=PATH [SERVICE_PRECHECK_AARCH64=PATH] sh bench/scale.sh
#
# COMPOSE_WAIT is the docker-compose-wait binary (a static musl build of the upstream `wait`);
# unset, the peer is skipped, saying so, and only our figures are written. Scale: N TCP targets
# on 127.0.0.1 that are already up (listeners), N = 1, 10, 100, 1000 (and 0: start-up alone),
# SCALE_PAIRS paired runs (default 21) alternating which tool goes first (bench/pairs.py).
# Loopback only; no root needed.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
fail() {
    echo "scale: $*" >&2
    exit 1
}
bin=${SERVICE_PRECHECK_STATIC:-}
[ -x "$bin" ] || fail "set SERVICE_PRECHECK_STATIC to the static x86_64 binary ('make bench' does)"
bin=$(realpath "$bin")
arm=${SERVICE_PRECHECK_AARCH64:-}
[ -z "$arm" ] || [ -f "$arm" ] || fail "SERVICE_PRECHECK_AARCH64=$arm is not a file"
[ -z "$arm" ] || arm=$(realpath "$arm")
peer=${COMPOSE_WAIT:-}
if [ -n "$peer" ]; then
    [ -x "$peer" ] || fail "COMPOSE_WAIT=$peer is not an executable file"
    peer=$(realpath "$peer")
else
    echo "scale: COMPOSE_WAIT is not set: skipping docker-compose-wait (set it to its binary to compare)" >&2
fi
pairs=${SCALE_PAIRS:-21}
out=${SCALE_OUT:-$here/SCALE.md}
py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3) || fail "python3 is missing"

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$(date +%s)

# --- measure ----------------------------------------------------------------------------------
for n in 0 1 10 100 1000; do
    echo "scale: $n targets, $pairs pairs" >&2
    # shellcheck disable=SC2086 # $peer is one path or nothing
    line=$("$py" "$here/pairs.py" "$n" "$pairs" "$bin" $peer) || fail "pairs.py failed at $n targets"
    eval "row_$n=\$line"
done
# The floor: a program that only exits, against the peer with one target (bench/floor.c).
floor_row=""
if [ -n "$peer" ] && [ "$(uname -m)" = x86_64 ] && command -v cc >/dev/null 2>&1; then
    floor_bin=$(mktemp)
    if cc -O2 -static -nostdlib -o "$floor_bin" "$here/floor.c" 2>/dev/null; then
        echo "scale: the floor (a program that only exits) against 1 target, $pairs pairs" >&2
        floor_row=$("$py" "$here/pairs.py" 1 "$pairs" "$floor_bin" "$peer") ||
            fail "pairs.py failed for the floor"
    fi
    rm -f "$floor_bin"
fi
[ -n "$floor_row" ] || echo "scale: no floor row (it needs COMPOSE_WAIT, x86_64 and cc)" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
seconds=$(($(date +%s) - t0))

# --- SCALE.md ---------------------------------------------------------------------------------
field() { echo "$1" | cut -d' ' -f"$2"; }
bytes() { echo "$1" | sed ':a; s/\B[0-9]\{3\}\>/,&/; ta'; }
budget=300000
size_row() {
    # name, path
    s=$(stat -c %s "$2")
    kind=$(file -b "$2" | grep -o 'static-pie linked\|statically linked\|dynamically linked' || echo '?')
    ratio="-"
    [ -z "$peer" ] || ratio=$(awk -v a="$s" -v b="$size_peer" 'BEGIN { printf "%.2f×", a / b }')
    verdict="-"
    case $1 in service-precheck*)
        if [ "$s" -le $budget ]; then verdict="met"; else verdict="**missed**"; fi ;;
    esac
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$(bytes "$s")" "$kind" "$ratio" "$verdict"
}
size_peer=0
[ -z "$peer" ] || size_peer=$(stat -c %s "$peer")
if [ -n "$peer" ]; then
    # It has no --version; its banner names it. No hosts: it exits 0 at once.
    peer_version=$(env -u WAIT_HOSTS WAIT_LOGGER_LEVEL=info "$peer" 2>&1 |
        grep -o 'docker-compose-wait [0-9][0-9.]*' | head -n 1) || peer_version="docker-compose-wait ?"
fi
cmd="SERVICE_PRECHECK_STATIC=$bin"
[ -z "$arm" ] || cmd="$cmd SERVICE_PRECHECK_AARCH64=$arm"
# The peer by its checksum, not its path: where a copy sits on this machine says nothing.
[ -z "$peer" ] || cmd="COMPOSE_WAIT=PEER $cmd"
[ "$pairs" = 21 ] || cmd="SCALE_PAIRS=$pairs $cmd"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    cat <<EOF
# service-precheck against docker-compose-wait: size and scale

Written by bench/scale.sh (also run by \`make bench\`); do not edit by hand. Issue 10 sets the goals.

- Date: $started; the run took $seconds s.
- Machine: $(nproc) cores, $cpu_model, Linux $(uname -r).
- Load average (1, 5, 15 min): $load_before before, $load_after after.
- Command: \`$cmd sh bench/scale.sh\`
- Versions: $("$bin" -V)$([ -z "$peer" ] || echo ", $peer_version").
EOF
    [ -z "$peer" ] ||
        echo "- PEER: $peer_version, the upstream static musl build, sha256 $(sha256sum "$peer" | cut -d' ' -f1)."
    [ -n "$peer" ] || echo "- docker-compose-wait: **skipped**, COMPOSE_WAIT was not set."
    cat <<EOF

## Size (\`ls -l\` bytes; budget $(bytes $budget) for service-precheck)

| binary | bytes | linking | ratio to docker-compose-wait | budget |
|---|---|---|---|---|
EOF
    size_row "service-precheck, x86_64 musl" "$bin"
    if [ -n "$arm" ]; then
        size_row "service-precheck, aarch64 musl" "$arm"
    else
        echo "| service-precheck, aarch64 musl | not measured (SERVICE_PRECHECK_AARCH64 unset) | | | |"
    fi
    [ -z "$peer" ] || size_row "$peer_version, x86_64 musl" "$peer"
    cat <<EOF

Size of features (measured by hand, not by this script): the http://, file:// and unix:// targets
(issue 11) cost 16,440 bytes on x86_64 (267,960 to 284,400) and 13,584 on aarch64 (255,248 to
268,832): \`make static && make static TARGET=aarch64-unknown-linux-musl && ls -l
target/*-unknown-linux-musl/release/service-precheck\` at main e09467a (before) and at branch
\`http\` merged with it (after).

## Scale: N TCP targets on 127.0.0.1, all already listening

Each pair runs both tools once, in alternating order, after two unrecorded warm-up pairs; $pairs
pairs per row. Wall time in ms from just before posix_spawn to the return of wait4 (so it
includes starting the process), median and p90. service-precheck runs as
\`service-precheck -t 30s 127.0.0.1:P1 ... 127.0.0.1:PN\`, docker-compose-wait with
\`WAIT_HOSTS=127.0.0.1:P1,...\` (its default 30 s timeout); both with their default logging,
stdout and stderr to /dev/null. A separate process accepts and closes the connections. Ratio:
service-precheck's median over docker-compose-wait's (below 1.00× is faster); the median of the
per-pair ratios is beside it. Row 0 is start-up and exit alone, under all the others:
\`service-precheck -V\`, and docker-compose-wait without WAIT_HOSTS.

Goal (issue 10): at most 0.50× at 1 target, at most 1.00× at 100 and 1000 targets (ratio of
medians).

| targets | service-precheck median (p90) | docker-compose-wait median (p90) | ratio of medians | median of pair ratios | goal |
|---|---|---|---|---|---|
EOF
    for n in 0 1 10 100 1000; do
        eval "row=\$row_$n"
        label=$n
        [ "$n" != 0 ] || label="0 (start-up and exit)"
        case $n in 1) goal=0.50 ;; 100 | 1000) goal=1.00 ;; *) goal= ;; esac
        if [ -n "$peer" ]; then
            verdict="-"
            if [ -n "$goal" ]; then
                verdict=$(awk -v r="$(field "$row" 5)" -v g="$goal" \
                    'BEGIN { if (r + 0 <= g + 0) print "met (≤ " g "×)"; else print "**missed** (≤ " g "×)" }')
            fi
            printf '| %s | %s (%s) | %s (%s) | %s× | %s× | %s |\n' "$label" "$(field "$row" 1)" \
                "$(field "$row" 2)" "$(field "$row" 3)" "$(field "$row" 4)" "$(field "$row" 5)" \
                "$(field "$row" 6)" "$verdict"
        else
            printf '| %s | %s (%s) | skipped | | | |\n' "$label" "$(field "$row" 1)" "$(field "$row" 2)"
        fi
    done
    if [ -n "$floor_row" ]; then
        cat <<EOF

The floor: bench/floor.c, a static program that does nothing but exit 0, timed in the same
pairs against docker-compose-wait with 1 target: $(field "$floor_row" 1) ms (p90
$(field "$floor_row" 2)) against $(field "$floor_row" 3) ms, **$(field "$floor_row" 5)×**. No
program, however small, can be faster than this here: it is what posix_spawn, execve and wait4
cost alone, so a goal below it cannot be met by any tool in this harness.
EOF
    fi
} >"$out"
cat "$out"
