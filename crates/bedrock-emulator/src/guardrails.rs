//! Bedrock Guardrails as a call meets them: a request may name a guardrail
//! (Converse's `guardrailConfig`, InvokeModel's `X-Amzn-Bedrock-Guardrail*`
//! headers); an unknown one is refused, and one whose policy the prompt
//! breaks answers with its blocked message instead of the model, and says
//! it intervened (`guardrail_intervened`, `amazon-bedrock-guardrailAction`).
//!
//! The emulator has one guardrail: a denied topic, any prompt that
//! contains the word "forbidden".

/// The id of the emulator's guardrail.
pub const DEMO_GUARDRAIL_ID: &str = "workshopguard";
/// The versions it has.
pub const DEMO_GUARDRAIL_VERSIONS: [&str; 2] = ["DRAFT", "1"];
/// What it answers when it blocks a prompt: the console's default blocked
/// message.
pub const BLOCKED_INPUT_MESSAGE: &str = "Sorry, the model cannot answer this question.";

/// A guardrail a request named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// Its id or ARN, as sent.
    pub identifier: String,
    /// Its version, as sent.
    pub version: String,
}

/// Checks that `named` exists: its id (or the id at the end of its ARN) and
/// version. The error is AWS's message.
pub fn check(named: &Named) -> Result<(), String> {
    let id = named
        .identifier
        .rsplit_once(":guardrail/")
        .map_or(named.identifier.as_str(), |(_, id)| id);
    if id == DEMO_GUARDRAIL_ID && DEMO_GUARDRAIL_VERSIONS.contains(&named.version.as_str()) {
        Ok(())
    } else {
        Err("The guardrail identifier or version provided in the request does not exist.".into())
    }
}

/// Whether the guardrail blocks `prompt`.
pub fn intervenes(prompt: &str) -> bool {
    prompt.to_lowercase().contains("forbidden")
}
