//! Per-field confidence of a proposal — not the model's self-report.
//!
//! For each field the proposal states (field paths, `fields.rs`), the evidence is what
//! provider or file data say for the same entry: the fields of `evidence` entries with the
//! proposal's id whose provenance source is `provider` or `file` (an entry from discovery,
//! from a LiteLLM import, or the current catalog entry's provider- and file-sourced fields).
//! - agrees with all such data → [`AGREES`];
//! - disagrees with any → [`DISAGREES`], and a problem naming both values;
//! - no such data (the LLM alone) → [`LLM_ALONE`].
//!
//! The proposal's provenance is replaced by `{source: llm, confidence}` per stated field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::entry::{CatalogEntry, Source};
use crate::fields::field_values;
use crate::problem::Problem;

/// A field that provider or file data confirm. Below 1.0: the value is still the model's
/// proposal; an operator's acceptance makes it theirs.
pub const AGREES: f64 = 0.9;
/// A field that provider or file data contradict.
pub const DISAGREES: f64 = 0.1;
/// A field only the model states.
pub const LLM_ALONE: f64 = 0.5;

/// Confidence per field and the disagreements found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// Field path → confidence, for every field the proposal states.
    pub confidence: BTreeMap<String, f64>,
    /// One problem per field that provider or file data contradict.
    pub problems: Vec<Problem>,
}

/// Scores `proposal`'s fields against `evidence` and sets its provenance (module doc).
pub fn assess(proposal: &mut CatalogEntry, evidence: &[&CatalogEntry]) -> Assessment {
    let data: Vec<(&CatalogEntry, BTreeMap<String, Value>)> =
        evidence.iter().filter(|e| e.id == proposal.id).map(|e| (*e, field_values(e))).collect();
    let mut out = Assessment::default();
    proposal.provenance.clear();
    for (path, value) in field_values(proposal) {
        if value.is_null() {
            continue;
        }
        let mut agreed = false;
        let mut contradicted = false;
        for (entry, values) in &data {
            let Some(source) = entry.provenance.get(&path).map(|p| p.source) else { continue };
            if !matches!(source, Source::Provider | Source::File) {
                continue;
            }
            let theirs = values.get(&path).unwrap_or(&Value::Null);
            if theirs.is_null() {
                continue;
            }
            if *theirs == value {
                agreed = true;
            } else {
                contradicted = true;
                let who = if source == Source::Provider { "the provider" } else { "the imported file" };
                out.problems.push(Problem::new(&path, format!("the model proposes {value} but {who} says {theirs}")));
            }
        }
        let confidence = match (contradicted, agreed) {
            (true, _) => DISAGREES,
            (false, true) => AGREES,
            (false, false) => LLM_ALONE,
        };
        proposal.mark(&path, Source::Llm, confidence);
        out.confidence.insert(path, confidence);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::Kind;

    #[test]
    fn confidence_comes_from_agreement_not_from_the_model() {
        let mut discovered = CatalogEntry::new("openai", "gpt-4o");
        discovered.limits.context_tokens = Some(128_000);
        discovered.mark("limits.context_tokens", Source::Provider, 1.0);
        discovered.limits.max_output_tokens = Some(16_384);
        discovered.mark("limits.max_output_tokens", Source::File, 1.0);
        discovered.display_name = Some("GPT 4o".into());
        discovered.mark("display_name", Source::Operator, 1.0); // not provider/file data
        let unrelated = {
            let mut e = CatalogEntry::new("openai", "gpt-4o-mini");
            e.kind = Some(Kind::Embedding);
            e.mark("kind", Source::Provider, 1.0);
            e
        };

        let mut proposal = CatalogEntry::new("openai", "gpt-4o");
        proposal.kind = Some(Kind::Chat);
        proposal.limits.context_tokens = Some(128_000);
        proposal.limits.max_output_tokens = Some(4096);
        proposal.display_name = Some("GPT-4o".into());
        proposal.mark("kind", Source::Provider, 1.0); // the model's self-report: replaced

        let a = assess(&mut proposal, &[&discovered, &unrelated]);
        assert_eq!(a.confidence["limits.context_tokens"], AGREES);
        assert_eq!(a.confidence["limits.max_output_tokens"], DISAGREES);
        assert_eq!(a.confidence["kind"], LLM_ALONE);
        assert_eq!(a.confidence["display_name"], LLM_ALONE);
        assert_eq!(a.confidence.len(), 4);
        assert_eq!(a.problems.len(), 1);
        assert_eq!(
            a.problems[0].to_string(),
            "limits.max_output_tokens: the model proposes 4096 but the imported file says 16384"
        );
        assert_eq!(proposal.provenance.len(), 4);
        assert!(proposal.provenance.values().all(|p| p.source == Source::Llm));
        assert_eq!(proposal.provenance["limits.context_tokens"].confidence, AGREES);
        assert!(proposal.validate().is_ok());
    }
}
