//! `invoke chat`: a conversation with a model through Converse, over the
//! same credentials and endpoint as a call. Each message is sent with the
//! conversation so far; the reply streams; commands start with `/`.
//!
//! On a terminal, Ctrl-C stops the reply that is arriving and keeps the
//! chat (what arrived stays in the conversation); at the prompt it only
//! says how to leave. Without a terminal, each line of standard input is
//! one message and each reply one block of output, so a script can hold a
//! conversation; there a failed turn ends the run with its exit code, where
//! on a terminal it is shown and the chat goes on.

use super::call::{Call, assistant_message, user_message};
use super::model_choice::{self, ModelChoice};
use super::prices;
use super::reply::{Reply, Usage};
use super::{Options, Terminal, cache_for, load, warn_all};
use crate::aws::credentials::{self, Resolved, RunTime};
use crate::aws::diagnose::Context;
use crate::aws::plan::{Auth, BedrockAuth, Plan};
use crate::error::{Error, ExitCode, Result};
use crate::fsutil::{Existing, write_private};
use crate::output::{self, Format};
use serde_json::json;
use std::io::IsTerminal;
use std::path::PathBuf;

/// What `invoke chat` was asked.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatOptions {
    /// `--system`: the system prompt to start with.
    pub(crate) system: Option<String>,
}

const HELP: &str = "\
/model [NAME]   show the model, or switch to an alias, number or id (the conversation is kept)
/system [TEXT]  set the system prompt; without TEXT, remove it
/save FILE      write the conversation to FILE (Markdown), replacing it
/clear          forget the conversation and start again
/exit           end the chat (so does Ctrl-D)
Ctrl-C stops a reply; the chat goes on.";

/// The conversation and what it has cost so far.
struct Chat {
    model: ModelChoice,
    system: Option<String>,
    /// Finished exchanges: what was said, and the answer.
    turns: Vec<(String, String)>,
    tokens_in: u64,
    tokens_out: u64,
    /// Dollars, for the turns whose model has a list price.
    cost: f64,
}

/// What a line of input asks for.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    Say(String),
    Model(Option<String>),
    System(Option<String>),
    Save(Option<PathBuf>),
    Clear,
    Help,
    Exit,
    Unknown(String),
    Nothing,
}

fn parse_line(line: &str) -> Line {
    let line = line.trim();
    if line.is_empty() {
        return Line::Nothing;
    }
    let Some(command) = line.strip_prefix('/') else {
        return Line::Say(line.to_string());
    };
    let (name, rest) = command
        .split_once(char::is_whitespace)
        .map_or((command, ""), |(n, r)| (n, r.trim()));
    let arg = (!rest.is_empty()).then(|| rest.to_string());
    match name {
        "model" => Line::Model(arg),
        "system" => Line::System(arg),
        "save" => Line::Save(arg.map(PathBuf::from)),
        "clear" => Line::Clear,
        "help" | "?" => Line::Help,
        "exit" | "quit" | "q" => Line::Exit,
        _ => Line::Unknown(name.to_string()),
    }
}

/// Lines of standard input, read on a thread of their own so that the chat
/// can wait for a line and for Ctrl-C at once.
fn read_lines() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line.clone()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// How a turn ended.
enum Outcome {
    Answered(Option<String>, Usage),
    Stopped,
    Failed(Error),
}

