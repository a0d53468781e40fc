//! What the load generator reads off each answer and how it summarises latencies.

use hdrhistogram::Histogram;

use crate::schema::Percentiles;

/// The target's self-reported overhead (`server-timing: overhead;dur=<ms>`), in µs.
pub fn overhead_of(headers: &http::HeaderMap) -> Option<u64> {
    server_timing(headers, "overhead")
}

/// The target's own accept-to-response-headers time (`overhead` + `upstream` of
/// `server-timing`), in µs: what of a latency the target itself saw.
pub fn inside_of(headers: &http::HeaderMap) -> Option<u64> {
    Some(server_timing(headers, "overhead")? + server_timing(headers, "upstream")?)
}

fn server_timing(headers: &http::HeaderMap, metric: &str) -> Option<u64> {
    let v = headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = v.split(',').find_map(|p| p.trim().strip_prefix(metric)?.strip_prefix(";dur="))?.parse().ok()?;
    Some((ms * 1000.0) as u64)
}

/// p50/p90/p99/p99.9/max of a histogram (all zero when empty).
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}
