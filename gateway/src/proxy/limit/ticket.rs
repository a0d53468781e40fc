//! A request's rate-limit state between the phases: what it was charged, what it holds.
//!
//! A [`Ticket`] is made by the limit phase after the request and its first attempt were
//! admitted together. Phase 5 asks it before every attempt ([`Ticket::attempt`]): the
//! first attempt of the assigned member is already paid; a retry, or the champion after a
//! challenger's failure, is charged its provider and member rules (`Charge::Attempt`).
//! After the attempt, [`Ticket::attempted`] refunds a failed attempt's tokens at once and
//! keeps a successful one's. What is kept — the request's reservation and the serving
//! attempt's — is handed to the recorder as [`Held`] and settled when the request ends
//! ([`Held::settle`]): with the usage the provider reported, refunded when the request
//! failed without an answer, and otherwise left at the estimate (the safe side).

use std::sync::Arc;

use switchyard_config::Client;
use switchyard_ratelimit::{Charge, Limited, Limiter, Quotas, Reservation, Subject};

use crate::proxy::record::{Ending, CLIENT_CLOSED};
use crate::proxy::{Group, Member};

/// A request's charges and quotas.
pub struct Ticket {
    limiter: Limiter,
    client: Option<Arc<Client>>,
    /// Tokens reserved per call.
    estimate: u64,
    /// The already-charged first attempt: the member's index in its group and its
    /// per-attempt reservation.
    prepaid: Option<(usize, Reservation)>,
    /// The tightest quota per unit of every check so far (the `x-ratelimit-*` headers).
    pub quotas: Quotas,
    /// Reservations kept for settlement when the request ends.
    held: Vec<Reservation>,
}

/// One attempt's tokens, refunded if the attempt fails.
#[must_use = "report the attempt's outcome with Ticket::attempted"]
pub struct AttemptCharge(Reservation);

/// The reservations a request holds until it ends.
#[derive(Default)]
pub struct Held(Vec<Reservation>);

/// The names a request is known by, for one member's attempt.
pub fn subject<'a>(client: Option<&'a Client>, group: &'a Group, member: Option<&'a Member>) -> Subject<'a> {
    Subject {
        client: client.map(|c| c.name.as_str()),
        tenant: client.map(|c| c.tenant.as_str()),
        group: Some(group.name.as_str()),
        provider: member.map(|m| m.provider.spec.name.as_str()),
        member: member.map(|m| m.name.as_str()),
    }
}

// === impl Ticket ===

impl Ticket {
    /// The ticket of a request admitted with `grant`'s quotas and `reservation` (made with
    /// `Charge::RequestAndAttempt` for member `index` of its group).
    pub fn new(
        limiter: Limiter,
        client: Option<Arc<Client>>,
        estimate: u64,
        index: usize,
        quotas: Quotas,
        mut reservation: Reservation,
    ) -> Self {
        let attempt = reservation.split_attempt();
        // Without a tokens rule nothing is held (and nothing allocated).
        let held = if reservation.is_empty() { Vec::new() } else { vec![reservation] };
        Self { limiter, client, estimate, prepaid: Some((index, attempt)), quotas, held }
    }

    /// Charges one attempt of `member` (free for the prepaid first attempt). A refusal's
    /// quotas are folded into the ticket's.
    pub async fn attempt(&mut self, group: &Group, member: &Member) -> Result<AttemptCharge, Box<Limited>> {
        let is_prepaid =
            |(index, _): &(usize, Reservation)| group.members.get(*index).is_some_and(|m| std::ptr::eq(m, member));
        if let Some((_, reservation)) = self.prepaid.take_if(|p| is_prepaid(p)) {
            return Ok(AttemptCharge(reservation));
        }
        let who = subject(self.client.as_deref(), group, Some(member));
        match self.limiter.acquire(&who, Charge::Attempt, self.estimate).await {
            Ok(grant) => {
                self.quotas.merge(grant.quotas);
                Ok(AttemptCharge(grant.reservation))
            }
            Err(limited) => {
                self.quotas.merge(limited.quotas.clone());
                Err(limited)
            }
        }
    }

    /// Reports an attempt's outcome: a failed attempt's tokens are refunded now, a
    /// successful one's kept until the request ends.
    pub fn attempted(&mut self, charge: AttemptCharge, succeeded: bool) {
        if succeeded {
            if !charge.0.is_empty() {
                self.held.push(charge.0);
            }
        } else {
            charge.0.refund_detached();
        }
    }

    /// What the recorder settles when the request ends. A prepaid attempt that never ran
    /// (the request was refused before phase 5) is refunded.
    pub fn into_held(mut self) -> Held {
        if let Some((_, unused)) = self.prepaid.take() {
            unused.refund_detached();
        }
        Held(std::mem::take(&mut self.held))
    }
}

// === impl Held ===

impl Held {
    /// Settles every reservation for a request that ended with `ending`: at the usage the
    /// provider reported; refunded when it failed without an answer (an error status, not
    /// a client that went away); else the estimate stays charged.
    pub fn settle(&mut self, ending: &Ending) {
        let usage = match (ending.input_tokens, ending.output_tokens) {
            (None, None) => None,
            (input, output) => Some(u64::from(input.unwrap_or(0)) + u64::from(output.unwrap_or(0))),
        };
        let failed = ending.status >= 400 && ending.status != CLIENT_CLOSED;
        for reservation in self.0.drain(..) {
            match usage {
                Some(tokens) => reservation.settle_detached(tokens),
                None if failed => reservation.refund_detached(),
                // The upstream may have done the work: keep the estimate (dropping a
                // reservation leaves it charged).
                None => drop(reservation),
            }
        }
    }
}
