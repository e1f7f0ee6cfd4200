//! Arguments and reports of `encrypt-config`.
//!
//! Parsing happens in two stages: clap turns the command line into plain
//! `Args` with no I/O, then `Args::into_command` checks the combination
//! and builds a typed `Command`. `run` carries it out and prints what was
//! done; the binary only maps the result to an exit code.

use crate::config::keys::{self, KeyOptions};
use crate::encrypt::{self, Disk, EncryptOptions, KeyDest, Outcome};
use crate::error::{Error, ExitCode, Result};
use crate::prompt::{Prompter, Terminal};
use clap::{ArgGroup, Parser};
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Key handling:
  By default a new key is written to OUTPUT.key (mode 0600), never into the
  config. --key-from-env uses the key in $BEDROCK_PRIVATE_CONFIG_KEY instead
  and writes no key file. --embed-key writes the key into the config, as the
  workshop tool did: anyone who can read the file can then decrypt it.
  Readers look for the key in: --key-file, $BEDROCK_PRIVATE_CONFIG_KEY,
  CONFIG.key; only when none of these exists, the key file the config names,
  then a key embedded in it. When one of the first three exists, the config
  must be sealed with it: a plaintext, Python-format or differently keyed
  file is an integrity failure (251). Each write raises the file's
  generation; an older copy put back is refused (records: KEYFILE.generation).

Exit codes:
  0 ok, 130 interrupted, 251 integrity failure (tampered file, wrong key,
  downgrade, rollback, or refused by --require-sealed),
  252 bad arguments or a refused request, 253 invalid configuration or key,
  255 other errors (such as a failed write).";

/// Command-line arguments of `encrypt-config`, as parsed, before any check.
#[derive(Debug, Parser)]
#[command(
    name = "encrypt-config",
    version,
    long_version = env!("BEDROCK_PRIVATE_LONG_VERSION"),
    about = "Encrypt the sensitive fields of a Bedrock access properties file",
    after_help = AFTER_HELP,
    group(ArgGroup::new("action").args(["check", "set", "rotate", "upgrade"]).multiple(false))
)]
pub(crate) struct Args {
    /// The plaintext file to encrypt; with --set or --upgrade, the file to change or convert.
    #[arg(value_name = "INPUT")]
    pub(crate) input: Option<PathBuf>,

    /// Where to write the encrypted file.
    #[arg(short, long, value_name = "OUTPUT")]
    pub(crate) output: Option<PathBuf>,

    /// Encrypting: where to write the new key (default OUTPUT.key).
    /// Reading (--check, --set, --rotate): the key file to use.
    #[arg(long, value_name = "PATH")]
    pub(crate) key_file: Option<PathBuf>,

    /// Write the key into the encrypted file itself (the workshop tool's single-file behaviour).
    #[arg(long, conflicts_with_all = ["key_file", "key_from_env"])]
    pub(crate) embed_key: bool,

    /// Encrypt with the key in $BEDROCK_PRIVATE_CONFIG_KEY; write no key file.
    #[arg(long, conflicts_with = "key_file")]
    pub(crate) key_from_env: bool,

    /// Ask for the access key, secret key and other sensitive fields without echo,
    /// so the plaintext never touches disk.
    #[arg(long)]
    pub(crate) prompt_secrets: bool,

    /// Verify, decrypt and validate CONFIG, and print a redacted summary.
    #[arg(long, value_name = "CONFIG")]
    pub(crate) check: Option<PathBuf>,

    /// Change one field of the encrypted file INPUT in place, asking for its value
    /// (without echo for sensitive fields). FIELD is a [default] key, or SECTION.KEY.
    #[arg(long, value_name = "FIELD")]
    pub(crate) set: Option<String>,

    /// Re-encrypt every field of CONFIG with a new key.
    #[arg(long, value_name = "CONFIG")]
    pub(crate) rotate: Option<PathBuf>,

