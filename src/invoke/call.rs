//! The Bedrock call: one of the four operations (Converse or InvokeModel,
//! streaming or not), its reply fed to the [`Reply`] as it arrives, every
//! stream event bounded by `--read-timeout`, and failures diagnosed with
//! the text already printed kept.

use super::replies::{self, ToolUse};
use super::reply::{Reply, Usage};
use super::request::Request;
use crate::aws::diagnose::{self, Context};
use crate::error::{Error, Hop, Result};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseStreamOutput,
    GuardrailConfiguration, GuardrailStreamConfiguration, InferenceConfiguration, Message,
    ReasoningContentBlock, ReasoningContentBlockDelta, ResponseStream, StopReason,
    SystemContentBlock,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Converse's inference settings (`--max-tokens`, `--temperature`, `--top-p`).
#[derive(Debug, Clone)]
pub(crate) struct Inference {
    /// `maxTokens`.
    pub(crate) max_tokens: i32,
    /// `temperature`.
    pub(crate) temperature: f32,
    /// `topP`.
    pub(crate) top_p: Option<f32>,
    /// `stopSequences` (`--stop`).
    pub(crate) stop: Vec<String>,
}

/// A guardrail to apply to the call (`--guardrail ID[:VERSION]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guardrail {
    /// Its id (`[a-z0-9]+`) or ARN.
    pub(crate) id: String,
    /// `DRAFT` or a version number.
    pub(crate) version: String,
}

impl Guardrail {
    /// Reads `ID[:VERSION]` (the version defaults to `DRAFT`), or an ARN
    /// with `:VERSION` after it, in the forms the API accepts.
    pub(crate) fn parse(text: &str) -> std::result::Result<Guardrail, String> {
        let (id, version) = match text.rsplit_once(':') {
            Some((id, v)) if v == "DRAFT" || v.bytes().all(|b| b.is_ascii_digit()) => (id, v),
            _ => (text, "DRAFT"),
        };
        let plain_id = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let arn = id.starts_with("arn:aws") && id.contains(":guardrail/");
        if !(plain_id || arn) {
            return Err(format!(
                "{text}: expected a guardrail id (lower-case letters and digits) or ARN, then :VERSION (DRAFT or a number)"
            ));
        }
        let numbered = version
            .parse::<u32>()
            .is_ok_and(|n| (1..=99_999_999).contains(&n));
        if version != "DRAFT" && (!numbered || version.starts_with('0')) {
            return Err(format!(
                "{text}: the version must be DRAFT or a number from 1 to 99999999"
            ));
        }
        Ok(Guardrail {
            id: id.to_string(),
            version: version.to_string(),
        })
    }
}

impl std::fmt::Display for Guardrail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} version {}", self.id, self.version)
    }
}

/// How to make the call.
pub(crate) struct Call<'a> {
    pub(crate) client: &'a Client,
    pub(crate) model: &'a str,
    pub(crate) inference: Inference,
    pub(crate) guardrail: Option<&'a Guardrail>,
    pub(crate) stream: bool,
    pub(crate) read_timeout: Duration,
    pub(crate) ctx: &'a Context,
}

/// The stop reason and token counts of a finished reply.
pub(crate) type Ending = (Option<String>, Usage);

/// The operation a request and streaming choice lead to.
pub(crate) fn operation(request: &Request, stream: bool) -> &'static str {
    match (request, stream) {
        (Request::Converse { .. }, true) => "ConverseStream",
        (Request::Converse { .. }, false) => "Converse",
        (Request::Invoke { .. }, true) => "InvokeModelWithResponseStream",
        (Request::Invoke { .. }, false) => "InvokeModel",
    }
}

