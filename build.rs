//! Build script: links the static musl binary without unwind tables (see
//! .cargo/discard-unwind-tables.ld), where src/unwind.rs has replaced the unwinder.
//!
//! For the binary only: test harnesses unwind, and they keep their tables. musl only: that is
//! where src/unwind.rs applies (the binary's profiles build with `panic = "abort"`; cargo does not
//! tell a build script the profile's panic setting, so the target is what is checked here).

use std::env;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=.cargo/discard-unwind-tables.ld");
    if env::var("CARGO_CFG_TARGET_ENV").as_deref() != Ok("musl") {
        return;
    }
    // cargo always sets CARGO_MANIFEST_DIR for a build script; the path keeps the link independent
    // of the directory the linker runs in.
    let dir = env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|e| panic!("CARGO_MANIFEST_DIR: {e}"));
    println!("cargo:rustc-link-arg-bins=-T{dir}/.cargo/discard-unwind-tables.ld");
}
