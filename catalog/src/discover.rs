//! Discovery: what a provider says it offers → catalog entries, and how they compare with
//! the catalog (SPEC §8 `POST /api/v1/providers/{p}/discover`).
//!
//! One pure mapper per provider API, from the response body to a [`Discovery`]:
//! [`openai_models`] (OpenAI-compatible `GET /v1/models`, vLLM's extras included),
//! [`anthropic_models`] (`GET /v1/models`), [`gemini_models`] (`GET /v1beta/models`),
//! [`tgi_info`] (TGI / TEI `GET /info`) and [`oip_model`] (OIP `GET /v2/models/{m}`).
//! The caller does the HTTP (and follows [`Discovery::next_page`]).
//!
//! Invariants:
//! - A field the provider does not state stays unknown (null) — never guessed. A field taken
//!   verbatim has provenance `provider` with confidence 1.0 ([`VERBATIM`]); the one field
//!   implied by the API rather than stated per model (Anthropic's `kind: chat`: its list
//!   holds Messages-API models only) has [`IMPLIED`].
//! - One bad item never spoils the others: it is left out and reported with its path in
//!   the provider's answer (`data[3].id: …`). Only a body that is not the expected JSON
//!   document at all is an error.
//! - Every entry returned passes [`CatalogEntry::validate`].

mod anthropic;
mod gemini;
mod oip;
mod openai;
mod tgi;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use anthropic::anthropic_models;
pub use gemini::gemini_models;
pub use oip::oip_model;
pub use openai::openai_models;
pub use tgi::tgi_info;

use crate::entry::{CatalogEntry, Source};
use crate::fields::{field_values, FieldChange};
use crate::problem::{join, Problem};

/// Confidence of a value copied verbatim from the provider's answer.
pub const VERBATIM: f64 = 1.0;
/// Confidence of a value implied by which API answered rather than stated per model.
pub const IMPLIED: f64 = 0.9;

/// What one provider answer yields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discovery {
    /// The models, each a valid entry.
    pub entries: Vec<CatalogEntry>,
    /// Items left out or fields left unknown, with paths into the provider's answer.
    pub problems: Vec<Problem>,
    /// Where the list continues, when the provider pages it.
    pub next_page: Option<NextPage>,
}

/// The query parameter that fetches the next page (`after_id=…`, `pageToken=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextPage {
    /// Query parameter name.
    pub param: &'static str,
    /// Its value.
    pub value: String,
}

/// How a discovered model stands against the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No entry with this id.
    New,
    /// An entry exists and agrees with everything the provider states.
    InCatalog,
    /// An entry exists and differs in `changes`.
    Changed,
}

/// One discovered model compared with the catalog.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The entry id.
    pub id: String,
    /// New, in catalog, or changed.
    pub status: Status,
    /// For `changed`: the fields the provider states differently (before = catalog).
    pub changes: Vec<FieldChange>,
}

/// Compares a discovered entry with the catalog's entry of the same id (if any): only the
/// fields the provider states count; a field the catalog does not know yet is a change.
pub fn compare(existing: Option<&CatalogEntry>, discovered: &CatalogEntry) -> Comparison {
    let id = discovered.id.clone();
    let Some(existing) = existing else {
        return Comparison { id, status: Status::New, changes: Vec::new() };
    };
    let old = field_values(existing);
    let changes: Vec<FieldChange> = field_values(discovered)
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .filter_map(|(path, after)| {
            let before = old.get(&path).cloned().unwrap_or(Value::Null);
            (before != after).then_some(FieldChange { path, before, after })
        })
        .collect();
    let status = if changes.is_empty() { Status::InCatalog } else { Status::Changed };
    Comparison { id, status, changes }
}

// === helpers for the mappers ===

/// Parses a whole provider answer, or says why it is not the expected document.
fn parse_body<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Problem::new(path, format!("not {what}: {}", e.into_inner()))
    })
}

/// Reads one item of a list, reporting where it does not fit.
fn parse_item<T: DeserializeOwned>(item: Value, at: &str) -> Result<T, Problem> {
    serde_path_to_error::deserialize(item).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        Problem::new(join(at, &path), e.into_inner().to_string())
    })
}

/// A stated token limit: a positive count, else unknown with a problem.
fn limit(value: Option<u64>, at: &str, problems: &mut Vec<Problem>) -> Option<u64> {
    match value {
        Some(0) => {
            problems.push(Problem::new(at, "a limit of 0 tokens is no limit we can use; left unknown"));
            None
        }
        v => v,
    }
}

/// Keeps `entry` if it is valid, else reports why under `at`.
fn keep(discovery: &mut Discovery, at: &str, entry: CatalogEntry) {
    match entry.validate() {
        Ok(()) => discovery.entries.push(entry),
        Err(problems) => discovery
            .problems
            .extend(problems.into_iter().map(|p| Problem::new(at, format!("model {:?} left out: {p}", entry.id)))),
    }
}

/// Marks `path` as stated verbatim by the provider.
fn verbatim(entry: &mut CatalogEntry, path: &str) {
    entry.mark(path, Source::Provider, VERBATIM);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::Kind;

    #[test]
    fn compare_counts_only_what_the_provider_states() {
        let mut catalog = CatalogEntry::new("openai", "gpt-4o");
        catalog.kind = Some(Kind::Chat);
        catalog.limits.context_tokens = Some(128_000);
        let mut found = CatalogEntry::new("openai", "gpt-4o");
        assert_eq!(compare(None, &found).status, Status::New);
        // The provider states nothing: nothing differs, though the catalog knows more.
        assert_eq!(compare(Some(&catalog), &found).status, Status::InCatalog);
        found.limits.context_tokens = Some(128_000);
        assert_eq!(compare(Some(&catalog), &found).status, Status::InCatalog);
        found.limits.context_tokens = Some(200_000);
        found.display_name = Some("GPT-4o".into());
        let c = compare(Some(&catalog), &found);
        assert_eq!(c.status, Status::Changed);
        let paths: Vec<&str> = c.changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["display_name", "limits.context_tokens"]);
        assert_eq!(c.changes[0].before, Value::Null);
        assert_eq!(serde_json::to_value(&c).unwrap()["status"], "changed");
    }
}
