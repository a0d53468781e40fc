//! What a check tells the caller: the quotas for the response headers, or why a request
//! was limited.
//!
//! Per unit (requests, tokens) the headers describe the *most restrictive* rule that
//! applied: the one with the fewest units remaining (ties: the later reset). A refusal names
//! the rule that blocks longest. Header values follow OpenAI's: `x-ratelimit-limit-*` is the
//! rule's burst (its amount per period unless set), `-remaining-*` the whole units admissible
//! now (never above the limit), `-reset-*` the time until the bucket is full again, written
//! like `6m0s` or `20ms`; a refusal adds `retry-after` (whole seconds, rounded up, at least
//! 1) and `retry-after-ms` (which OpenAI's SDKs read first).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Scope, Unit};

/// One rule's state after a check, for the `x-ratelimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// The rule's name.
    pub rule: Arc<str>,
    /// The most units the rule admits at once: its `burst`, which is its `requests` or
    /// `tokens` per period unless set (OpenAI: "permitted before exhausting the limit").
    pub limit: u64,
    /// Whole units that could still be admitted now.
    pub remaining: u64,
    /// Time until the bucket is full again.
    pub reset: Duration,
}

/// The most restrictive quota per unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quotas {
    /// The most restrictive requests rule, if any applied.
    pub requests: Option<Quota>,
    /// The most restrictive tokens rule, if any applied.
    pub tokens: Option<Quota>,
}

/// Why a request is refused (answer 429 with [`Limited::write_headers`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Limited {
    /// The rule that blocks longest; `None` when Redis was unreachable under `on_error: deny`.
    pub rule: Option<Arc<str>>,
    /// That rule's scope (a provider or member scope means another member may still be tried).
    pub scope: Option<Scope>,
    /// That rule's unit.
    pub unit: Option<Unit>,
    /// When a retry may succeed.
    pub retry_after: Duration,
    /// The request's token estimate exceeds the rule's burst: no wait will admit it.
    pub never: bool,
    /// The quotas of every rule checked, for the headers.
    pub quotas: Quotas,
}

// === impl Quotas ===

impl Quotas {
    /// Keeps `quota` for `unit` if it is more restrictive than the one held.
    pub fn offer(&mut self, unit: Unit, quota: Quota) {
        let held = match unit {
            Unit::Requests => &mut self.requests,
            Unit::Tokens => &mut self.tokens,
        };
        let tighter = match held {
            None => true,
            Some(h) => (quota.remaining, std::cmp::Reverse(quota.reset)) < (h.remaining, std::cmp::Reverse(h.reset)),
        };
        if tighter {
            *held = Some(quota);
        }
    }

    /// Folds in another check's quotas (e.g. an attempt's into its request's).
    pub fn merge(&mut self, other: Quotas) {
        if let Some(q) = other.requests {
            self.offer(Unit::Requests, q);
        }
        if let Some(q) = other.tokens {
            self.offer(Unit::Tokens, q);
        }
    }

    /// Whether no rule applied.
    pub fn is_empty(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }

    /// Writes `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the units held.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let units = [(Unit::Requests, &self.requests), (Unit::Tokens, &self.tokens)];
        headers.reserve(3 * units.iter().filter(|(_, q)| q.is_some()).count());
        for (unit, quota) in units {
            let Some(q) = quota else { continue };
            let [limit, remaining, reset] = header_names(unit);
            headers.insert(limit, HeaderValue::from(q.limit));
            headers.insert(remaining, HeaderValue::from(q.remaining));
            if let Ok(value) = HeaderValue::from_str(&format_reset(q.reset)) {
                headers.insert(reset, value);
            }
        }
    }
}

/// The `x-ratelimit-*` names, checked once at compile time (`from_static` at run time
/// validates every byte on every call).
const REQUESTS_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
];
const TOKENS_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

/// `[limit, remaining, reset]` header names of `unit`.
fn header_names(unit: Unit) -> [HeaderName; 3] {
    match unit {
        Unit::Requests => REQUESTS_HEADERS,
        Unit::Tokens => TOKENS_HEADERS,
    }
}

