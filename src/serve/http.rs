//! The HTTP pieces of the gateway: bodies (whole, or a channel for
//! server-sent events that ends the upstream call when the client goes
//! away), JSON and error responses, and reading a request body within the
//! size limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Frame, Incoming};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response body.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A body fed by a channel: each message one frame. When the client goes
/// away hyper drops the body, the channel closes, and the task feeding it
/// sees its next send fail and stops, dropping its upstream stream.
pub(crate) struct ChannelBody {
    pub(crate) rx: tokio::sync::mpsc::Receiver<Bytes>,
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx.poll_recv(cx).map(|m| m.map(|b| Ok(Frame::data(b))))
    }
}

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response.
pub(crate) fn json(status: u16, value: &serde_json::Value) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(value).unwrap_or_default()))
        .expect("a valid response")
}

/// A plain-text response.
pub(crate) fn text(status: u16, content_type: &str, body: String) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(full(body))
        .expect("a valid response")
}

/// A stream of server-sent events from `rx`.
pub(crate) fn events(rx: tokio::sync::mpsc::Receiver<Bytes>) -> hyper::Response<Body> {
    hyper::Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(ChannelBody { rx }.boxed())
        .expect("a valid response")
}

/// One server-sent event carrying `data`.
pub(crate) fn event(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// Why a request body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Broken,
}

/// The request body, at most `limit` bytes.
pub(crate) async fn read(body: Incoming, limit: usize) -> Result<Bytes, BodyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Broken),
    }
}
