//! Routing config versus per-process settings (SPEC §7).
//!
//! With `state.shared_config: true` the routing config — [`ROUTING_KEYS`]: providers,
//! groups, clients, admin tokens, rate limits — is one document shared by every replica
//! through the state store, while each process's file keeps its own settings (listen
//! addresses, TLS, limits, the state store, records, tracing). [`routing_text`] cuts the
//! routing document out of a config; [`compose`] lays a stored routing document over a
//! process's own settings. Keys are classified here once, so a new setting is routing or
//! per-process by being in the list or not — with one exception inside `admin`:
//! [`PROCESS_ADMIN_KEYS`] (`admin.secret_allow_list`, which secrets API-made providers may
//! reference) is this process's own, always taken from its file: never written into a
//! routing document, and a routing document that sets it is refused.

use crate::error::ConfigError;
use crate::schema::Config;
use crate::validate::parse;

/// Top-level keys that are routing config (shared in `shared_config` mode).
pub const ROUTING_KEYS: [&str; 5] = ["providers", "groups", "clients", "admin", "rate_limits"];

/// Keys of `admin` that are per-process although `admin` is routing.
pub const PROCESS_ADMIN_KEYS: [&str; 1] = ["secret_allow_list"];

/// The routing document of `config` as YAML.
pub fn routing_text(config: &Config) -> Result<String, ConfigError> {
    let mut value = to_value(config)?;
    if let serde_json::Value::Object(map) = &mut value {
        map.retain(|k, _| ROUTING_KEYS.contains(&k.as_str()));
        if let Some(serde_json::Value::Object(admin)) = map.get_mut("admin") {
            admin.retain(|k, _| !PROCESS_ADMIN_KEYS.contains(&k.as_str()));
        }
    }
    serde_yaml_ng::to_string(&value).map_err(|e| ConfigError::one("", format!("cannot write the routing config: {e}")))
}

/// Whether `text` (a whole config file) sets any routing key.
pub fn has_routing(text: &str) -> bool {
    serde_yaml_ng::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.as_object().map(|m| m.keys().any(|k| ROUTING_KEYS.contains(&k.as_str()))))
        .unwrap_or(false)
}

/// `process`'s own settings with the routing config of the routing document `routing`
/// (YAML); problems in `routing` carry their paths. A routing document that sets a
/// per-process `admin` key is refused.
pub fn compose(process: &Config, routing: &str) -> Result<Config, ConfigError> {
    let routing = parse(routing)?;
    if !routing.admin.secret_allow_list.is_empty() {
        return Err(ConfigError::one(
            "admin.secret_allow_list",
            "is per process: set it in each replica's own config file, not in the shared routing config",
        ));
    }
    let mut value = to_value(process)?;
    let routing = to_value(&routing)?;
    if let (serde_json::Value::Object(map), serde_json::Value::Object(shared)) = (&mut value, routing) {
        map.retain(|k, _| !ROUTING_KEYS.contains(&k.as_str()));
        map.extend(shared.into_iter().filter(|(k, _)| ROUTING_KEYS.contains(&k.as_str())));
    }
    let mut composed: Config =
        serde_json::from_value(value).map_err(|e| ConfigError::one("", format!("cannot compose the config: {e}")))?;
    composed.admin.secret_allow_list.clone_from(&process.admin.secret_allow_list);
    Ok(composed)
}

fn to_value(config: &Config) -> Result<serde_json::Value, ConfigError> {
    serde_json::to_value(config).map_err(|e| ConfigError::one("", format!("cannot read the config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "listen: 127.0.0.1:1\nstate: { url: \"postgres://sy@db/sy\", shared_config: true }\n";
    const SHARED: &str = "providers:\n  m: { kind: mock }\ngroups:\n  g: { members: [ { name: a, role: champion, provider: m, weight: 1 } ] }\n";

    #[test]
    fn composing_keeps_the_process_settings_and_takes_the_routing() {
        let process = parse(FILE).expect("file");
        let composed = compose(&process, SHARED).expect("composes");
        assert_eq!(composed.listen, "127.0.0.1:1");
        assert!(composed.state.shared_config);
        assert!(composed.groups.contains_key("g"));
        let routing = routing_text(&composed).expect("routing");
        assert!(!routing.contains("listen") && !routing.contains("state"), "{routing}");
        assert_eq!(parse(&routing).expect("routing parses").groups, composed.groups);
        assert!(has_routing(SHARED) && !has_routing(FILE));
    }

    #[test]
    fn the_secret_allow_list_stays_with_the_process() {
        let file = format!("{FILE}admin:\n  secret_allow_list: [\"env:MINE\"]\n");
        let process = parse(&file).expect("file");
        let composed = compose(&process, SHARED).expect("composes");
        assert_eq!(composed.admin.secret_allow_list, vec!["env:MINE".to_owned()], "taken from the file");
        let routing = routing_text(&composed).expect("routing");
        assert!(!routing.contains("secret_allow_list") && !routing.contains("env:MINE"), "{routing}");
        let pushed = format!("{SHARED}admin:\n  secret_allow_list: [\"env:MASTER\"]\n");
        let err = compose(&process, &pushed).expect_err("refused");
        assert_eq!(err.problems[0].path, "admin.secret_allow_list");
    }

    #[test]
    fn a_bad_routing_document_is_refused_with_its_path() {
        let process = parse(FILE).expect("file");
        let err = compose(&process, "groups:\n  g: { nope: 1 }\n").expect_err("refused");
        assert!(err.problems[0].to_string().starts_with("groups.g"), "{err}");
    }
}
