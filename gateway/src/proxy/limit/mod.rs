//! Rate limits and quotas in the data plane (SPEC §11), between assign and forward.
//!
//! [`limit`] is the phase: after authenticate, resolve and assign it charges the request's
//! client, tenant and group rules *and* its first attempt's provider and member rules in
//! one atomic call (`Charge::RequestAndAttempt`: admitted by all, or charged to none).
//! Refused by a provider or member rule, a challenger's request is offered to the champion
//! when the group says `fallback: champion` (recorded as `fallback`); otherwise the client
//! gets a 429 in its own format with `retry-after` and the `x-ratelimit-*` headers
//! ([`GatewayError::RateLimited`]). Retries and the champion fallback of phase 5 charge
//! their attempts through the [`Ticket`]; token reservations are settled by the recorder
//! when the request ends ([`Held`]). Successful responses carry the tightest quota per
//! unit as `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
//!
//! Tokens are estimated ([`estimate`]) only when a tokens rule applies to the request,
//! and only then is an OpenAI stream asked for its usage (`stream_options.include_usage`).
//!
//! [`Limits`] owns the [`Limiter`] for the process. Its rules follow the routing table:
//! every published table is applied by a task ([`keep_current`]), and a request whose
//! snapshot is newer than the rules applies it first ([`Limits::follow`], one atomic load
//! per request otherwise), so an edit is in force for the first request that sees it.
//! Usage is keyed by rule name and survives edits.

pub mod estimate;
mod ticket;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::HeaderMap;
use prometheus::Registry;
use switchyard_config::schema::Fallback;
use switchyard_ratelimit::{Charge, Limiter, RateLimitError, Scope};
use switchyard_records::{AssignmentReason, Role};
use tokio::sync::watch;

pub use ticket::{subject, AttemptCharge, Held, Ticket};

use super::assign::Decision;
use super::record::{Ending, Recorder};
use super::resolve::Resolved;
use super::{RequestCtx, Shared, Store, Table};
use crate::error::GatewayError;
use crate::listen::Phase;
use crate::providers::UpstreamCall;

/// The process's limiter and the table version its rules come from.
pub struct Limits {
    limiter: Limiter,
    /// Version of the routing table whose `rate_limits` the limiter runs.
    applied: AtomicU64,
    /// Serialises updates so a newer table is never overwritten by an older one.
    updating: Mutex<()>,
}

// === impl Limits ===

impl Limits {
    /// The limiter for `table`'s rules, its metrics registered on `registry`. Must run in
    /// a tokio runtime (the Redis backend connects in the background).
    pub fn new(table: &Table, registry: &Registry) -> Result<Self, RateLimitError> {
        let password = table.rate_limits_password.as_ref().map(|s| s.expose());
        let limiter = Limiter::new(&table.config.rate_limits, password, registry)?;
        Ok(Self { limiter, applied: AtomicU64::new(table.version), updating: Mutex::new(()) })
    }

    /// The limiter.
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Applies `table`'s rules if the table is newer than the rules in force.
    pub fn follow(&self, table: &Table) {
        if table.version <= self.applied.load(Ordering::Acquire) {
            return;
        }
        // A poisoned lock only means an update panicked; the limiter keeps its last state.
        let _one = self.updating.lock().unwrap_or_else(|p| p.into_inner());
        if table.version <= self.applied.load(Ordering::Acquire) {
            return;
        }
        let password = table.rate_limits_password.as_ref().map(|s| s.expose());
        if let Err(error) = self.limiter.update(&table.config.rate_limits, password) {
            // Validation ran when the table was built; only a Redis client that cannot be
            // set up gets here. The previous rules keep working.
            tracing::warn!(version = table.version, %error, "rate limits not updated; the previous rules stay in force");
        }
        self.applied.store(table.version, Ordering::Release);
    }
}

/// Applies every table the store publishes to `limits` until the gateway drains.
pub fn keep_current(store: &Arc<Store>, limits: Arc<Limits>, mut phase: watch::Receiver<Phase>) {
    let mut tables = store.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = tables.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let table = tables.borrow_and_update().clone();
                    limits.follow(&table);
                }
                _ = phase.wait_for(|p| *p >= Phase::Draining) => break,
            }
        }
    });
}

/// Phase 4½, **limit**: charges the request and its first attempt (see the module doc).
/// May move `decision` to the champion (`fallback`); asks a stream in `call` for its usage
/// when a tokens rule applies.
pub async fn limit(
    shared: &Shared,
    ctx: &RequestCtx,
    request: &Resolved,
    decision: &mut Decision,
    call: &mut UpstreamCall,
) -> Result<Ticket, GatewayError> {
    let limits = &shared.limits;
    limits.follow(&ctx.table);
    let limiter = limits.limiter();
    let group = &request.group;
    let client = ctx.client.as_deref();
    let assigned = &group.members[decision.index];
    let counts_tokens = limiter.counts_tokens(&subject(client, group, Some(assigned)), Charge::RequestAndAttempt)
        || limiter.counts_tokens(&subject(client, group, Some(group.champion())), Charge::Attempt);
    let mut tokens = 0;
    if counts_tokens {
        let scan = estimate::scan(&request.body, request.endpoint);
        tokens = scan.tokens;
        if estimate::asks_for_usage(request.endpoint, request.stream) {
            estimate::ask_for_usage(call, scan.stream_options);
        }
    }
    let who = subject(client, group, Some(assigned));
    let limited = match limiter.acquire(&who, Charge::RequestAndAttempt, tokens).await {
        Ok(grant) => {
            return Ok(Ticket::new(
                limiter.clone(),
                ctx.client.clone(),
                tokens,
                decision.index,
                grant.quotas,
                grant.reservation,
            ))
        }
        Err(limited) => limited,
    };
    let over_attempt_limit = limited.scope.is_some_and(Scope::per_attempt);
    let may_fall_back = group.fallback == Fallback::Champion
        && assigned.role == Role::Challenger
        && decision.reason != AssignmentReason::Pinned;
    if !(over_attempt_limit && may_fall_back) {
        return Err(GatewayError::RateLimited(limited));
    }
    tracing::debug!(group = %group.name, member = %assigned.name, rule = ?limited.rule, "challenger over its rate limit; the champion serves");
    let who = subject(client, group, Some(group.champion()));
    match limiter.acquire(&who, Charge::RequestAndAttempt, tokens).await {
        Ok(grant) => {
            *decision = Decision { index: 0, reason: AssignmentReason::Fallback, sticky_hash: decision.sticky_hash };
            Ok(Ticket::new(limiter.clone(), ctx.client.clone(), tokens, 0, grant.quotas, grant.reservation))
        }
        Err(limited) => Err(GatewayError::RateLimited(limited)),
    }
}

/// Records a request the limit phase refused (error class `rate_limited`) and returns its
/// error for the one exit to render.
pub fn refused(recorder: Recorder, error: GatewayError) -> GatewayError {
    recorder.finish(Ending::failed(&error, error.status().as_u16()));
    error
}

/// Writes the ticket's quotas as `x-ratelimit-*` headers (nothing when no rule applied).
pub fn stamp(headers: &mut HeaderMap, ticket_quotas: &switchyard_ratelimit::Quotas) {
    ticket_quotas.write_headers(headers);
}
