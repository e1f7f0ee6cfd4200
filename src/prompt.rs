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
        if n == 0 && Terminal::is_interactive() {
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
