//! LLM-assisted transformation (SPEC §8 `POST /api/v1/models/transform`): the pure part.
//!
//! The control API sends the source through one of the gateway's own groups (the data-plane
//! call, tenant `system`, is the caller's) and drives a [`Transform`]:
//!
//! ```text
//! let mut t = Transform::new(via_group, &source, &hints)?;      // a bad source: 400
//! let mut body = t.request();
//! let outcome = loop {
//!     let answer = dispatch(body).await;                        // /v1/chat/completions
//!     match t.on_answer(answer.status, &answer.body) {
//!         Step::Ask(next) => body = next,                       // one retry, problems fed back
//!         Step::Done(outcome) => break *outcome,
//!     }
//! };
//! let reply = reply(outcome, current.as_ref(), &evidence);     // stored only on PUT/import
//! ```
//!
//! Invariants: an answer that does not parse or validate is retried exactly once with its
//! problems fed back ([`retry_prompt`]), then returned as problems — never as a stored or
//! proposed value. A failed dispatch (non-2xx) is not retried here. Confidence is agreement
//! with provider/file data (`confidence.rs`), never the model's self-report.

mod confidence;
mod parse;
mod prompt;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub use confidence::{assess, Assessment, AGREES, DISAGREES, LLM_ALONE};
pub use parse::parse_answer;
pub use prompt::{
    answer_text, build_prompt, chat_request, retry_prompt, ChatMessage, MAX_QUOTED_ANSWER, MAX_SOURCE_BYTES,
};

use crate::entry::CatalogEntry;
use crate::fields::{diff, FieldChange};
use crate::problem::Problem;

/// One transformation in progress.
#[derive(Debug, Clone)]
pub struct Transform {
    group: String,
    messages: Vec<ChatMessage>,
    retried: bool,
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this `/v1/chat/completions` body through the group (the retry).
    Ask(Value),
    /// Finished: the proposal, or every problem with the last answer (boxed: an entry is large).
    Done(Box<Result<CatalogEntry, Vec<Problem>>>),
}

/// The API's reply: `{proposal, problems, confidence, diff}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransformReply {
    /// The proposed entry (provenance `llm` per field), or null when the answer never validated.
    pub proposal: Option<CatalogEntry>,
    /// Why there is no proposal, or where it contradicts provider/file data.
    pub problems: Vec<Problem>,
    /// Field path → confidence.
    pub confidence: BTreeMap<String, f64>,
    /// The proposal against the current entry (every stated field when there is none).
    pub diff: Vec<FieldChange>,
}

// === impl Transform ===

impl Transform {
    /// Starts a transformation of `source` through `group` with the operator's `hints`.
    pub fn new(group: &str, source: &Value, hints: &Value) -> Result<Self, Problem> {
        Ok(Self { group: group.to_owned(), messages: build_prompt(source, hints)?, retried: false })
    }

    /// The `/v1/chat/completions` body to send now.
    pub fn request(&self) -> Value {
        chat_request(&self.group, &self.messages)
    }

    /// Takes the group's reply (`status`, `body`): done, or one retry.
    pub fn on_answer(&mut self, status: u16, body: &[u8]) -> Step {
        let text = match answer_text(status, body) {
            Ok(t) => t,
            Err(p) => return Step::Done(Box::new(Err(vec![p]))),
        };
        match parse_answer(&text) {
            Ok(entry) => Step::Done(Box::new(Ok(entry))),
            Err(problems) if !self.retried => {
                self.retried = true;
                self.messages = retry_prompt(&self.messages, &text, &problems);
                Step::Ask(self.request())
            }
            Err(mut problems) => {
                problems.insert(0, Problem::new("", "the answer was still not a valid entry after one retry"));
                Step::Done(Box::new(Err(problems)))
            }
        }
    }

    /// Whether the one retry has been used.
    pub fn retried(&self) -> bool {
        self.retried
    }
}

