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

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use switchyard_catalog::CatalogEntry;

use crate::assign::Sampler;
use crate::catalog::CatalogView;
use crate::error::{ConfigError, Problem};
use crate::schema::{
    BreakerConfig, ClientConfig, Config, ExplainProtocol, Fallback, GroupConfig, GroupRecordsConfig, LimitsConfig,
    MemberConfig, ProviderConfig, ProviderKind, RetriesConfig, Role,
};
use crate::secret::Secret;
use crate::validate::validate;

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

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Client name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    key_sha256: [u8; 32],
    groups: Option<Vec<String>>,
    /// The gateway's own client: not bound to a tenant's groups.
    internal: bool,
}

/// Why a client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `authorization: Bearer` header.
    Missing,
    /// A key that matches no client.
    Invalid,
}

// === impl RoutingTable ===

impl<P> RoutingTable<P> {
    /// Validates `config` and compiles it as `version`; every secret must resolve.
    pub fn build(config: Config, version: u64, factory: &ProviderFactory<P>) -> Result<Self, ConfigError> {
        Self::build_with(config, version, factory, None, &Arc::default())
    }

    /// Like [`RoutingTable::build`], with `catalog`'s entries attached to the members
    /// (prices, kinds, tensors). `strict`: the catalog's problems
    /// ([`CatalogView::problems`]) refuse the config; otherwise they are returned as
    /// warnings (a catalog change must not stop the data plane from taking new prices).
    pub fn build_with_catalog(
        config: Config,
        version: u64,
        factory: &ProviderFactory<P>,
        catalog: &Arc<CatalogView>,
        strict: bool,
    ) -> Result<(Self, Vec<Problem>), ConfigError> {
        let problems = catalog.problems(&config);
        if strict && !problems.is_empty() {
            validate(&config)?;
            return Err(problems.into());
        }
        Ok((Self::build_with(config, version, factory, None, catalog)?, problems))
    }

    /// Like [`RoutingTable::build`], but a secret that cannot be resolved on this machine
    /// (an unset variable, a missing file, a sealed key without the master key) is a
    /// warning: the provider is built without its key (for linting a file where its
    /// secrets are not, `check-config`). Returns the table and the warnings.
    pub fn build_offline(config: Config, factory: &ProviderFactory<P>) -> Result<(Self, Vec<Problem>), ConfigError> {
        let mut warnings = Vec::new();
        let table = Self::build_with(config, 0, factory, Some(&mut warnings), &Arc::default())?;
        Ok((table, warnings))
    }

    fn build_with(
        config: Config,
        version: u64,
        factory: &ProviderFactory<P>,
        unresolved: Option<&mut Vec<Problem>>,
        catalog: &Arc<CatalogView>,
    ) -> Result<Self, ConfigError> {
        validate(&config)?;
        let providers = build_providers(&config, factory, unresolved)?;
        let rate_limits_password =
            crate::rate_limits::resolve_password(&config.rate_limits).map_err(|p| ConfigError::from(vec![p]))?;
        let groups = config
            .groups
            .iter()
            .map(|(name, gc)| (name.clone(), Arc::new(build_group(name, gc, &providers, catalog))))
            .collect();
        let clients = config.clients.as_ref().map(|cs| cs.iter().map(|c| Arc::new(Client::from_config(c))).collect());
        let digest = digest_of(&config);
        Ok(Self {
            version,
            digest,
            limits: config.limits.clone(),
            rate_limits_password,
            config: Arc::new(config),
            groups,
            providers,
            clients,
            catalog: catalog.clone(),
        })
    }

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

    /// Whether the data plane requires a client key.
    pub fn requires_key(&self) -> bool {
        self.clients.is_some()
    }

    /// Finds the client whose key is `presented`. Compares against every client's hash in
    /// constant time per client; `Ok(None)` when no keys are configured.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Option<&Arc<Client>>, AuthFailure> {
        let Some(clients) = &self.clients else { return Ok(None) };
        let key = presented.ok_or(AuthFailure::Missing)?;
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for c in clients {
            if bool::from(c.key_sha256.ct_eq(&hash)) {
                found = Some(c);
            }
        }
        found.map(Some).ok_or(AuthFailure::Invalid)
    }
}

/// Every provider with its secret resolved and its runtime part built; all problems at
/// once. With `unresolved`, a secret that does not resolve is noted there instead and the
/// provider is built without it.
fn build_providers<P>(
    config: &Config,
    factory: &ProviderFactory<P>,
    mut unresolved: Option<&mut Vec<Problem>>,
) -> Result<HashMap<String, Arc<Provider<P>>>, ConfigError> {
    let mut problems = Vec::new();
    let mut providers = HashMap::new();
    for (name, pc) in &config.providers {
        let api_key = match pc.api_key.as_ref().map(|r| r.resolve()).transpose() {
            Ok(key) => key,
            Err(msg) => {
                let problem = Problem::new(format!("providers.{name}.api_key"), msg);
                match unresolved.as_deref_mut() {
                    Some(warnings) => warnings.push(problem),
                    None => {
                        problems.push(problem);
                        continue;
                    }
                }
                None
            }
        };
        let spec = ProviderSpec { name: name.clone(), kind: pc.kind, config: pc.clone(), api_key };
        match factory(&spec) {
            Ok(runtime) => {
                providers.insert(name.clone(), Arc::new(Provider { spec, runtime }));
            }
            Err(msg) => problems.push(Problem::new(format!("providers.{name}"), msg)),
        }
    }
    if problems.is_empty() {
        Ok(providers)
    } else {
        Err(problems.into())
    }
}