/// Runs `invoke chat`.
pub(crate) async fn run(opts: &Options, chat_opts: &ChatOptions) -> Result<ExitCode> {
    let mut terminal = Terminal;
    let loaded = load(&opts.config, &mut terminal)?;
    warn_all(&loaded.warnings);
    let plan = Plan::new(loaded.config, opts.aws.clone()).await?;
    warn_all(&plan.warnings);
    let interactive = std::io::stdin().is_terminal();
    let model = model_choice::choose(
        opts.model.as_deref(),
        &plan.config,
        Terminal::is_interactive(),
        &mut terminal,
    )?;
    let runtime = RunTime {
        interactive: Terminal::is_interactive(),
        cache: cache_for(loaded.key, plan.options.cache_dir.clone()),
    };
    let mut ctx = plan.context(Some(&model.id));
    let mut resolved = match &plan.options.auth {
        Auth::Bearer(_) => None,
        Auth::SigV4 { .. } => Some(credentials::resolve(&plan, &runtime, &mut ctx).await?),
    };
    ctx.host = Some(plan.bedrock.url.shown_host().to_string());
    output::note("endpoint", &plan.bedrock.to_string());
    let mut chat = Chat {
        model,
        system: chat_opts.system.clone(),
        turns: Vec::new(),
        tokens_in: 0,
        tokens_out: 0,
        cost: 0.0,
    };
    output::note(
        "chat",
        &format!("with {}; /help lists the commands", chat.model),
    );
    let mut lines = read_lines();
    loop {
        if interactive {
            eprint!("you> ");
        }
        let line = tokio::select! {
            line = lines.recv() => line,
            _ = tokio::signal::ctrl_c() => {
                eprintln!();
                output::note("chat", "/exit or Ctrl-D ends the chat");
                continue;
            }
        };
        let Some(line) = line else {
            if interactive {
                eprintln!();
            }
            break;
        };
        let text = match parse_line(&line) {
            Line::Say(text) => text,
            Line::Nothing => continue,
            Line::Exit => break,
            other => {
                if let Err(e) = command(&mut chat, other, &plan) {
                    if !interactive {
                        return Err(e);
                    }
                    eprintln!("invoke: error: {e}");
                }
                continue;
            }
        };
        let (mut outcome, mut reply) =
            turn(&plan, opts, &chat, &text, resolved.as_ref(), &ctx).await;
        if let (Outcome::Failed(e), Some(r)) = (&outcome, &resolved)
            && reply.text.is_empty()
            && let Some(code) = r.refused_from_cache(e)
        {
            output::note(
                "credentials",
                &format!("the cached credentials were refused ({code}): evicted; asking STS"),
            );
            r.evict(&runtime);
            let mut fresh_ctx = plan.context(Some(&chat.model.id));
            resolved = Some(credentials::resolve(&plan, &runtime, &mut fresh_ctx).await?);
            (outcome, reply) = turn(&plan, opts, &chat, &text, resolved.as_ref(), &ctx).await;
        }
        let failure = match outcome {
            Outcome::Answered(stop, usage) => answered(&mut chat, opts, text, &reply, stop, usage),
            Outcome::Stopped => {
                if !reply.text.trim().is_empty() {
                    chat.turns.push((text, reply.text.clone()));
                }
                output::note("stopped", "the reply was stopped; what arrived is kept");
                None
            }
            Outcome::Failed(e) => Some(e),
        };
        match failure {
            Some(e) if interactive => eprintln!("invoke: error: {e}"),
            Some(e) => return Err(e),
            None => {}
        }
    }
    if chat.tokens_in + chat.tokens_out > 0 {
        output::note("total", &totals(&chat));
    }
    Ok(ExitCode::Ok)
}

/// Keeps an answered turn and shows what it cost; a reply with no answer,
/// or one a guardrail wrote, is the turn's failure and is not kept.
fn answered(
    chat: &mut Chat,
    opts: &Options,
    text: String,
    reply: &Reply,
    stop: Option<String>,
    usage: Usage,
) -> Option<Error> {
    if !reply.answered() {
        return Some(Error::NoAnswer {
            stop: stop.unwrap_or_else(|| "(none)".into()),
            raw: "(no text in the reply)".into(),
        });
    }
    if reply.guardrail && !opts.guardrail_ok {
        return Some(Error::Guardrail);
    }
    let (tokens_in, tokens_out) = (
        usage.input_tokens.unwrap_or(0),
        usage.output_tokens.unwrap_or(0),
    );
    let cost = prices::cost(&chat.model.id, tokens_in, tokens_out);
    chat.tokens_in += tokens_in;
    chat.tokens_out += tokens_out;
    chat.cost += cost.unwrap_or(0.0);
    chat.turns.push((text, reply.text.clone()));
    if opts.format == Format::Json {
        let line = json!({
            "schema": output::SCHEMA,
            "turn": chat.turns.len(),
            "model": chat.model.id,
            "reply": reply.text,
            "stop_reason": stop,
            "usage": usage,
            "cost_usd": cost,
        });
        println!("{line}");
    } else {
        let estimate = cost.map_or_else(
            || " (no list price known for this model)".to_string(),
            |c| format!(" ≈ {}", prices::dollars(c)),
        );
        output::note(
            "tokens",
            &format!(
                "{tokens_in} in, {tokens_out} out{estimate}; so far {}",
                totals(chat)
            ),
        );
    }
    None
}