/// The reply for `outcome`: confidence against `evidence` (provider/file data for the same
/// entry; see `confidence.rs`) and the diff against `current` (the catalog's entry with the
/// proposal's id, if any).
pub fn reply(
    outcome: Result<CatalogEntry, Vec<Problem>>,
    current: Option<&CatalogEntry>,
    evidence: &[&CatalogEntry],
) -> TransformReply {
    match outcome {
        Ok(mut proposal) => {
            let assessment = assess(&mut proposal, evidence);
            let diff = diff(current, &proposal);
            TransformReply {
                proposal: Some(proposal),
                problems: assessment.problems,
                confidence: assessment.confidence,
                diff,
            }
        }
        Err(problems) => TransformReply { proposal: None, problems, confidence: BTreeMap::new(), diff: Vec::new() },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::Source;
    use serde_json::json;

    fn completion(content: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}))
            .unwrap()
    }

    const GOOD: &str = r#"```json
{"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o", "kind": "chat",
 "limits": {"context_tokens": 128000, "max_output_tokens": 16384}}
```"#;
    const BAD: &str =
        r#"{"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o", "limits": {"context_tokens": 0}}"#;

    #[test]
    fn a_correct_answer_is_done_at_once() {
        let mut t = Transform::new("catalog-llm", &json!({"model": "gpt-4o"}), &Value::Null).unwrap();
        assert_eq!(t.request()["model"], "catalog-llm");
        let Step::Done(outcome) = t.on_answer(200, &completion(GOOD)) else { panic!("not done") };
        let entry = outcome.unwrap();
        assert_eq!(entry.limits.context_tokens, Some(128_000));
        assert!(!t.retried());
    }

    #[test]
    fn a_violation_is_retried_once_with_its_problems_then_returned() {
        let mut t = Transform::new("catalog-llm", &json!({}), &Value::Null).unwrap();
        let Step::Ask(retry) = t.on_answer(200, &completion(BAD)) else { panic!("no retry") };
        let messages = retry["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 4);
        assert_eq!(messages[2]["content"], BAD);
        assert!(messages[3]["content"].as_str().unwrap().contains("limits.context_tokens: must be > 0"));
        let Step::Done(outcome) = t.on_answer(200, &completion("still no JSON")) else { panic!("not done") };
        let problems = outcome.unwrap_err();
        assert_eq!(problems[0].message, "the answer was still not a valid entry after one retry");
        assert_eq!(problems[1].message, "the answer holds no JSON object");

        // Fixed on retry.
        let mut t = Transform::new("catalog-llm", &json!({}), &Value::Null).unwrap();
        assert!(matches!(t.on_answer(200, &completion("{not json")), Step::Ask(_)));
        assert!(matches!(t.on_answer(200, &completion(GOOD)), Step::Done(o) if o.is_ok()));
    }

    #[test]
    fn a_failed_dispatch_is_not_retried() {
        let mut t = Transform::new("catalog-llm", &json!({}), &Value::Null).unwrap();
        let Step::Done(outcome) = t.on_answer(503, b"{}") else { panic!("retried") };
        let p = outcome.unwrap_err();
        assert_eq!(p[0].message, "the group answered HTTP 503");
    }

    #[test]
    fn the_reply_has_proposal_confidence_and_diff() {
        let proposal = parse_answer(GOOD).unwrap();
        let mut current = crate::CatalogEntry::new("openai", "gpt-4o");
        current.limits.context_tokens = Some(128_000);
        current.mark("limits.context_tokens", Source::Provider, 1.0);
        let r = reply(Ok(proposal), Some(&current), &[&current]);
        assert_eq!(r.confidence["limits.context_tokens"], AGREES);
        assert_eq!(r.confidence["kind"], LLM_ALONE);
        let changed: Vec<&str> = r.diff.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(changed, ["kind", "limits.max_output_tokens"]);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["proposal"]["provenance"]["kind"]["source"], "llm");
        assert_eq!(json["diff"][0], json!({"path": "kind", "before": null, "after": "chat"}));

        let failed = reply(Err(vec![Problem::new("", "x")]), Some(&current), &[]);
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"proposal": null, "problems": [{"path": "", "message": "x"}], "confidence": {}, "diff": []})
        );
    }
}
