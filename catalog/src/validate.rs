//! Reading and validating entries: JSON → [`CatalogEntry`] → every problem, with paths.
//!
//! [`parse_entry`] reports the first shape error (unknown key, wrong type, a price that is
//! not a decimal string) with its path, then — when the shape is right — every rule
//! [`CatalogEntry::validate`] checks:
//! - identity: `id` is `<provider>/<name>`; provider, name and every identifier free of
//!   control, bidirectional and invisible characters (`text.rs`);
//! - limits > 0, `max_input_tokens` and `max_output_tokens` ≤ `context_tokens`;
//! - prices non-negative, `currency` three capital letters (ISO 4217's shape), and a
//!   pricing that prices something;
//! - tensors named, unique per side, dimensions ≥ -1;
//! - metrics finite; provenance keys that name real fields (`fields.rs`), confidence in
//!   [0, 1]; `created_at` ≤ `updated_at`.

use std::collections::HashSet;

use crate::entry::{CatalogEntry, Tensor};
use crate::fields::is_field_path;
use crate::problem::{key_path, Problem};
use crate::text;

/// Parses and validates one entry from JSON text; every problem found, with paths.
pub fn parse_entry(json: &[u8]) -> Result<CatalogEntry, Vec<Problem>> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let entry: CatalogEntry = serde_path_to_error::deserialize(&mut de).map_err(|e| vec![shape_problem(e)])?;
    de.end().map_err(|e| vec![Problem::new("", format!("trailing characters after the entry: {e}"))])?;
    entry.validate()?;
    Ok(entry)
}

/// Parses and validates one entry from a JSON value; every problem found, with paths.
pub fn entry_from_value(value: serde_json::Value) -> Result<CatalogEntry, Vec<Problem>> {
    let entry: CatalogEntry = serde_path_to_error::deserialize(value).map_err(|e| vec![shape_problem(e)])?;
    entry.validate()?;
    Ok(entry)
}

fn shape_problem<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> Problem {
    let path = err.path().to_string();
    let path = if path == "." { String::new() } else { path };
    Problem::new(path, err.into_inner().to_string())
}

// === impl CatalogEntry ===

