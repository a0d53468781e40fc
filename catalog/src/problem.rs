//! Problems and errors: what is wrong with an entry, a provider's answer, a file row or an
//! LLM's proposal, each at a path.
//!
//! A [`Problem`] is one thing wrong at one place, printed `limits.context_tokens: must be > 0`
//! like the config validator's problems (SPEC §1, §8). Paths are dotted for fields and
//! bracketed for list items and for map keys that are not plain words:
//! `io_schema.inputs[0].shape[1]`, `labels["app.kubernetes.io/name"]`. Nothing here is
//! retryable; every validation reports *all* problems it finds.
//!
//! [`CatalogError`] is for the few operations that fail rather than report (cost with a
//! missing price, a decimal ClickHouse cannot hold); it knows its [`Blame`].

use std::fmt;

use serde::{Deserialize, Serialize};
use switchyard_core::Blame;

/// One thing wrong, at `path`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Where: a dotted/bracketed path (`pricing.input_per_mtok`); empty for the whole thing.
    pub path: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

/// An operation that could not produce a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    /// A cost needs a price the entry does not have.
    #[error("{0} is unknown, so the cost cannot be computed")]
    MissingPrice(&'static str),
    /// A number does not fit the exact decimal type (or ClickHouse's `Decimal(38,12)`).
    #[error("{0} is out of range")]
    OutOfRange(String),
}

// === impl Problem ===

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// The same problem under `prefix` (`limits.x` under `entry` is `entry.limits.x`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join(prefix, &self.path);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

// === impl CatalogError ===

impl CatalogError {
    /// Who is at fault: the catalog's data, which an operator supplies.
    pub fn blame(&self) -> Blame {
        Blame::Client
    }

    /// Never: the same data fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Joins two path parts: `a` + `b` → `a.b`, `a` + `[0].b` → `a[0].b`, either may be empty.
pub fn join(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{rest}"),
    }
}

/// The path of `key` in the map at `parent`: `labels.team`, or `labels["a.b"]` when the key
/// is not a plain word (so that the path can be read back unambiguously).
pub fn key_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        join(parent, key)
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""));
        format!("{parent}[{quoted}]")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_fields_items_and_odd_keys() {
        assert_eq!(join("", "limits"), "limits");
        assert_eq!(join("entry", ""), "entry");
        assert_eq!(join("io_schema.inputs", "[0].shape"), "io_schema.inputs[0].shape");
        assert_eq!(key_path("labels", "team"), "labels.team");
        assert_eq!(key_path("labels", "app.kubernetes.io/name"), "labels[\"app.kubernetes.io/name\"]");
        let p = Problem::new("context_tokens", "must be > 0").under("limits");
        assert_eq!(p.to_string(), "limits.context_tokens: must be > 0");
        assert_eq!(Problem::new("", "not JSON").to_string(), "not JSON");
    }
}
