//! `switchyard-ratelimit`: rate limits and quotas (SPEC §11) — exact for one process with
//! the `local` backend, exact across replicas with `redis`.
//!
//! - [`config`]: the `rate_limits:` section (serde schema + `validate()` with dotted paths).
//! - [`Limiter`]: built from that section; [`Limiter::acquire`] checks and charges every
//!   applicable rule of a request (or attempt) atomically — admitted by all or charged to
//!   none — and returns a [`Grant`] (quotas for headers, a token [`Reservation`] to settle)
//!   or a [`Limited`] (the blocking rule, `retry-after`, headers).
//! - Requests are limited by GCRA (`burst` at once, then one per emission interval, no
//!   window boundaries); tokens are reserved before a call and settled after it.
//! - Backends behind one trait: in-process sharded buckets, or one Lua script per check in
//!   Redis using the server's clock, cut at `timeout_ms` with the `on_error` policy.
//! - Metrics on a registry passed in: `switchyard_rate_limited_total{rule}`,
//!   `switchyard_rate_limit_backend_errors_total{outcome}`, `switchyard_rate_limit_backend_up`.
//!
//! The per-request calls, in the data plane's phases:
//!
//! ```no_run
//! # async fn demo(limiter: switchyard_ratelimit::Limiter) {
//! use switchyard_ratelimit::{Charge, Subject};
//! // after authenticate and resolve:
//! let who = Subject { client: Some("web-app"), tenant: Some("acme"), group: Some("support-bot"), ..Subject::default() };
//! let request = match limiter.acquire(&who, Charge::Request, 1_200).await {
//!     Ok(grant) => grant,
//!     Err(limited) => return, // 429 with limited.write_headers(..)
//! };
//! // after assign, per attempt:
//! let attempt = Subject { provider: Some("openai"), member: Some("gpt4o"), ..who };
//! if let Ok(grant) = limiter.acquire(&attempt, Charge::Attempt, 1_200).await {
//!     // ... forward, stream; then, with the usage the provider reported:
//!     grant.reservation.settle_detached(950);
//! }
//! request.reservation.settle_detached(950);
//! # }
//! ```

mod backend;
mod check;
pub mod config;
mod decision;
mod error;
mod gcra;
mod limiter;
mod local;
mod metrics;
mod redis_backend;
mod reservation;
mod rules;
mod slot;

pub use backend::BackendError;
pub use config::{BackendKind, OnError, Per, Problem, RateLimitsConfig, RedisConfig, RuleConfig, Scope, Unit};
pub use decision::{format_reset, Limited, Quota, Quotas};
pub use error::RateLimitError;
pub use limiter::{Grant, Limiter};
pub use reservation::Reservation;
pub use rules::{Charge, Subject};
