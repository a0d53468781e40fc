//! Secrets: `env:NAME` / `file:/path` references in the file, resolved values in memory.
//!
//! A [`SecretRef`] is all the config file may hold; a literal key is a validation error.
//! A resolved [`Secret`] never prints: its `Debug` is redacted and it has no `Display`
//! or `Serialize`, so it cannot reach a log line, a record or an API response by accident.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A reference to a secret, as written in the file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

/// Where a [`SecretRef`] points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource<'a> {
    /// An environment variable.
    Env(&'a str),
    /// A file whose content (trimmed) is the secret.
    File(&'a str),
}

/// A resolved secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

// === impl SecretRef ===

impl SecretRef {
    /// Parses the reference, or says why it is not one.
    pub fn source(&self) -> Result<SecretSource<'_>, &'static str> {
        if let Some(name) = self.0.strip_prefix("env:") {
            if name.is_empty() {
                return Err("`env:` needs a variable name");
            }
            Ok(SecretSource::Env(name))
        } else if let Some(path) = self.0.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` needs a path");
            }
            Ok(SecretSource::File(path))
        } else {
            Err("secrets must be `env:NAME` or `file:/path` references, not literal values")
        }
    }

    /// Reads the secret's value.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self.source().map_err(str::to_owned)? {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                _ => Err(format!("environment variable {name} is not set")),
            },
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim().to_owned()))
                .map_err(|e| format!("cannot read secret file {path}: {e}")),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A reference names a variable or a path, not a value; but if someone wrote a
        // literal key here, do not echo it.
        match self.source() {
            Ok(_) => write!(f, "SecretRef({:?})", self.0),
            Err(_) => f.write_str("SecretRef(<literal redacted>)"),
        }
    }
}

// === impl Secret ===

impl Secret {
    /// Wraps a value (for secrets that come from somewhere other than a reference).
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for building an upstream header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