    /// With --rotate: where to write the new key (needed when the key came from the environment).
    #[arg(long, value_name = "PATH", requires = "rotate")]
    pub(crate) new_key_file: Option<PathBuf>,

    /// Convert INPUT, written by the Python workshop tool, to this tool's format with a new key.
    #[arg(long)]
    pub(crate) upgrade: bool,

    /// Replace an existing output or key file.
    #[arg(short, long)]
    pub(crate) force: bool,

    /// Reading (--check, --set, --rotate): refuse plaintext and Python-format files,
    /// embedded keys and key files others can read (also $BEDROCK_PRIVATE_REQUIRE_SEALED=1).
    #[arg(long)]
    pub(crate) require_sealed: bool,

    /// Log what happens on stderr (secrets are never logged).
    #[arg(long)]
    pub(crate) debug: bool,
}

/// What to do, checked and typed.
#[derive(Debug)]
pub(crate) enum Command {
    /// Encrypt a plaintext file.
    Encrypt(EncryptOptions),
    /// Convert a Python-format file.
    Upgrade(EncryptOptions),
    /// Print a redacted summary.
    Check(PathBuf),
    /// Set one field.
    Set {
        /// The field.
        field: String,
        /// The file.
        config: PathBuf,
    },
    /// Rotate the key.
    Rotate {
        /// The file.
        config: PathBuf,
        /// Where the new key goes, if not where the old one was.
        new_key_file: Option<PathBuf>,
    },
}

/// Parses the command line (help and version exit 0, mistakes 252).
pub(crate) fn parse(
    args: impl IntoIterator<Item = OsString>,
) -> std::result::Result<Args, ExitCode> {
    crate::error::parse_args(args)
}

impl Args {
    /// Checks the combination of arguments and builds the command, asking for
    /// the paths on a terminal when none were given.
    pub(crate) fn into_command(self, prompter: &mut dyn Prompter) -> Result<Command> {
        let only_when_writing = [
            ("--embed-key", self.embed_key),
            ("--key-from-env", self.key_from_env),
            (
                "--prompt-secrets",
                self.prompt_secrets && self.set.is_none(),
            ),
        ];
        let reading = self.check.is_some() || self.rotate.is_some() || self.set.is_some();
        if reading && let Some((flag, _)) = only_when_writing.iter().find(|(_, set)| *set) {
            return Err(Error::Usage(format!(
                "{flag} applies only when encrypting or upgrading"
            )));
        }
        if let Some(config) = self.check {
            no_extra(self.input.is_some() || self.output.is_some(), "--check")?;
            return Ok(Command::Check(config));
        }
        if let Some(config) = self.rotate {
            no_extra(self.input.is_some() || self.output.is_some(), "--rotate")?;
            return Ok(Command::Rotate {
                config,
                new_key_file: self.new_key_file,
            });
        }
        if let Some(field) = self.set {
            no_extra(self.output.is_some(), "--set")?;
            let config = self.input.ok_or_else(|| {
                Error::Usage(
                    "--set FIELD needs the encrypted file: encrypt-config --set FIELD CONFIG"
                        .into(),
                )
            })?;
            return Ok(Command::Set { field, config });
        }
        let opts = EncryptOptions::from_args(self, prompter)?;
        Ok(if opts.1 {
            Command::Upgrade(opts.0)
        } else {
            Command::Encrypt(opts.0)
        })
    }
}

impl EncryptOptions {
    /// The options of encrypting or upgrading, and whether it is an upgrade.
    fn from_args(args: Args, prompter: &mut dyn Prompter) -> Result<(EncryptOptions, bool)> {
        let (input, output) = match (args.input, args.output) {
            (Some(i), Some(o)) => (i, o),
            (Some(_), None) => {
                return Err(Error::Usage(
                    "missing -o OUTPUT: where to write the encrypted file".into(),
                ));
            }
            (None, _) if Terminal::is_interactive() => ask_paths(prompter)?,
            (None, _) => {
                return Err(Error::Usage(
                    "missing INPUT: encrypt-config INPUT -o OUTPUT (see --help)".into(),
                ));
            }
        };
        let key_dest = if args.embed_key {
            KeyDest::Embed
        } else if args.key_from_env {
            KeyDest::Env
        } else {
            KeyDest::File(
                args.key_file
                    .unwrap_or_else(|| keys::default_key_path(&output)),
            )
        };
        let opts = EncryptOptions {
            input,
            output,
            key_dest,
            force: args.force,
            prompt_secrets: args.prompt_secrets,
        };
        Ok((opts, args.upgrade))
    }
}