impl Call<'_> {
    /// Sends `request` and feeds the reply to `reply`.
    pub(crate) async fn send(&self, request: &Request, reply: &mut Reply) -> Result<Ending> {
        match (request, self.stream) {
            (
                Request::Converse {
                    system,
                    user,
                    attachments,
                },
                true,
            ) => {
                self.converse_stream(system, vec![user_message(user, attachments)], reply)
                    .await
            }
            (
                Request::Converse {
                    system,
                    user,
                    attachments,
                },
                false,
            ) => {
                self.converse(system, vec![user_message(user, attachments)], reply)
                    .await
            }
            (Request::Invoke { body, .. }, true) => self.invoke_stream(body, reply).await,
            (Request::Invoke { body, .. }, false) => self.invoke(body, reply).await,
        }
    }

    /// Sends a whole conversation (`invoke chat`) through Converse, or
    /// ConverseStream when streaming, and feeds the reply to `reply`.
    pub(crate) async fn converse_turns(
        &self,
        system: &Option<String>,
        messages: Vec<Message>,
        reply: &mut Reply,
    ) -> Result<Ending> {
        if self.stream {
            self.converse_stream(system, messages, reply).await
        } else {
            self.converse(system, messages, reply).await
        }
    }

    fn bedrock<E, R>(&self) -> impl Fn(SdkError<E, R>) -> Error + '_
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        |e| diagnose::sdk_error(Hop::Bedrock, &e, self.ctx)
    }

    fn inference(&self) -> InferenceConfiguration {
        let stop = &self.inference.stop;
        InferenceConfiguration::builder()
            .max_tokens(self.inference.max_tokens)
            .temperature(self.inference.temperature)
            .set_top_p(self.inference.top_p)
            .set_stop_sequences((!stop.is_empty()).then(|| stop.clone()))
            .build()
    }

    async fn converse_stream(
        &self,
        system: &Option<String>,
        messages: Vec<Message>,
        reply: &mut Reply,
    ) -> Result<Ending> {
        let mut out = self
            .client
            .converse_stream()
            .model_id(self.model)
            .set_system(system_blocks(system))
            .set_messages(Some(messages))
            .inference_config(self.inference())
            .set_guardrail_config(self.guardrail.map(|g| {
                GuardrailStreamConfiguration::builder()
                    .guardrail_identifier(&g.id)
                    .guardrail_version(&g.version)
                    .build()
            }))
            .send()
            .await
            .map_err(self.bedrock())?;
        reply.streaming = true;
        let (mut stop, mut usage) = (None, Usage::default());
        loop {
            match next_event(self.read_timeout, out.stream.recv(), reply).await? {
                Ok(Some(ConverseStreamOutput::ContentBlockStart(s))) => {
                    if let Some(ContentBlockStart::ToolUse(t)) = s.start() {
                        reply.tool_start(t.name());
                    }
                }
                Ok(Some(ConverseStreamOutput::ContentBlockDelta(d))) => {
                    if let Some(delta) = d.delta() {
                        converse_delta(delta, reply);
                    }
                }
                Ok(Some(ConverseStreamOutput::ContentBlockStop(_))) => reply.tool_done(),
                Ok(Some(ConverseStreamOutput::MessageStop(m))) => {
                    reply.guardrail |= *m.stop_reason() == StopReason::GuardrailIntervened;
                    stop = Some(m.stop_reason().as_str().to_string());
                }
                Ok(Some(ConverseStreamOutput::Metadata(m))) => {
                    if let Some(u) = m.usage() {
                        usage = token_usage(u);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ok((stop, usage)),
                Err(e) => {
                    return Err(stream_failure(&e, converse_stream_code, reply, self.ctx));
                }
            }
        }
    }

    async fn converse(
        &self,
        system: &Option<String>,
        messages: Vec<Message>,
        reply: &mut Reply,
    ) -> Result<Ending> {
        let out = self
            .client
            .converse()
            .model_id(self.model)
            .set_system(system_blocks(system))
            .set_messages(Some(messages))
            .inference_config(self.inference())
            .set_guardrail_config(self.guardrail.map(|g| {
                GuardrailConfiguration::builder()
                    .guardrail_identifier(&g.id)
                    .guardrail_version(&g.version)
                    .build()
            }))
            .send()
            .await
            .map_err(self.bedrock())?;
        if let Some(msg) = out.output().and_then(|o| o.as_message().ok()) {
            for block in msg.content() {
                converse_block(block, reply);
            }
        }
        reply.guardrail |= *out.stop_reason() == StopReason::GuardrailIntervened;
        Ok((
            Some(out.stop_reason().as_str().to_string()),
            out.usage().map(token_usage).unwrap_or_default(),
        ))
    }

    async fn invoke_stream(&self, body: &[u8], reply: &mut Reply) -> Result<Ending> {
        let mut out = self
            .client
            .invoke_model_with_response_stream()
            .model_id(self.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .set_guardrail_identifier(self.guardrail.map(|g| g.id.clone()))
            .set_guardrail_version(self.guardrail.map(|g| g.version.clone()))
            .send()
            .await
            .map_err(self.bedrock())?;
        reply.streaming = true;
        let (mut stop, mut usage) = (None, Usage::default());
        loop {
            match next_event(self.read_timeout, out.body.recv(), reply).await? {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let Some(bytes) = part.bytes() else { continue };
                    reply.raw(&String::from_utf8_lossy(bytes.as_ref()));
                    let Ok(chunk) = serde_json::from_slice::<serde_json::Value>(bytes.as_ref())
                    else {
                        continue;
                    };
                    let piece = replies::read_chunk(&chunk);
                    stop = piece.stop_reason.clone().or(stop);
                    usage.input_tokens = piece.input_tokens.or(usage.input_tokens);
                    usage.output_tokens = piece.output_tokens.or(usage.output_tokens);
                    reply.take(piece);
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    reply.tool_done();
                    return Ok((stop, usage));
                }
                Err(e) => {
                    return Err(stream_failure(&e, response_stream_code, reply, self.ctx));
                }
            }
        }
    }

    async fn invoke(&self, body: &[u8], reply: &mut Reply) -> Result<Ending> {
        let out = self
            .client
            .invoke_model()
            .model_id(self.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .set_guardrail_identifier(self.guardrail.map(|g| g.id.clone()))
            .set_guardrail_version(self.guardrail.map(|g| g.version.clone()))
            .send()
            .await
            .map_err(self.bedrock())?;
        reply.raw(&String::from_utf8_lossy(out.body().as_ref()));
        let value: serde_json::Value =
            serde_json::from_slice(out.body().as_ref()).unwrap_or_default();
        let piece = replies::read_reply(&value);
        let ending = (
            piece.stop_reason.clone(),
            Usage {
                input_tokens: piece.input_tokens,
                output_tokens: piece.output_tokens,
            },
        );
        reply.take(piece);
        Ok(ending)
    }
}

/// One delta of a ConverseStream content block.
fn converse_delta(delta: &ContentBlockDelta, reply: &mut Reply) {
    match delta {
        ContentBlockDelta::Text(t) => reply.push(t),
        ContentBlockDelta::ReasoningContent(ReasoningContentBlockDelta::Text(t)) => reply.reason(t),
        ContentBlockDelta::ToolUse(t) => reply.tool_input(t.input()),
        ContentBlockDelta::Citation(c) => {
            if let Some(title) = c.title().or(c.source()) {
                reply.citations.push(title.to_string());
            }
        }
        _ => {}
    }
}

/// One content block of a whole Converse reply; its kind is kept as the
/// raw reply, to say what came when no answer did.
fn converse_block(block: &ContentBlock, reply: &mut Reply) {
    match block {
        ContentBlock::Text(t) => reply.push(t),
        ContentBlock::ReasoningContent(ReasoningContentBlock::ReasoningText(r)) => {
            reply.reason(r.text())
        }
        ContentBlock::ToolUse(t) => reply.tool_uses.push(ToolUse {
            name: t.name().to_string(),
            input: crate::aws::document::to_json(t.input()),
        }),
        ContentBlock::CitationsContent(c) => {
            for citation in c.citations() {
                if let Some(title) = citation.title().or(citation.source()) {
                    reply.citations.push(title.to_string());
                }
            }
            for part in c.content() {
                if let Ok(t) = part.as_text() {
                    reply.push(t);
                }
            }
        }
        other => reply.raw(&format!("[a {other:?} block] ")),
    }
}

/// A user's message: its attachments, then its text.
pub(crate) fn user_message(text: &str, attachments: &[super::attach::Attachment]) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .set_content(Some(
            super::attach::blocks(attachments)
                .into_iter()
                .chain([ContentBlock::Text(text.to_string())])
                .collect(),
        ))
        .build()
        .expect("role and content set")
}

/// The model's earlier answer, as a conversation carries it.
pub(crate) fn assistant_message(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text(text.to_string()))
        .build()
        .expect("role and content set")
}

