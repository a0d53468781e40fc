//! Reading a model's answer as a catalog entry.
//!
//! Models wrap JSON in prose and Markdown fences, so [`parse_answer`] takes the first
//! fenced block if there is one (```` ```json ```` or plain ```` ``` ````), then the first JSON
//! object in it (text around it is ignored), then reads it as an entry with the same
//! [`entry_from_value`] as every other entry: a shape error with its path, else every
//! validation problem. `provenance`, `created_at` and `updated_at` in the answer are dropped
//! first: provenance is never the model's self-report (see `confidence.rs`) and the
//! timestamps are the store's.

use serde_json::{Deserializer, Value};

use crate::entry::CatalogEntry;
use crate::problem::Problem;
use crate::validate::entry_from_value;

/// Keys of an answer that are Switchyard's to set, dropped before reading.
const NOT_THE_MODELS: [&str; 3] = ["provenance", "created_at", "updated_at"];

/// The entry in a model's answer, or every problem with it.
pub fn parse_answer(text: &str) -> Result<CatalogEntry, Vec<Problem>> {
    let mut value = extract_object(text).map_err(|p| vec![p])?;
    if let Some(obj) = value.as_object_mut() {
        for key in NOT_THE_MODELS {
            obj.remove(key);
        }
    }
    entry_from_value(value)
}

/// The first JSON object in `text` (inside the first fenced block, if any).
fn extract_object(text: &str) -> Result<Value, Problem> {
    let body = fenced(text).unwrap_or(text);
    let Some(start) = body.find('{') else {
        return Err(Problem::new("", "the answer holds no JSON object"));
    };
    let mut values = Deserializer::from_str(&body[start..]).into_iter::<Value>();
    match values.next() {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(Problem::new("", format!("the answer is not valid JSON: {e}"))),
        None => Err(Problem::new("", "the answer holds no JSON object")),
    }
}

/// The inside of the first ```` ``` ```` block, without its language tag line.
fn fenced(text: &str) -> Option<&str> {
    let open = text.find("```")?;
    let after = &text[open + 3..];
    let body_start = after.find('\n').map_or(after.len(), |i| i + 1);
    let body = &after[body_start..];
    let close = body.find("```").unwrap_or(body.len());
    Some(&body[..close])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::Kind;

    const GOOD: &str = r#"{"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o", "kind": "chat",
        "limits": {"context_tokens": 128000, "max_output_tokens": 16384},
        "pricing": {"input_per_mtok": "2.50", "output_per_mtok": "10", "currency": "USD"}}"#;

    #[test]
    fn a_correct_answer_reads_as_an_entry() {
        let e = parse_answer(GOOD).unwrap();
        assert_eq!(e.id, "openai/gpt-4o");
        assert_eq!(e.kind, Some(Kind::Chat));
        assert_eq!(e.limits.context_tokens, Some(128_000));
    }

    #[test]
    fn fenced_and_chatty_answers_read_too() {
        let fenced = format!("Here is the entry:\n```json\n{GOOD}\n```\nLet me know!");
        assert_eq!(parse_answer(&fenced).unwrap().id, "openai/gpt-4o");
        let plain_fence = format!("```\n{GOOD}```");
        assert_eq!(parse_answer(&plain_fence).unwrap().id, "openai/gpt-4o");
        let prose = format!("Sure. {GOOD} Hope that helps.");
        assert_eq!(parse_answer(&prose).unwrap().id, "openai/gpt-4o");
    }

    #[test]
    fn invalid_json_is_a_problem() {
        let p = parse_answer("```json\n{\"id\": \"openai/gpt-4o\", \"provider\": }\n```").unwrap_err();
        assert_eq!(p.len(), 1);
        assert!(p[0].message.starts_with("the answer is not valid JSON"), "{}", p[0]);
        let none = parse_answer("I cannot help with that.").unwrap_err();
        assert_eq!(none[0].message, "the answer holds no JSON object");
    }

    #[test]
    fn a_schema_violation_is_a_problem_with_its_path() {
        let p = parse_answer(
            r#"{"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o", "context_window": 128000}"#,
        )
        .unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].path, "context_window");
        assert!(p[0].message.contains("unknown field"), "{}", p[0]);
        let price = parse_answer(
            r#"{"id": "a/b", "provider": "a", "name": "b", "pricing": {"input_per_mtok": 2.5, "currency": "USD"}}"#,
        )
        .unwrap_err();
        assert_eq!(price[0].path, "pricing.input_per_mtok");
    }

    #[test]
    fn out_of_range_values_are_problems() {
        let p = parse_answer(
            r#"{"id": "a/b", "provider": "a", "name": "b",
                "limits": {"context_tokens": 0, "max_input_tokens": 9000, "max_output_tokens": 8000},
                "pricing": {"input_per_mtok": "1", "currency": "dollars"}}"#,
        )
        .unwrap_err();
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["limits.context_tokens", "pricing.currency"]);
        let negative =
            parse_answer(r#"{"id": "a/b", "provider": "a", "name": "b", "limits": {"max_output_tokens": -1}}"#)
                .unwrap_err();
        assert_eq!(negative[0].path, "limits.max_output_tokens");
    }

    #[test]
    fn the_models_own_provenance_and_timestamps_are_dropped() {
        let e = parse_answer(
            r#"{"id": "a/b", "provider": "a", "name": "b", "created_at": "2020-01-01T00:00:00Z",
                "provenance": {"kind": {"source": "provider", "confidence": 1.0}}}"#,
        )
        .unwrap();
        assert!(e.provenance.is_empty());
        assert_eq!(e.created_at, None);
    }
}
