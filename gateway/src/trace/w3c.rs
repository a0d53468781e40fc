//! W3C Trace Context (`traceparent`): read from a client's request without allocating,
//! written for each upstream attempt.
//!
//! Parsing follows the Trace Context recommendation, level 1: version `00` is exactly
//! `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; a higher version (not `ff`)
//! is read by its first 55 characters when what follows is empty or starts with `-`;
//! hex is lower case; an all-zero trace id or parent id makes the header invalid. An
//! invalid `traceparent` is treated as absent (and the `tracestate` with it).

use http::HeaderValue;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};

/// Length of a version-00 `traceparent`.
const LEN: usize = 55;

/// What a client's `traceparent` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace.
    pub trace_id: TraceId,
    /// The client's span (the parent of the gateway's server span).
    pub span_id: SpanId,
    /// Trace flags; bit 0 is the sampling decision.
    pub flags: TraceFlags,
}

// === impl TraceParent ===

impl TraceParent {
    /// Parses a `traceparent` header value; `None` when it is not valid.
    pub fn parse(value: &HeaderValue) -> Option<Self> {
        let b = value.as_bytes();
        if b.len() < LEN || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex(&b[0..2])?;
        match version {
            0 if b.len() != LEN => return None,
            0xff => return None,
            _ if b.len() > LEN && b[LEN] != b'-' => return None,
            _ => {}
        }
        let trace_id = hex(&b[3..35])?;
        let span_id = hex(&b[36..52])?;
        let flags = hex(&b[53..55])?;
        if trace_id == 0 || span_id == 0 {
            return None;
        }
        // Invariant: 16 and 2 hex digits fit their types (the slices above have that length).
        let (span_id, flags) = (u64::try_from(span_id).ok()?, u8::try_from(flags).ok()?);
        Some(Self { trace_id: TraceId::from(trace_id), span_id: SpanId::from(span_id), flags: TraceFlags::new(flags) })
    }

    /// Whether the client's tracer sampled its span.
    pub fn sampled(&self) -> bool {
        self.flags.is_sampled()
    }
}

/// The `traceparent` naming `span` (version 00).
pub fn format(span: &SpanContext) -> HeaderValue {
    let flags = span.trace_flags().to_u8();
    let text = format!("00-{:032x}-{:016x}-{flags:02x}", span.trace_id(), span.span_id());
    // Invariant: the text is ASCII hex and dashes, always a valid header value.
    HeaderValue::from_str(&text)
        .unwrap_or(HeaderValue::from_static("00-00000000000000000000000000000000-0000000000000000-00"))
}

/// The value of at most 32 lower-case hex digits; `None` for any other byte.
fn hex(s: &[u8]) -> Option<u128> {
    s.iter().try_fold(0u128, |acc, &b| {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u128::from(digit))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<TraceParent> {
        TraceParent::parse(&HeaderValue::from_str(s).unwrap())
    }

    #[test]
    fn a_valid_header_is_read() {
        let p = parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(format!("{:032x}", p.trace_id), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(format!("{:016x}", p.span_id), "b7ad6b7169203331");
        assert!(p.sampled());
        assert!(!parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00").unwrap().sampled());
        // A later version may append fields after a dash.
        assert!(parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-ever").is_some());
        assert!(parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09").unwrap().sampled());
    }

    #[test]
    fn invalid_headers_are_refused() {
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031+c-b7ad6b7169203331-01",
            "0x-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn format_writes_what_parse_reads() {
        let sc = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            TraceFlags::SAMPLED,
            false,
            Default::default(),
        );
        let v = format(&sc);
        assert_eq!(v, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let p = TraceParent::parse(&v).unwrap();
        assert_eq!((p.trace_id, p.span_id, p.sampled()), (sc.trace_id(), sc.span_id(), true));
    }
}