fn system_blocks(system: &Option<String>) -> Option<Vec<SystemContentBlock>> {
    system.clone().map(|s| vec![SystemContentBlock::Text(s)])
}

fn token_usage(u: &aws_sdk_bedrockruntime::types::TokenUsage) -> Usage {
    Usage {
        input_tokens: Some(u.input_tokens() as u64),
        output_tokens: Some(u.output_tokens() as u64),
    }
}

/// The next event of a stream, bounded by `--read-timeout`. The SDK's read
/// timeout covers the wait for the response headers only: a stream that
/// stalls after them (a hung model, a proxy that stops forwarding) would
/// otherwise wait for as long as the connection lives.
async fn next_event<T>(
    wait: Duration,
    recv: impl std::future::Future<Output = T>,
    reply: &Reply,
) -> Result<T> {
    tokio::time::timeout(wait, recv).await.map_err(|_| {
        reply.finish();
        let printed = reply.text.chars().count();
        if printed == 0 {
            return diagnose::read_timeout(
                Hop::Bedrock,
                diagnose::no_data_for(wait, "the stream began, and no text came"),
                "the endpoint accepted the request and sent no text within --read-timeout: a model \
                 that takes long to start (raise --read-timeout), a hung model, or a proxy or firewall \
                 holding the connection open",
            );
        }
        diagnose::read_timeout(
            Hop::Bedrock,
            diagnose::no_data_for(wait, &format!("the stream stalled after {printed} characters")),
            "the endpoint stopped sending in the middle of the reply (a hung model, or a proxy or \
             firewall holding the connection open); run again, or raise --read-timeout for a model \
             that pauses longer",
        )
    })
}

