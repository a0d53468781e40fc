//! What a viewer token may not see: credentials inside config documents.
//!
//! Admins see stored versions and audit entries verbatim. Viewers see them with every
//! credential replaced by [`REDACTED`]: `admin.tokens[].token_sha256` and
//! `clients[].key_sha256` (a hash of a low-entropy token can be brute-forced offline),
//! every provider `api_key` that is not an `env:`/`file:` reference (a sealed `enc:` key
//! included — it is the key, encrypted), and the values of provider `headers` whose name
//! says they carry a credential (`authorization`, `x-api-key`, anything with `key`,
//! `token`, `secret`, `auth`, `password`, `cookie` in it). The rules apply to any JSON
//! wherever those keys appear, so whole configs, partial views and audit before/after
//! values are covered alike.

use serde_json::Value;

/// What a redacted value reads as.
pub const REDACTED: &str = "<redacted>";

/// Redacts `value` in place for a viewer.
pub fn json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "token_sha256" | "key_sha256" => *v = Value::from(REDACTED),
                    "api_key" if v.as_str().is_some_and(|k| !is_reference(k)) => *v = Value::from(REDACTED),
                    "headers" => headers(v),
                    _ => json(v),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(json),
        _ => {}
    }
}

/// A stored config version (YAML) as a viewer may read it: the same document with
/// credentials redacted (comments and formatting are not kept).
pub fn yaml(text: &str) -> String {
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(text) else {
        return "# this version cannot be shown to a viewer (it does not parse)\n".to_owned();
    };
    json(&mut value);
    serde_yaml_ng::to_string(&value).unwrap_or_else(|_| "# this version cannot be shown to a viewer\n".to_owned())
}

fn is_reference(key: &str) -> bool {
    key.starts_with("env:") || key.starts_with("file:")
}

/// A provider's `headers` map: credential-looking names get their value redacted.
fn headers(v: &mut Value) {
    let Value::Object(map) = v else { return json(v) };
    for (name, value) in map.iter_mut() {
        if sensitive_header(name) {
            *value = Value::from(REDACTED);
        }
    }
}

fn sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["key", "token", "secret", "auth", "password", "cookie", "signature"].iter().any(|w| name.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_references_and_routing_stay() {
        let mut v = serde_json::json!({
            "admin": {"tokens": [{"name": "ops", "token_sha256": "ab", "role": "admin"}]},
            "clients": [{"name": "web", "key_sha256": "cd", "groups": ["*"]}],
            "providers": {
                "a": {"kind": "openai", "api_key": "env:OPENAI"},
                "b": {"kind": "openai", "api_key": "enc:c2VhbGVk", "headers": {"x-team": "ml", "X-Api-Key": "lit"}},
            },
            "groups": {"g": {"members": [{"name": "m", "weight": 1}]}},
        });
        json(&mut v);
        assert_eq!(v["admin"]["tokens"][0]["token_sha256"], REDACTED);
        assert_eq!(v["admin"]["tokens"][0]["name"], "ops");
        assert_eq!(v["clients"][0]["key_sha256"], REDACTED);
        assert_eq!(v["providers"]["a"]["api_key"], "env:OPENAI");
        assert_eq!(v["providers"]["b"]["api_key"], REDACTED);
        assert_eq!(v["providers"]["b"]["headers"]["x-team"], "ml");
        assert_eq!(v["providers"]["b"]["headers"]["X-Api-Key"], REDACTED);
        assert_eq!(v["groups"]["g"]["members"][0]["weight"], 1);
        let text = yaml("clients:\n  - { name: web, key_sha256: \"cd\" }\ngroups: {}\n");
        assert!(text.contains(REDACTED) && !text.contains("cd\""), "{text}");
    }
}
