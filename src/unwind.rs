//! The unwinder entry points std references, as stubs, so that the static musl binary links
//! neither libunwind nor std's backtrace symbolizer: about 280 KB of the 574 KB binary.
//!
//! Why it is safe: the release and dev profiles build with `panic = "abort"`, so nothing ever
//! unwinds; std's precompiled code still names the `_Unwind_*` functions (its landing pads, the
//! personality routine, the backtrace printer), and the linker pulls libunwind.a in for those
//! names, which in turn keeps the symbolizer alive. With these definitions a panic still prints
//! its message and then aborts (SIGABRT, exit 134); only the backtrace that `RUST_BACKTRACE=1`
//! prints is empty (`_Unwind_Backtrace` reports the end of the stack at once). In a stripped
//! binary it only ever showed `<unknown>` frames. Every other stub can only be reached from
//! inside an unwind or a backtrace walk, which never start, so it aborts.
//!
//! Why a future toolchain cannot make this misbehave quietly: a static archive member is linked
//! only for a symbol still undefined, and every member of libunwind.a that holds code defines at
//! least one of the names in this file. The twelve `_Unwind_*` stubs are every unwinder symbol
//! std 1.95 references and they cover `UnwindLevel1.o` (GetIP, GetLanguageSpecificData,
//! GetRegionStart, Resume, SetGR, SetIP) and `UnwindLevel1-gcc-ext.o` (Backtrace,
//! FindEnclosingFunction, GetCFA, GetDataRelBase, GetIPInfo, GetTextRelBase, and also
//! `__register_frame`); two tripwires that nothing calls cover `libunwind.o` (`__unw_init_local`)
//! and `UnwindRegistersSave.o` (`__unw_getcontext`); `UnwindRegistersRestore.o` is used only by
//! `libunwind.o`. So if std ever references any other symbol of libunwind.a, the linker extracts
//! a member that defines one of these names as well, and the link stops with "duplicate symbol"
//! errors instead of mixing stubs with the real unwinder. (Checked by adding a reference to
//! `_Unwind_GetGR`, to `_Unwind_Resume_or_Rethrow` and to `unw_step`.) If std stops referencing
//! one of them, nothing breaks. Never pass `--allow-multiple-definition` to the linker; and
//! tests/size.rs fails if the binary grows back past its budget for any other reason.
//!
//! Compiled only for musl builds with `panic = "abort"`: those link libunwind.a statically. A
//! `panic = "unwind"` build (`cargo test --target ...-musl`, whose harness unwinds) keeps the
//! real unwinder.
#![cfg(all(target_env = "musl", panic = "abort"))]

use std::ffi::{c_int, c_void};

/// libunwind's `_Unwind_Reason_Code` for "no more frames".
const URC_END_OF_STACK: c_int = 5;

/// An opaque `_Unwind_Context *`; only the unwinder itself could make one.
type Context = *mut c_void;

/// `RUST_BACKTRACE=1` walks the stack with this: report the end of the stack before the first
/// frame, so the callback never runs and the backtrace prints empty.
#[unsafe(no_mangle)]
extern "C" fn _Unwind_Backtrace(_trace: *mut c_void, _arg: *mut c_void) -> c_int {
    URC_END_OF_STACK
}

/// Reached only when something tries to unwind or to read a frame, which cannot happen with
/// `panic = "abort"` and the backtrace above; abort rather than return a made-up value.
fn unreachable() -> ! {
    std::process::abort()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume(_exception: *mut c_void) -> ! {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_FindEnclosingFunction(_pc: *mut c_void) -> *mut c_void {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIP(_context: Context) -> usize {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetIPInfo(_context: Context, _ip_before_insn: *mut c_int) -> usize {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetCFA(_context: Context) -> usize {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetLanguageSpecificData(_context: Context) -> *mut c_void {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetRegionStart(_context: Context) -> usize {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetTextRelBase(_context: Context) -> usize {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_GetDataRelBase(_context: Context) -> usize {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetGR(_context: Context, _index: c_int, _value: usize) {
    unreachable()
}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_SetIP(_context: Context, _value: usize) {
    unreachable()
}

/// Tripwire for libunwind.a's `libunwind.o`, the unwinder proper: see the top of this file.
#[unsafe(no_mangle)]
extern "C" fn __unw_init_local(_cursor: *mut c_void, _context: *mut c_void) -> c_int {
    unreachable()
}

/// Tripwire for libunwind.a's `UnwindRegistersSave.o`: see the top of this file.
#[unsafe(no_mangle)]
extern "C" fn __unw_getcontext(_context: *mut c_void) -> c_int {
    unreachable()
}
