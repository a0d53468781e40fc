//! Configuration errors: every problem carries the path of the offending key.
//!
//! A [`ConfigError`] is a list of [`Problem`]s, printed one per line as
//! `groups.support-bot.members[1].weight: must be >= 0` (SPEC §1). Blame is always the
//! operator's file (or API edit); nothing here is retryable.
//!
//! Paths and messages are built from names an operator (or an API caller) chose, and are
//! printed into logs: [`Problem::new`] escapes control characters and bidirectional
//! overrides (`\n`, `\u{202e}`) so a problem is always one line that reads as it is.

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
    /// A problem at `path` (control and bidi characters escaped in both).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: escaped(path.into()), message: escaped(message.into()) }
    }
}

/// Whether `c` may not appear as itself in one line of a log or a terminal: a control
/// character (C0, DEL, C1) or one that reorders or hides text (bidi marks, embeddings,
/// overrides and isolates; zero-width and BOM characters).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}')
}

/// `s` with every [`is_unsafe_char`] written as its Rust escape (`\n`, `\u{202e}`).
pub fn escaped(s: String) -> String {
    if !s.chars().any(is_unsafe_char) {
        return s;
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe_char(c) {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_one_line_that_reads_as_it_is() {
        let p = Problem::new("clients.a\nb", "name `x\u{202e}y\0` is bad");
        assert_eq!(p.to_string(), "clients.a\\nb: name `x\\u{202e}y\\0` is bad");
        assert_eq!(Problem::new("a.b", "plain üñí text").to_string(), "a.b: plain üñí text");
    }
}
