//! One LiteLLM row → one catalog entry, or the reasons it does not map.
//!
//! Field by field, as LiteLLM documents them (its `sample_spec` row):
//! - `litellm_provider` → `provider`; the key without a leading `<provider>/` → `name`.
//! - `mode` → `kind`: `chat`, `completion`, `embedding` map to the same kind; LiteLLM's
//!   other documented modes ([`OTHER_MODES`]) map to `other` with the mode kept in
//!   `labels.litellm_mode`; any other mode, or none, leaves the row unmapped.
//! - `max_input_tokens` → `limits.max_input_tokens`, `max_output_tokens` →
//!   `limits.max_output_tokens`. `max_tokens` is LiteLLM's *legacy* field (the output
//!   limit if the provider states one, else the input limit) and is never read; LiteLLM has
//!   no context-window field, so `limits.context_tokens` stays unknown.
//! - `input_cost_per_token` / `output_cost_per_token` (USD per token) × 1,000,000 →
//!   `pricing.*_per_mtok` in USD, exactly, from the number's text. A row that prices
//!   prompts above a size differently (`input_cost_per_token_above_200k_tokens`, …) cannot
//!   be priced flat: pricing stays unknown, with a problem. A row priced only in
//!   `tiered_pricing` does not map.
//! - `supports_function_calling` → `capabilities.tools`, `supports_native_streaming` →
//!   `capabilities.streaming` (both true or false verbatim); `supports_response_schema:
//!   true` → `capabilities.json_mode: true` ([`IMPLIED`]: a model held to a JSON schema
//!   answers JSON; `false` says nothing about plain JSON mode).
//! - `supported_modalities` → `modalities.input`, `supported_output_modalities` →
//!   `modalities.output`.
//!
//! A field that does not read (wrong type, 0 tokens, a modality we do not know) stays
//! unknown and is reported; the row still maps. Everything set has provenance `file`, 1.0
//! ([`VERBATIM`]) unless said otherwise.

use rust_decimal::Decimal;

use super::raw::{self, Object};
use crate::entry::{CatalogEntry, Kind, Modality, Pricing, Source};
use crate::price::Price;
use crate::problem::Problem;
use crate::text;

/// Confidence of a value copied verbatim from the file.
pub const VERBATIM: f64 = 1.0;
/// Confidence of a value the file implies rather than states.
pub const IMPLIED: f64 = 0.9;

/// LiteLLM modes that are models but none of chat, completion, embedding.
pub const OTHER_MODES: &[&str] = &[
    "image_generation",
    "image_edit",
    "video_generation",
    "audio_transcription",
    "audio_speech",
    "moderation",
    "rerank",
    "search",
    "ocr",
    "realtime",
    "responses",
    "vector_store",
];

/// Per token → per million tokens.
const MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// A row that maps, with what was left unknown and why.
pub struct Mapped {
    /// The entry.
    pub entry: CatalogEntry,
    /// Fields left unknown, by LiteLLM key.
    pub problems: Vec<Problem>,
}

/// Maps one row (`key` → `row`); `Err` holds why it does not map.
pub fn map_row(key: &str, row: &Object) -> Result<Mapped, Vec<Problem>> {
    if key == "sample_spec" {
        return Err(vec![Problem::new("", "LiteLLM's description of the format, not a model")]);
    }
    let provider = required_string(row, "litellm_provider")?;
    if let Some(why) = text::check_provider(&provider) {
        return Err(vec![Problem::new("litellm_provider", why)]);
    }
    let mode = required_string(row, "mode")?;
    let kind = kind_of(&mode)
        .ok_or_else(|| vec![Problem::new("mode", format!("{mode:?} is not a LiteLLM mode this importer knows"))])?;
    let name = key.strip_prefix(&format!("{provider}/")).unwrap_or(key);
    if let Some(why) = text::check_model_name(name) {
        return Err(vec![Problem::new("", format!("the model name {name:?} {why}"))]);
    }
    let flat_price = row.get("input_cost_per_token").is_some() || row.get("output_cost_per_token").is_some();
    if row.get("tiered_pricing").is_some() && !flat_price {
        return Err(vec![Problem::new(
            "tiered_pricing",
            "priced only in tiers by prompt size; a catalog price is flat, so this row is not mapped",
        )]);
    }

    let mut problems = Vec::new();
    let mut entry = CatalogEntry::new(&provider, name);
    entry.kind = Some(kind);
    entry.mark("kind", Source::File, VERBATIM);
    if kind == Kind::Other {
        entry.labels.insert("litellm_mode".into(), mode);
        entry.mark("labels.litellm_mode", Source::File, VERBATIM);
    }
    map_limits(row, &mut entry, &mut problems);
    map_pricing(row, &mut entry, &mut problems);
    map_capabilities(row, &mut entry, &mut problems);
    map_modalities(row, &mut entry, &mut problems);
    entry.validate()?;
    Ok(Mapped { entry, problems })
}

fn required_string(row: &Object, key: &str) -> Result<String, Vec<Problem>> {
    let raw = row.get(key).ok_or_else(|| vec![Problem::new(key, "missing; the row cannot be placed without it")])?;
    raw::string(raw).map_err(|why| vec![Problem::new(key, why)])
}

