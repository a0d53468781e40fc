//! Importing a catalog file in LiteLLM's `model_prices_and_context_window.json` format
//! (SPEC §8 `POST /api/v1/models/import-file`).
//!
//! The file is one JSON object, model key → row. Every row is mapped by `row.rs` (which
//! documents the field mapping) or reported with its key and the reasons it does not map;
//! nothing is invented. Rows keep the file's order.
//!
//! Two keys can name the same entry: LiteLLM lists some models both bare (`deepseek-chat`)
//! and provider-qualified (`deepseek/deepseek-chat`), and both become
//! `deepseek/deepseek-chat`. The provider-qualified row is kept (else the first in the
//! file); the other is reported as not mapped, naming the row kept — so the result does not
//! depend on which the file lists first. A key the file writes twice (JSON allows it; the
//! real file does it) keeps its first row.
//!
//! The reply is SPEC's `{"mapped", "skipped", "rows": [{"key", "id" or null, "problems"}]}`
//! ([`ImportReport`]); a mapped row may carry problems too (fields left unknown).
//! [`FileImport::entries`] are the mapped entries, all valid, ready for the store (which
//! decides new / changed / unchanged).

mod raw;
mod row;

use std::collections::HashMap;

use serde::Serialize;

pub use row::{IMPLIED, OTHER_MODES, VERBATIM};

use crate::entry::CatalogEntry;
use crate::problem::Problem;
use raw::Object;

/// The per-row result of an import, as the API replies it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportReport {
    /// Rows that became entries.
    pub mapped: usize,
    /// Rows that did not.
    pub skipped: usize,
    /// Every row, in file order.
    pub rows: Vec<RowReport>,
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowReport {
    /// The row's key in the file.
    pub key: String,
    /// The entry id, or null when the row did not map.
    pub id: Option<String>,
    /// Why it did not map, or which of its fields were left unknown; paths are the row's keys.
    pub problems: Vec<Problem>,
}

/// An import's outcome: the report and the entries.
#[derive(Debug, Clone)]
pub struct FileImport {
    /// What the API replies.
    pub report: ImportReport,
    /// The mapped entries (one per row with an `id`), in file order.
    pub entries: Vec<CatalogEntry>,
}

/// Maps a LiteLLM catalog file; `Err` only when the body is not a JSON object.
pub fn import_litellm(body: &[u8]) -> Result<FileImport, Problem> {
    let file: Object = serde_json::from_slice(body)
        .map_err(|e| Problem::new("", format!("not a LiteLLM catalog file (a JSON object of model rows): {e}")))?;
    let mut rows: Vec<(RowReport, Option<CatalogEntry>)> = file
        .0
        .iter()
        .map(|(key, value)| {
            let mapped = serde_json::from_str::<Object>(value.get())
                .map_err(|_| vec![Problem::new("", "a row must be a JSON object")])
                .and_then(|row| row::map_row(key, &row));
            match mapped {
                Ok(m) => {
                    let id = Some(m.entry.id.clone());
                    (RowReport { key: key.clone(), id, problems: m.problems }, Some(m.entry))
                }
                Err(problems) => (RowReport { key: key.clone(), id: None, problems }, None),
            }
        })
        .collect();
    drop_duplicates(&mut rows);
    let mapped = rows.iter().filter(|(_, e)| e.is_some()).count();
    let (reports, entries): (Vec<RowReport>, Vec<Option<CatalogEntry>>) = rows.into_iter().unzip();
    Ok(FileImport {
        report: ImportReport { mapped, skipped: reports.len() - mapped, rows: reports },
        entries: entries.into_iter().flatten().collect(),
    })
}

