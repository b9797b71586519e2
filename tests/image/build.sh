#!/bin/sh
# tests/image/build.sh: build the service-precheck image (`make image`), tagged
# service-precheck:<Cargo.toml version> and service-precheck:latest.
#
# Environment:
#   IMAGE_BINARY=prebuilt (default) use the static binaries from `make static` (no registry image
#                needed); =source compiles in the Containerfile's Rust stage (needs the registry).
#   IMAGE_PLATFORMS  comma-separated, default the host's (linux/amd64 here). Two or more build a
#                manifest list (podman --manifest) instead of an image; push it with
#                `podman manifest push service-precheck:<version> docker://REGISTRY/NAME:<version>`.
#   IMAGE_NAME   default service-precheck.   IMAGE_ENGINE  podman or docker, default podman if present.
set -eu
# shellcheck source=tests/image/common.sh
. "$(dirname "$0")/common.sh"

binary=${IMAGE_BINARY:-prebuilt}
platforms=${IMAGE_PLATFORMS:-linux/$(host_arch)}

case "$binary" in
    prebuilt)
        # Lay the binaries out by architecture name for the Containerfile's stage-local TARGETARCH.
        for platform in $(echo "$platforms" | tr ',' ' '); do
            arch=${platform#linux/}
            triple=$(triple_of_arch "$arch")
            bin=$root/target/$triple/release/service-precheck
            if [ ! -x "$bin" ]; then
                echo "missing $bin: run \`make static TARGET=$triple\` first" >&2
                exit 1
            fi
            mkdir -p "$root/target/image/$arch"
            cp "$bin" "$root/target/image/$arch/service-precheck"
        done
        ;;
    source) ;;
    *) echo "IMAGE_BINARY must be prebuilt or source, not '$binary'" >&2; exit 2 ;;
esac

set -- --platform "$platforms" --build-arg "BINARY=$binary" --build-arg "VERSION=$version" \
    -f "$root/Containerfile"
# podman 4.3 (buildah 1.28) reuses cached FROM scratch layers across platforms: an amd64 build
# after an arm64 one came out labelled arm64. The prebuilt build has no RUN step, so no cache
# costs nothing there; a source build compiles afresh anyway once the sources changed.
[ "$engine" = docker ] || set -- "$@" --no-cache

# Free both names: podman cannot move a tag between a manifest list and an image.
if [ "$engine" = podman ]; then
    # What the build leaves untagged (the image these tags named before, the build stages) is
    # removed when it is done; untagged images from before, and images in use, are kept.
    before=$(mktemp)
    eng images -q --no-trunc --filter dangling=true 2>/dev/null | sort -u >"$before"
    tidy() {
        eng images -q --no-trunc --filter dangling=true 2>/dev/null | sort -u |
            comm -13 "$before" - | xargs -r podman rmi >/dev/null 2>&1
        rm -f "$before"
    }
    trap tidy EXIT
    for tag in "$image_name:$version" "$image_name:latest"; do
        if eng manifest exists "$tag" 2>/dev/null; then
            eng manifest rm "$tag" >/dev/null
        elif eng image exists "$tag" 2>/dev/null; then
            eng untag "$tag" "$tag" >/dev/null
        fi
    done
fi

case "$platforms" in
    *,*)
        if [ "$engine" = docker ]; then
            # A multi-platform result cannot be loaded into docker's local store: push it.
            eng buildx build "$@" -t "$image_name:$version" -t "$image_name:latest" \
                ${IMAGE_PUSH:+--push} "$root"
            exit 0
        fi
        eng build "$@" --manifest "$image_name:$version" "$root"
        eng tag "$image_name:$version" "$image_name:latest"
        eng manifest inspect "$image_name:$version"
        ;;
    *)
        eng build "$@" -t "$image_name:$version" -t "$image_name:latest" "$root"
        eng image inspect --format "$image_name:$version {{.Os}}/{{.Architecture}} {{.Size}} bytes" \
            "$image_name:$version"
        ;;
esac