impl CatalogEntry {
    /// Checks every rule of the module doc; all problems, each with its path.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut out = Vec::new();
        self.check_identity(&mut out);
        self.check_limits(&mut out);
        self.check_pricing(&mut out);
        self.check_io_schema(&mut out);
        self.check_texts(&mut out);
        self.check_maps(&mut out);
        self.check_provenance(&mut out);
        if let (Some(c), Some(u)) = (self.created_at, self.updated_at) {
            if u < c {
                out.push(Problem::new("updated_at", "must not be before created_at"));
            }
        }
        if out.is_empty() {
            Ok(())
        } else {
            Err(out)
        }
    }

    fn check_identity(&self, out: &mut Vec<Problem>) {
        let provider_ok = push(out, "provider", text::check_provider(&self.provider));
        let name_ok = push(out, "name", text::check_model_name(&self.name));
        let want = format!("{}/{}", self.provider, self.name);
        if provider_ok && name_ok && self.id != want {
            out.push(Problem::new("id", format!("must be `<provider>/<name>`, here `{want}`")));
        }
    }

    fn check_limits(&self, out: &mut Vec<Problem>) {
        let l = &self.limits;
        for (key, v) in [
            ("context_tokens", l.context_tokens),
            ("max_input_tokens", l.max_input_tokens),
            ("max_output_tokens", l.max_output_tokens),
        ] {
            if v == Some(0) {
                out.push(Problem::new(format!("limits.{key}"), "must be > 0"));
            }
        }
        if let Some(ctx) = l.context_tokens.filter(|&c| c > 0) {
            for (key, v) in [("max_input_tokens", l.max_input_tokens), ("max_output_tokens", l.max_output_tokens)] {
                if let Some(v) = v.filter(|&v| v > ctx) {
                    out.push(Problem::new(
                        format!("limits.{key}"),
                        format!("{v} is more than limits.context_tokens ({ctx})"),
                    ));
                }
            }
        }
    }

    fn check_pricing(&self, out: &mut Vec<Problem>) {
        let Some(p) = &self.pricing else { return };
        for (key, v) in [("input_per_mtok", p.input_per_mtok), ("output_per_mtok", p.output_per_mtok)] {
            if v.is_some_and(|v| v.get().is_sign_negative() && !v.get().is_zero()) {
                out.push(Problem::new(format!("pricing.{key}"), "must be a non-negative decimal"));
            }
        }
        if p.currency.len() != 3 || !p.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            out.push(Problem::new(
                "pricing.currency",
                format!("`{}` is not an ISO 4217 code (three capital letters, e.g. USD)", p.currency),
            ));
        }
        if p.input_per_mtok.is_none() && p.output_per_mtok.is_none() {
            out.push(Problem::new(
                "pricing",
                "prices nothing: give input_per_mtok or output_per_mtok, or make pricing null",
            ));
        }
    }

    fn check_io_schema(&self, out: &mut Vec<Problem>) {
        let Some(io) = &self.io_schema else { return };
        check_tensors(out, "io_schema.inputs", &io.inputs);
        check_tensors(out, "io_schema.outputs", &io.outputs);
    }

    fn check_texts(&self, out: &mut Vec<Problem>) {
        if let Some(d) = &self.display_name {
            push(out, "display_name", text::check_text(d));
        }
        let t = &self.training;
        for (key, v) in
            [("base_model", &t.base_model), ("dataset", &t.dataset), ("framework", &t.framework), ("job", &t.job)]
        {
            if let Some(v) = v {
                push(out, &format!("training.{key}"), text::check_text(v));
            }
        }
    }

    fn check_maps(&self, out: &mut Vec<Problem>) {
        for (k, v) in &self.metrics {
            let at = key_path("metrics", k);
            push(out, &at, text::check_identifier(k, text::MAX_KEY_LEN).map(|w| format!("name {w}")));
            if !v.is_finite() {
                out.push(Problem::new(at, "must be a finite number"));
            }
        }
        for (k, v) in &self.labels {
            let at = key_path("labels", k);
            push(out, &at, text::check_identifier(k, text::MAX_KEY_LEN).map(|w| format!("key {w}")));
            if !v.is_empty() {
                push(out, &at, text::check_text(v));
            }
        }
    }

    fn check_provenance(&self, out: &mut Vec<Problem>) {
        for (k, p) in &self.provenance {
            let at = key_path("provenance", k);
            if !is_field_path(self, k) {
                out.push(Problem::new(&at, format!("`{k}` names no field of this entry")));
            }
            if !(0.0..=1.0).contains(&p.confidence) {
                out.push(Problem::new(format!("{at}.confidence"), "must be between 0 and 1"));
            }
        }
    }
}

fn check_tensors(out: &mut Vec<Problem>, at: &str, tensors: &[Tensor]) {
    let mut seen = HashSet::new();
    for (i, t) in tensors.iter().enumerate() {
        let here = format!("{at}[{i}]");
        push(out, &format!("{here}.name"), text::check_identifier(&t.name, 256));
        if !seen.insert(t.name.as_str()) {
            out.push(Problem::new(format!("{here}.name"), format!("`{}` appears twice", t.name)));
        }
        for (j, &d) in t.shape.iter().enumerate() {
            if d < -1 {
                out.push(Problem::new(format!("{here}.shape[{j}]"), "must be a size >= 0, or -1 for any size"));
            }
        }
    }
}