/// Carries out a `/` command.
fn command(chat: &mut Chat, line: Line, plan: &Plan) -> Result<()> {
    match line {
        Line::Help => eprintln!("{HELP}"),
        Line::Clear => {
            chat.turns.clear();
            output::note("chat", "the conversation was cleared");
        }
        Line::Model(None) => output::note("model", &chat.model.to_string()),
        Line::Model(Some(name)) => {
            match model_choice::lookup(&name, &plan.config.models) {
                Some(m) => chat.model = m,
                None if name.contains('.') || name.starts_with("arn:") => {
                    chat.model = ModelChoice {
                        id: name,
                        alias: None,
                    }
                }
                None => {
                    return Err(Error::Usage(format!(
                        "/model {name}: not an alias or number of the config's [models], nor a model id"
                    )));
                }
            }
            output::note("model", &format!("now {}", chat.model));
        }
        Line::System(text) => {
            output::note(
                "system",
                match (&text, super::families::supports_system(&chat.model.id)) {
                    (None, _) => "removed",
                    (Some(_), true) => "set for the next messages",
                    (Some(_), false) => {
                        "set; this model takes no system prompt, so it goes at the head of the first message"
                    }
                },
            );
            chat.system = text;
        }
        Line::Save(None) => {
            return Err(Error::Usage("/save needs a file name: /save FILE".into()));
        }
        Line::Save(Some(path)) => {
            write_private(&path, transcript(chat).as_bytes(), Existing::Replace)?;
            output::note("saved", &path.display().to_string());
        }
        Line::Unknown(name) => {
            return Err(Error::Usage(format!(
                "/{name}: no such command; /help lists them"
            )));
        }
        Line::Say(_) | Line::Exit | Line::Nothing => {}
    }
    Ok(())
}

/// The conversation as Markdown.
fn transcript(chat: &Chat) -> String {
    let mut out = format!("# Chat with {}\n\n", chat.model);
    if let Some(s) = &chat.system {
        out += &format!("## System\n\n{s}\n\n");
    }
    for (user, answer) in &chat.turns {
        out += &format!("## You\n\n{user}\n\n## {}\n\n{answer}\n\n", chat.model.id);
    }
    out
}

/// The running totals, as a note.
fn totals(chat: &Chat) -> String {
    format!(
        "{} in, {} out ≈ {} (us-east-1 on-demand list prices)",
        chat.tokens_in,
        chat.tokens_out,
        prices::dollars(chat.cost)
    )
}

/// Sends the conversation with `text` after it and streams the reply.
async fn turn(
    plan: &Plan,
    opts: &Options,
    chat: &Chat,
    text: &str,
    resolved: Option<&Resolved>,
    ctx: &Context,
) -> (Outcome, Reply) {
    let auth = match (&plan.options.auth, resolved) {
        (Auth::Bearer(token), _) => BedrockAuth::Bearer(token.clone()),
        (Auth::SigV4 { .. }, Some(r)) => BedrockAuth::SigV4(r.provider.clone()),
        (Auth::SigV4 { .. }, None) => {
            let e = Error::Usage("no credentials were resolved for SigV4".into());
            return (Outcome::Failed(e), Reply::new(false));
        }
    };
    let client = plan.bedrock_client(&plan.bedrock, auth);
    // A model that takes no system prompt gets it at the head of the
    // conversation's first message, as the workshop flow folds it.
    let folded = chat
        .system
        .as_ref()
        .filter(|_| !super::families::supports_system(&chat.model.id));
    let system = if folded.is_some() {
        None
    } else {
        chat.system.clone()
    };
    let said = chat
        .turns
        .iter()
        .map(|(user, answer)| (user.as_str(), Some(answer.as_str())))
        .chain([(text, None)]);
    let mut messages = Vec::with_capacity(chat.turns.len() * 2 + 1);
    for (i, (user, answer)) in said.enumerate() {
        match folded.filter(|_| i == 0) {
            Some(s) => messages.push(user_message(&format!("{s}\n\n{user}"), &[])),
            None => messages.push(user_message(user, &[])),
        }
        if let Some(answer) = answer {
            messages.push(assistant_message(answer));
        }
    }
    let call = Call {
        client: &client,
        model: &chat.model.id,
        inference: opts.inference.clone(),
        guardrail: opts.guardrail.as_ref(),
        stream: opts.stream,
        read_timeout: plan.options.read_timeout,
        ctx,
    };
    let mut reply = Reply::new(opts.format == Format::Text);
    if opts.format == Format::Text {
        output::waiting("waiting for the first token");
    }
    let outcome = tokio::select! {
        r = call.converse_turns(&system, messages, &mut reply) => match r {
            Ok((stop, usage)) => Outcome::Answered(stop, usage),
            Err(e) => Outcome::Failed(e),
        },
        _ = tokio::signal::ctrl_c() => Outcome::Stopped,
    };
    output::waiting_done();
    reply.finish();
    (outcome, reply)
}
