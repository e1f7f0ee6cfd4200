//! Questions asked of the user: secrets without echo, paths with echo.
//!
//! On a terminal, secrets are read with `rpassword` so they are never shown
//! or kept in the shell history. Without a terminal (a script, a pipe), each
//! answer is one line of standard input, so everything the tool asks can be
//! scripted; the question still goes to stderr, never to stdout. A secret
//! can also come from a file descriptor ([`line_from_fd`]), so that scripts
//! keep it off the command line.

use crate::error::{Error, Result};
use crate::secret::Secret;
use std::io::{BufRead, IsTerminal, Write};

/// Something that can answer questions.
pub(crate) trait Prompter {
    /// Asks for a secret without echo; `None` when the answer is empty.
    fn secret(&mut self, question: &str) -> Result<Option<Secret>>;
    /// Asks for a plain line; `None` when the answer is empty.
    fn line(&mut self, question: &str) -> Result<Option<String>>;
}

/// Asks on the terminal, or reads answers from standard input.
#[derive(Debug, Default)]
pub(crate) struct Terminal;

impl Terminal {
    /// Whether standard input is a terminal (so menus and questions make sense).
    pub(crate) fn is_interactive() -> bool {
        std::io::stdin().is_terminal()
    }

    fn read_line(question: &str) -> Result<Option<String>> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|source| Error::Read {
                path: "standard input".into(),
                source,
            })?;
        if n == 0 {
            // End of input at a prompt: Ctrl-D on a terminal, or a pipe
            // with fewer answers than questions. Either way the question
            // stays unanswered; an empty line is an answer, this is not.
            eprintln!();
            return Err(Error::Interrupted);
        }
        let answer = line.trim_end_matches(['\n', '\r']).to_string();
        Ok((!answer.trim().is_empty()).then_some(answer))
    }
}

impl Prompter for Terminal {
    fn secret(&mut self, question: &str) -> Result<Option<Secret>> {
        if Terminal::is_interactive() {
            // Ctrl-C while echo is off must not leave the terminal silent.
            let _restore = interrupt::Guard::new();
            let answer = rpassword::prompt_password(question).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    Error::Interrupted
                } else {
                    Error::Read {
                        path: "the terminal".into(),
                        source: e,
                    }
                }
            })?;
            let answer = Secret::new(answer);
            Ok((!answer.expose().trim().is_empty()).then_some(answer))
        } else {
            Ok(Terminal::read_line(question)?.map(Secret::new))
        }
    }

    fn line(&mut self, question: &str) -> Result<Option<String>> {
        Terminal::read_line(question)
    }
}

/// Reads one line from an open file descriptor the caller was given (as in
/// `--mfa-code-fd 3 3<file`): byte by byte, so nothing after the line is
/// consumed (the rest of standard input stays for the prompt), at most 1 KiB.
/// `None` when the line is empty. The descriptor is left open.
#[cfg(unix)]
pub(crate) fn line_from_fd(fd: i32) -> std::io::Result<Option<Secret>> {
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    loop {
        let mut b = 0u8;
        // SAFETY: reads at most one byte into a valid, writable byte; a
        // descriptor that is not open fails with EBADF and nothing else.
        let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
        match n {
            1 if b == b'\n' => break,
            1 => {
                bytes.push(b);
                if bytes.len() > 1024 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "no end of line in the first 1 KiB",
                    ));
                }
            }
            0 => break,
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"))?
        .trim();
    Ok((!text.is_empty()).then(|| Secret::new(text)))
}

/// Descriptors are a Unix notion: elsewhere the flag cannot be honoured.
#[cfg(not(unix))]
pub(crate) fn line_from_fd(_fd: i32) -> std::io::Result<Option<Secret>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "file descriptors are only supported on Unix",
    ))
}

/// Ctrl-C at a hidden prompt: the terminal's settings as they were before
/// echo was turned off are put back, and the tool exits 130, as on any
/// other interrupt. Without this the shell is left with echo off.
#[cfg(unix)]
mod interrupt {
    use std::cell::UnsafeCell;
    use std::mem::MaybeUninit;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The terminal's settings, written before the handler is installed and
    /// only read by it.
    struct Saved(UnsafeCell<MaybeUninit<libc::termios>>);
    // SAFETY: written once per prompt before the handler can run, then only
    // read (by the handler) until the guard is dropped.
    unsafe impl Sync for Saved {}
    static SAVED: Saved = Saved(UnsafeCell::new(MaybeUninit::uninit()));
    /// The terminal's descriptor, or -1.
    static TTY: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_interrupt(_: libc::c_int) {
        let fd = TTY.load(Ordering::SeqCst);
        // SAFETY: tcsetattr, write and _exit are async-signal-safe; SAVED
        // was filled before the handler was installed.
        unsafe {
            if fd >= 0 {
                libc::tcsetattr(fd, libc::TCSANOW, (*SAVED.0.get()).as_ptr());
            }
            libc::write(2, b"\n".as_ptr().cast(), 1);
            libc::_exit(130);
        }
    }

    /// Installed for the time of one prompt; the previous handler is put
    /// back when it is dropped.
    pub(super) struct Guard {
        old: libc::sigaction,
        fd: libc::c_int,
    }

    impl Guard {
        pub(super) fn new() -> Guard {
            // SAFETY: plain libc calls on structs owned here.
            unsafe {
                let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
                if fd >= 0 && libc::tcgetattr(fd, (*SAVED.0.get()).as_mut_ptr()) == 0 {
                    TTY.store(fd, Ordering::SeqCst);
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction =
                    on_interrupt as extern "C" fn(libc::c_int) as *const () as usize;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGINT, &action, &mut old);
                Guard { old, fd }
            }
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            // SAFETY: restores what `new` saved.
            unsafe {
                libc::sigaction(libc::SIGINT, &self.old, std::ptr::null_mut());
                TTY.store(-1, Ordering::SeqCst);
                if self.fd >= 0 {
                    libc::close(self.fd);
                }
            }
        }
    }
}

#[cfg(not(unix))]
mod interrupt {
    pub(super) struct Guard;
    impl Guard {
        pub(super) fn new() -> Guard {
            Guard
        }
    }
}