fn converse_stream_code(e: &ConverseStreamOutputError) -> &'static str {
    use ConverseStreamOutputError as E;
    match e {
        E::InternalServerException(_) => "InternalServerException",
        E::ModelStreamErrorException(_) => "ModelStreamErrorException",
        E::ServiceUnavailableException(_) => "ServiceUnavailableException",
        E::ThrottlingException(_) => "ThrottlingException",
        E::ValidationException(_) => "ValidationException",
        _ => "StreamError",
    }
}

fn response_stream_code(e: &ResponseStreamError) -> &'static str {
    use ResponseStreamError as E;
    match e {
        E::InternalServerException(_) => "InternalServerException",
        E::ModelStreamErrorException(_) => "ModelStreamErrorException",
        E::ModelTimeoutException(_) => "ModelTimeoutException",
        E::ServiceUnavailableException(_) => "ServiceUnavailableException",
        E::ThrottlingException(_) => "ThrottlingException",
        E::ValidationException(_) => "ValidationException",
        _ => "StreamError",
    }
}

/// A failure in the middle of a stream: an exception event, or a broken
/// connection. The text already printed stays; the error says so.
fn stream_failure<E, R>(
    err: &SdkError<E, R>,
    code_of: fn(&E) -> &'static str,
    reply: &Reply,
    ctx: &Context,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    reply.finish();
    let error = match err {
        SdkError::ServiceError(s) => diagnose::service_error(
            Hop::Bedrock,
            code_of(s.err()).to_string(),
            ctx.scrubber.scrub(s.err().message().unwrap_or("")),
            ctx,
        ),
        other => diagnose::sdk_error(Hop::Bedrock, other, ctx).map_remote(|code, message, hint| {
            *code = "StreamInterrupted".into();
            *message = "the connection closed in the middle of the reply".into();
            *hint = Some(
                "a proxy, load balancer or firewall cut the connection, or the endpoint went away"
                    .into(),
            );
        }),
    };
    let cut = matches!(&error, Error::Remote { code, .. } if code == "StreamInterrupted");
    let printed = reply.text.chars().count();
    let shown = reply.printing();
    error.map_remote(|_, message, hint| {
        message.push_str(&format!(" (the stream stopped after {printed} characters)"));
        if printed > 0 {
            // Text arrived: trying again would print it twice.
            let what = if shown {
                "the text above is incomplete"
            } else {
                "what arrived is incomplete"
            };
            // A service error's own hint speaks of retries, which a
            // stream with text in it does not get; a cut's names the cause.
            let cause = hint.as_deref().filter(|_| cut).map(|h| format!("{h}; "));
            *hint = Some(format!(
                "{}the stream failed after text arrived, so it was not retried and {what}: run again",
                cause.unwrap_or_default()
            ));
        } else if cut {
            *hint = hint.take().map(|h| format!("{h}: run again"));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Guardrail;

    #[test]
    fn guardrails_take_the_forms_the_api_accepts() {
        let g = |t: &str| Guardrail::parse(t).map(|g| (g.id, g.version));
        assert_eq!(g("abc123"), Ok(("abc123".into(), "DRAFT".into())));
        assert_eq!(g("abc123:7"), Ok(("abc123".into(), "7".into())));
        assert_eq!(g("abc123:DRAFT"), Ok(("abc123".into(), "DRAFT".into())));
        let arn = "arn:aws:bedrock:us-west-2:111111111111:guardrail/abc123";
        assert_eq!(g(&format!("{arn}:2")), Ok((arn.into(), "2".into())));
        assert_eq!(g(arn), Ok((arn.into(), "DRAFT".into())));
        for bad in [
            "",
            "ABC",
            "abc-1",
            "abc:0",
            "abc:007",
            "abc:123456789",
            "abc:draft",
        ] {
            assert!(Guardrail::parse(bad).is_err(), "{bad}");
        }
    }
}
