//! Bedrock runtime: InvokeModel, InvokeModelWithResponseStream, Converse and
//! ConverseStream, with AWS's paths, headers, errors and event streams.

use super::catalogue;
use super::converse;
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
pub(crate) fn error(status: u16, kind: &str, message: &str) -> hyper::Response<Body> {
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

pub(crate) fn auth_error(e: &AuthError) -> (u16, &'static str, String) {
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

/// A refusal: status, error type and AWS's message.
struct Refusal {
    status: u16,
    kind: String,
    message: String,
}

impl Refusal {
    fn new(status: u16, kind: &str, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            kind: kind.to_string(),
            message: message.into(),
        }
    }

    /// The error `kind` of the API definition, with its status and AWS's
    /// usual message for it.
    fn of_kind(kind: &str) -> Refusal {
        let status = crate::shapes::Api::bedrock_runtime()
            .error_status(kind)
            .unwrap_or(400);
        let message = match kind {
            "AccessDeniedException" => {
                "You don't have access to the model with the specified model ID."
            }
            "ConflictException" => "The request conflicts with a request in progress.",
            "InternalServerException" => {
                "The server encountered an internal error while processing the request."
            }
            "ModelErrorException" => {
                "The system encountered an unexpected error during processing. Try your request again."
            }
            "ModelNotReadyException" => {
                "Model is not ready for inference. Wait and try your request again."
            }
            "ModelStreamErrorException" => "The model stream was interrupted.",
            "ModelTimeoutException" => {
                "Model has timed out in processing the request. Try your request again."
            }
            "ResourceNotFoundException" => {
                "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model."
            }
            "ServiceQuotaExceededException" => {
                "Your request exceeds the service quota for your account. You can view your quotas at Viewing service quotas."
            }
            "ThrottlingException" => "Too many requests, please wait before trying again.",
            "ValidationException" => "Input is too long for requested model.",
            _ => "Bedrock is unable to process your request.",
        };
        Refusal::new(status, kind, message)
    }
}

/// The operation and model a path names: `/model/{modelId}/{operation}`.
fn route(path: &str) -> Option<(Op, String)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let op = match segments.as_slice() {
        ["model", _, "invoke"] => Op::Invoke,
        ["model", _, "invoke-with-response-stream"] => Op::InvokeStream,
        ["model", _, "converse"] => Op::Converse,
        ["model", _, "converse-stream"] => Op::ConverseStream,
        _ => return None,
    };
    Some((op, percent_decode(segments[1])))
}

/// Handles a request under `/model/`.
pub(crate) async fn handle(
    state: Arc<State>,
    parts: &http::request::Parts,
    body: &Bytes,
) -> hyper::Response<Body> {
    let started = Instant::now();
    let Some((op, model)) = route(parts.uri.path()) else {
        return error(404, "UnknownOperationException", "Unknown operation");
    };
    let mut entry = RecordEntry::begin("bedrock", op.name(), parts);
    entry.model = Some(model.clone());
    let (base, ask) = match admit(&state, parts, body, op, &model, &mut entry) {
        Ok(Admitted::Text(base, ask)) => (base, ask),
        Ok(Admitted::Whole(reply, input_tokens)) => {
            state.record.push(entry);
            let latency = started.elapsed().as_millis().to_string();
            let request_id = request_id();
            let tokens = input_tokens.map(|n| n.to_string());
            let mut headers = vec![
                ("content-type", "application/json"),
                ("x-amzn-requestid", request_id.as_str()),
                ("x-amzn-bedrock-invocation-latency", latency.as_str()),
            ];
            if let Some(tokens) = &tokens {
                headers.push(("x-amzn-bedrock-input-token-count", tokens));
            }
            return response(
                200,
                &headers,
                serde_json::to_vec(&reply).unwrap_or_default(),
            );
        }
        Err(r) => {
            state.record.push(entry.failed(r.status, &r.kind));
            return error(r.status, &r.kind, &r.message);
        }
    };
    let answer = Answer {
        reply: models::reply(&base, &ask),
        op,
        model: base,
        ask,
        started,
    };
    if op.streams() {
        stream(&state, &answer, entry)
    } else {
        whole(&state, &answer, entry).await
    }
}

/// What a request that passed gets back.
struct Answer {
    op: Op,
    model: String,
    ask: Ask,
    reply: models::Reply,
    /// When the request arrived, for the latency AWS reports.
    started: Instant,
}

/// A request that passed: a text model's, to be answered, or an embedding
/// or image model's, answered already (with its input token count, where
/// the model counts tokens).
enum Admitted {
    Text(String, Ask),
    Whole(Value, Option<usize>),
}

