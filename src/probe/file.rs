//! The file half of an attempt: does the path exist (any type, symlinks followed)?
//!
//! Only "no such file" means missing. Any other failure, a permission error on a directory of
//! the path above all, is a reason of its own: the file may well be there, and waiting cannot tell.

use std::fmt;
use std::io;

use super::talk::Said;

/// Why a path does not count as there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileError {
    /// ENOENT: nothing at the path, or a dangling symlink.
    Missing,
    /// ENOTDIR: a component of the path is a file, not a directory.
    NotADirectory,
    /// Anything else, as an errno: EACCES, ELOOP, EIO, ...
    Other(i32),
}

impl From<FileError> for Said {
    /// What proves nothing is there (for `--invert`), as opposed to not knowing.
    fn from(e: FileError) -> Said {
        let absent = matches!(e, FileError::Missing | FileError::NotADirectory);
        Said::of(&e, absent)
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Missing => write!(f, "no such file or directory"),
            FileError::NotADirectory => {
                write!(
                    f,
                    "no such file: a component of the path is not a directory"
                )
            }
            FileError::Other(errno) => write!(
                f,
                "cannot check the path: {}",
                io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

/// Whether `path` exists; access(2) with F_OK follows symlinks like stat(2), in less code.
pub fn check(path: &str) -> Result<(), FileError> {
    // The grammar refuses control characters, so the path holds no NUL before this one.
    let c_path: Vec<u8> = path.bytes().chain([0]).collect();
    // SAFETY: `c_path` is NUL-terminated and outlives the call.
    match unsafe { libc::access(c_path.as_ptr().cast(), libc::F_OK) } {
        0 => Ok(()),
        _ => Err(error(&io::Error::last_os_error())),
    }
}

fn error(e: &io::Error) -> FileError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => FileError::Missing,
        Some(libc::ENOTDIR) => FileError::NotADirectory,
        n => FileError::Other(n.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_reasons() {
        let e = |n| error(&io::Error::from_raw_os_error(n));
        assert_eq!(e(libc::ENOENT), FileError::Missing);
        assert_eq!(e(libc::ENOTDIR), FileError::NotADirectory);
        assert_eq!(
            e(libc::EACCES).to_string(),
            "cannot check the path: Permission denied (os error 13)"
        );
    }

    #[test]
    fn paths_that_exist_and_do_not() {
        assert_eq!(check("/"), Ok(()));
        let dir = std::env::temp_dir().join(format!("precheck-file-{}", std::process::id()));
        let missing = dir.join("missing");
        let missing = missing.to_str().expect("a UTF-8 temp dir");
        assert_eq!(check(missing), Err(FileError::Missing));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("file");
        std::fs::write(&file, "").expect("write");
        let file = file.to_str().expect("a UTF-8 temp dir");
        assert_eq!(check(file), Ok(()));
        assert_eq!(check(&format!("{file}/x")), Err(FileError::NotADirectory));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
