//! The size budget of the shipped binaries (issues 10 and 19): the stripped static musl binary
//! for x86_64 must stay at or under 318,000 bytes and for aarch64 at or under 300,000 (the five
//! protocols cost 19.5 KB and 17.2 KB; README's Sizes table), and each be static-pie (ELF type
//! ET_DYN, no PT_INTERP: relocatable, so ASLR applies, and no dynamic loader), without unwind
//! tables (no PT_GNU_EH_FRAME).
//!
//! A gate, not a figure in the README: new features, a dependency update, a toolchain that
//! brings libunwind back (see src/unwind.rs) or a linker override in the environment (see
//! .cargo/config.toml) fail here. The binaries come from $SERVICE_PRECHECK_STATIC and
//! $SERVICE_PRECHECK_AARCH64 (`make test` builds and sets both). A test whose variable is unset
//! skips with the reason, except under CI=true, where it fails.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

/// Bytes, as `ls -l` shows them: x86_64 was raised from 300,000 for the protocol targets, only
/// as far as they needed (317,544 B measured); the hard ceiling is 320,000.
const X86_64: u64 = 318_000;
const AARCH64: u64 = 300_000;

/// The binary named by `var`, or None (after printing why) when the variable is unset.
fn binary(test: &str, var: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let reason = format!("{var} is not set (make test builds the binary and sets it)");
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: cannot run under CI=true: {reason}");
    }
    // Straight to stderr, not eprintln!: libtest captures the macros, and a skip should show.
    let _ = writeln!(std::io::stderr(), "skipping {test}: {reason}");
    None
}

/// Reads a little-endian unsigned number of `len` bytes at `at`.
fn num(elf: &[u8], at: usize, len: usize) -> usize {
    let bytes = elf
        .get(at..at + len)
        .unwrap_or_else(|| panic!("the ELF file ends before byte {}", at + len));
    bytes
        .iter()
        .rev()
        .fold(0usize, |n, b| n << 8 | usize::from(*b))
}

/// Asserts the budget and static-pie for the binary in `var`, an ELF64 file for `machine`.
fn check(test: &str, var: &str, machine: usize, budget: u64) {
    let Some(bin) = binary(test, var) else {
        return;
    };
    let size = fs::metadata(&bin)
        .unwrap_or_else(|e| panic!("{var}={}: {e}", bin.display()))
        .len();
    assert!(
        size <= budget,
        "{} is {size} bytes, over the budget of {budget}",
        bin.display()
    );

    let elf = fs::read(&bin).unwrap_or_else(|e| panic!("reading {}: {e}", bin.display()));
    assert_eq!(elf.get(..5), Some(&b"\x7fELF\x02"[..]), "not an ELF64 file");
    assert_eq!(num(&elf, 18, 2), machine, "e_machine of {}", bin.display());
    // e_type 3 is ET_DYN: a position-independent executable. 2 (ET_EXEC) loads at a fixed address.
    assert_eq!(
        num(&elf, 16, 2),
        3,
        "{} is not position-independent (ELF type is not ET_DYN): no ASLR",
        bin.display()
    );
    // Static: no program header of type PT_INTERP (3) names a dynamic loader. ELF64 LE:
    // e_phoff (u64) at 32, e_phentsize (u16) at 54, e_phnum (u16) at 56, p_type (u32) first.
    let (phoff, phentsize, phnum) = (num(&elf, 32, 8), num(&elf, 54, 2), num(&elf, 56, 2));
    assert!(phnum > 0, "{}: no program headers", bin.display());
    let has = |p_type| (0..phnum).any(|i| num(&elf, phoff + i * phentsize, 4) == p_type);
    assert!(
        !has(3),
        "{} has a PT_INTERP header: dynamically linked",
        bin.display()
    );
    // PT_GNU_EH_FRAME points at .eh_frame_hdr, which the link drops with the unwind tables
    // (.cargo/discard-unwind-tables.ld, about 43 KB): if the header is back, so are they.
    assert!(
        !has(0x6474_e550),
        "{} has a PT_GNU_EH_FRAME header: the unwind tables were not dropped (see build.rs)",
        bin.display()
    );
}

#[test]
fn x86_64_binary_is_static_pie_within_budget() {
    // 62 is EM_X86_64.
    check(
        "x86_64_binary_is_static_pie_within_budget",
        "SERVICE_PRECHECK_STATIC",
        62,
        X86_64,
    );
}

#[test]
fn aarch64_binary_is_static_pie_within_budget() {
    // 183 is EM_AARCH64.
    check(
        "aarch64_binary_is_static_pie_within_budget",
        "SERVICE_PRECHECK_AARCH64",
        183,
        AARCH64,
    );
}
