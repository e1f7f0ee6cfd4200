//! Questions asked of the user: secrets without echo, paths with echo.
//!
//! On a terminal, secrets are read with `rpassword` so they are never shown
//! or kept in the shell history. Without a terminal (a script, a pipe), each
//! answer is one line of standard input, so everything the tool asks can be
//! scripted; the question still goes to stderr, never to stdout.

use crate::error::{Error, Result};
use crate::secret::Secret;
use std::io::{BufRead, IsTerminal, Write};

/// Something that can answer questions.
pub trait Prompter {
    /// Asks for a secret without echo; `None` when the answer is empty.
    fn secret(&mut self, question: &str) -> Result<Option<Secret>>;
    /// Asks for a plain line; `None` when the answer is empty.
    fn line(&mut self, question: &str) -> Result<Option<String>>;
}

/// Asks on the terminal, or reads answers from standard input.
#[derive(Debug, Default)]
pub struct Terminal;

impl Terminal {
    /// Whether standard input is a terminal (so menus and questions make sense).
    pub fn is_interactive() -> bool {
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