/// Everything a request must pass, in AWS's order: authentication, the
/// model, the caller's permission, the service's state (faults), the body.
fn admit(
    state: &State,
    parts: &http::request::Parts,
    body: &Bytes,
    op: Op,
    model: &str,
    entry: &mut RecordEntry,
) -> Result<Admitted, Refusal> {
    if entry.auth.as_deref() == Some("bearer") {
        // A Bedrock API key. The emulator holds none, so every one is
        // refused, as AWS refuses an unknown key.
        return Err(Refusal::new(
            403,
            "AccessDeniedException",
            "Authentication failed: Please make sure your API Key is valid.",
        ));
    }
    let region = state.region_for(&super::host_of(parts));
    let verified = sigv4::verify(
        &state.identities,
        parts,
        body,
        "bedrock",
        &region,
        SystemTime::now(),
    )
    .map_err(|e| {
        let (status, kind, message) = auth_error(&e);
        Refusal::new(status, kind, message)
    })?;
    let principal = verified.owner.principal.clone();
    entry.caller = Some(principal.caller_arn().to_string());
    let resolved =
        catalogue::lookup(model).map_err(|m| Refusal::new(400, "ValidationException", m))?;
    let base = &resolved.model.id;
    if let Some(allowed) = &verified.owner.facts.policy_models
        && !crate::identity::matches_any(allowed, base)
    {
        return Err(Refusal::new(
            403,
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {} on resource: arn:aws:bedrock:{region}::foundation-model/{base} because no session policy allows the {} action",
                principal.caller_arn(),
                op.action(),
                op.action()
            ),
        ));
    }
    if !state.identities.may_invoke(&principal, base) {
        return Err(Refusal::new(
            403,
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {} on resource: arn:aws:bedrock:{region}::foundation-model/{base} because no identity-based policy allows the {} action",
                principal.caller_arn(),
                op.action(),
                op.action()
            ),
        ));
    }
    if crate::identity::matches_any(&state.identities.directory.no_model_access, base) {
        return Err(Refusal::new(
            403,
            "AccessDeniedException",
            "You don't have access to the model with the specified model ID.",
        ));
    }
    let fail_with = state
        .faults
        .fail_with
        .as_deref()
        .unwrap_or("ServiceUnavailableException");
    let applies = crate::shapes::Api::bedrock_runtime()
        .errors(op.name())
        .iter()
        .any(|e| e == fail_with);
    match state.next_call_fault(applies) {
        Some(CallFault::Throttle) => {
            return Err(Refusal::new(
                429,
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ));
        }
        Some(CallFault::Unavailable) => {
            return Err(Refusal::of_kind(fail_with));
        }
        None => {}
    }
    let json: Value = serde_json::from_slice(body).map_err(|_| {
        Refusal::new(
            400,
            "ValidationException",
            "Malformed input request, please reformat your input and try again.",
        )
    })?;
    if matches!(op, Op::Converse | Op::ConverseStream) {
        entry.messages = json["messages"].as_array().map(Vec::len);
    }
    let family = resolved.model.body;
    if family.embeds() || family.draws() {
        let refuse = |m: &str| Refusal::new(400, "ValidationException", m);
        return match op {
            Op::Invoke => {
                catalogue::check_body(family, &json).map_err(|m| refuse(&m))?;
                if family.draws() {
                    let reply = crate::images::answer(family, &json).map_err(|m| refuse(&m))?;
                    return Ok(Admitted::Whole(reply, None));
                }
                let (reply, tokens) = crate::embeddings::answer(family, &json);
                Ok(Admitted::Whole(reply, Some(tokens)))
            }
            Op::InvokeStream => Err(refuse("The model is unsupported for streaming.")),
            Op::Converse | Op::ConverseStream => Err(refuse(
                "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
            )),
        };
    }
    let mut ask = match op {
        Op::Invoke | Op::InvokeStream => models::parse_invoke(&resolved, &json),
        Op::Converse | Op::ConverseStream => converse::parse(&resolved, &json),
    }
    .map_err(|message| Refusal::new(400, "ValidationException", message))?;
    if matches!(op, Op::Invoke | Op::InvokeStream) {
        ask.guardrail = guardrail_headers(parts);
    }
    if let Some(named) = &ask.guardrail {
        crate::guardrails::check(named)
            .map_err(|message| Refusal::new(400, "ValidationException", message))?;
    }
    Ok(Admitted::Text(resolved.model.id.clone(), ask))
}

/// The guardrail InvokeModel's headers name, if any.
fn guardrail_headers(parts: &http::request::Parts) -> Option<crate::guardrails::Named> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let identifier = header("x-amzn-bedrock-guardrailidentifier")?;
    Some(crate::guardrails::Named {
        identifier,
        version: header("x-amzn-bedrock-guardrailversion").unwrap_or_default(),
    })
}

