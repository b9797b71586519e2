//! SIGTERM and SIGINT without async handlers while waiting, and none lost before an exec.
//!
//! As in tini: the signals are blocked before any other thread starts (threads inherit the
//! mask), and a dedicated thread takes them (through a signalfd) and reports them to the main
//! thread like any other event. This also works as PID 1, where the kernel drops a signal whose
//! action is the default: a blocked signal is queued, never dropped. A run that the first look
//! decides (every target already up, see `sweep`) starts no thread: the main thread finds a
//! signal that came meanwhile on the same signalfd.
//!
//! Before COMMAND is exec'd the waiter is stopped *without* taking a signal, so a signal that
//! arrives from then on stays pending; `restore` then checks for one and installs a handler
//! that exits 128+n, so a SIGTERM that comes before the exec ends us (the command never
//! starts) and one that comes after reaches the command (exec resets the handler).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread::{self, JoinHandle};

/// The signals that end the wait.
pub const WAITED: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// The signal mask the process started with, to hand on to COMMAND.
pub struct OriginalMask(libc::sigset_t);

fn waited_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigaddset with valid signal numbers cannot fail.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for sig in WAITED {
            libc::sigaddset(set.as_mut_ptr(), sig);
        }
        set.assume_init()
    }
}

/// Blocks the waited signals in the calling thread; call it before starting any other thread.
pub fn block() -> io::Result<OriginalMask> {
    let set = waited_set();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: both pointers are valid sigset_t; pthread_sigmask fills `old` on success.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, old.as_mut_ptr()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: pthread_sigmask returned 0, so `old` is initialised.
    Ok(OriginalMask(unsafe { old.assume_init() }))
}

/// The waited signals as a descriptor (a signalfd): readable while one is pending. Opened by
/// the main thread before any other thread exists, so a signal that comes during the first
/// look (see `sweep`) wakes it there.
pub struct Signals(OwnedFd);

impl Signals {
    pub fn open() -> io::Result<Signals> {
        let set = waited_set();
        // SAFETY: `set` is a valid sigset_t; the new descriptor is owned below.
        let fd =
            check(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
        // SAFETY: signalfd returned a new descriptor that nothing else owns.
        Ok(Signals(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// The descriptor, to poll for POLLIN.
    pub fn fd(&self) -> libc::c_int {
        self.0.as_raw_fd()
    }

    /// Takes one pending signal, if there is one.
    pub fn take(&self) -> Option<libc::c_int> {
        take(self.fd())
    }
}

/// What takes the waited signals until `stop`: a thread, or nobody (`idle`) when the run was
/// decided without threads and the signals only need checking before the exit or exec.
pub struct Waiter {
    signals: Signals,
    thread: Option<(OwnedFd, JoinHandle<()>)>,
}

fn check(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Starts the thread that waits for a signal and calls `on_signal` with its number.
pub fn spawn_waiter(
    signals: Signals,
    on_signal: impl Fn(libc::c_int) + Send + 'static,
) -> io::Result<Waiter> {
    let mut pipe = [0; 2];
    // SAFETY: `pipe` has room for the two descriptors.
    check(unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    let (stop_rx, stop) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    // The Waiter owns the signalfd and outlives the thread's use of it (`stop` joins).
    let sfd = signals.fd();
    let thread = thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || {
            let mut fds = [
                libc::pollfd {
                    fd: sfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: stop_rx.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            loop {
                // SAFETY: `fds` is a valid array of two pollfd.
                let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
                // The stop request wins over a signal that came at the same moment: that one
                // stays pending for `stop`'s caller to find.
                if n < 0 || fds[1].revents != 0 {
                    return;
                }
                if let Some(sig) = take(sfd) {
                    on_signal(sig);
                }
            }
        })?;
    Ok(Waiter {
        signals,
        thread: Some((stop, thread)),
    })
}

/// Reads one pending signal from the signalfd, if there is one.
fn take(fd: libc::c_int) -> Option<libc::c_int> {
    let mut info = MaybeUninit::<libc::signalfd_siginfo>::uninit();
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` has room for one signalfd_siginfo; the fd is non-blocking.
    let n = unsafe { libc::read(fd, info.as_mut_ptr().cast(), size) };
    if n != size as isize {
        return None;
    }
    // SAFETY: read filled the whole struct.
    let signo = unsafe { info.assume_init() }.ssi_signo;
    libc::c_int::try_from(signo).ok()
}

impl Waiter {
    /// No thread: the waited signals stay pending until `stop` looks for one.
    pub fn idle(signals: Signals) -> Waiter {
        Waiter {
            signals,
            thread: None,
        }
    }

    /// Stops the thread without losing a signal: returns one that is already pending, if any.
    /// From then on the waited signals stay pending until `restore`.
    pub fn stop(self) -> Option<libc::c_int> {
        if let Some((stop, thread)) = self.thread {
            let byte = 1u8;
            // SAFETY: writes one byte from a valid buffer to our own pipe.
            let written = unsafe { libc::write(stop.as_raw_fd(), (&byte as *const u8).cast(), 1) };
            // If the pipe could not be written, the thread may still take a signal: then it has
            // reported it to the main thread, which no longer listens. Only a broken system
            // gets here.
            if written == 1 {
                // The thread only returns; a panic would have aborted the process.
                let _ = thread.join();
            }
        }
        self.signals.take()
    }
}

extern "C" fn exit_on_signal(sig: libc::c_int) {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(128 + sig) }
}

/// Prepares the calling thread for exec: a waited signal from now until the exec ends the
/// process with 128+n; SIGPIPE gets its default action back (the Rust runtime ignores it, and
/// ignored signals survive exec); then the mask the process started with is restored.
/// A waited signal the process inherited as ignored stays ignored.
pub fn restore(original: &OriginalMask) -> io::Result<()> {
    // SAFETY: sigaction with a valid handler and zeroed flags; signal() with SIG_DFL; the mask
    // came from pthread_sigmask.
    unsafe {
        for sig in WAITED {
            let mut old = MaybeUninit::<libc::sigaction>::uninit();
            check(libc::sigaction(sig, std::ptr::null(), old.as_mut_ptr()))?;
            if old.assume_init().sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = exit_on_signal as *const () as libc::sighandler_t;
            libc::sigfillset(&mut action.sa_mask);
            check(libc::sigaction(sig, &action, std::ptr::null_mut()))?;
        }
        if libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &original.0, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

/// "SIGTERM", "SIGINT", or "signal 10".
pub fn name(sig: libc::c_int) -> String {
    match sig {
        libc::SIGINT => "SIGINT".into(),
        libc::SIGTERM => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}
