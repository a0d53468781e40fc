//! Credentials across a rollback: client keys, admin tokens and provider keys do not come
//! back with an old version unless the operator asks for it.
//!
//! A rollback restores routing — groups, weights, providers' URLs and settings. Without
//! `restore_credentials` it keeps the current credentials: `clients` and `admin.tokens`
//! stay exactly as they are now (a client or token revoked since the old version stays
//! revoked; one created since stays), and every provider keeps its current key (one that
//! exists only in the old version comes back without a key). A provider whose current key
//! would go to a different `base_url` than it does now is refused (422): the key does not
//! follow a URL. With `restore_credentials: true` the old version's credentials come back
//! as they were; the reply and the audit entry list them. `admin.secret_allow_list` is
//! never restored either way (it is the config file's, not the API's).
//!
//! Credentials are named `clients.<name>`, `admin.tokens.<name>`, `providers.<name>.api_key`.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_config::schema::{AdminTokenConfig, ClientConfig};
use switchyard_config::{Config, ConfigError, Problem};

/// What a rollback did with credentials (names, sorted).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Carried {
    /// The old version's credentials brought back (only with `restore_credentials`).
    pub restored: Vec<String>,
    /// Current credentials kept where the old version had others or none.
    pub kept: Vec<String>,
    /// The old version's credentials not brought back.
    pub dropped: Vec<String>,
    /// Current credentials the old version does not have, removed by restoring it.
    pub removed: Vec<String>,
}