fn kind_of(mode: &str) -> Option<Kind> {
    match mode {
        "chat" => Some(Kind::Chat),
        "completion" => Some(Kind::Completion),
        "embedding" => Some(Kind::Embedding),
        m if OTHER_MODES.contains(&m) => Some(Kind::Other),
        _ => None,
    }
}

fn map_limits(row: &Object, entry: &mut CatalogEntry, problems: &mut Vec<Problem>) {
    for (key, path) in
        [("max_input_tokens", "limits.max_input_tokens"), ("max_output_tokens", "limits.max_output_tokens")]
    {
        let Some(raw) = row.get(key) else { continue };
        match raw::count(raw) {
            Ok(n) => {
                if key == "max_input_tokens" {
                    entry.limits.max_input_tokens = Some(n);
                } else {
                    entry.limits.max_output_tokens = Some(n);
                }
                entry.mark(path, Source::File, VERBATIM);
            }
            Err(why) => problems.push(Problem::new(key, format!("{why}; left unknown"))),
        }
    }
}

/// Is `key` a price that applies only to prompts above a size (`…_above_200k_tokens`)?
fn is_threshold_price(key: &str) -> bool {
    let rest =
        key.strip_prefix("input_cost_per_token_above_").or_else(|| key.strip_prefix("output_cost_per_token_above_"));
    rest.and_then(|r| r.strip_suffix("k_tokens"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn map_pricing(row: &Object, entry: &mut CatalogEntry, problems: &mut Vec<Problem>) {
    if row.get("input_cost_per_token").is_none() && row.get("output_cost_per_token").is_none() {
        return;
    }
    if let Some(tier) = row.keys().find(|k| is_threshold_price(k) && row.get(k).is_some()) {
        problems.push(Problem::new(
            tier,
            "prompts above a size are priced differently; a flat price would be wrong for them, so pricing is left unknown",
        ));
        return;
    }
    let price = |key: &str| -> Result<Option<Price>, Problem> {
        let Some(raw) = row.get(key) else { return Ok(None) };
        let left = |why: String| Problem::new(key, format!("{why}; pricing left unknown"));
        let per_token = raw::decimal(raw).map_err(left)?;
        let scaled = per_token.checked_mul(MILLION).ok_or_else(|| left(format!("{} is out of range", raw.get())))?;
        if scaled.is_zero() {
            Ok(Some(Price(Decimal::ZERO)))
        } else if scaled.is_sign_negative() {
            Err(left("a price must not be negative".to_owned()))
        } else {
            Ok(Some(Price(scaled.normalize())))
        }
    };
    let (input_per_mtok, output_per_mtok) = match (price("input_cost_per_token"), price("output_cost_per_token")) {
        (Ok(i), Ok(o)) => (i, o),
        (i, o) => {
            problems.extend(i.err().into_iter().chain(o.err()));
            return;
        }
    };
    entry.pricing = Some(Pricing { input_per_mtok, output_per_mtok, currency: "USD".into() });
    for (path, set) in [
        ("pricing.input_per_mtok", input_per_mtok.is_some()),
        ("pricing.output_per_mtok", output_per_mtok.is_some()),
        ("pricing.currency", true),
    ] {
        if set {
            entry.mark(path, Source::File, VERBATIM);
        }
    }
}

fn map_capabilities(row: &Object, entry: &mut CatalogEntry, problems: &mut Vec<Problem>) {
    let mut read = |key: &str| -> Option<bool> {
        raw::boolean(row.get(key)?).map_err(|why| problems.push(Problem::new(key, format!("{why}; left unknown")))).ok()
    };
    if let Some(v) = read("supports_function_calling") {
        entry.capabilities.tools = Some(v);
        entry.mark("capabilities.tools", Source::File, VERBATIM);
    }
    if let Some(v) = read("supports_native_streaming") {
        entry.capabilities.streaming = Some(v);
        entry.mark("capabilities.streaming", Source::File, VERBATIM);
    }
    if read("supports_response_schema") == Some(true) {
        entry.capabilities.json_mode = Some(true);
        entry.mark("capabilities.json_mode", Source::File, IMPLIED);
    }
}

fn map_modalities(row: &Object, entry: &mut CatalogEntry, problems: &mut Vec<Problem>) {
    for (key, path) in
        [("supported_modalities", "modalities.input"), ("supported_output_modalities", "modalities.output")]
    {
        let Some(raw) = row.get(key) else { continue };
        let words = match raw::strings(raw) {
            Ok(w) => w,
            Err(why) => {
                problems.push(Problem::new(key, format!("{why}; left unknown")));
                continue;
            }
        };
        let parsed: Option<Vec<Modality>> = words.iter().map(|w| Modality::parse(w)).collect();
        match parsed {
            Some(list) => {
                if key == "supported_modalities" {
                    entry.modalities.input = Some(list);
                } else {
                    entry.modalities.output = Some(list);
                }
                entry.mark(path, Source::File, VERBATIM);
            }
            None => {
                problems.push(Problem::new(key, format!("{words:?} holds a modality we do not know; left unknown")))
            }
        }
    }
}