/// A duration as OpenAI writes resets: `20ms` below a second, else `1h2m3.5s`, `6m0s`, `1s`.
pub fn format_reset(d: Duration) -> String {
    let ms = d.as_micros().div_ceil(1000);
    if ms == 0 {
        return "0s".to_owned();
    }
    if ms < 1000 {
        let mut out = String::with_capacity(6);
        let _ = write!(out, "{ms}ms");
        return out;
    }
    let (hours, rest) = (ms / 3_600_000, ms % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    let (seconds, millis) = (rest / 1000, rest % 1000);
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if hours > 0 || minutes > 0 {
        let _ = write!(out, "{minutes}m");
    }
    let _ = write!(out, "{seconds}");
    if millis > 0 {
        let mut fraction = millis;
        let mut digits = 3;
        while fraction % 10 == 0 {
            fraction /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{fraction:0digits$}");
    }
    out.push('s');
    out
}

// === impl Limited ===

impl Limited {
    /// Refused because the backend did not answer under `on_error: deny`.
    pub fn backend_unavailable() -> Self {
        Self {
            rule: None,
            scope: None,
            unit: None,
            retry_after: Duration::from_secs(1),
            never: false,
            quotas: Quotas::default(),
        }
    }

    /// A message safe to show the client (rule names are operator-chosen labels, no secrets).
    pub fn message(&self) -> String {
        match (&self.rule, self.never) {
            (None, _) => "rate limits cannot be checked right now; retry later".to_owned(),
            (Some(rule), true) => {
                format!("the request's token estimate exceeds what rate-limit rule `{rule}` ever admits at once")
            }
            (Some(rule), false) => format!(
                "rate limit `{rule}` exceeded; retry after {}",
                format_reset(self.retry_after.max(Duration::from_millis(1)))
            ),
        }
    }

    /// `retry-after` (whole seconds, rounded up, at least 1), `retry-after-ms`, and the
    /// `x-ratelimit-*` headers.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        let ms = self.retry_after.as_micros().div_ceil(1000).max(1);
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(ms.div_ceil(1000) as u64));
        headers.insert(HeaderName::from_static("retry-after-ms"), HeaderValue::from(ms as u64));
        self.quotas.write_headers(headers);
    }

    /// Who is at fault: the client (it sent more than its limits allow), or, when the
    /// backend could not be asked, the backend.
    pub fn blame(&self) -> switchyard_core::Blame {
        if self.rule.is_some() {
            switchyard_core::Blame::Client
        } else {
            switchyard_core::Blame::Upstream
        }
    }

    /// Whether the same request may succeed later (not when it can never fit).
    pub fn retryable(&self) -> bool {
        !self.never
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_written_like_openai() {
        assert_eq!(format_reset(Duration::ZERO), "0s");
        assert_eq!(format_reset(Duration::from_micros(19_200)), "20ms");
        assert_eq!(format_reset(Duration::from_secs(1)), "1s");
        assert_eq!(format_reset(Duration::from_millis(1_500)), "1.5s");
        assert_eq!(format_reset(Duration::from_secs(360)), "6m0s");
        assert_eq!(format_reset(Duration::from_millis(3_723_040)), "1h2m3.04s");
    }

    #[test]
    fn the_tightest_quota_per_unit_wins_and_refusals_carry_retry_after() {
        let q = |rule: &str, remaining, reset_ms| Quota {
            rule: rule.into(),
            limit: 100,
            remaining,
            reset: Duration::from_millis(reset_ms),
        };
        let mut quotas = Quotas::default();
        quotas.offer(Unit::Requests, q("a", 5, 10));
        quotas.offer(Unit::Requests, q("b", 3, 10));
        quotas.offer(Unit::Requests, q("c", 3, 5));
        quotas.offer(Unit::Tokens, q("t", 90, 1_000));
        assert_eq!(quotas.requests.as_ref().map(|q| &*q.rule), Some("b"));
        let limited = Limited {
            rule: Some("b".into()),
            scope: Some(Scope::Client),
            unit: Some(Unit::Requests),
            retry_after: Duration::from_millis(1_200),
            never: false,
            quotas,
        };
        let mut headers = HeaderMap::new();
        limited.write_headers(&mut headers);
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert_eq!(get("retry-after"), "2");
        assert_eq!(get("retry-after-ms"), "1200");
        assert_eq!(get("x-ratelimit-limit-requests"), "100");
        assert_eq!(get("x-ratelimit-remaining-requests"), "3");
        assert_eq!(get("x-ratelimit-reset-requests"), "10ms");
        assert_eq!(get("x-ratelimit-remaining-tokens"), "90");
        assert_eq!(get("x-ratelimit-reset-tokens"), "1s");
        assert!(limited.message().contains("`b`"), "{}", limited.message());
    }
}
