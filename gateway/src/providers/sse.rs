//! Server-Sent Events: an incremental parser and a body that translates a stream from
//! one provider's event format into another's, event by event, as frames arrive.
//!
//! [`LineSplitter`] keeps only the unfinished line between frames (bounded by
//! [`MAX_PENDING`]); [`SseParser`] adds the event being assembled and accepts `\n` and
//! `\r\n` line ends. [`SseMap`]
//! feeds every upstream frame through an [`SseTranslator`] and yields what it wrote; a
//! frame that produces nothing is not yielded (the next one is polled at once). A
//! translator error (e.g. the provider sent an `error` event) ends the stream with
//! [`UpstreamFailure::Reset`] after any output already produced.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use super::{UpstreamBody, UpstreamFailure};

/// Longest unfinished line or event kept between frames, bytes.
pub const MAX_PENDING: usize = 4 << 20;

/// One event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

/// Splits a byte stream into lines as frames arrive, keeping only the unfinished line
/// between frames (at most [`MAX_PENDING`] bytes; a longer line is dropped). The one line
/// splitter of the data plane: the SSE parser and the usage scanner both use it.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

/// Incremental SSE parser.
#[derive(Debug, Default)]
pub struct SseParser {
    lines: LineSplitter,
    event: Option<String>,
    data: String,
    has_data: bool,
}

/// Translates events of one format into bytes of another.
pub trait SseTranslator: Send + 'static {
    /// Handles one upstream event, appending output bytes to `out`.
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<u8>) -> Result<(), UpstreamFailure>;
    /// The upstream ended cleanly; append any closing output.
    fn end(&mut self, out: &mut Vec<u8>) -> Result<(), UpstreamFailure>;
}

pin_project! {
    /// An upstream SSE body translated on the fly.
    pub struct SseMap<T> {
        #[pin]
        inner: UpstreamBody,
        parser: SseParser,
        translator: T,
        events: Vec<SseEvent>,
        failed: Option<UpstreamFailure>,
        done: bool,
    }
}

// === impl LineSplitter ===

impl LineSplitter {
    /// Feeds bytes; `line` is called with every complete line (without its `\n`).
    pub fn feed(&mut self, mut chunk: &[u8], mut line: impl FnMut(&[u8])) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            if self.pending.is_empty() {
                line(&chunk[..nl]);
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(&chunk[..nl]);
                line(&whole);
            }
            chunk = &chunk[nl + 1..];
        }
        if self.pending.len() + chunk.len() <= MAX_PENDING {
            self.pending.extend_from_slice(chunk);
        } else {
            self.pending.clear();
        }
    }

    /// The unfinished last line, taken.
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }
}

// === impl SseParser ===

impl SseParser {
    /// Feeds bytes; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(chunk, |line| self.line_done(line, out));
        self.lines = lines;
    }

    /// End of input: a final event without its blank line still counts.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        let rest = self.lines.take_rest();
        if !rest.is_empty() {
            self.line_done(&rest, out);
        }
        self.dispatch(out);
    }

    fn line_done(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return, // a comment
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                if self.data.len() + value.len() <= MAX_PENDING {
                    self.data.push_str(&value);
                }
                self.has_data = true;
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        if self.has_data || self.event.is_some() {
            out.push(SseEvent { event: self.event.take(), data: std::mem::take(&mut self.data) });
        }
        self.has_data = false;
    }
}

/// Wraps `inner` so its events are translated by `translator`.
pub fn translate<T: SseTranslator>(inner: UpstreamBody, translator: T) -> UpstreamBody {
    SseMap { inner, parser: SseParser::default(), translator, events: Vec::new(), failed: None, done: false }
        .boxed_unsync()
}

/// Appends `data: <json>\n\n`.
pub fn write_data(out: &mut Vec<u8>, json: &serde_json::Value) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(json.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}

/// Appends `event: <name>\ndata: <json>\n\n`.
pub fn write_event(out: &mut Vec<u8>, name: &str, json: &serde_json::Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.push(b'\n');
    write_data(out, json);
}

// === impl SseMap ===

impl<T: SseTranslator> Body for SseMap<T> {
    type Data = Bytes;
    type Error = UpstreamFailure;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, UpstreamFailure>>> {
        let mut this = self.project();
        if let Some(f) = this.failed.take() {
            *this.done = true;
            return Poll::Ready(Some(Err(f)));
        }
        if *this.done {
            return Poll::Ready(None);
        }
        loop {
            let mut out = Vec::new();
            let ended = match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    *this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        this.parser.feed(data, this.events);
                    }
                    false
                }
                Poll::Ready(None) => {
                    this.parser.finish(this.events);
                    true
                }
            };
            for ev in this.events.drain(..) {
                if let Err(e) = this.translator.event(&ev, &mut out) {
                    *this.failed = Some(e);
                    break;
                }
            }
            if ended && this.failed.is_none() {
                if let Err(e) = this.translator.end(&mut out) {
                    *this.failed = Some(e);
                }
            }
            if !out.is_empty() {
                if ended && this.failed.is_none() {
                    *this.done = true;
                }
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
            }
            if let Some(f) = this.failed.take() {
                *this.done = true;
                return Poll::Ready(Some(Err(f)));
            }
            if ended {
                *this.done = true;
                return Poll::Ready(None);
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.failed.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_anywhere_parse_the_same() {
        let text =
            b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n: comment\n\ndata: x\ndata: y\n\nevent: ping\ndata: {}\n";
        let mut whole = Vec::new();
        let mut p = SseParser::default();
        p.feed(text, &mut whole);
        p.finish(&mut whole);
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0], SseEvent { event: Some("message_start".into()), data: "{\"a\":1}".into() });
        assert_eq!(whole[1].data, "x\ny");
        assert_eq!(whole[2].event.as_deref(), Some("ping"));
        for split in 1..text.len() {
            let mut got = Vec::new();
            let mut p = SseParser::default();
            p.feed(&text[..split], &mut got);
            p.feed(&text[split..], &mut got);
            p.finish(&mut got);
            assert_eq!(got, whole, "split at {split}");
        }
    }
}
