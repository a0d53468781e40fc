//! One check: plan the buckets, charge them in one backend call, and turn the levels the
//! backend reports into a [`Grant`] or a [`Limited`].
//!
//! Invariants: the backend is called at most once per check; a refusal charged nothing
//! (the backend's all-or-none contract); a backend failure becomes the `on_error` policy,
//! counted, and is never returned to the caller.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Op, OwnedOp, Taken};
use crate::config::{OnError, Unit};
use crate::decision::{Limited, Quota, Quotas};
use crate::limiter::{Grant, State};
use crate::metrics::Metrics;
use crate::reservation::Reservation;
use crate::rules::{Charge, Planned, Subject};
use crate::BackendError;

/// Runs one check of `charge` for `subject` against `state`.
pub(crate) async fn run(
    state: &Arc<State>,
    metrics: &Metrics,
    subject: &Subject<'_>,
    charge: Charge,
    token_estimate: u64,
) -> Result<Grant, Box<Limited>> {
    let plan = state.rules.plan(subject, charge);
    if plan.is_empty() {
        return Ok(Grant::none());
    }
    let ops: Vec<Op<'_>> = plan
        .iter()
        .map(|p| Op {
            slot: &p.rule.slot,
            key: &p.key,
            cost: match p.rule.unit {
                Unit::Requests => 1.0,
                Unit::Tokens => token_estimate as f64,
            },
            gcra: p.rule.gcra,
        })
        .collect();
    match state.backend.take(&ops).await {
        Ok(taken) if taken.admitted => Ok(admitted(state, metrics, &plan, &ops, &taken, token_estimate)),
        Ok(taken) => Err(Box::new(refused(&plan, &ops, &taken))),
        Err(err) => on_error(state, metrics, &plan, &ops, token_estimate, &err),
    }
}

/// The grant of an admitted check: quotas after the charge and the tokens reserved.
fn admitted(
    state: &Arc<State>,
    metrics: &Metrics,
    plan: &[Planned<'_, '_>],
    ops: &[Op<'_>],
    taken: &Taken,
    token_estimate: u64,
) -> Grant {
    let mut quotas = Quotas::default();
    for ((p, op), before) in plan.iter().zip(ops).zip(&taken.before) {
        let after = before + op.cost;
        quotas.offer(p.rule.unit, quota(p, op.gcra.remaining(after), op.gcra.reset(after)));
    }
    let reservation = reservation(state, metrics, plan, ops, true, token_estimate);
    Grant { quotas, reservation, unchecked: false }
}

/// The refusal of a check: the rule that blocks longest (one whose cost can never fit
/// blocks forever), with every rule's quota as it stands (nothing was charged).
fn refused(plan: &[Planned<'_, '_>], ops: &[Op<'_>], taken: &Taken) -> Limited {
    let mut quotas = Quotas::default();
    // (never fits, wait, index) of the longest block.
    let mut worst: Option<(bool, Duration, usize)> = None;
    for (i, ((p, op), before)) in plan.iter().zip(ops).zip(&taken.before).enumerate() {
        quotas.offer(p.rule.unit, quota(p, op.gcra.remaining(*before), op.gcra.reset(*before)));
        if op.gcra.admits(*before, op.cost) {
            continue;
        }
        let block = match op.gcra.retry_after(*before, op.cost) {
            Some(wait) => (false, wait, i),
            None => (true, p.rule.per.duration(), i),
        };
        if worst.is_none_or(|w| (block.0, block.1) > (w.0, w.1)) {
            worst = Some(block);
        }
    }
    // The backend refused, so some bucket did not admit; were rounding to disagree, blame
    // the fullest bucket rather than answer without a rule.
    let (never, retry_after, index) = worst.unwrap_or_else(|| {
        let fullest = (0..ops.len()).max_by(|&a, &b| {
            let share = |i: usize| taken.before[i] / ops[i].gcra.burst;
            share(a).total_cmp(&share(b))
        });
        (false, Duration::from_millis(1), fullest.unwrap_or(0))
    });
    let rule = plan.get(index).map(|p| p.rule);
    if let Some(rule) = rule {
        rule.limited.inc();
    }
    Limited {
        rule: rule.map(|r| r.name.clone()),
        scope: rule.map(|r| r.scope),
        unit: rule.map(|r| r.unit),
        retry_after,
        never,
        quotas,
    }
}

/// The `on_error` policy for a check the backend could not answer.
fn on_error(
    state: &Arc<State>,
    metrics: &Metrics,
    plan: &[Planned<'_, '_>],
    ops: &[Op<'_>],
    token_estimate: u64,
    err: &BackendError,
) -> Result<Grant, Box<Limited>> {
    tracing::debug!(error = %err, policy = ?state.on_error, "rate-limit check got no answer");
    match state.on_error {
        OnError::Allow => {
            metrics.allowed_on_error.inc();
            let reservation = reservation(state, metrics, plan, ops, false, token_estimate);
            Ok(Grant { quotas: Quotas::default(), reservation, unchecked: true })
        }
        OnError::Deny => {
            metrics.denied_on_error.inc();
            Err(Box::new(Limited::backend_unavailable()))
        }
    }
}

fn quota(p: &Planned<'_, '_>, remaining: u64, reset: Duration) -> Quota {
    Quota { rule: p.rule.name.clone(), limit: p.rule.burst, remaining, reset }
}

/// The tokens rules' part of a check, kept for settlement.
fn reservation(
    state: &Arc<State>,
    metrics: &Metrics,
    plan: &[Planned<'_, '_>],
    ops: &[Op<'_>],
    charged: bool,
    token_estimate: u64,
) -> Reservation {
    let owned: Vec<OwnedOp> = plan
        .iter()
        .zip(ops)
        .filter(|(p, _)| p.rule.unit == Unit::Tokens)
        .map(|(p, op)| OwnedOp {
            slot: p.rule.slot.clone(),
            per_attempt: p.rule.scope.per_attempt(),
            key: op.key.into(),
            cost: op.cost,
            gcra: op.gcra,
        })
        .collect();
    Reservation::new(owned, charged, token_estimate, state.backend.clone(), metrics.settle_lost.clone())
}
