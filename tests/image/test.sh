#!/bin/sh
# tests/image/test.sh: `make image-test`: build the image, then run it the way a hardened
# initContainer runs (its own non-root user, --read-only, no capabilities, no network) and check
# the exit codes, that nothing but /service-precheck is in it, and the arm64 variant; then run the
# examples for real on podman networks (network.sh, compose.sh, kube.sh).
#
# In the first part, names are answered from the container's /etc/hosts (--add-host). Every
# container that looks a name up runs with --network none and a resolv.conf of ours pointing at
# its own loopback, so no lookup can reach this machine's resolver. Traffic stays on loopback.
#
# Environment: IMAGE_TEST_NO_BUILD=1 tests the image already built; CI=true turns skips into
# failures. Ends with the line `image-test: N passed, N failed`.
set -u
# shellcheck source=tests/image/common.sh
. "$(dirname "$0")/common.sh"

if [ "$engine" != podman ]; then
    echo "image-test runs the image with podman; found only $engine (apt-get install podman buildah runc)" >&2
    exit 1
fi
ensure_podman_conf || exit 1
tmp=$(mktemp -d)
listener_pid=
# The images this run leaves untagged (a --no-cache build takes the tags of the last one, and
# the stages of multi-stage builds stay behind) are removed at the end; untagged images that
# were there before the run are not touched.
podman images -q --no-trunc --filter dangling=true 2>/dev/null | sort -u >"$tmp/dangling-before"
remove_new_dangling() {
    podman images -q --no-trunc --filter dangling=true 2>/dev/null | sort -u |
        comm -13 "$tmp/dangling-before" - | xargs -r podman rmi >/dev/null 2>&1
}
trap 'remove_new_dangling; rm -rf "$tmp"; [ -z "$listener_pid" ] || kill "$listener_pid" 2>/dev/null' EXIT
if [ -z "${IMAGE_TEST_NO_BUILD:-}" ]; then
    sh "$root/tests/image/build.sh" || { echo "image-test: building the image failed" >&2; exit 1; }
fi

image=$image_name:$version
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$tmp/resolv.conf"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() {
    failed=$((failed + 1))
    echo "FAIL - $1"
    for f in "$tmp/out" "$tmp/err"; do [ -s "$f" ] && sed 's/^/    | /' "$f"; done
    return 0
}
skip() {
    if [ "${CI:-}" = true ]; then fail "$1 (cannot run under CI=true: $2)"; else echo "skip - $1: $2"; fi
}

hardened="--rm --read-only --cap-drop ALL --security-opt no-new-privileges"
offline="--network none -v $tmp/resolv.conf:/etc/resolv.conf:ro"
# run OPTIONS ARG...: run the image with the hardened options plus OPTIONS (split on spaces);
# the exit code goes to $rc, the output to $tmp/out and $tmp/err.
run() {
    opts=$1
    shift
    # shellcheck disable=SC2086 # the option strings are meant to split
    timeout 60 podman --runtime runc --cgroup-manager=cgroupfs run $hardened $opts "$image" "$@" \
        >"$tmp/out" 2>"$tmp/err"
    rc=$?
}
# expect NAME RC [TEXT]: the last run exited RC and, if given, printed TEXT.
expect() {
    if [ "$rc" -eq "$2" ] && { [ -z "${3:-}" ] || cat "$tmp/out" "$tmp/err" | grep -qF -- "$3"; }; then
        pass "$1"
    else
        # shellcheck disable=SC2016 # the single quotes are text inside double quotes
        fail "$1 (exit $rc, wanted $2${3:+ with '$3'})"
    fi
}
# inspect IMAGE FORMAT: one field of the image's config.
inspect() { eng image inspect --format "$2" "$1"; }
# files_of IMAGE: the paths in the image's root filesystem, one a line.
files_of() {
    id=$(eng create "$1" 2>/dev/null) || return 1
    eng export -o "$tmp/fs.tar" "$id" && tar -tf "$tmp/fs.tar" | sort
    eng rm "$id" >/dev/null
}

# --- the image's configuration ------------------------------------------------------------
got="$(inspect "$image" '{{.Config.User}}|{{json .Config.Entrypoint}}|{{.Os}}/{{.Architecture}}')"
want="65534:65534|[\"/service-precheck\"]|linux/$(host_arch)"
if [ "$got" = "$want" ]; then pass "config: user, exec-form entrypoint, platform"; else fail "config: got '$got', wanted '$want'"; fi