/// InvokeModel or Converse: the whole reply, after the first-byte delay.
async fn whole(state: &State, answer: &Answer, entry: RecordEntry) -> hyper::Response<Body> {
    let Answer {
        op,
        model,
        ask,
        reply,
        started,
    } = answer;
    let delay = state.faults.first_byte_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let latency = started.elapsed().as_millis().to_string();
    state.record.push(entry);
    let id = request_id();
    if *op == Op::Invoke {
        let body =
            serde_json::to_vec(&models::invoke_body(ask.body, model, reply)).unwrap_or_default();
        let (input, output) = (
            reply.input_tokens.to_string(),
            reply.output_tokens.to_string(),
        );
        return response(
            200,
            &[
                ("content-type", "application/json"),
                ("x-amzn-requestid", &id),
                ("x-amzn-bedrock-input-token-count", &input),
                ("x-amzn-bedrock-output-token-count", &output),
                ("x-amzn-bedrock-invocation-latency", &latency),
            ],
            body,
        );
    }
    let body = converse::whole(reply, started.elapsed().as_millis() as u64);
    response(
        200,
        &[
            ("content-type", "application/json"),
            ("x-amzn-requestid", &id),
        ],
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// The events of a stream: InvokeModelWithResponseStream's chunks in the
/// family's shape, or ConverseStream's typed events.
fn events(answer: &Answer, latency: u64, first_byte: u64) -> Vec<Message> {
    let Answer {
        op,
        model,
        ask,
        reply,
        ..
    } = answer;
    if *op == Op::InvokeStream {
        return models::stream_chunks(ask.body, model, reply, latency, first_byte)
            .into_iter()
            .map(|chunk| {
                let bytes = base64::engine::general_purpose::STANDARD.encode(chunk.to_string());
                event("chunk", json!({ "bytes": bytes }))
            })
            .collect();
    }
    converse::events(reply, latency)
        .into_iter()
        .map(|(kind, payload)| event(kind, payload))
        .collect()
}

/// A streamed reply: events produced by a task as the client reads them,
/// with the stream faults applied.
fn stream(state: &Arc<State>, answer: &Answer, entry: RecordEntry) -> hyper::Response<Body> {
    let (op, started) = (answer.op, answer.started);
    let index = state.record.push(entry);
    let delay = state.faults.first_byte_delay;
    let latency = started.elapsed().as_millis() as u64 + delay.as_millis() as u64;
    let messages = events(answer, latency, delay.as_millis() as u64);
    let (tx, rx) =
        tokio::sync::mpsc::channel::<Result<http_body::Frame<Bytes>, std::io::Error>>(16);
    let fails = state.faults.stream_error_after.is_some() && state.stream_fails();
    let exception = state
        .faults
        .stream_error_kind
        .event(op == Op::ConverseStream);
    let fault = fails.then_some(exception);
    tokio::spawn(send_events(state.clone(), messages, index, fault, tx));
    let mut builder = hyper::Response::builder()
        .status(200)
        .header("content-type", "application/vnd.amazon.eventstream")
        .header("x-amzn-requestid", request_id());
    if op == Op::InvokeStream {
        builder = builder.header("x-amzn-bedrock-content-type", "application/json");
    }
    builder
        .body(ChannelBody { rx }.boxed())
        .expect("valid response")
}

type Frames = tokio::sync::mpsc::Sender<Result<http_body::Frame<Bytes>, std::io::Error>>;

/// Sends `messages` in order, after the first-byte delay, cutting,
/// stalling or failing the stream where the faults say.
async fn send_events(
    state: Arc<State>,
    messages: Vec<Message>,
    index: usize,
    exception: Option<(&'static str, &'static str)>,
    tx: Frames,
) {
    let faults = &state.faults;
    let stalls = state.stream_stalls();
    if !faults.first_byte_delay.is_zero() {
        tokio::time::sleep(faults.first_byte_delay).await;
    }
    for (i, message) in messages.into_iter().enumerate() {
        if faults.cut_stream_after == Some(i) {
            // Let the events already sent reach the client, then drop the
            // connection: a cut, not an end.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let _ = tx
                .send(Err(std::io::Error::other("stream cut by fault injection")))
                .await;
            return;
        }
        if stalls && faults.stall_stream_after == Some(i) {
            // Keep the connection open and send nothing more; the client
            // gives up (or the test ends) first.
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            return;
        }
        if let (Some(kind), true) = (exception, faults.stream_error_after == Some(i)) {
            let _ = tx
                .send(Ok(http_body::Frame::data(frame(&stream_exception(kind)))))
                .await;
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
            state.record.first_event(index);
        }
    }
}

/// An exception event: its type and AWS's message for it.
fn stream_exception((kind, message): (&str, &str)) -> Message {
    Message::new(Bytes::from(json!({ "message": message }).to_string()))
        .add_header(Header::new(
            ":message-type",
            HeaderValue::String("exception".into()),
        ))
        .add_header(Header::new(
            ":exception-type",
            HeaderValue::String(kind.to_string().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            HeaderValue::String("application/json".into()),
        ))
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
