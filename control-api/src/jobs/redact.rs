//! The redaction step of a dataset (`jobs.redact`): every match of every configured
//! pattern in a message's text is replaced by `[REDACTED]` before the example is written,
//! so nothing it matches leaves the gateway. Patterns were checked by the config
//! validator; one that still does not compile is skipped and logged.

use regex::Regex;
use serde_json::Value;

/// What replaces a match.
pub const MARK: &str = "[REDACTED]";

/// Compiled patterns.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<Regex>,
}

// === impl Redactor ===

impl Redactor {
    /// The redactor of `patterns`.
    pub fn new(patterns: &[String]) -> Self {
        let patterns = patterns
            .iter()
            .filter_map(|p| match Regex::new(p) {
                Ok(r) => Some(r),
                Err(error) => {
                    tracing::error!(%error, "a jobs.redact pattern does not compile; it is skipped");
                    None
                }
            })
            .collect();
        Self { patterns }
    }

    /// Redacts the texts of one chat message in place (`content` as a string or as parts
    /// with `text`); returns how many spans were replaced.
    pub fn message(&self, message: &mut Value) -> u64 {
        if self.patterns.is_empty() {
            return 0;
        }
        match message.get_mut("content") {
            Some(Value::String(s)) => self.text(s),
            Some(Value::Array(parts)) => parts
                .iter_mut()
                .filter_map(|p| match p.get_mut("text") {
                    Some(Value::String(s)) => Some(self.text(s)),
                    _ => None,
                })
                .sum(),
            _ => 0,
        }
    }

    fn text(&self, s: &mut String) -> u64 {
        let mut n = 0u64;
        for re in &self.patterns {
            let found = re.find_iter(s).count() as u64;
            if found > 0 {
                *s = re.replace_all(s, MARK).into_owned();
                n += found;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_match_in_strings_and_parts() {
        let r = Redactor::new(&[r"[\w.]+@[\w.]+".into(), r"\d{4}-\d{4}".into()]);
        let mut m = serde_json::json!({"role": "user", "content": "mail a@b.c or x@y.z, card 1234-5678"});
        assert_eq!(r.message(&mut m), 3);
        assert_eq!(m["content"], "mail [REDACTED] or [REDACTED], card [REDACTED]");
        let mut parts = serde_json::json!({"role": "user", "content": [{"type": "text", "text": "me@x.org"}]});
        assert_eq!(r.message(&mut parts), 1);
        assert_eq!(parts["content"][0]["text"], MARK);
    }
}