/// Pushes `why` at `path` when there is one; says whether the check passed.
fn push(out: &mut Vec<Problem>, path: &str, why: Option<String>) -> bool {
    match why {
        Some(why) => {
            out.push(Problem::new(path, why));
            false
        }
        None => true,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> serde_json::Value {
        json!({
            "id": "tabular/iris", "provider": "tabular", "name": "iris", "display_name": "Iris classifier",
            "kind": "classifier",
            "modalities": {"input": ["text"], "output": ["text"]},
            "limits": {"context_tokens": 8192, "max_input_tokens": 8000, "max_output_tokens": 1024},
            "pricing": {"input_per_mtok": "0.10", "output_per_mtok": "0", "currency": "EUR"},
            "capabilities": {"streaming": false, "tools": null, "json_mode": null, "logprobs": null, "explanations": true},
            "io_schema": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}],
                          "outputs": [{"name": "y", "datatype": "INT64", "shape": [-1]}]},
            "training": {"base_model": null, "dataset": "iris.csv", "framework": "sklearn", "job": "job_1"},
            "metrics": {"accuracy": 0.97},
            "labels": {"team": "ml", "app.kubernetes.io/name": "iris"},
            "provenance": {"limits.context_tokens": {"source": "operator", "confidence": 1.0},
                           "metrics.accuracy": {"source": "file", "confidence": 0.5}},
            "created_at": "2025-01-02T03:04:05Z", "updated_at": "2025-01-03T00:00:00Z"
        })
    }

    #[test]
    fn a_full_entry_round_trips() {
        let entry = entry_from_value(full()).unwrap();
        let text = serde_json::to_vec(&entry).unwrap();
        assert_eq!(parse_entry(&text).unwrap(), entry);
        let back: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(back["pricing"]["input_per_mtok"], "0.1");
        // An entry that knows only its identity is valid, and writes its unknowns as null.
        let bare = parse_entry(br#"{"id": "openai/gpt-4o", "provider": "openai", "name": "gpt-4o"}"#).unwrap();
        let json = serde_json::to_value(&bare).unwrap();
        assert_eq!(json["capabilities"]["tools"], serde_json::Value::Null);
        assert_eq!(json["pricing"], serde_json::Value::Null);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut v = full();
        v["id"] = json!("tabular/other");
        v["limits"] = json!({"context_tokens": 100, "max_input_tokens": 200, "max_output_tokens": 0});
        v["pricing"]["currency"] = json!("euro");
        v["io_schema"]["inputs"] = json!([{"name": "x", "datatype": "FP32", "shape": [-2]},
                                          {"name": "x", "datatype": "FP32", "shape": [1]}]);
        v["display_name"] = json!("Iris\u{202e}");
        v["labels"]["bad key"] = json!("v");
        v["provenance"]["limits.nope"] = json!({"source": "llm", "confidence": 1.5});
        v["updated_at"] = json!("2024-01-01T00:00:00Z");
        let problems: Vec<String> = entry_from_value(v).unwrap_err().iter().map(ToString::to_string).collect();
        let paths: Vec<&str> = problems.iter().map(|p| p.split(": ").next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "id",
                "limits.max_output_tokens",
                "limits.max_input_tokens",
                "pricing.currency",
                "io_schema.inputs[0].shape[0]",
                "io_schema.inputs[1].name",
                "display_name",
                "labels[\"bad key\"]",
                "provenance[\"limits.nope\"]",
                "provenance[\"limits.nope\"].confidence",
                "updated_at",
            ],
            "{problems:#?}"
        );
        assert_eq!(problems[1], "limits.max_output_tokens: must be > 0");
        assert_eq!(problems[2], "limits.max_input_tokens: 200 is more than limits.context_tokens (100)");
    }

    #[test]
    fn shape_errors_name_their_path() {
        let cases = [
            (json!({"limits": {"context_tokens": -5}}), "limits.context_tokens"),
            (json!({"pricing": {"input_per_mtok": 2.5, "currency": "USD"}}), "pricing.input_per_mtok"),
            (json!({"pricing": {"input_per_mtok": "-1", "currency": "USD"}}), "pricing.input_per_mtok"),
            (json!({"kind": "llm"}), "kind"),
            (json!({"capabilities": {"teleport": true}}), "capabilities.teleport"),
            (
                json!({"io_schema": {"inputs": [{"name": "x", "datatype": "FLOAT", "shape": []}]}}),
                "io_schema.inputs[0].datatype",
            ),
            (json!({"created_at": "yesterday"}), "created_at"),
        ];
        for (extra, path) in cases {
            let mut v = json!({"id": "p/m", "provider": "p", "name": "m"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let problems = entry_from_value(v).unwrap_err();
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].path, path, "{}", problems[0]);
        }
        assert_eq!(parse_entry(b"{} trailing").unwrap_err()[0].path, "");
        let p = &entry_from_value(json!({"id": "p/m", "provider": "p", "name": "m", "pricing": {"currency": "USD"}}))
            .unwrap_err()[0];
        assert_eq!(p.path, "pricing");
    }
}