fn no_extra(extra: bool, flag: &str) -> Result<()> {
    if extra {
        Err(Error::Usage(format!(
            "{flag} takes one file and no -o OUTPUT"
        )))
    } else {
        Ok(())
    }
}

fn ask_paths(prompter: &mut dyn Prompter) -> Result<(PathBuf, PathBuf)> {
    let input = prompter
        .line("Configuration file to encrypt: ")?
        .ok_or_else(|| Error::Usage("no input file given".into()))?;
    let output = prompter
        .line("Encrypted file to write [config.properties]: ")?
        .unwrap_or_else(|| "config.properties".into());
    Ok((PathBuf::from(input.trim()), PathBuf::from(output.trim())))
}

/// The whole of `encrypt-config`: parses `args`, runs the command, prints
/// an error once, and returns the exit code from the one table.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match parse(args) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let _ = crate::logging::init(args.debug, None);
    match run(args) {
        Ok(()) => ExitCode::Ok,
        Err(e) => {
            eprintln!("encrypt-config: error: {e}");
            e.exit_code()
        }
    }
}

/// Carries out the command line and prints the report.
pub(crate) fn run(args: Args) -> Result<()> {
    let mut terminal = Terminal;
    // Every key option of the environment, read once: reading an existing
    // file looks for its key; a new file's key is made or taken from the
    // environment, never looked up.
    let keys_in = KeyOptions::from_env(args.key_file.clone(), args.require_sealed);
    let keys_out = KeyOptions::from_env(None, false);
    let command = args.into_command(&mut terminal)?;
    tracing::debug!(?command, "encrypt-config");
    match command {
        Command::Encrypt(opts) => {
            let outcome = encrypt::encrypt(&opts, &keys_out, &mut terminal, &mut Disk)?;
            report("encrypted", &outcome);
        }
        Command::Upgrade(opts) => {
            let outcome = encrypt::upgrade(&opts, &keys_out, &mut terminal, &mut Disk)?;
            report("converted; now encrypted with a new key:", &outcome);
        }
        Command::Check(config) => {
            let summary = encrypt::check(&config, &keys_in)?;
            for line in &summary.lines {
                println!("{line}");
            }
            for w in &summary.warnings {
                eprintln!("warning: {w}");
            }
        }
        Command::Set { field, config } => {
            let outcome = encrypt::set(&config, &field, &keys_in, &mut terminal, &mut Disk)?;
            eprintln!(
                "encrypt-config: set {field} in {} (resealed)",
                outcome.output.display()
            );
            print_tail(&outcome);
        }
        Command::Rotate {
            config,
            new_key_file,
        } => {
            let outcome =
                encrypt::rotate(&config, &keys_in, new_key_file.as_deref(), false, &mut Disk)?;
            report("re-encrypted with a new key:", &outcome);
        }
    }
    Ok(())
}

fn report(verb: &str, o: &Outcome) {
    let fields = if o.encrypted.is_empty() {
        "no sensitive field had a value; the file is protected by its MAC only".to_string()
    } else {
        o.encrypted.join(", ")
    };
    eprintln!("encrypt-config: {verb} {fields}");
    eprintln!("encrypt-config: wrote {} (mode 0600)", o.output.display());
    eprintln!("encrypt-config: key {} is in {}", o.key_id, o.key_location);
    print_tail(o);
}

fn print_tail(o: &Outcome) {
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    for n in &o.next {
        eprintln!("next: {n}");
    }
}
