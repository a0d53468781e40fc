//! Bodies: reading the client's request body within limits, collecting a non-streamed
//! upstream body within timeouts, and the response body type the data plane returns.
//!
//! [`GatewayBody`] is either a complete buffer (errors, non-streamed answers: written in
//! one go) or an [`ObservedBody`] that passes upstream frames straight through.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::GatewayError;
use crate::metrics::Metrics;
use crate::providers::UpstreamBody;
use crate::proxy::stream::ObservedBody;
use crate::proxy::RequestCtx;

/// What the data plane sends back.
pub enum GatewayBody {
    /// A complete body (taken on first poll).
    Full(Option<Bytes>),
    /// A streamed upstream body.
    Stream(Pin<Box<ObservedBody>>),
}

/// Why collecting an upstream body failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectError {
    /// Upstream stalled longer than `idle`.
    Idle,
    /// The whole exchange exceeded `total`.
    Total,
    /// The connection broke.
    Reset,
    /// Larger than `limits.max_response_bytes`.
    TooLarge,
}

// === impl GatewayBody ===

impl GatewayBody {
    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Some(bytes.into()))
    }

    /// A complete JSON response.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Self> {
        let mut resp = Response::new(Self::full(body));
        *resp.status_mut() = status;
        resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        resp
    }
}

impl Body for GatewayBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Stream(s) => s.as_mut().poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Full(data) => data.is_none(),
            Self::Stream(s) => s.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Full(data) => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Self::Stream(s) => s.size_hint(),
        }
    }
}

/// Phase 1 (the body): reads the request body within the table's limits, at most
/// `limit` bytes (413 beyond, refused before reading when `content-length` says so).
pub async fn read_request<B>(
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: B,
    limit: u64,
    metrics: &Metrics,
) -> Result<Bytes, GatewayError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = std::time::Instant::now();
    let timeout = Duration::from_millis(ctx.table.limits.body_timeout_ms);
    let declared: Option<u64> = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let read = read_limited(body, declared, limit, timeout).await;
    metrics.body_read.observe(started.elapsed().as_secs_f64());
    read
}

async fn read_limited<B>(body: B, declared: Option<u64>, limit: u64, timeout: Duration) -> Result<Bytes, GatewayError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if declared.is_some_and(|n| n > limit) {
        return Err(GatewayError::BodyTooLarge { limit });
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match tokio::time::timeout(timeout, limited.collect()).await {
        Err(_) => Err(GatewayError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(GatewayError::BodyTooLarge { limit }),
        Ok(Err(_)) => Err(GatewayError::BadJson("the request body was cut off".into())),
    }
}

/// Collects a non-streamed upstream body, at most `limit` bytes, with no pause longer
/// than `idle` and finishing before `deadline`.
pub async fn collect_upstream(
    mut body: UpstreamBody,
    limit: u64,
    idle: Duration,
    deadline: tokio::time::Instant,
) -> Result<Bytes, CollectError> {
    let mut buf = BytesMut::new();
    let mut first: Option<Bytes> = None;
    loop {
        let next = tokio::time::timeout(idle, body.frame());
        let frame = match tokio::time::timeout_at(deadline, next).await {
            Err(_) => return Err(CollectError::Total),
            Ok(Err(_)) => return Err(CollectError::Idle),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(Err(_)))) => return Err(CollectError::Reset),
            Ok(Ok(Some(Ok(frame)))) => frame,
        };
        let Ok(data) = frame.into_data() else { continue };
        let so_far = first.as_ref().map_or(0, Bytes::len) + buf.len() + data.len();
        if so_far as u64 > limit {
            return Err(CollectError::TooLarge);
        }
        // The common case is one frame: keep it without copying.
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            None => buf.extend_from_slice(&data),
            Some(f) => {
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}
