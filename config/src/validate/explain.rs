//! Validation of a member's `explain:` block (SPEC §9): the provider exists, its kind
//! fits the protocol, and every range holds.

use crate::error::Problem;
use crate::schema::{Config, ExplainConfig, ExplainProtocol, MemberConfig, ProviderKind, Role};

use super::check_name;

/// A member's `explain:` block: the provider exists and its kind fits the protocol.
pub(super) fn check_explain(
    cfg: &Config,
    m: &MemberConfig,
    x: &ExplainConfig,
    mat: &impl Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) {
    let at = |key: &str| mat(&format!("explain.{key}"));
    if m.role == Role::Shadow {
        problems.push(Problem::new(mat("explain"), "a shadow's answers reach no client; explain its own member"));
    }
    match cfg.providers.get(&x.provider) {
        None => problems.push(Problem::new(at("provider"), format!("unknown provider `{}`", x.provider))),
        Some(p) => {
            let fits = match x.protocol {
                ExplainProtocol::KserveV1 => matches!(p.kind, ProviderKind::Http | ProviderKind::Oip),
                ExplainProtocol::Oip => p.kind == ProviderKind::Oip,
                ExplainProtocol::Http => p.kind == ProviderKind::Http,
            };
            if !fits {
                let want = match x.protocol {
                    ExplainProtocol::KserveV1 => "http or oip",
                    ExplainProtocol::Oip => "oip",
                    ExplainProtocol::Http => "http",
                };
                problems.push(Problem::new(
                    at("provider"),
                    format!(
                        "provider `{}` is of kind {}; protocol {} needs kind {want}",
                        x.provider,
                        p.kind.as_str(),
                        x.protocol.as_str()
                    ),
                ));
            }
        }
    }
    if !(x.sample_percent.is_finite() && (0.0..=100.0).contains(&x.sample_percent)) {
        problems.push(Problem::new(at("sample_percent"), "must be between 0 and 100"));
    }
    if x.timeout_ms == 0 {
        problems.push(Problem::new(at("timeout_ms"), "must be > 0"));
    }
    if x.max_in_flight == 0 {
        problems.push(Problem::new(at("max_in_flight"), "must be >= 1"));
    }
    if let Some(model) = &x.model {
        check_name(problems, &at("model"), model);
    }
}
