//! Compiled rules: which buckets a request is charged to.
//!
//! A [`RuleSet`] is built once per config (and swapped whole on an edit). For one request
//! it lists, in config order, every rule whose scope has a key for the request, whose
//! `match` (if any) equals that key and whose scope belongs to the phase being charged —
//! client, tenant and group rules once per request; provider and member rules per attempt.
//! The bucket key is the scope key with `each: true`, else empty (one shared bucket).

use std::borrow::Cow;
use std::sync::Arc;

use prometheus::IntCounter;

use crate::config::{Per, RuleConfig, Scope, Unit};
use crate::gcra::Gcra;
use crate::slot::Slot;

/// The names a request is known by in each scope; `None` where it has none (e.g. no
/// client key on a gateway without `clients:`). A rule whose scope key is `None` does not
/// apply to the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// The authenticated client's configured name.
    pub client: Option<&'a str>,
    /// The client's tenant.
    pub tenant: Option<&'a str>,
    /// The model group.
    pub group: Option<&'a str>,
    /// The provider of the attempt's member.
    pub provider: Option<&'a str>,
    /// The attempt's member name (its key is `group/member`).
    pub member: Option<&'a str>,
}

/// Which rules a call charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Client, tenant and group rules: once per request, after authenticate.
    Request,
    /// Provider and member rules: per attempt, after assign.
    Attempt,
    /// Both at once (a request's first attempt), in one atomic call.
    RequestAndAttempt,
}

/// One compiled rule.
pub(crate) struct Rule {
    pub name: Arc<str>,
    pub scope: Scope,
    pub match_key: Option<Box<str>>,
    pub each: bool,
    pub unit: Unit,
    /// Units per period, as configured.
    pub amount: u64,
    /// Most units admitted at once (the `limit` the headers show).
    pub burst: u64,
    pub per: Per,
    pub gcra: Gcra,
    pub slot: Arc<Slot>,
    /// `switchyard_rate_limited_total{rule=name}`.
    pub limited: IntCounter,
}

/// Every rule of one config.
pub(crate) struct RuleSet {
    pub rules: Vec<Rule>,
    /// Whether any rule is charged per request / per attempt (skip the backend otherwise).
    per_request: bool,
    per_attempt: bool,
}

/// One bucket a request is charged to.
pub(crate) struct Planned<'r, 's> {
    pub rule: &'r Rule,
    pub key: Cow<'s, str>,
}

// === impl Subject ===

impl<'a> Subject<'a> {
    /// The request's key in `scope`.
    fn key(&self, scope: Scope) -> Option<Cow<'a, str>> {
        match scope {
            Scope::Client => self.client.map(Cow::Borrowed),
            Scope::Tenant => self.tenant.map(Cow::Borrowed),
            Scope::Group => self.group.map(Cow::Borrowed),
            Scope::Provider => self.provider.map(Cow::Borrowed),
            Scope::Member => match (self.group, self.member) {
                (Some(group), Some(member)) => Some(Cow::Owned(format!("{group}/{member}"))),
                _ => None,
            },
        }
    }

    /// Whether the request has a key in `scope` (and, with `want`, that it is `want`),
    /// without building the `group/member` key.
    fn has_key(&self, scope: Scope, want: Option<&str>) -> bool {
        match (scope, want) {
            (Scope::Member, Some(want)) => match (self.group, self.member) {
                (Some(group), Some(member)) => {
                    want.strip_prefix(group).and_then(|rest| rest.strip_prefix('/')) == Some(member)
                }
                _ => false,
            },
            (Scope::Member, None) => self.group.is_some() && self.member.is_some(),
            (scope, want) => self.key(scope).is_some_and(|key| want.is_none_or(|want| want == key)),
        }
    }
}

// === impl Charge ===

impl Charge {
    fn covers(self, scope: Scope) -> bool {
        match self {
            Charge::Request => !scope.per_attempt(),
            Charge::Attempt => scope.per_attempt(),
            Charge::RequestAndAttempt => true,
        }
    }
}

// === impl Rule ===

impl Rule {
    /// Compiles a validated rule onto its slot.
    pub fn new(cfg: &RuleConfig, slot: Arc<Slot>, limited: IntCounter) -> Self {
        Self {
            name: slot.name.clone(),
            scope: cfg.scope,
            match_key: cfg.match_key.as_deref().map(Box::from),
            each: cfg.each,
            unit: cfg.unit(),
            amount: cfg.amount(),
            burst: cfg.burst_or_amount(),
            per: cfg.per,
            gcra: Gcra::new(cfg.amount(), cfg.per.duration(), cfg.burst_or_amount()),
            slot,
            limited,
        }
    }
}

// === impl RuleSet ===

impl RuleSet {
    pub fn new(rules: Vec<Rule>) -> Self {
        let per_request = rules.iter().any(|r| !r.scope.per_attempt());
        let per_attempt = rules.iter().any(|r| r.scope.per_attempt());
        Self { rules, per_request, per_attempt }
    }

    /// Whether any rule could apply to a call charging `charge`.
    pub fn any_for(&self, charge: Charge) -> bool {
        match charge {
            Charge::Request => self.per_request,
            Charge::Attempt => self.per_attempt,
            Charge::RequestAndAttempt => self.per_request || self.per_attempt,
        }
    }

    /// Whether a tokens rule applies to `subject` under `charge` (so a caller knows to
    /// estimate tokens and to ask the upstream for its usage).
    pub fn any_tokens(&self, subject: &Subject<'_>, charge: Charge) -> bool {
        self.rules.iter().any(|rule| {
            rule.unit == Unit::Tokens
                && charge.covers(rule.scope)
                && subject.has_key(rule.scope, rule.match_key.as_deref())
        })
    }

    /// The buckets `subject` is charged to under `charge`, in config order.
    pub fn plan<'r, 's>(&'r self, subject: &Subject<'s>, charge: Charge) -> Vec<Planned<'r, 's>> {
        if !self.any_for(charge) {
            return Vec::new();
        }
        let mut planned = Vec::new();
        for rule in &self.rules {
            if !charge.covers(rule.scope) {
                continue;
            }
            if !subject.has_key(rule.scope, rule.match_key.as_deref()) {
                continue;
            }
            let key = match rule.each {
                true => subject.key(rule.scope).unwrap_or_default(),
                false => Cow::Borrowed(""),
            };
            planned.push(Planned { rule, key });
        }
        planned
    }
}
