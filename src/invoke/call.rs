//! The Bedrock call: one of the four operations (Converse or InvokeModel,
//! streaming or not), its reply fed to the [`Reply`] as it arrives, every
//! stream event bounded by `--read-timeout`, and failures diagnosed with
//! the text already printed kept.

use super::families;
use super::reply::{Reply, Usage};
use super::request::Request;
use crate::aws::diagnose::{self, Context};
use crate::error::{Error, Hop, Result};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    ResponseStream, SystemContentBlock,
};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;

/// Converse's inference settings (`--max-tokens`, `--temperature`, `--top-p`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inference {
    /// `maxTokens`.
    pub(crate) max_tokens: i32,
    /// `temperature`.
    pub(crate) temperature: f32,
    /// `topP`.
    pub(crate) top_p: Option<f32>,
}

/// How to make the call.
pub(crate) struct Call<'a> {
    pub(crate) client: &'a Client,
    pub(crate) model: &'a str,
    pub(crate) inference: Inference,
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
            (Request::Converse { system, user }, true) => {
                self.converse_stream(system, user, reply).await
            }
            (Request::Converse { system, user }, false) => self.converse(system, user, reply).await,
            (Request::Invoke { body, .. }, true) => self.invoke_stream(body, reply).await,
            (Request::Invoke { body, .. }, false) => self.invoke(body, reply).await,
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
        InferenceConfiguration::builder()
            .max_tokens(self.inference.max_tokens)
            .temperature(self.inference.temperature)
            .set_top_p(self.inference.top_p)
            .build()
    }

    async fn converse_stream(
        &self,
        system: &Option<String>,
        user: &str,
        reply: &mut Reply,
    ) -> Result<Ending> {
        let mut out = self
            .client
            .converse_stream()
            .model_id(self.model)
            .set_system(system_blocks(system))
            .messages(user_message(user))
            .inference_config(self.inference())
            .send()
            .await
            .map_err(self.bedrock())?;
        let (mut stop, mut usage) = (None, Usage::default());
        loop {
            match next_event(self.read_timeout, out.stream.recv(), reply).await? {
                Ok(Some(ConverseStreamOutput::ContentBlockDelta(d))) => {
                    if let Some(text) = d.delta().and_then(|d| d.as_text().ok()) {
                        reply.push(text);
                    }
                }
                Ok(Some(ConverseStreamOutput::MessageStop(m))) => {
                    stop = Some(m.stop_reason().as_str().to_string())
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
        user: &str,
        reply: &mut Reply,
    ) -> Result<Ending> {
        let out = self
            .client
            .converse()
            .model_id(self.model)
            .set_system(system_blocks(system))
            .messages(user_message(user))
            .inference_config(self.inference())
            .send()
            .await
            .map_err(self.bedrock())?;
        if let Some(msg) = out.output().and_then(|o| o.as_message().ok()) {
            for block in msg.content() {
                if let Ok(t) = block.as_text() {
                    reply.push(t);
                }
            }
        }
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
            .send()
            .await
            .map_err(self.bedrock())?;
        let (mut stop, mut usage) = (None, Usage::default());
        loop {
            match next_event(self.read_timeout, out.body.recv(), reply).await? {
                Ok(Some(ResponseStream::Chunk(part))) => {
                    let Some(chunk) = part
                        .bytes()
                        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b.as_ref()).ok())
                    else {
                        continue;
                    };
                    let piece = families::read_chunk(&chunk);
                    reply.push(&piece.text);
                    stop = piece.stop_reason.or(stop);
                    usage.input_tokens = piece.input_tokens.or(usage.input_tokens);
                    usage.output_tokens = piece.output_tokens.or(usage.output_tokens);
                }
                Ok(Some(_)) => {}
                Ok(None) => return Ok((stop, usage)),
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
            .send()
            .await
            .map_err(self.bedrock())?;
        let value: serde_json::Value =
            serde_json::from_slice(out.body().as_ref()).unwrap_or_default();
        let piece = families::read_reply(&value);
        reply.push(&piece.text);
        Ok((
            piece.stop_reason,
            Usage {
                input_tokens: piece.input_tokens,
                output_tokens: piece.output_tokens,
            },
        ))
    }
}

fn user_message(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
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
        let what = format!(
            "the stream stalled after {} characters",
            reply.text.chars().count()
        );
        diagnose::read_timeout(
            Hop::Bedrock,
            diagnose::no_data_for(wait, &what),
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
        other => diagnose::sdk_error(Hop::Bedrock, other, ctx).map_remote(|code, _, hint| {
            *code = "StreamInterrupted".into();
            *hint = Some("the connection broke in the middle of the reply: run again".into());
        }),
    };
    error.map_remote(|_, message, _| {
        message.push_str(&format!(
            " (the stream stopped after {} characters)",
            reply.text.chars().count()
        ))
    })
}