/// One group: champion first, then challengers in config order, shadows apart; shares
/// normalised and the sampler precomputed. Validation guarantees every provider
/// reference resolves.
fn build_group<P>(
    name: &str,
    gc: &GroupConfig,
    providers: &HashMap<String, Arc<Provider<P>>>,
    catalog: &CatalogView,
) -> Group<P> {
    let mut routable: Vec<&MemberConfig> = gc.members.iter().filter(|m| m.role == Role::Champion).collect();
    routable.extend(gc.members.iter().filter(|m| m.role == Role::Challenger));
    let weights: Vec<f64> = routable.iter().map(|m| m.weight.unwrap_or(0.0)).collect();
    let total: f64 = weights.iter().sum();
    let member = |m: &MemberConfig, share: f64| Member {
        name: m.name.clone(),
        role: m.role,
        provider: providers[&m.provider].clone(),
        model: m.model.clone().unwrap_or_else(|| m.name.clone()),
        share,
        mirror: m.mirror_percent.unwrap_or(0.0) / 100.0,
        entry: catalog.entry_for(m).cloned(),
        explain: m.explain.as_ref().map(|x| Explain {
            provider: providers[&x.provider].clone(),
            protocol: x.protocol,
            model: x.model.clone().unwrap_or_else(|| m.model.clone().unwrap_or_else(|| m.name.clone())),
            sample_percent: x.sample_percent,
            timeout: Duration::from_millis(x.timeout_ms),
            max_in_flight: usize::try_from(x.max_in_flight).unwrap_or(usize::MAX).max(1),
        }),
    };
    let sticky = match gc.assignment.sticky_key.as_deref().and_then(|s| s.split_once(':')) {
        Some(("header", h)) => StickySource::Header(h.to_ascii_lowercase()),
        Some(("body", _)) => StickySource::BodyUser,
        _ => StickySource::None,
    };
    let t = &gc.timeouts;
    Group {
        name: name.to_owned(),
        members: routable.iter().zip(&weights).map(|(m, w)| member(m, w / total)).collect(),
        shadows: gc.members.iter().filter(|m| m.role == Role::Shadow).map(|m| member(m, 0.0)).collect(),
        sticky,
        fallback: gc.fallback,
        timeouts: Timeouts {
            connect: Duration::from_millis(t.connect_ms),
            first_byte: Duration::from_millis(t.first_byte_ms),
            idle: Duration::from_millis(t.idle_ms),
            total: Duration::from_millis(t.total_ms),
        },
        records: gc.records.clone(),
        retries: gc.retries.clone(),
        breaker: gc.breaker.clone(),
        mirror_concurrency: usize::try_from(gc.mirror_concurrency).unwrap_or(usize::MAX),
        tenant: gc.tenant.clone(),
        sampler: Sampler::new(&weights),
    }
}

fn digest_of(config: &Config) -> String {
    let canonical = serde_json::to_vec(config).unwrap_or_default();
    let d = Sha256::digest(&canonical);
    hex::encode(&d[..8])
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

// === impl Client ===

impl Client {
    /// The compiled client of a config entry (validation guarantees a 64-hex key).
    fn from_config(c: &ClientConfig) -> Self {
        let mut key = [0u8; 32];
        let _ = hex::decode_to_slice(&c.key_sha256, &mut key);
        Self {
            name: c.name.clone(),
            tenant: c.tenant.clone().unwrap_or_else(|| c.name.clone()),
            key_sha256: key,
            groups: if c.groups.iter().any(|g| g == "*") { None } else { Some(c.groups.clone()) },
            internal: false,
        }
    }

    /// A client for requests the gateway makes for itself (e.g. the catalog's LLM-assisted
    /// import): it has no key — no presented key can ever match it — and may use every
    /// group.
    pub fn internal(name: &str, tenant: &str) -> Self {
        Self { name: name.to_owned(), tenant: tenant.to_owned(), key_sha256: [0; 32], groups: None, internal: true }
    }

    /// Whether a group of `tenant` exists for this client: a shared group (no tenant) or
    /// one of the client's own tenant. Another tenant's group is, to the client, a group
    /// that does not exist. The gateway's own client sees every group.
    pub fn sees(&self, tenant: Option<&str>) -> bool {
        self.internal || tenant.is_none_or(|t| t == self.tenant)
    }

    /// Whether this client may use `group` (of `tenant`): it [`Client::sees`] it and its
    /// allow-list names it (`["*"]`: every group it sees).
    pub fn may_use(&self, group: &str, tenant: Option<&str>) -> bool {
        self.sees(tenant) && self.groups.as_ref().is_none_or(|gs| gs.iter().any(|g| g == group))
    }
}
