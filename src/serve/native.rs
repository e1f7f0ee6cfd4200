//! The Bedrock-native routes of the gateway: `/model/{id}/converse`,
//! `/converse-stream`, `/invoke` and `/invoke-with-response-stream`, as
//! the Bedrock runtime serves them. A client presents a gateway token as
//! its Bedrock API key (`AWS_BEARER_TOKEN_BEDROCK`, with the gateway's URL
//! as the endpoint), and the request goes on signed with SigV4 and the
//! config's credentials.
//!
//! The gateway relays bytes both ways rather than reading them: the client
//! SDK's own request body is what Bedrock receives (swapped in before
//! signing), and Bedrock's answer (status, Bedrock's headers, the JSON or
//! the event stream) is what the client receives, taken before the SDK here
//! would read it. So every field and every event Bedrock knows passes,
//! whatever this tool knows of them.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// The four operations, by the last part of their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
}

impl Op {
    /// The operation and model id of a `/model/{id}/{op}` path.
    pub(crate) fn route(path: &str) -> Option<(Op, String)> {
        let rest = path.strip_prefix("/model/")?;
        let (id, op) = rest.rsplit_once('/')?;
        let op = match op {
            "converse" => Op::Converse,
            "converse-stream" => Op::ConverseStream,
            "invoke" => Op::Invoke,
            "invoke-with-response-stream" => Op::InvokeStream,
            _ => return None,
        };
        let id = url::form_urlencoded::parse(format!("x={}", id.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        (!id.is_empty()).then_some((op, id))
    }

    /// The access log's route name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Converse => "/model/converse",
            Op::ConverseStream => "/model/converse-stream",
            Op::Invoke => "/model/invoke",
            Op::InvokeStream => "/model/invoke-with-response-stream",
        }
    }
}

/// What Bedrock answered, untouched.
pub(crate) struct Relayed {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: SdkBody,
}

impl Relayed {
    /// The error type Bedrock named, if any.
    pub(crate) fn error_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-errortype"))
            .map(|(_, v)| v.split(':').next().unwrap_or(v))
    }

    /// A whole-number header, such as the token counts.
    pub(crate) fn number(&self, name: &str) -> Option<i32> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.parse().ok())
    }
}

/// Swaps the client's body in before signing, and takes Bedrock's
/// response before the SDK reads it.
pub(crate) struct Relay {
    body: Option<Bytes>,
    taken: Arc<Mutex<Option<Relayed>>>,
}

/// The name only: the body is a client's prompt.
impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay")
    }
}

/// The error that stops the SDK once the response is taken: the relay has
/// what it needs.
const RELAYED: &str = "response relayed";

impl Relay {
    /// A relay that sends `body` in place of the SDK's (Converse's, whose
    /// input this tool does not parse), or the SDK's own (InvokeModel's,
    /// which carries the client's body already).
    pub(crate) fn new(body: Option<Bytes>) -> (Relay, Arc<Mutex<Option<Relayed>>>) {
        let taken = Arc::new(Mutex::new(None));
        (
            Relay {
                body,
                taken: taken.clone(),
            },
            taken,
        )
    }
}

impl Intercept for Relay {
    fn name(&self) -> &'static str {
        "GatewayRelay"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(body) = &self.body {
            let request = context.request_mut();
            *request.body_mut() = SdkBody::from(body.clone());
            request
                .headers_mut()
                .insert("content-length", body.len().to_string());
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let body = std::mem::replace(response.body_mut(), SdkBody::empty());
        *self.taken.lock().unwrap_or_else(|e| e.into_inner()) = Some(Relayed {
            status: response.status().as_u16(),
            headers,
            body,
        });
        Err(RELAYED.into())
    }
}

/// Bedrock's headers a client may read: the content type, the request id,
/// Bedrock's own (token counts, latency, guardrail action) and the error
/// type; never the connection's.
pub(crate) fn passes(header: &str) -> bool {
    let h = header.to_ascii_lowercase();
    h == "content-type"
        || h == "x-amzn-requestid"
        || h == "x-amzn-errortype"
        || h.starts_with("x-amzn-bedrock-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Op::route("/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"),
            Some((
                Op::ConverseStream,
                "anthropic.claude-3-haiku-20240307-v1:0".into()
            ))
        );
        assert_eq!(
            Op::route(
                "/model/arn%3Aaws%3Abedrock%3Aus-west-2%3A1%3Ainference-profile%2Fus.x/invoke"
            ),
            Some((
                Op::Invoke,
                "arn:aws:bedrock:us-west-2:1:inference-profile/us.x".into()
            ))
        );
        assert_eq!(Op::route("/model/x/delete"), None);
        assert_eq!(Op::route("/model//converse"), None);
        assert!(passes("X-Amzn-Bedrock-Input-Token-Count") && !passes("connection"));
    }
}
