//! `If-Match` (RFC 9110 §13.1.1) as the control API reads it.
//!
//! The field is `*` or a comma-separated list of entity tags (`"42"`, `W/"42"`); our
//! ETags are config versions (`"42"`). Two lenient extensions are kept: a bare number
//! (`42`) is read like `"42"`, and a weak tag is compared by its value (a proxy that
//! weakens ETags must not make every write fail). Everything else that is not that
//! grammar — an unquoted word, an unterminated quote, two tags without a comma, a
//! character an entity tag cannot hold (space, control characters, `"` inside), `*` mixed
//! with tags, an empty field — is malformed (400). A well-formed field that names no
//! current version (`"stale-0"`, an old version, any opaque tag) fails the precondition
//! (412, with the current version); `*` matches whatever version is current.

use axum::http::{header, HeaderMap};
use switchyard_config::ANY_VERSION;

use crate::error::ApiError;

/// A parsed `If-Match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// `*`: whatever is current.
    Any,
    /// The listed tags; `None` for a tag that is not a version number.
    Tags(Vec<Option<u64>>),
}

// === impl Condition ===

impl Condition {
    /// Reads every `If-Match` field line; 428 without one, 400 when malformed.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut lines = headers.get_all(header::IF_MATCH).iter().peekable();
        if lines.peek().is_none() {
            return Err(ApiError::PreconditionRequired);
        }
        let mut any = false;
        let mut tags = Vec::new();
        for line in lines {
            match parse(line.as_bytes()) {
                Some(Condition::Any) => any = true,
                Some(Condition::Tags(t)) => tags.extend(t),
                None => return Err(malformed()),
            }
        }
        match (any, tags.is_empty()) {
            (true, true) => Ok(Self::Any),
            (false, false) => Ok(Self::Tags(tags)),
            _ => Err(malformed()),
        }
    }

    /// The version an edit is based on, given the `current` one: the named version when
    /// it is current, [`ANY_VERSION`] for `*`, else 412.
    pub fn expected(&self, current: u64) -> Result<u64, ApiError> {
        match self {
            Self::Any => Ok(ANY_VERSION),
            Self::Tags(tags) if tags.contains(&Some(current)) => Ok(current),
            Self::Tags(_) => Err(ApiError::Stale { current }),
        }
    }
}

fn malformed() -> ApiError {
    ApiError::BadRequest(
        "If-Match must be `*` or entity tags such as \"42\" (the ETag of what you read), separated by commas".into(),
    )
}

/// One field line: `*`, or `1#( [W/] DQUOTE *etagc DQUOTE / 1*DIGIT )`; `None` when
/// malformed.
fn parse(field: &[u8]) -> Option<Condition> {
    let trimmed = field.trim_ascii();
    if trimmed == b"*" {
        return Some(Condition::Any);
    }
    let mut tags = Vec::new();
    let mut rest = trimmed;
    loop {
        rest = rest.trim_ascii_start();
        let Some(&first) = rest.first() else { break };
        if first == b',' {
            // Empty list elements are allowed (RFC 9110 §5.6.1.2).
            rest = &rest[1..];
            continue;
        }
        let (tag, after) = element(rest)?;
        tags.push(tag);
        rest = after.trim_ascii_start();
        match rest.first() {
            None => break,
            Some(b',') => rest = &rest[1..],
            Some(_) => return None,
        }
    }
    (!tags.is_empty()).then_some(Condition::Tags(tags))
}

/// One list element at the start of `s`: its version (if it is one) and what follows.
fn element(s: &[u8]) -> Option<(Option<u64>, &[u8])> {
    let s = s.strip_prefix(b"W/").unwrap_or(s);
    if let Some(quoted) = s.strip_prefix(b"\"") {
        let end = quoted.iter().position(|&b| b == b'"')?;
        let value = &quoted[..end];
        // etagc = %x21 / %x23-7E / obs-text
        if !value.iter().all(|&b| b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80) {
            return None;
        }
        return Some((version(value), &quoted[end + 1..]));
    }
    let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || s.len() > digits && !matches!(s[digits], b',' | b' ' | b'\t') {
        return None;
    }
    Some((version(&s[..digits]), &s[digits..]))
}

/// A version number, when `value` is one (leading zeros and overflow are not).
fn version(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    if text.is_empty() || (text.len() > 1 && text.starts_with('0')) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_and_its_lenient_extensions() {
        let tags = |s: &str| match parse(s.as_bytes()) {
            Some(Condition::Tags(t)) => Some(t),
            Some(Condition::Any) => Some(vec![]),
            None => None,
        };
        assert_eq!(parse(b" * "), Some(Condition::Any));
        assert_eq!(tags("\"42\""), Some(vec![Some(42)]));
        assert_eq!(tags("W/\"42\""), Some(vec![Some(42)]));
        assert_eq!(tags("42"), Some(vec![Some(42)]));
        assert_eq!(tags("\"stale-0\", \"7\""), Some(vec![None, Some(7)]));
        assert_eq!(tags("\"a,b\""), Some(vec![None]), "a comma inside a tag is a tag character");
        assert_eq!(tags(", \"1\" ,,"), Some(vec![Some(1)]));
        assert_eq!(tags("\"007\""), Some(vec![None]), "not how we write versions");
        assert_eq!(tags("\"99999999999999999999\""), Some(vec![None]));
        for bad in ["", "stale-0", "\"open", "W/", "W/42x", "\"a\" \"b\"", "\"a b\"", "42x", ",", "* , \"1\""] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn a_tag_that_names_no_current_version_is_412() {
        let c = Condition::Tags(vec![None, Some(3)]);
        assert_eq!(c.expected(3).ok(), Some(3));
        assert!(matches!(c.expected(4), Err(ApiError::Stale { current: 4 })));
        assert_eq!(Condition::Any.expected(9).ok(), Some(ANY_VERSION));
    }
}
