//! Replaces this process with COMMAND: same PID, stdio and environment, argv byte-exact.
//!
//! execvp does the PATH lookup. The signal mask and SIGPIPE are put back first, so COMMAND
//! starts as it would have without us in front of it. Failures map to the shell's codes:
//! 127 when nothing by that name exists, 126 when it exists but cannot be executed. `find`
//! makes the same lookup before the wait, so a mistyped command fails at once, not after it.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

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

/// musl's execvp searches this when PATH is unset (the static binary is built with musl).
const DEFAULT_PATH: &str = "/usr/local/bin:/bin:/usr/bin";

/// Looks `command` up as execvp will, with this process's PATH: the file execvp would run, or
/// the error it would fail with (ENOENT: 127, EACCES: 126).
pub fn find(command: &OsStr) -> Result<PathBuf, ExecError> {
    find_in(command, std::env::var_os("PATH").as_deref())
}

/// `find` with `path` as PATH (None: unset). A name holding '/' is taken as a path; else each
/// PATH entry is tried in turn (an empty one is the current directory). As in execvp, what
/// exists but cannot be executed (a directory, a file without x) is passed over, and only
/// when nothing later can be executed is it the answer: EACCES rather than ENOENT.
pub fn find_in(command: &OsStr, path: Option<&OsStr>) -> Result<PathBuf, ExecError> {
    let fail = |errno| ExecError {
        command: command.to_string_lossy().into_owned(),
        error: io::Error::from_raw_os_error(errno),
    };
    let name = command.as_bytes();
    if name.is_empty() {
        return Err(fail(libc::ENOENT));
    }
    if name.contains(&b'/') {
        let file = PathBuf::from(command);
        return executable(&file).map(|()| file).map_err(fail);
    }
    let path = path.map_or(DEFAULT_PATH.as_bytes(), |p| p.as_bytes());
    let mut denied = false;
    for dir in path.split(|&b| b == b':') {
        let mut file = PathBuf::from(OsStr::from_bytes(dir));
        file.push(command);
        match executable(&file) {
            Ok(()) => return Ok(file),
            Err(libc::EACCES) => denied = true,
            Err(libc::ENOENT | libc::ENOTDIR) => {}
            Err(errno) => return Err(fail(errno)),
        }
    }
    Err(fail(if denied { libc::EACCES } else { libc::ENOENT }))
}

/// Whether execve could run `file`, as an errno: what it would fail with when it could not.
/// Only a regular file with execute permission for us can be run.
fn executable(file: &std::path::Path) -> Result<(), i32> {
    let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::ENOENT);
    let meta = std::fs::metadata(file).map_err(errno)?;
    if !meta.is_file() {
        return Err(libc::EACCES);
    }
    // A path from argv or PATH holds no NUL byte; should one, nothing by that name exists.
    let c = CString::new(file.as_os_str().as_bytes()).map_err(|_| libc::ENOENT)?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
        Ok(())
    } else {
        Err(errno(io::Error::last_os_error()))
    }
}

/// The command as log lines show it: each argument as text, escaped as `quote::escaped` does.
pub fn shown(command: &[OsString]) -> Vec<String> {
    (command.iter())
        .map(|a| crate::quote::escaped(&a.to_string_lossy()))
        .collect()
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

    #[test]
    fn find_looks_up_path_as_execvp_does() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("precheck-find-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap();
        }
        let file = |path: &std::path::Path, mode| {
            std::fs::write(path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        file(&a.join("tool"), 0o644);
        file(&b.join("tool"), 0o755);
        file(&a.join("plain"), 0o644);
        std::fs::create_dir_all(a.join("adir")).unwrap();
        let path = OsString::from(format!("{}:{}", a.display(), b.display()));
        let find = |name: &str| find_in(OsStr::new(name), Some(&path));
        // Passed over where it cannot run, found where it can.
        assert_eq!(find("tool").unwrap(), b.join("tool"));
        assert_eq!(find("plain").unwrap_err().exit(), Exit::NotExecutable);
        assert_eq!(find("adir").unwrap_err().exit(), Exit::NotExecutable);
        assert_eq!(find("nothing").unwrap_err().exit(), Exit::NotFound);
        assert_eq!(find("").unwrap_err().exit(), Exit::NotFound);
        // A name with '/' is a path: PATH is not searched.
        let tool = b.join("tool");
        assert_eq!(find(tool.to_str().unwrap()).unwrap(), tool);
        let plain = a.join("plain");
        assert_eq!(
            find(plain.to_str().unwrap()).unwrap_err().exit(),
            Exit::NotExecutable
        );
        let text = find("./nothing").unwrap_err().to_string();
        assert!(text.starts_with("command not found: './nothing'"), "{text}");
        // Unset PATH: musl's default.
        assert!(find_in(OsStr::new("sh"), None).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
