//! Field paths: the one vocabulary for provenance keys, diffs, discovery comparisons and
//! per-field confidence.
//!
//! A field path names one fact of an entry: `display_name`, `kind`, `limits.context_tokens`,
//! `pricing.input_per_mtok`, `capabilities.tools`, `modalities.input`, `io_schema.inputs`,
//! `training.base_model`, and `metrics.<name>` / `labels.<key>` for each map entry (the key
//! verbatim after the first dot). Identity (`id`, `provider`, `name`) and bookkeeping
//! (`provenance`, `created_at`, `updated_at`) are not facts and have no field path.
//!
//! [`field_values`] gives every fixed path (with `null` when unknown) plus one per metric
//! and label, each as the JSON the entry writes, normalised so that equal facts compare
//! equal (prices normalised by [`crate::Price`], modality lists sorted).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::entry::CatalogEntry;

/// Every field path that is not a metric or a label.
pub const FIXED_FIELDS: &[&str] = &[
    "display_name",
    "kind",
    "modalities.input",
    "modalities.output",
    "limits.context_tokens",
    "limits.max_input_tokens",
    "limits.max_output_tokens",
    "pricing.input_per_mtok",
    "pricing.output_per_mtok",
    "pricing.currency",
    "capabilities.streaming",
    "capabilities.tools",
    "capabilities.json_mode",
    "capabilities.logprobs",
    "capabilities.explanations",
    "io_schema.inputs",
    "io_schema.outputs",
    "training.base_model",
    "training.dataset",
    "training.framework",
    "training.job",
];

/// One field whose value differs between two entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field path.
    pub path: String,
    /// The value before (`null` when unknown or absent).
    pub before: Value,
    /// The value after (`null` when unknown or absent).
    pub after: Value,
}

/// Does `path` name a field of `entry` (a fixed field, or a metric / label it has)?
pub fn is_field_path(entry: &CatalogEntry, path: &str) -> bool {
    if FIXED_FIELDS.contains(&path) {
        return true;
    }
    match path.split_once('.') {
        Some(("metrics", key)) => entry.metrics.contains_key(key),
        Some(("labels", key)) => entry.labels.contains_key(key),
        _ => false,
    }
}

/// Every field of `entry` by path, `null` where unknown (see the module doc).
pub fn field_values(entry: &CatalogEntry) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    // Without its timestamps (not facts; their RFC 3339 form is the one fallible part), an
    // entry always serialises: string map keys, plain values, non-finite metrics as null.
    let facts = CatalogEntry { created_at: None, updated_at: None, ..entry.clone() };
    let whole = serde_json::to_value(&facts).unwrap_or(Value::Null);
    for path in FIXED_FIELDS {
        let mut value = lookup(&whole, path);
        if path.starts_with("modalities.") {
            if let Value::Array(items) = &mut value {
                items.sort_by_key(|v| v.to_string());
                items.dedup();
            }
        }
        out.insert((*path).to_owned(), value);
    }
    for (k, v) in &entry.metrics {
        out.insert(format!("metrics.{k}"), serde_json::to_value(v).unwrap_or(Value::Null));
    }
    for (k, v) in &entry.labels {
        out.insert(format!("labels.{k}"), Value::String(v.clone()));
    }
    out
}

/// The fields whose values differ between `before` (none: a new entry) and `after`.
pub fn diff(before: Option<&CatalogEntry>, after: &CatalogEntry) -> Vec<FieldChange> {
    let old = before.map(field_values).unwrap_or_default();
    let new = field_values(after);
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let b = old.get(path).cloned().unwrap_or(Value::Null);
            let a = new.get(path).cloned().unwrap_or(Value::Null);
            (a != b).then(|| FieldChange { path: path.clone(), before: b, after: a })
        })
        .collect()
}

fn lookup(whole: &Value, path: &str) -> Value {
    let mut at = whole;
    for part in path.split('.') {
        match at.get(part) {
            Some(v) => at = v,
            None => return Value::Null,
        }
    }
    at.clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::entry::{Kind, Modality, Pricing};
    use crate::price::Price;
    use serde_json::json;

    fn entry() -> CatalogEntry {
        let mut e = CatalogEntry::new("openai", "gpt-4o");
        e.kind = Some(Kind::Chat);
        e.limits.context_tokens = Some(128_000);
        e.labels.insert("app.kubernetes.io/name".into(), "x".into());
        e
    }

    #[test]
    fn diff_lists_changed_fields_with_before_and_after() {
        let old = entry();
        let mut new = entry();
        new.limits.context_tokens = Some(200_000);
        new.pricing = Some(Pricing {
            input_per_mtok: Some(Price::parse("2.50").unwrap()),
            output_per_mtok: None,
            currency: "USD".into(),
        });
        new.labels.clear();
        let changes = diff(Some(&old), &new);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["labels.app.kubernetes.io/name", "limits.context_tokens", "pricing.currency", "pricing.input_per_mtok"]
        );
        assert_eq!(changes[1].before, json!(128_000));
        assert_eq!(changes[1].after, json!(200_000));
        assert_eq!(changes[3].after, json!("2.5"));
        assert_eq!(changes[0].after, Value::Null);
        assert!(diff(Some(&old), &old).is_empty());
        // Against nothing, every known field is a change.
        assert_eq!(diff(None, &old).len(), 3);
    }

    #[test]
    fn modalities_compare_as_sets_and_paths_are_known() {
        let mut a = entry();
        let mut b = entry();
        a.modalities.input = Some(vec![Modality::Text, Modality::Image]);
        b.modalities.input = Some(vec![Modality::Image, Modality::Text, Modality::Text]);
        assert!(diff(Some(&a), &b).is_empty());
        assert!(is_field_path(&a, "limits.context_tokens"));
        assert!(is_field_path(&a, "labels.app.kubernetes.io/name"));
        assert!(!is_field_path(&a, "labels.absent"));
        assert!(!is_field_path(&a, "limits"));
        assert!(!is_field_path(&a, "id"));
    }
}
