//! Phase 6, **stream back**: upstream frames pass straight through to the client.
//!
//! [`ObservedBody`] wraps the upstream body. Each frame is handed on as soon as it
//! arrives — nothing is buffered — while the first-byte time and token usage are
//! observed on the way. A stall longer than the group's `idle` timeout, the `total`
//! deadline, or a broken upstream connection ends the stream with one SSE `error` event
//! in the client's format (OpenAI and Anthropic SDKs raise it as an API error) and is
//! recorded as such. If the client goes
//! away, hyper drops the body and the [`Recorder`] records `client_aborted`. Frames reach
//! the client untouched; only the logged copy (`log_bodies`) is scrubbed of the member's
//! provider secret, once, when the record is finished.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use switchyard_config::Secret;
use tokio::time::{Instant, Sleep};

use crate::error::{GatewayError, TimeoutPhase};
use crate::explain::logprobs::SseLogprobs;
use crate::providers::{UpstreamBody, WireFormat};
use crate::proxy::forward::Budget;
use crate::proxy::record::{Ending, Recorder};
use crate::proxy::scrub::stored;
use crate::proxy::usage::SseUsage;

pin_project! {
    /// A streamed response body that records how it went.
    pub struct ObservedBody {
        #[pin]
        inner: UpstreamBody,
        #[pin]
        idle: Sleep,
        #[pin]
        total: Sleep,
        idle_for: Duration,
        // When the last frame arrived; `idle` is only moved when it fires early (not per
        // frame: resetting a timer per chunk costs a timer-wheel update each time).
        last_frame: Instant,
        member: Arc<str>,
        state: State,
        recorder: Option<Recorder>,
        usage: SseUsage,
        logprobs: SseLogprobs,
        logged: Option<Vec<u8>>,
        log_cap: usize,
        // Whether the logged copy was cut at `log_cap`.
        log_cut: bool,
        // The member's provider secret, kept only when bodies are logged (for scrubbing).
        secret: Option<Secret>,
        format: WireFormat,
    }
}

#[derive(Clone, Copy)]
enum State {
    Open,
    Done,
}

// === impl ObservedBody ===

impl ObservedBody {
    /// Streams `inner` within `budget`'s idle and total limits; `log_cap` > 0 keeps up to
    /// that many bytes for the record, stored without `secret` (the member's provider key).
    pub fn new(
        inner: UpstreamBody,
        recorder: Recorder,
        budget: Budget,
        log_cap: usize,
        secret: Option<Secret>,
        format: WireFormat,
    ) -> Self {
        let member: Arc<str> = recorder.record().member.as_str().into();
        Self {
            inner,
            idle: tokio::time::sleep(budget.idle),
            total: tokio::time::sleep_until(budget.deadline),
            idle_for: budget.idle,
            last_frame: Instant::now(),
            member,
            state: State::Open,
            recorder: Some(recorder),
            usage: SseUsage::default(),
            logprobs: SseLogprobs::default(),
            logged: (log_cap > 0).then(Vec::new),
            log_cap,
            log_cut: false,
            secret,
            format,
        }
    }
}

impl Body for ObservedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let mut this = self.project();
        if let State::Done = this.state {
            return Poll::Ready(None);
        }
        let failure = match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.usage.feed(data);
                    this.logprobs.feed(data);
                    if let Some(log) = this.logged.as_mut() {
                        let room = this.log_cap.saturating_sub(log.len());
                        *this.log_cut |= data.len() > room;
                        log.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    if let Some(rec) = this.recorder.as_mut() {
                        rec.first_byte_sent();
                    }
                    *this.last_frame = Instant::now();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(None) => {
                *this.state = State::Done;
                let logged = stored_body(this.logged, *this.log_cap, *this.log_cut, this.secret.as_ref());
                finish(this.recorder, (this.usage, this.logprobs), logged, None);
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(_))) => GatewayError::UpstreamReset { member: this.member.to_string() },
            Poll::Pending => {
                if idle_expired(this.idle.as_mut(), *this.last_frame + *this.idle_for, cx) {
                    GatewayError::UpstreamTimeout { member: this.member.to_string(), phase: TimeoutPhase::Idle }
                } else if this.total.as_mut().poll(cx).is_ready() {
                    GatewayError::UpstreamTimeout { member: this.member.to_string(), phase: TimeoutPhase::Total }
                } else {
                    return Poll::Pending;
                }
            }
        };
        let event = failure.sse_event_for(*this.format);
        let logged = stored_body(this.logged, *this.log_cap, *this.log_cut, this.secret.as_ref());
        finish(this.recorder, (this.usage, this.logprobs), logged, Some(&failure));
        *this.state = State::Done;
        Poll::Ready(Some(Ok(Frame::data(event))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Whether the idle timer really expired: a timer that fires before `deadline` (frames
/// arrived since it was set) is moved to `deadline` and polled again.
fn idle_expired(mut idle: Pin<&mut Sleep>, deadline: Instant, cx: &mut Context<'_>) -> bool {
    if idle.as_mut().poll(cx).is_pending() {
        return false;
    }
    if deadline <= Instant::now() {
        return true;
    }
    idle.as_mut().reset(deadline);
    idle.poll(cx).is_ready()
}

/// The logged copy as the record stores it: capped, without the provider secret.
fn stored_body(logged: &mut Option<Vec<u8>>, cap: usize, cut: bool, secret: Option<&Secret>) -> Option<String> {
    logged.take().map(|b| stored(&b, cap, cut, secret))
}

fn finish(
    recorder: &mut Option<Recorder>,
    (usage, logprobs): (&SseUsage, &SseLogprobs),
    logged: Option<String>,
    failure: Option<&GatewayError>,
) {
    let Some(mut rec) = recorder.take() else { return };
    rec.upstream_finished();
    let u = usage.usage.unwrap_or_default();
    rec.finish(Ending {
        status: 200,
        error_class: failure.map(GatewayError::class).unwrap_or_default(),
        upstream_error: failure.and_then(GatewayError::upstream_kind),
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
        response_body: logged,
        logprobs: logprobs.summary(),
        ..Ending::default()
    });
}
