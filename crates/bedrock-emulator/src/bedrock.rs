//! Bedrock runtime: InvokeModel, InvokeModelWithResponseStream, Converse and
//! ConverseStream, with AWS's paths, headers, errors and event streams.

use super::models::{self, Ask};
use super::record::RecordEntry;
use super::sigv4::{self, AuthError};
use super::{Body, CallFault, State, request_id, response};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// The four operations, by the last path segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Invoke,
    InvokeStream,
    Converse,
    ConverseStream,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Invoke => "InvokeModel",
            Op::InvokeStream => "InvokeModelWithResponseStream",
            Op::Converse => "Converse",
            Op::ConverseStream => "ConverseStream",
        }
    }

    /// The IAM action that authorizes it.
    fn action(self) -> &'static str {
        match self {
            Op::Invoke | Op::Converse => "bedrock:InvokeModel",
            Op::InvokeStream | Op::ConverseStream => "bedrock:InvokeModelWithResponseStream",
        }
    }

    fn streams(self) -> bool {
        matches!(self, Op::InvokeStream | Op::ConverseStream)
    }
}

/// A Bedrock error: status, type and message.
fn error(status: u16, kind: &str, message: &str) -> hyper::Response<Body> {
    let body = serde_json::to_vec(&json!({ "message": message })).unwrap_or_default();
    let id = request_id();
    response(
        status,
        &[
            ("content-type", "application/json"),
            (
                "x-amzn-errortype",
                &format!("{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            ),
            ("x-amzn-requestid", &id),
        ],
        body,
    )
}

fn auth_error(e: &AuthError) -> (u16, &'static str, String) {
    match e {
        AuthError::Missing => (403, "MissingAuthenticationTokenException", "Missing Authentication Token".into()),
        AuthError::Incomplete(m) => (403, "IncompleteSignatureException", m.clone()),
        AuthError::UnknownKey => (403, "UnrecognizedClientException", "The security token included in the request is invalid.".into()),
        AuthError::BadSignature => (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        ),
        AuthError::WrongRegion(r) => (403, "InvalidSignatureException", format!("Credential should be scoped to a valid region. This endpoint serves '{r}'.")),
        AuthError::WrongService(s) => (403, "InvalidSignatureException", format!("Credential should be scoped to correct service: '{s}'.")),
        AuthError::Expired => (403, "ExpiredTokenException", "The security token included in the request is expired".into()),
        AuthError::Skewed(m) => (403, "InvalidSignatureException", m.clone()),
    }
}

/// Handles a request under `/model/`.
pub(crate) async fn handle(
    state: Arc<State>,
    parts: &http::request::Parts,
    body: &Bytes,
) -> hyper::Response<Body> {
    let started = Instant::now();
    let host = super::host_of(parts);
    let segments: Vec<&str> = parts
        .uri
        .path()
        .trim_start_matches('/')
        .split('/')
        .collect();
    let op = match segments.as_slice() {
        ["model", _, "invoke"] => Op::Invoke,
        ["model", _, "invoke-with-response-stream"] => Op::InvokeStream,
        ["model", _, "converse"] => Op::Converse,
        ["model", _, "converse-stream"] => Op::ConverseStream,
        _ => return error(404, "UnknownOperationException", "Unknown operation"),
    };
    let model = percent_decode(segments[1]);
    let mut entry = RecordEntry::begin("bedrock", op.name(), parts);
    entry.model = Some(model.clone());
    let fail = |entry: &mut RecordEntry, status: u16, kind: &str, message: &str| {
        state.record.push(entry.failed(status, kind));
        error(status, kind, message)
    };

    if entry.auth.as_deref() == Some("bearer") {
        // A Bedrock API key. The emulator holds none, so every one is
        // refused, as AWS refuses an unknown key.
        return fail(
            &mut entry,
            403,
            "AccessDeniedException",
            "Authentication failed: Please make sure your API Key is valid.",
        );
    }
    let region = state.region_for(&host);
    let verified = match sigv4::verify(
        &state.identities,
        parts,
        body,
        "bedrock",
        &region,
        SystemTime::now(),
    ) {
        Ok(v) => v,
        Err(e) => {
            let (status, kind, message) = auth_error(&e);
            return fail(&mut entry, status, kind, &message);
        }
    };
    let principal = verified.owner.principal.clone();
    entry.caller = Some(principal.caller_arn().to_string());

    if models::provider(&model).is_none() {
        return fail(
            &mut entry,
            400,
            "ValidationException",
            "The provided model identifier is invalid.",
        );
    }
    let base = models::base_model_id(&model).to_string();
    if !state.identities.may_invoke(&principal, &base) {
        let message = format!(
            "User: {} is not authorized to perform: {} on resource: arn:aws:bedrock:{region}::foundation-model/{base} because no identity-based policy allows the {} action",
            principal.caller_arn(),
            op.action(),
            op.action()
        );
        return fail(&mut entry, 403, "AccessDeniedException", &message);
    }
    match state.next_call_fault() {
        Some(CallFault::Throttle) => {
            return fail(
                &mut entry,
                429,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            );
        }
        Some(CallFault::Unavailable) => {
            return fail(
                &mut entry,
                503,
                "ServiceUnavailableException",
                "Bedrock is unable to process your request.",
            );
        }
        None => {}
    }

    let json: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return fail(
                &mut entry,
                400,
                "ValidationException",
                "Malformed input request, please reformat your input and try again.",
            );
        }
    };
    let parsed = match op {
        Op::Invoke | Op::InvokeStream => models::parse_invoke(&model, &json),
        Op::Converse | Op::ConverseStream => models::parse_converse(&model, &json),
    };
    let ask: Ask = match parsed {
        Ok(ask) => ask,
        Err(message) => return fail(&mut entry, 400, "ValidationException", &message),
    };
    let reply = models::reply(&model, &ask.prompt, ask.system.as_deref(), ask.max_tokens);

    let delay = state.faults.first_byte_delay;
    if !op.streams() {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let latency = started.elapsed().as_millis().to_string();
        state.record.push(entry);
        let id = request_id();
        return match op {
            Op::Invoke => {
                let body = serde_json::to_vec(&models::invoke_body(ask.family, &model, &reply))
                    .unwrap_or_default();
                response(
                    200,
                    &[
                        ("content-type", "application/json"),
                        ("x-amzn-requestid", &id),
                        (
                            "x-amzn-bedrock-input-token-count",
                            &reply.input_tokens.to_string(),
                        ),
                        (
                            "x-amzn-bedrock-output-token-count",
                            &reply.output_tokens.to_string(),
                        ),
                        ("x-amzn-bedrock-invocation-latency", &latency),
                    ],
                    body,
                )
            }
            _ => {
                let body = json!({
                    "output": {"message": {"role": "assistant", "content": [{"text": reply.text()}]}},
                    "stopReason": models::converse_stop_reason(&reply),
                    "usage": {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens,
                              "totalTokens": reply.input_tokens + reply.output_tokens},
                    "metrics": {"latencyMs": started.elapsed().as_millis() as u64}
                });
                response(
                    200,
                    &[
                        ("content-type", "application/json"),
                        ("x-amzn-requestid", &id),
                    ],
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
            }
        };
    }

    // Streams: events are produced by a task as the client reads them.
    let index = state.record.push(entry);
    let latency = started.elapsed().as_millis() as u64 + delay.as_millis() as u64;
    let messages: Vec<Message> = match op {
        Op::InvokeStream => models::stream_chunks(
            ask.family,
            &model,
            &reply,
            latency,
            delay.as_millis() as u64,
        )
        .into_iter()
        .map(|chunk| {
            let bytes = base64::engine::general_purpose::STANDARD.encode(chunk.to_string());
            event("chunk", json!({ "bytes": bytes }))
        })
        .collect(),
        _ => {
            let mut m = vec![event("messageStart", json!({"role": "assistant"}))];
            for p in &reply.pieces {
                m.push(event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": p}}),
                ));
            }
            m.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
            m.push(event(
                "messageStop",
                json!({"stopReason": models::converse_stop_reason(&reply)}),
            ));
            m.push(event("metadata", json!({
                "usage": {"inputTokens": reply.input_tokens, "outputTokens": reply.output_tokens,
                          "totalTokens": reply.input_tokens + reply.output_tokens},
                "metrics": {"latencyMs": latency}
            })));
            m
        }
    };
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(16);
    let faults = state.faults.clone();
    let record = state.record.clone();
    // Both stream unions have this member; AWS sends it when a model fails mid-stream.
    let exception_kind = "modelStreamErrorException";
    tokio::spawn(async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        for (i, message) in messages.into_iter().enumerate() {
            if faults.cut_stream_after == Some(i) {
                // Let the events already sent reach the client, then drop
                // the connection: a cut, not an end.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let _ = tx
                    .send(Err(std::io::Error::other("stream cut by fault injection")))
                    .await;
                return;
            }
            if faults.stall_stream_after == Some(i) {
                // Keep the connection open and send nothing more; the
                // client gives up (or the test ends) first.
                tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
                drop(tx);
                return;
            }
            if faults.stream_error_after == Some(i) {
                let m = Message::new(Bytes::from(
                    json!({"message": "The model stream was interrupted (injected fault)."})
                        .to_string(),
                ))
                .add_header(Header::new(
                    ":message-type",
                    HeaderValue::String("exception".into()),
                ))
                .add_header(Header::new(
                    ":exception-type",
                    HeaderValue::String(exception_kind.into()),
                ))
                .add_header(Header::new(
                    ":content-type",
                    HeaderValue::String("application/json".into()),
                ));
                let _ = tx.send(Ok(http_body::Frame::data(frame(&m)))).await;
                return;
            }
            if tx
                .send(Ok(http_body::Frame::data(frame(&message))))
                .await
                .is_err()
            {
                return;
            }
            if i == 0 {
                record.first_event(index);
            }
        }
    });
    let body = ChannelBody { rx }.boxed();
    let id = request_id();
    let mut builder = hyper::Response::builder()
        .status(200)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", id);
    if op == Op::InvokeStream {
        builder = builder.header("x-amzn-bedrock-content-type", "application/json");
    }
    builder.body(body).expect("valid response")
}

fn event(kind: &str, payload: Value) -> Message {
    Message::new(Bytes::from(payload.to_string()))
        .add_header(Header::new(
            ":event-type",
            HeaderValue::String(kind.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("event".into()),
        ))
}

fn frame(message: &Message) -> Bytes {
    let mut buf = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(message, &mut buf).expect("event frame");
    Bytes::from(buf)
}

/// A body fed by a channel, so events go out as they are produced.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<Result<http_body::Frame<Bytes>, std::io::Error>>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx)
    }
}

/// Decodes `%XX` escapes in a path segment (model ids contain `:`).
fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(segment.replace('+', "%2B").as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}
