//! Rules for the text in an entry: identifiers, names, free text.
//!
//! Each check returns the first reason the text is refused, or `None`. Identifiers
//! (provider, model name, tensor, metric and label names) may not hold control
//! characters, bidirectional controls (which make `a/b` display as something else), or
//! invisible characters (zero-width spaces, BOM); free text (display names, label values)
//! may not hold control or bidirectional characters but may hold spaces.

/// Longest provider name (as the config validator's names).
pub const MAX_PROVIDER_LEN: usize = 128;
/// Longest model name, in characters.
pub const MAX_NAME_LEN: usize = 256;
/// Longest free text (display name, training field, label value), in characters.
pub const MAX_TEXT_LEN: usize = 1024;
/// Longest map key (metric or label name), in characters.
pub const MAX_KEY_LEN: usize = 128;

/// Is `c` a bidirectional control (Unicode's explicit embeddings, overrides, isolates, marks)?
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Is `c` an invisible formatting character (zero-width space/joiners, word joiner, BOM)?
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn forbidden_in_text(text: &str) -> Option<String> {
    let c = text.chars().find(|&c| c.is_control() || is_bidi_control(c))?;
    Some(format!("must not contain control or bidirectional characters (found U+{:04X})", c as u32))
}

fn forbidden_in_identifier(text: &str) -> Option<String> {
    let c = text.chars().find(|&c| c.is_control() || is_bidi_control(c) || is_invisible(c) || c.is_whitespace())?;
    Some(format!(
        "must not contain whitespace, control, bidirectional or invisible characters (found U+{:04X})",
        c as u32
    ))
}

fn length(text: &str, max: usize) -> Option<String> {
    let n = text.chars().count();
    if n == 0 {
        Some("must not be empty".to_owned())
    } else if n > max {
        Some(format!("must be at most {max} characters (has {n})"))
    } else {
        None
    }
}

/// A provider name: 1–128 letters, digits and `- _ . : @` (a config `providers:` key without `/`).
pub fn check_provider(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PROVIDER_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
    (!ok).then(|| format!("{name:?} must be 1-{MAX_PROVIDER_LEN} characters of letters, digits and - _ . : @"))
}

/// A model name: 1–256 characters, `/`-separated segments that are neither empty nor `.`
/// or `..`, no `? # % \` (it is the rest of a URL path), no whitespace, control,
/// bidirectional or invisible characters.
pub fn check_model_name(name: &str) -> Option<String> {
    if let Some(why) = length(name, MAX_NAME_LEN).or_else(|| forbidden_in_identifier(name)) {
        return Some(why);
    }
    if let Some(c) = name.chars().find(|c| matches!(c, '?' | '#' | '%' | '\\')) {
        return Some(format!("must not contain `{c}`"));
    }
    if name.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..") {
        return Some("`/`-separated parts must not be empty, `.` or `..`".to_owned());
    }
    None
}

/// An identifier such as a tensor, metric or label name: 1–`max` characters, no
/// whitespace, control, bidirectional or invisible characters.
pub fn check_identifier(name: &str, max: usize) -> Option<String> {
    length(name, max).or_else(|| forbidden_in_identifier(name))
}

/// Free text (display name, label value): 1–1024 characters, no control or bidirectional
/// characters.
pub fn check_text(text: &str) -> Option<String> {
    length(text, MAX_TEXT_LEN).or_else(|| forbidden_in_text(text))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_what_hides_or_breaks_a_path() {
        assert_eq!(check_model_name("meta-llama/Llama-3.1-8B-Instruct"), None);
        assert_eq!(check_model_name("bedrock/*/1-month-commitment/cohere.command-text-v14"), None);
        assert_eq!(check_model_name("gpt-oss:120b-cloud"), None);
        for bad in ["", "a//b", "/a", "a/", "a/../b", "a b", "a\u{202E}b", "a\u{200B}b", "a\nb", "a?b", "a%2Fb"] {
            assert!(check_model_name(bad).is_some(), "{bad:?} accepted");
        }
        assert!(check_model_name(&"x".repeat(257)).is_some());
        assert_eq!(check_provider("openai"), None);
        assert!(check_provider("open/ai").is_some());
        assert!(check_provider("").is_some());
        assert_eq!(check_text("GPT-4o (May 2024)"), None);
        assert!(check_text("evil\u{2067}txt").is_some());
        assert!(check_identifier("has space", 10).is_some());
    }
}
