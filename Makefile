# service-precheck: build, static builds, tests, lint. `make help` lists the targets.

CARGO   ?= cargo
TARGET  ?= x86_64-unknown-linux-musl
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
STATIC   = target/$(TARGET)/release/service-precheck
X86_64   = $(CURDIR)/target/x86_64-unknown-linux-musl/release/service-precheck
AARCH64  = $(CURDIR)/target/aarch64-unknown-linux-musl/release/service-precheck

# Both musl targets link with rust-lld, set in .cargo/config.toml (no C toolchain needed, static-pie
# with RELR relocations). A CARGO_TARGET_<TRIPLE>_LINKER or RUSTFLAGS in the environment would
# override it: tests/size.rs then fails on the size or the missing static-pie.

.PHONY: help build static test lint clean demo image image-test bench bench-scale bench-protocols

help:
	@echo "make build       release build for this machine (glibc, dynamic)"
	@echo "make static      static musl binary for TARGET=$(TARGET) (adds the rustup target)"
	@echo "make test        unit, integration, DNS lab, aarch64 and image tests; skips what it lacks"
	@echo "make lint        cargo fmt --check and clippy -D warnings"
	@echo "make demo        the ZooKeeper story from the blog post (root or user namespaces)"
	@echo "make image       container image service-precheck:$(VERSION) and :latest"
	@echo "make image-test  build the image and test it with podman"
	@echo "make bench       benchmarks against wait-for-it, the nslookup loop and, with"
	@echo "                 COMPOSE_WAIT=PATH, docker-compose-wait (root; writes bench/RESULTS.md)"
	@echo "make bench-scale size and scale against docker-compose-wait only (bench/SCALE.md)"
	@echo "make bench-protocols one check per protocol against pg_isready, redis-cli,"
	@echo "                 mysqladmin, nc, a grpcio client: time and bytes (bench/PROTOCOLS.md)"
	@echo "make clean       remove build outputs"

build:
	$(CARGO) build --release --locked

static:
	@rustup target list --installed 2>/dev/null | grep -qx '$(TARGET)' || rustup target add '$(TARGET)'
	$(CARGO) build --release --locked --target '$(TARGET)'
	@ls -l $(STATIC)

# tests/run-all.sh runs cargo test, then the image tests where a container engine answers, skips
# what cannot run here with one line each (a failure under CI=true) and ends with a summary.
test:
	$(MAKE) static TARGET=x86_64-unknown-linux-musl
	$(MAKE) static TARGET=aarch64-unknown-linux-musl
	SERVICE_PRECHECK_STATIC='$(X86_64)' SERVICE_PRECHECK_AARCH64='$(AARCH64)' \
		CARGO='$(CARGO)' MAKE='$(MAKE)' sh tests/run-all.sh

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

# The demo is a cargo example (examples/demo/): it uses the DNS lab's server, a dev-dependency.
demo:
	$(MAKE) static TARGET=x86_64-unknown-linux-musl
	$(CARGO) build --locked --example demo
	SERVICE_PRECHECK_STATIC='$(X86_64)' $(CARGO) run -q --locked --example demo

image: static
	sh tests/image/build.sh

image-test: image
	IMAGE_TEST_NO_BUILD=1 sh tests/image/test.sh

# COMPOSE_WAIT=PATH (docker-compose-wait's binary) adds it as a peer; unset, it is skipped.
bench:
	$(MAKE) static TARGET=x86_64-unknown-linux-musl
	$(MAKE) static TARGET=aarch64-unknown-linux-musl
	SERVICE_PRECHECK_STATIC='$(X86_64)' SERVICE_PRECHECK_AARCH64='$(AARCH64)' \
	    COMPOSE_WAIT='$(COMPOSE_WAIT)' sh bench/run.sh

bench-scale:
	$(MAKE) static TARGET=x86_64-unknown-linux-musl
	$(MAKE) static TARGET=aarch64-unknown-linux-musl
	SERVICE_PRECHECK_STATIC='$(X86_64)' SERVICE_PRECHECK_AARCH64='$(AARCH64)' \
	    COMPOSE_WAIT='$(COMPOSE_WAIT)' sh bench/scale.sh

bench-protocols:
	$(MAKE) static TARGET=x86_64-unknown-linux-musl
	SERVICE_PRECHECK_STATIC='$(X86_64)' python3 bench/protocols.py

clean:
	$(CARGO) clean
