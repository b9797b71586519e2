#!/bin/sh
# tests/run-all.sh: what `make test` runs after the static builds: cargo test (unit, integration,
# examples, the DNS lab, the aarch64 binary), then the image tests when a container engine answers,
# and at the end a summary of what ran and what was skipped, one line per reason.
#
# Whatever a part needs and does not find (dnsmasq, a container engine, qemu, namespaces) skips that
# part with one line naming it and how to get it. Under CI=true nothing may be skipped: a skip is a
# failure, and the run exits 1.
#
# Environment: SERVICE_PRECHECK_STATIC and SERVICE_PRECHECK_AARCH64 (the static binaries, set by
# `make test` and passed on to cargo test), CARGO, MAKE.
set -u
cd "$(dirname "$0")/.."

cargo=${CARGO:-cargo}
make=${MAKE:-make}
ci=false
case "${CI:-}" in true | 1) ci=true ;; esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/summary"
status=0

# step NAME LOG COMMAND...: runs COMMAND with its output shown and kept in $tmp/LOG; sets $rc.
step() {
    name=$1 log=$tmp/$2
    shift 2
    printf '\n== make test: %s ==\n' "$name"
    { "$@" 2>&1; echo "$?" >"$log.rc"; } | tee "$log"
    rc=$(cat "$log.rc")
}
note() { printf '%-8s %s\n' "$1" "$2" >>"$tmp/summary"; }
# A part that cannot run here: skipped, or under CI=true a failure.
missing() {
    if [ "$ci" = true ]; then
        note FAILED "$1 [not allowed under CI=true]"
        status=1
    else
        note skipped "$1"
    fi
}

# The skip lines the parts print, as "part: what is missing (how to get it)".
collect_skips() {
    sed -n -e 's/^skipping \(.*\)$/\1/p' \
        -e 's/^lab: skipped \(.*\)$/DNS lab: \1/p' \
        -e 's/^skip - \(.*\)$/image tests: \1/p' "$1" | sort -u >"$tmp/skips"
    while IFS= read -r line; do missing "$line"; done <"$tmp/skips"
}

# 1. cargo test: libtest binaries report "test result:", the lab its own "N passed, N failed".
# --no-fail-fast: every test binary runs, so the summary is complete even after a failure.
step "cargo test" cargo-test "$cargo" test --locked --no-fail-fast
tests=$(awk '/^test result:/ { p += $4; f += $6; i += $8 }
    END { printf "%d passed, %d failed, %d ignored", p, f, i }' "$tmp/cargo-test")
lab=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$tmp/cargo-test" | tail -n 1)
if [ "$rc" = 0 ]; then
    note ran "cargo test: $tests; DNS lab: ${lab:-not run}"
else
    note FAILED "cargo test (exit $rc): $tests; DNS lab: ${lab:-did not finish}"
    status=1
fi
collect_skips "$tmp/cargo-test"

# 2. The image tests, only where a container engine answers: a podman or docker CLI whose service
# does not run cannot build anything. tests/image/test.sh runs containers with podman.
engine_answers() {
    command -v "$1" >/dev/null 2>&1 && timeout 60 "$1" info >/dev/null 2>&1
}
if engine_answers podman; then
    step "image tests (podman)" image-test "$make" --no-print-directory image-test
    result=$(grep -E '^image-test: [0-9]+ passed' "$tmp/image-test" | tail -n 1)
    if [ "$rc" = 0 ]; then
        note ran "${result:-image-test: passed}"
    else
        note FAILED "make image-test (exit $rc): ${result:-see above}"
        status=1
    fi
    collect_skips "$tmp/image-test"
else
    if ! command -v podman >/dev/null 2>&1; then
        why="podman is not installed"
    else
        why="podman is installed but \`podman info\` fails"
    fi
    engine_answers docker && why="$why (docker answers, but the image tests run containers with podman)"
    line="image tests: $why (apt-get install podman buildah runc)"
    word=skipping
    [ "$ci" = false ] || word="FAILED (CI=true):"
    printf '\n== make test: image tests ==\n%s %s\n' "$word" "$line"
    missing "$line"
fi

printf '\n== make test: summary ==\n'
cat "$tmp/summary"
skips=$(grep -c '^skipped' "$tmp/summary")
if [ "$status" != 0 ]; then
    echo "make test: FAILED"
    exit 1
fi
if [ "$skips" -gt 0 ]; then
    echo "make test: passed, $skips skipped (CI=true makes a skip a failure)"
else
    echo "make test: passed, nothing skipped"
fi
