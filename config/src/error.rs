//! Configuration errors: every problem carries the path of the offending key.
//!
//! A [`ConfigError`] is a list of [`Problem`]s, printed one per line as
//! `groups.support-bot.members[1].weight: must be >= 0` (SPEC §1). Blame is always the
//! operator's file (or API edit); nothing here is retryable.

use std::fmt;

/// One thing wrong with a configuration, at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the key, e.g. `groups.demo.members[0].weight`; empty for the root.
    pub path: String,
    /// What is wrong, in words an operator can act on.
    pub message: String,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// Every problem found (at least one).
    pub problems: Vec<Problem>,
}

// === impl Problem ===

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
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

// === impl ConfigError ===

impl ConfigError {
    /// One problem.
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { problems: vec![Problem::new(path, message)] }
    }
}

impl From<Vec<Problem>> for ConfigError {
    fn from(problems: Vec<Problem>) -> Self {
        Self { problems }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}