label_problems=
for label in title description source licenses version; do
    value=$(inspect "$image" "{{index .Config.Labels \"org.opencontainers.image.$label\"}}")
    [ -n "$value" ] && [ "$value" != "<no value>" ] || label_problems="$label_problems $label"
done
[ "$(inspect "$image" '{{index .Config.Labels "org.opencontainers.image.version"}}')" = "$version" ] ||
    label_problems="$label_problems version!=$version"
if [ -z "$label_problems" ]; then pass "OCI labels"; else fail "OCI labels missing or wrong:$label_problems"; fi

files=$(files_of "$image")
if [ "$files" = service-precheck ]; then pass "only /service-precheck in the image"; else fail "image files: $(echo "$files" | tr '\n' ' ')"; fi

# The size budget of issues 10 and 19, as podman reports it (the binaries' own budget is
# tests/size.rs): raised from 310,000 only as far as the protocol targets needed; the hard
# ceiling is 330,000.
size=$(inspect "$image" '{{.Size}}')
if [ "$size" -le 323000 ]; then pass "image size $size <= 323000 bytes"; else fail "image size $size > 323000 bytes"; fi

# --- running it -----------------------------------------------------------------------------
run "$offline --entrypoint /bin/sh" -c true
if [ "$rc" -ne 0 ]; then pass "no shell (exit $rc)"; else fail "--entrypoint /bin/sh ran"; fi

run "$offline" -V
expect "-V prints the version" 0 "$version"

run "$offline" --no-such-flag
expect "bad flag: exit 2" 2

run "$offline --add-host db.precheck.test:127.0.0.1" db.precheck.test
expect "name from /etc/hosts: exit 0" 0 "ready"

run "$offline --add-host zk.precheck.test:127.0.0.1 --add-host zk.precheck.test:127.0.0.2" \
    -t 5s 'dns://zk.precheck.test?min=2'
expect "two addresses for ?min=2: exit 0" 0 "ready"

run "$offline --add-host zk.precheck.test:127.0.0.1" -t 1s 'dns://zk.precheck.test?min=2'
expect "one address for ?min=2: exit 1 at the deadline" 1 "deadline of 1s passed"

run "$offline" -t 1s missing.precheck.invalid
expect "unknown name: exit 1 at the deadline" 1 "deadline of 1s passed"

run "$offline" -t 1s 127.0.0.1:9
expect "closed port: exit 1 at the deadline" 1 "connection refused"

# The termination message as the kubelet collects it: a world-writable file at the default
# path, /dev/termination-log, written by the image's user 65534 and read back.
: >"$tmp/termination-log"
chmod 666 "$tmp/termination-log"
run "$offline -v $tmp/termination-log:/dev/termination-log" -t 1s 127.0.0.1:9
msg=$(cat "$tmp/termination-log")
want="deadline of 1s passed: 0 of 1 targets ready, 1 needed; not ready: 127.0.0.1:9: connection refused (127.0.0.1:9)"
if [ "$rc" -eq 1 ] && [ "$msg" = "$want" ]; then pass "termination message at /dev/termination-log: $msg"; else fail "termination message: exit $rc, '$msg'"; fi

run "$offline --add-host db.precheck.test:127.0.0.1" db.precheck.test -- /service-precheck -V
expect "exec after success (the command's output)" 0 "$version"

# A TCP port that is open: a listener on the host's loopback, the container in the host's
# network namespace. The target is an IP literal, so nothing is looked up.
if command -v python3 >/dev/null 2>&1; then
    python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
time.sleep(120)' >"$tmp/port" &
    listener_pid=$!
    for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$tmp/port" ] && break; sleep 0.2; done
    run "--network host" -t 10s "127.0.0.1:$(cat "$tmp/port")"
    expect "open TCP port on loopback: exit 0" 0 "ready"
    kill "$listener_pid" 2>/dev/null
    listener_pid=
else
    skip "open TCP port on loopback" "python3 is needed for the listener"
fi

# SIGTERM to PID 1, as the kubelet does when it gives up on an initContainer.
# shellcheck disable=SC2086 # $offline is meant to split
if id=$(eng run -d --read-only --cap-drop ALL $offline "$image" never.precheck.invalid 2>"$tmp/err"); then
    # Signal only once the binary has said it is waiting: by then SIGTERM is blocked and taken
    # by its signal thread. Earlier, PID 1 would ignore it and the test would prove nothing.
    tries=0
    until eng logs "$id" 2>&1 | grep -q "waiting for"; do
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || break
        sleep 0.05
    done
    start=$(date +%s)
    eng stop --time 20 "$id" >/dev/null 2>&1
    took=$(($(date +%s) - start))
    rc=$(eng container inspect --format '{{.State.ExitCode}}' "$id")
    eng logs "$id" >"$tmp/out" 2>"$tmp/err"
    eng rm -f "$id" >/dev/null 2>&1
    if [ "$took" -lt 10 ]; then expect "SIGTERM as PID 1: exit 143 at once (${took}s)" 143 "interrupted by SIGTERM"; else fail "SIGTERM as PID 1 took ${took}s: SIGTERM was not handled"; fi
