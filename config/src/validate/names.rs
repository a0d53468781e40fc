//! Names and references: what an identifier, an upstream model name or a secret
//! reference may look like.
//!
//! Names end up in log lines, record columns, metric labels and table names, so they are
//! restricted to a safe alphabet ([`check_name`]): nothing that could forge a log line
//! (CR, LF, NUL, other control characters) or reorder what a reader sees (bidi overrides
//! and isolates). Upstream model names are the provider's to choose, so they may hold any
//! printable text, but not those characters either ([`check_text`]). Messages never echo
//! a rejected value raw ([`crate::error::Problem::new`] escapes it).

use crate::error::{is_unsafe_char, Problem};
use crate::secret::{SecretRef, SecretSource};

/// Longest group, member, provider, client or tenant name.
pub(super) const MAX_NAME_LEN: usize = 128;

/// Longest upstream model name or admin token name.
const MAX_TEXT_LEN: usize = 256;

/// A name: 1–128 characters of ASCII letters, digits and `- _ . : / @`.
pub(super) fn check_name(problems: &mut Vec<Problem>, path: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b));
    if !ok {
        problems.push(Problem::new(
            path,
            format!("`{name}` must be 1-{MAX_NAME_LEN} characters of letters, digits and - _ . : / @"),
        ));
    }
}

/// Free text that is still one readable line: 1–256 characters, no control characters,
/// no bidi or zero-width characters.
pub(super) fn check_text(problems: &mut Vec<Problem>, path: &str, text: &str) {
    if text.is_empty() {
        problems.push(Problem::new(path, "must not be empty"));
    } else if text.len() > MAX_TEXT_LEN {
        problems.push(Problem::new(path, format!("must be at most {MAX_TEXT_LEN} bytes")));
    } else if text.chars().any(is_unsafe_char) {
        problems.push(Problem::new(
            path,
            format!("`{text}` must not contain control characters (CR, LF, NUL, …) or bidi/zero-width characters"),
        ));
    }
}

/// `admin.secret_allow_list`: each entry an `env:NAME` or an absolute `file:/path`
/// reference (a literal is not echoed).
pub(super) fn check_allow_list(problems: &mut Vec<Problem>, list: &[String]) {
    for (i, entry) in list.iter().enumerate() {
        let path = format!("admin.secret_allow_list[{i}]");
        let reference = SecretRef(entry.clone());
        let problem = match reference.source() {
            Ok(SecretSource::Env(name)) if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => None,
            Ok(SecretSource::Env(_)) => Some("an environment variable name is letters, digits and _".to_owned()),
            Ok(SecretSource::File(p)) if p.starts_with('/') => None,
            Ok(SecretSource::File(_)) => Some("a file reference must be an absolute path (`file:/…`)".to_owned()),
            Ok(SecretSource::Encrypted(_)) => {
                Some("a sealed `enc:` key is not a reference; list `env:NAME` or `file:/path` references".to_owned())
            }
            Err(msg) => Some(format!("{msg}; list `env:NAME` or `file:/path` references")),
        };
        if let Some(message) = problem {
            problems.push(Problem::new(path, message));
        }
    }
}