/// Keeps one row per id (see the module doc) and reports the others.
fn drop_duplicates(rows: &mut [(RowReport, Option<CatalogEntry>)]) {
    let mut keeper: HashMap<String, usize> = HashMap::new();
    for (i, (report, entry)) in rows.iter().enumerate() {
        let Some(entry) = entry else { continue };
        let qualified = report.key == entry.id;
        keeper
            .entry(entry.id.clone())
            .and_modify(|k| {
                let kept_qualified = rows[*k].0.key == entry.id;
                if qualified && !kept_qualified {
                    *k = i;
                }
            })
            .or_insert(i);
    }
    for i in 0..rows.len() {
        let Some(id) = rows[i].1.as_ref().map(|e| e.id.clone()) else { continue };
        let k = keeper.get(&id).copied().unwrap_or(i);
        if k != i {
            let kept_key = rows[k].0.key.clone();
            let (report, entry) = &mut rows[i];
            *entry = None;
            report.id = None;
            let why = if kept_key == report.key {
                format!("the file has the key `{kept_key}` twice; the first row is kept")
            } else {
                format!("maps to `{id}` like row `{kept_key}`, which is kept (a provider-qualified key wins)")
            };
            report.problems = vec![Problem::new("", why)];
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::{Kind, Modality};
    use crate::Price;

    const FILE: &str = r#"{
      "sample_spec": {"litellm_provider": "one of https://docs.litellm.ai/docs/providers", "mode": "one of: chat, embedding",
                      "max_tokens": "LEGACY parameter", "input_cost_per_token": 0.0},
      "gpt-4o": {"litellm_provider": "openai", "mode": "chat", "max_input_tokens": 128000, "max_output_tokens": 16384,
                 "max_tokens": 16384, "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
                 "supports_function_calling": true, "supports_response_schema": true, "supports_native_streaming": false,
                 "supported_modalities": ["text", "image"], "supported_output_modalities": ["text"]},
      "legacy-only": {"litellm_provider": "openai", "mode": "chat", "max_tokens": 4096},
      "deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat"},
      "deepseek/deepseek-chat": {"litellm_provider": "deepseek", "mode": "chat", "max_input_tokens": 131072},
      "dashscope/qwen-flash": {"litellm_provider": "dashscope", "mode": "chat",
                               "tiered_pricing": [{"input_cost_per_token": 5e-08, "range": [0, 256000.0]}]},
      "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat", "input_cost_per_token": 1.25e-06,
                                "input_cost_per_token_above_200k_tokens": 2.5e-06, "max_input_tokens": 1048576},
      "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "input_cost_per_image": 0.04},
      "fireworks-ai-default": {"litellm_provider": "fireworks_ai", "input_cost_per_token": 0.0},
      "odd": {"mode": "chat"},
      "weird-mode": {"litellm_provider": "x", "mode": "teleport"},
      "moderation": {"litellm_provider": "openai", "mode": "moderation", "max_output_tokens": 0, "max_input_tokens": 32768,
                     "supports_function_calling": "yes", "supported_modalities": ["text", "smell"]},
      "not-a-row": [1, 2]
    }"#;

    fn report(import: &FileImport, key: &str) -> RowReport {
        import.report.rows.iter().find(|r| r.key == key).cloned().unwrap()
    }

    #[test]
    fn rows_map_field_by_field_and_the_rest_are_reported() {
        let import = import_litellm(FILE.as_bytes()).unwrap();
        let r = &import.report;
        assert_eq!(r.rows.len(), 13);
        assert_eq!((r.mapped, r.skipped), (6, 7));
        let skipped: Vec<&str> = r.rows.iter().filter(|r| r.id.is_none()).map(|r| r.key.as_str()).collect();
        assert_eq!(
            skipped,
            [
                "sample_spec",
                "deepseek-chat",
                "dashscope/qwen-flash",
                "fireworks-ai-default",
                "odd",
                "weird-mode",
                "not-a-row"
            ]
        );
        assert!(r.rows.iter().filter(|r| r.id.is_none()).all(|r| !r.problems.is_empty()));

        let gpt = &import.entries[0];
        assert_eq!(gpt.id, "openai/gpt-4o");
        assert_eq!(gpt.kind, Some(Kind::Chat));
        assert_eq!((gpt.limits.max_input_tokens, gpt.limits.max_output_tokens), (Some(128_000), Some(16_384)));
        assert_eq!(gpt.limits.context_tokens, None);
        let pricing = gpt.pricing.as_ref().unwrap();
        assert_eq!(pricing.input_per_mtok, Some(Price::parse("2.5").unwrap()));
        assert_eq!(pricing.output_per_mtok, Some(Price::parse("10").unwrap()));
        assert_eq!(pricing.currency, "USD");
        assert_eq!(gpt.capabilities.tools, Some(true));
        assert_eq!(gpt.capabilities.streaming, Some(false));
        assert_eq!(gpt.capabilities.json_mode, Some(true));
        assert_eq!(gpt.provenance["capabilities.json_mode"].confidence, IMPLIED);
        assert_eq!(gpt.modalities.input, Some(vec![Modality::Text, Modality::Image]));
        assert!(report(&import, "gpt-4o").problems.is_empty());

        let legacy = &import.entries[1];
        assert_eq!(legacy.limits, Default::default(), "max_tokens is legacy and never read");
        let deepseek = report(&import, "deepseek-chat");
        assert!(deepseek.problems[0].message.contains("`deepseek/deepseek-chat`"), "{deepseek:?}");
        assert_eq!(report(&import, "deepseek/deepseek-chat").id.as_deref(), Some("deepseek/deepseek-chat"));

        let gemini = import.entries.iter().find(|e| e.id == "gemini/gemini-2.5-pro").unwrap();
        assert_eq!(gemini.pricing, None);
        assert_eq!(gemini.limits.max_input_tokens, Some(1_048_576));
        assert_eq!(report(&import, "gemini/gemini-2.5-pro").problems[0].path, "input_cost_per_token_above_200k_tokens");

        let dalle = import.entries.iter().find(|e| e.id == "openai/dall-e-3").unwrap();
        assert_eq!(dalle.kind, Some(Kind::Other));
        assert_eq!(dalle.labels["litellm_mode"], "image_generation");
        assert_eq!(dalle.pricing, None);

        let moderation = report(&import, "moderation");
        let paths: Vec<&str> = moderation.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["max_output_tokens", "supports_function_calling", "supported_modalities"]);
        let m = import.entries.iter().find(|e| e.id == "openai/moderation").unwrap();
        assert_eq!((m.limits.max_input_tokens, m.limits.max_output_tokens), (Some(32_768), None));
        assert_eq!(m.capabilities.tools, None);
        assert!(import.entries.iter().all(|e| e.validate().is_ok()));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_one_problem() {
        assert!(import_litellm(b"[]").is_err());
        assert!(import_litellm(b"{").is_err());
        let json = serde_json::to_value(import_litellm(b"{}").unwrap().report).unwrap();
        assert_eq!(json, serde_json::json!({"mapped": 0, "skipped": 0, "rows": []}));
    }
}