/// Lays `current`'s credentials over `target` (or, with `restore`, keeps `target`'s) and
/// says what that did; refuses a provider key that would go to another URL.
pub fn carry(current: &Config, target: &mut Config, restore: bool) -> Result<Carried, ConfigError> {
    let mut carried = Carried::default();
    let (now, then) = (clients(current), clients(target));
    carried.note(restore, "clients", &now, &then);
    let (now_t, then_t) = (tokens(current), tokens(target));
    carried.note(restore, "admin.tokens", &now_t, &then_t);
    // A provider the version does not have goes with the routing; its key is not listed.
    let mut now_k = keys(current);
    now_k.retain(|name, _| target.providers.contains_key(name));
    let then_k = keys(target);
    let renamed = |m: BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.into_iter().map(|(k, v)| (format!("{k}.api_key"), v)).collect()
    };
    carried.note(restore, "providers", &renamed(now_k), &renamed(then_k));
    if !restore {
        target.clients.clone_from(&current.clients);
        target.admin.tokens.clone_from(&current.admin.tokens);
        let mut problems = Vec::new();
        for (name, p) in target.providers.iter_mut() {
            let now = current.providers.get(name);
            p.api_key = now.and_then(|n| n.api_key.clone());
            if let Some(n) = now.filter(|n| n.api_key.is_some()) {
                if normalized(&n.base_url) != normalized(&p.base_url) {
                    problems.push(Problem::new(
                        format!("providers.{name}.api_key"),
                        "the version's base_url differs from the current one and the current key does not \
                         follow a URL: roll back with restore_credentials: true, or change the provider first",
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return Err(problems.into());
        }
    }
    target.admin.secret_allow_list.clone_from(&current.admin.secret_allow_list);
    Ok(carried)
}

/// `base_url` compared without a trailing slash.
pub fn normalized(url: &Option<String>) -> Option<&str> {
    url.as_deref().map(|u| u.trim_end_matches('/'))
}

// === impl Carried ===

impl Carried {
    /// Compares credentials by name (`now` current, `then` the version's) under `prefix`.
    fn note(&mut self, restore: bool, prefix: &str, now: &BTreeMap<String, String>, then: &BTreeMap<String, String>) {
        for (name, value) in then {
            let label = format!("{prefix}.{name}");
            match (now.get(name), restore) {
                (Some(v), _) if v == value => {}
                (_, true) => self.restored.push(label),
                (Some(_), false) => self.kept.push(label),
                (None, false) => self.dropped.push(label),
            }
        }
        for name in now.keys().filter(|n| !then.contains_key(*n)) {
            let label = format!("{prefix}.{name}");
            if restore {
                self.removed.push(label);
            } else {
                self.kept.push(label);
            }
        }
        for list in [&mut self.restored, &mut self.kept, &mut self.dropped, &mut self.removed] {
            list.sort();
        }
    }

    /// The audit entry's reason.
    pub fn reason(&self, restore: bool) -> String {
        let list = |v: &[String]| if v.is_empty() { "none".to_owned() } else { v.join(", ") };
        if restore {
            format!("restore_credentials: true; restored: {}; removed: {}", list(&self.restored), list(&self.removed))
        } else {
            format!("credentials kept as they are; kept: {}; not restored: {}", list(&self.kept), list(&self.dropped))
        }
    }
}

fn clients(c: &Config) -> BTreeMap<String, String> {
    c.clients.iter().flatten().map(|c: &ClientConfig| (c.name.clone(), c.key_sha256.to_ascii_lowercase())).collect()
}

fn tokens(c: &Config) -> BTreeMap<String, String> {
    c.admin
        .tokens
        .iter()
        .map(|t: &AdminTokenConfig| (t.name.clone(), format!("{}:{:?}", t.token_sha256.to_ascii_lowercase(), t.role)))
        .collect()
}

fn keys(c: &Config) -> BTreeMap<String, String> {
    c.providers.iter().filter_map(|(n, p)| p.api_key.as_ref().map(|k| (n.clone(), k.0.clone()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(clients: &str, key: &str, url: &str) -> Config {
        let yaml = format!(
            "providers:\n  p: {{ kind: openai, base_url: \"{url}\"{key} }}\ngroups: {{}}\n{clients}admin:\n  tokens: []\n"
        );
        switchyard_config::validate::parse(&yaml).expect("parses")
    }

    fn client(name: &str, hash: char) -> String {
        format!("  - {{ name: {name}, key_sha256: \"{}\", groups: [\"*\"] }}\n", hash.to_string().repeat(64))
    }

    #[test]
    fn without_restore_the_current_credentials_stay() {
        let current = cfg(&format!("clients:\n{}", client("b", 'b')), ", api_key: env:NEW", "http://h/v1");
        let mut target =
            cfg(&format!("clients:\n{}{}", client("a", 'a'), client("b", 'c')), ", api_key: env:OLD", "http://h/v1/");
        let carried = carry(&current, &mut target, false).expect("carried");
        assert_eq!(target.clients, current.clients);
        assert_eq!(target.providers["p"].api_key, current.providers["p"].api_key);
        assert_eq!(carried.dropped, vec!["clients.a"]);
        assert_eq!(carried.kept, vec!["clients.b", "providers.p.api_key"]);
        assert!(carried.restored.is_empty() && carried.removed.is_empty());
    }

    #[test]
    fn with_restore_the_versions_credentials_come_back_and_are_listed() {
        let current = cfg(&format!("clients:\n{}", client("b", 'b')), ", api_key: env:NEW", "http://h/v1");
        let mut target = cfg(&format!("clients:\n{}", client("a", 'a')), ", api_key: env:OLD", "http://other/v1");
        let before = target.clone();
        let carried = carry(&current, &mut target, true).expect("carried");
        assert_eq!(target, before);
        assert_eq!(carried.restored, vec!["clients.a", "providers.p.api_key"]);
        assert_eq!(carried.removed, vec!["clients.b"]);
    }

    #[test]
    fn a_current_key_does_not_go_to_an_older_url() {
        let current = cfg("", ", api_key: env:NEW", "http://new/v1");
        let mut target = cfg("", ", api_key: env:OLD", "http://old/v1");
        let err = carry(&current, &mut target, false).expect_err("refused");
        assert_eq!(err.problems[0].path, "providers.p.api_key");
        let mut keyless = cfg("", "", "http://old/v1");
        assert!(carry(&cfg("", "", "http://new/v1"), &mut keyless, false).is_ok(), "no key, nothing to leak");
    }
}
