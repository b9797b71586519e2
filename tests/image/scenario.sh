# tests/image/scenario.sh: what the example scenarios (network.sh, compose.sh, kube.sh) share: the
# report lines test.sh counts, bounded polling instead of sleeps, busybox test images, and
# removing everything a scenario made. Sourced, not run; the scenarios run inside
# tests/image/netns.sh, which has set CONTAINERS_CONF, so plain `podman` is run the right way.

# shellcheck source=tests/image/common.sh
. "$(dirname "$0")/common.sh"
image=$image_name:$version
tmp=$(mktemp -d)
# Every container, pod and network a scenario makes is named with this prefix.
prefix=precheck-$(basename "$0" .sh)-$$

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $1"; }
# fail TEXT [CONTAINER...]: a failed check, with the logs of the containers named.
fail() {
    failed=$((failed + 1))
    echo "FAIL - $1"
    shift
    for c in "$@"; do
        echo "    logs of $c:"
        podman logs "$c" 2>&1 | sed 's/^/    | /'
    done
    return 0
}
# finish: the scenario's summary line and exit status.
finish() {
    echo "$(basename "$0" .sh): $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# poll SECONDS COMMAND [ARG...]: run COMMAND every 0.1 s until it succeeds (0) or SECONDS pass (1).
poll() {
    poll_end=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -lt "$poll_end" ] || return 1
        sleep 0.1
    done
}
# logged CONTAINER TEXT: the container's output so far contains TEXT.
logged() { podman logs "$1" 2>&1 | grep -qF -- "$2"; }
# state CONTAINER: created, running, exited... (empty if there is no such container).
state() { podman container inspect --format '{{.State.Status}}' "$1" 2>/dev/null; }
# now_ms: wall-clock milliseconds, the clock podman's timestamps use too.
now_ms() { date +%s%3N; }
# lines_in_order FILE TEXT1 TEXT2: FILE has a line with TEXT1 before a line with TEXT2.
lines_in_order() {
    first=$(grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1)
    second=$(grep -nF -- "$3" "$1" | head -n 1 | cut -d: -f1)
    [ -n "$first" ] && [ -n "$second" ] && [ "$first" -lt "$second" ]
}

# busybox_base: build $busybox if it is not there: an image from scratch holding the static
# busybox with a link for every applet, a world-writable /tmp and nothing else. (A dynamic
# busybox cannot run from scratch; ldd fails on a static one.)
busybox=localhost/precheck-test-busybox:$version
busybox_base() {
    podman image exists "$busybox" && return 0
    rootfs=$tmp/busybox/rootfs
    mkdir -p "$rootfs/bin" "$rootfs/tmp"
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'FROM scratch\nCOPY rootfs/ /\n' >"$tmp/busybox/Containerfile"
    podman build -q -t "$busybox" "$tmp/busybox" >/dev/null
}
# busybox_image NAME DIR: build image NAME from DIR, whose Containerfile starts FROM $busybox.
busybox_image() {
    busybox_base && podman build -q -t "$1" "$2" >/dev/null
}

# cleanup: remove this scenario's pods, containers and networks, and its temporary files.
# Everything must go while still inside the namespace: the containers' network namespaces and
# mounts live here.
cleanup() {
    for pod in $(podman pod ps -q --filter "name=^$prefix" 2>/dev/null); do
        podman pod rm -f -t 0 "$pod" >/dev/null 2>&1
    done
    for ctr in $(podman ps -aq --filter "name=^$prefix" 2>/dev/null); do
        podman rm -f -t 0 "$ctr" >/dev/null 2>&1
    done
    for net in $(podman network ls -q --filter "name=^$prefix" 2>/dev/null); do
        podman network rm -f "$net" >/dev/null 2>&1
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# Exit 77, with one line on stderr, when something needed is missing (test.sh skips, or fails
# under CI=true).
if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
    echo "a static /bin/busybox is needed for the test images (apt-get install busybox-static)" >&2
    exit 77
fi
podman image exists "$image" || { echo "FAIL - $(basename "$0" .sh): no image $image (make image)"; exit 1; }
