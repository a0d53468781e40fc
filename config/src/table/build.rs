//! Compiling a validated [`Config`] into a [`RoutingTable`]: secrets resolved, providers
//! built by the caller's [`ProviderFactory`], groups ordered (champion first) with their
//! shares normalised and samplers precomputed, and the config's digest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{
    Client, Explain, Group, Member, Provider, ProviderFactory, ProviderSpec, RoutingTable, StickySource, Timeouts,
};
use crate::assign::Sampler;
use crate::catalog::CatalogView;
use crate::error::{ConfigError, Problem};
use crate::schema::{Config, GroupConfig, MemberConfig, Role};
use crate::validate::validate;

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
