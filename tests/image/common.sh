# tests/image/common.sh: what build.sh and test.sh share: paths, version, the container engine.
# Sourced, not run. The engine is podman where present (run the way this machine needs), else docker.

root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
image_name=${IMAGE_NAME:-service-precheck}
# The package version: the first `version = "..."` line of Cargo.toml is the [package] one.
version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "no version line in $root/Cargo.toml" >&2; exit 3; }

# Go architecture name (what TARGETARCH holds) for a Rust target triple, and back.
arch_of_triple() {
    case "$1" in
        x86_64-*) echo amd64 ;;
        aarch64-*) echo arm64 ;;
        *) echo "no image architecture for target '$1'" >&2; return 1 ;;
    esac
}
triple_of_arch() {
    case "$1" in
        amd64) echo x86_64-unknown-linux-musl ;;
        arm64) echo aarch64-unknown-linux-musl ;;
        *) echo "unsupported architecture '$1' (amd64 or arm64)" >&2; return 1 ;;
    esac
}
host_arch() {
    arch_of_triple "$(uname -m)-"
}

# Podman here works with runc and cgroupfs (the flags in eng below), and only without default
# ulimits: podman raises RLIMIT_NOFILE to 1048576, above this sandbox's hard limit of 20000, and
# runc then fails with "error setting rlimit type 7: operation not permitted".
podman_conf=/etc/containers/containers.conf
ensure_podman_conf() {
    if grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=[[:space:]]*\[[[:space:]]*\]' "$podman_conf" 2>/dev/null; then
        return 0
    fi
    if grep -Eq '^[[:space:]]*default_ulimits[[:space:]]*=' "$podman_conf" 2>/dev/null; then
        echo "$podman_conf sets default_ulimits to something other than []; containers cannot start here with it" >&2
        return 1
    fi
    mkdir -p "$(dirname "$podman_conf")"
    if grep -Eq '^[[:space:]]*\[containers\]' "$podman_conf" 2>/dev/null; then
        sed -i '/^[[:space:]]*\[containers\]/a default_ulimits = []' "$podman_conf"
    else
        printf '\n[containers]\ndefault_ulimits = []\n' >>"$podman_conf"
    fi
    echo "set default_ulimits = [] in $podman_conf"
}

# An engine counts only if it answers: a docker CLI whose daemon is not running does not.
if [ -n "${IMAGE_ENGINE:-}" ]; then
    engine=$IMAGE_ENGINE
elif command -v podman >/dev/null 2>&1 && podman info >/dev/null 2>&1; then
    engine=podman
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    engine=docker
else
    echo "no container engine answers: neither \`podman info\` nor \`docker info\` works (apt-get install podman buildah runc)" >&2
    exit 3
fi

# Run the engine; podman with the runtime flags this machine needs.
eng() {
    if [ "$engine" = podman ]; then
        podman --runtime runc --cgroup-manager=cgroupfs "$@"
    else
        docker "$@"
    fi
}