else
    fail "SIGTERM as PID 1: the container did not start"
fi

# --- COPY --from into a user's image, as the README and examples/compose show -----------------
# busybox-static stands in for the user's base image and server: FROM scratch plus a shell.
# (A dynamic busybox could not run from scratch; ldd fails on a static binary.)
if [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; then
    user_name=localhost/service-precheck-copy-from-test
    mkdir -p "$tmp/user"
    cp /bin/busybox "$tmp/user/busybox"
    {
        echo 'FROM scratch'
        echo 'COPY busybox /bin/sh'
        echo "COPY --from=$image /service-precheck /usr/local/bin/"
        echo 'USER 65534:65534'
        echo 'ENTRYPOINT ["/usr/local/bin/service-precheck", "--timeout", "5s", "db.precheck.test", "--"]'
        # shellcheck disable=SC2016 # $(id -u) is for the container's shell
        echo 'CMD ["/bin/sh", "-c", "echo server started as $(id -u)"]'
    } >"$tmp/user/Containerfile"
    if eng build --no-cache -t "$user_name:test" "$tmp/user" >"$tmp/out" 2>"$tmp/err"; then
        saved=$image
        image=$user_name:test
        run "$offline --add-host db.precheck.test:127.0.0.1"
        expect "COPY --from into another image, as its entrypoint prefix" 0 "server started as 65534"
        image=$saved
    else
        fail "COPY --from=$image did not build"
    fi
    eng rmi "$user_name:test" >/dev/null 2>&1
else
    skip "COPY --from into another image" "needs a static /bin/busybox (apt-get install busybox-static)"
fi

# --- arm64 ----------------------------------------------------------------------------------
arm_bin=$root/target/aarch64-unknown-linux-musl/release/service-precheck
if [ -x "$arm_bin" ]; then
    test_name=localhost/service-precheck-arm64-test
    if IMAGE_NAME=$test_name IMAGE_PLATFORMS=linux/arm64 sh "$root/tests/image/build.sh" >"$tmp/out" 2>"$tmp/err"; then
        arch=$(inspect "$test_name:$version" '{{.Os}}/{{.Architecture}}')
        files_of "$test_name:$version" >/dev/null
        tar -xOf "$tmp/fs.tar" service-precheck >"$tmp/arm-bin"
        # ELF e_machine, bytes 18-19: 0xb7 0x00 is AArch64.
        machine=$(od -An -tx1 -j18 -N2 "$tmp/arm-bin" | tr -d ' \n')
        if [ "$arch" = linux/arm64 ] && [ "$machine" = b700 ]; then pass "arm64 image: platform and ELF machine"; else fail "arm64 image: platform $arch, ELF machine $machine"; fi
        if command -v qemu-aarch64-static >/dev/null 2>&1; then
            chmod +x "$tmp/arm-bin"
            timeout 60 qemu-aarch64-static "$tmp/arm-bin" -V >"$tmp/out" 2>"$tmp/err"
            rc=$?
            expect "arm64 image's binary runs under qemu-aarch64-static" 0 "$version"
        else
            skip "arm64 image's binary under qemu" "qemu-aarch64-static is missing (apt-get install qemu-user-static)"
        fi
        eng rmi "$test_name:$version" "$test_name:latest" >/dev/null 2>&1
    else
        fail "arm64 image did not build"
    fi

    multi_name=localhost/service-precheck-multiarch-test
    if IMAGE_NAME=$multi_name IMAGE_PLATFORMS=linux/amd64,linux/arm64 sh "$root/tests/image/build.sh" >"$tmp/out" 2>"$tmp/err"; then
        platforms=$(eng manifest inspect "$multi_name:$version" | grep -o '"architecture": *"[a-z0-9]*"' | sort | tr -d ' \n')
        if [ "$platforms" = '"architecture":"amd64""architecture":"arm64"' ]; then pass "manifest list for linux/amd64,linux/arm64"; else fail "manifest list platforms: $platforms"; fi
    else
        fail "manifest list build failed"
    fi
    # podman 4.3 cannot list images while such a local manifest list exists: remove it.
    eng manifest rm "$multi_name:$version" "$multi_name:latest" >/dev/null 2>&1
else
    skip "arm64 image" "no $arm_bin (make static TARGET=aarch64-unknown-linux-musl)"
fi

# --- the Containerfile's default path: compiling from source ------------------------------
# The Rust builder image cannot be pulled here, so a stand-in is made from this machine's own
# toolchain: an empty image whose /usr, rustup and cargo homes are bind-mounted from the host for
# the build (cargo's registry cache included: `make test` has filled it). --network none proves
# the build needs nothing from outside once the crates are cached.
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
if [ -d "$rustup_home" ] && [ -d "$cargo_home" ] && command -v cc >/dev/null 2>&1 && [ -d /etc/alternatives ]; then
    builder=localhost/service-precheck-host-rust:test
    source_name=localhost/service-precheck-source-test
    ctr=$(buildah from scratch)
    mnt=$(buildah mount "$ctr")
    for d in bin lib lib64 sbin; do ln -s "usr/$d" "$mnt/$d"; done
    mkdir -p "$mnt/usr" "$mnt/etc/alternatives" "$mnt/tmp" "$mnt$rustup_home" "$mnt$cargo_home"
    chmod 1777 "$mnt/tmp"
    buildah umount "$ctr" >/dev/null
    buildah config --env "PATH=$cargo_home/bin:/usr/sbin:/usr/bin" --env "HOME=$HOME" \
        --env "RUSTUP_HOME=$rustup_home" --env "CARGO_HOME=$cargo_home" "$ctr"
    buildah commit -q "$ctr" "$builder" >/dev/null
    buildah rm "$ctr" >/dev/null
    # Without --build-arg BINARY: the default is what is tested here.
    if timeout 900 podman --runtime runc --cgroup-manager=cgroupfs build --no-cache --network none \
        -v /usr:/usr:ro -v /etc/alternatives:/etc/alternatives:ro \
        -v "$rustup_home:$rustup_home:ro" -v "$cargo_home:$cargo_home" \
        --build-arg "RUST_IMAGE=$builder" --build-arg "VERSION=$version" \
        -t "$source_name:$version" -f "$root/Containerfile" "$root" >"$tmp/out" 2>"$tmp/err"; then
        : >"$tmp/err"
        files=$(files_of "$source_name:$version")
        got="$files|$(inspect "$source_name:$version" '{{.Config.User}}|{{.Os}}/{{.Architecture}}')"
        if [ "$got" = "service-precheck|65534:65534|linux/$(host_arch)" ]; then pass "source build: image"; else fail "source build: got '$got'"; fi
        saved=$image
        image=$source_name:$version
        run "$offline --add-host db.precheck.test:127.0.0.1" db.precheck.test
        expect "source build: the binary works" 0 "ready"
        image=$saved
    else
        fail "source build (the Containerfile's default path) failed"
    fi
    eng rmi "$source_name:$version" "$builder" >/dev/null 2>&1
else
    skip "source build" "needs rustup and cargo homes, cc and /etc/alternatives on this machine"
fi

# --- the examples, for real, on podman networks -------------------------------------------------
# network.sh: the image waiting for a container name under aardvark-dns; compose.sh:
# examples/compose with podman-compose; kube.sh: examples/kubernetes with podman kube play. Each
# runs in a private network namespace of its own (tests/image/netns.sh), so no query reaches
# this machine's resolver; each prints ok/FAIL lines, counted here, and exits 77 with one line
# on stderr when something it needs is missing.
for scenario in network compose kube; do
    echo "# $scenario"
    started=$(date +%s)
    { sh "$root/tests/image/netns.sh" sh "$root/tests/image/$scenario.sh" 2>"$tmp/err"; echo $? >"$tmp/rc"; } |
        tee "$tmp/out"
    rc=$(cat "$tmp/rc")
    echo "# $scenario took $(($(date +%s) - started)) s"
    passed=$((passed + $(grep -c '^ok - ' "$tmp/out")))
    failed=$((failed + $(grep -c '^FAIL - ' "$tmp/out")))
    if [ "$rc" -eq 77 ]; then
        skip "$scenario scenario" "$(tail -n 1 "$tmp/err")"
    elif [ "$rc" -ne 0 ] && ! grep -q '^FAIL - ' "$tmp/out"; then
        : >"$tmp/out"
        fail "$scenario scenario exited $rc"
    fi
done
eng rmi -f "localhost/precheck-test-busybox:$version" >/dev/null 2>&1

echo "image-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
