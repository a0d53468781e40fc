//! The entry's JSON Schema, served at `GET /api/v1/models/schema.json` and put into the
//! LLM-assisted transform's prompt.
//!
//! Generated from the serde types by `schemars` (draft 2020-12, the deserialising view), so
//! it cannot drift from what [`crate::parse_entry`] accepts: the `schema_agrees_with_serde`
//! tests hold a corpus of entries to both. The schema states shapes, types, enums, patterns
//! and ranges; the cross-field rules (`id` is `<provider>/<name>`, `max_input_tokens` ≤
//! `context_tokens`, provenance keys name real fields, forbidden characters) are stated in
//! the schema's `description` and enforced by `validate`.

use serde_json::Value;

use crate::entry::CatalogEntry;

/// Rules the schema cannot state, in its description.
const CROSS_FIELD_RULES: &str = "A model in Switchyard's catalog. Beyond this schema: `id` must be \
`<provider>/<name>`; `limits.max_input_tokens` and `limits.max_output_tokens` must not exceed \
`limits.context_tokens`; names must not contain whitespace, control, bidirectional or invisible \
characters; `provenance` keys are field paths such as `limits.context_tokens` or `metrics.<name>`; \
null means unknown.";

/// The JSON Schema document for one catalog entry.
pub fn entry_schema() -> Value {
    let mut schema = schemars::schema_for!(CatalogEntry).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("title".into(), Value::String("CatalogEntry".into()));
        obj.insert("description".into(), Value::String(CROSS_FIELD_RULES.into()));
    }
    schema
}
