//! Replaces this process with COMMAND: same PID, stdio and environment, argv byte-exact.
//!
//! execvp does the PATH lookup. The signal mask and SIGPIPE are put back first, so COMMAND
//! starts as it would have without us in front of it. Failures map to the shell's codes:
//! 127 when nothing by that name exists, 126 when it exists but cannot be executed.

use std::ffi::{CString, OsString};
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStringExt;

use crate::exit::Exit;
use crate::quote::quoted;
use crate::signals::{self, OriginalMask};

/// Why COMMAND could not replace this process.
#[derive(Debug)]
pub struct ExecError {
    command: String,
    error: io::Error,
}

impl ExecError {
    pub fn exit(&self) -> Exit {
        match self.error.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => Exit::NotFound,
            _ => Exit::NotExecutable,
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.exit() {
            Exit::NotFound => "command not found",
            _ => "command cannot be executed",
        };
        write!(f, "{what}: {}: {}", quoted(&self.command), self.error)
    }
}

impl std::error::Error for ExecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Execs `command` (not empty); returns only on failure.
pub fn exec(command: &[OsString], mask: &OriginalMask) -> ExecError {
    let shown = command
        .first()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    let fail = |error| ExecError {
        command: shown.clone(),
        error,
    };
    // Arguments come from argv, which cannot hold a NUL byte, so CString::new cannot fail here;
    // should it, that is reported like any other exec failure.
    let argv: Result<Vec<CString>, _> = command
        .iter()
        .map(|a| CString::new(a.clone().into_vec()))
        .collect();
    let argv = match argv {
        Ok(argv) if !argv.is_empty() => argv,
        Ok(_) => return fail(io::Error::from_raw_os_error(libc::ENOENT)),
        Err(e) => return fail(io::Error::new(io::ErrorKind::InvalidInput, e)),
    };
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    if let Err(e) = signals::restore(mask) {
        return fail(e);
    }
    // SAFETY: argv[0] and the pointer array are NUL-terminated and outlive the call.
    unsafe { libc::execvp(ptrs[0], ptrs.as_ptr()) };
    fail(io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(errno: i32) -> ExecError {
        ExecError {
            command: "./server".into(),
            error: io::Error::from_raw_os_error(errno),
        }
    }

    #[test]
    fn errno_maps_to_shell_codes() {
        assert_eq!(err(libc::ENOENT).exit(), Exit::NotFound);
        assert_eq!(err(libc::ENOTDIR).exit(), Exit::NotFound);
        assert_eq!(err(libc::EACCES).exit(), Exit::NotExecutable);
        assert_eq!(err(libc::ENOEXEC).exit(), Exit::NotExecutable);
        let text = err(libc::ENOENT).to_string();
        assert!(
            text.starts_with("command not found: './server': "),
            "{text}"
        );
    }
}
