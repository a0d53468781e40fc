//! The immutable `RoutingTable`: a validated config compiled for the hot path.
//!
//! A table is built once per config version and never mutated; the [`crate::ConfigStore`]
//! swaps whole tables. Building resolves secrets, precomputes each group's [`Sampler`],
//! attaches each member's catalog entry (its price at decision time, SPEC §8),
//! hashes nothing per request, and asks the caller's [`ProviderFactory`] for each
//! provider's runtime part `P` (the data plane's adapter), so that a table and its
//! adapters are always swapped together. Lookups are plain `HashMap` reads on `&str`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_catalog::CatalogEntry;

use crate::assign::Sampler;
use crate::catalog::CatalogView;
use crate::schema::{
    BreakerConfig, Config, ExplainProtocol, Fallback, GroupRecordsConfig, LimitsConfig, ProviderConfig, ProviderKind,
    RetriesConfig, Role,
};
use crate::secret::Secret;

mod build;
mod client;

pub use client::{AuthFailure, Client};

/// Builds the runtime part of a provider (e.g. an HTTP adapter). Errors become problems
/// at `providers.<name>`.
pub type ProviderFactory<P> = dyn Fn(&ProviderSpec) -> Result<P, String> + Send + Sync;

/// A compiled, immutable routing table.
pub struct RoutingTable<P> {
    /// Config version: increases by one with every table the store publishes.
    pub version: u64,
    /// Hex sha256 of the config's canonical form (first 16 characters).
    pub digest: String,
    /// The validated config this table was built from.
    pub config: Arc<Config>,
    /// Limits for the data plane.
    pub limits: LimitsConfig,
    /// The resolved `rate_limits.redis.password` (the rules are in `config.rate_limits`).
    pub rate_limits_password: Option<Secret>,
    /// The catalog snapshot the members' entries come from (SPEC §8).
    pub catalog: Arc<CatalogView>,
    groups: HashMap<String, Arc<Group<P>>>,
    providers: HashMap<String, Arc<Provider<P>>>,
    clients: Option<Vec<Arc<Client>>>,
}

/// A provider's config with its secret resolved.
pub struct ProviderSpec {
    /// Name in `providers`.
    pub name: String,
    /// Adapter kind.
    pub kind: ProviderKind,
    /// The provider's config entry (secrets still as references).
    pub config: ProviderConfig,
    /// Resolved API key, if any.
    pub api_key: Option<Secret>,
}

/// A provider with its runtime part.
pub struct Provider<P> {
    /// Config and resolved secret.
    pub spec: ProviderSpec,
    /// What the data plane built for it.
    pub runtime: P,
}

/// One compiled model group.
pub struct Group<P> {
    /// The group's name (what clients send as `model`).
    pub name: String,
    /// Champion (index 0) then challengers in config order.
    pub members: Vec<Member<P>>,
    /// Shadow members.
    pub shadows: Vec<Member<P>>,
    /// Where the sticky key comes from.
    pub sticky: StickySource,
    /// Fallback policy.
    pub fallback: Fallback,
    /// Upstream timeouts.
    pub timeouts: Timeouts,
    /// Record settings.
    pub records: GroupRecordsConfig,
    /// Retry policy (before the first byte only).
    pub retries: RetriesConfig,
    /// Circuit-breaker policy per member.
    pub breaker: BreakerConfig,
    /// Most mirrored requests in flight.
    pub mirror_concurrency: usize,
    /// The tenant it belongs to (only that tenant's clients may use it); `None`: shared.
    pub tenant: Option<String>,
    sampler: Sampler,
}

/// One compiled member.
pub struct Member<P> {
    /// Unique within the group.
    pub name: String,
    /// Champion, challenger or shadow.
    pub role: Role,
    /// The provider serving it.
    pub provider: Arc<Provider<P>>,
    /// Upstream model name.
    pub model: String,
    /// Normalised share of traffic in [0,1] (0 for shadows).
    pub share: f64,
    /// Shadows: fraction of requests mirrored in [0,1].
    pub mirror: f64,
    /// The member's explainer, if it has one.
    pub explain: Option<Explain<P>>,
    /// The member's catalog entry (its price, kind and tensors) as of this table; `None`
    /// when the catalog has none.
    pub entry: Option<Arc<CatalogEntry>>,
}

/// A member's compiled `explain:` block.
pub struct Explain<P> {
    /// The explainer's provider.
    pub provider: Arc<Provider<P>>,
    /// How it is asked.
    pub protocol: ExplainProtocol,
    /// Model name the explainer serves.
    pub model: String,
    /// Percent of successful answers explained, in [0,100].
    pub sample_percent: f64,
    /// The whole call's deadline.
    pub timeout: Duration,
    /// Calls in flight at most (>= 1).
    pub max_in_flight: usize,
}

/// Where a group's sticky key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StickySource {
    /// No sticky key: random assignment unless the client sends `x-switchyard-sticky-key`.
    None,
    /// A request header (lowercase name).
    Header(String),
    /// The body's `user` field.
    BodyUser,
}

/// Upstream timeouts of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP/TLS connect.
    pub connect: Duration,
    /// Request sent to response headers.
    pub first_byte: Duration,
    /// Longest pause between body chunks.
    pub idle: Duration,
    /// The whole exchange.
    pub total: Duration,
}

// === impl RoutingTable ===

impl<P> RoutingTable<P> {
    /// The group named `name`.
    #[inline]
    pub fn group(&self, name: &str) -> Option<&Arc<Group<P>>> {
        self.groups.get(name)
    }

    /// All groups, in no particular order.
    pub fn groups(&self) -> impl Iterator<Item = &Arc<Group<P>>> {
        self.groups.values()
    }

    /// The provider named `name`.
    pub fn provider(&self, name: &str) -> Option<&Arc<Provider<P>>> {
        self.providers.get(name)
    }
}

// === impl Group ===

impl<P> Group<P> {
    /// The champion.
    #[inline]
    pub fn champion(&self) -> &Member<P> {
        // Validation guarantees exactly one champion, stored first.
        &self.members[0]
    }

    /// Index of the member owning `bucket` in [0,1).
    #[inline]
    pub fn pick(&self, bucket: f64) -> usize {
        self.sampler.pick(bucket)
    }

    /// Most bytes of each body kept in a record (0: bodies are not logged).
    pub fn log_cap(&self) -> usize {
        if self.records.log_bodies {
            usize::try_from(self.records.max_body_bytes).unwrap_or(usize::MAX)
        } else {
            0
        }
    }

    /// Index of the routable (non-shadow) member named `name`.
    pub fn member_index(&self, name: &str) -> Option<usize> {
        self.members.iter().position(|m| m.name == name)
    }
}
