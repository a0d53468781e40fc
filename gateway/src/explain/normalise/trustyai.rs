//! TrustyAI saliencies (KServe's TrustyAI explainer, Kogito's explainability service).
//!
//! Forms: `{saliencies: {<output>: [{name, score, confidence}]}}`;
//! with a method level, `{saliencies: {LIME: {<output>: […]}}}` or
//! `{LIME: {saliencies: {…}}, SHAP: {saliencies: {…}}}`; the older
//! `{saliencies: {<output>: {output: {…}, perFeatureImportance: [{feature: {name}, score}]}}}`;
//! and Kogito's `{saliencies: {saliencies: [{outcomeName, featureImportance: [{featureName,
//! featureScore}]}]}}`. Outputs are numbered in the order the answer lists them (JSON
//! object order as parsed); the output's name is kept. One instance (TrustyAI explains
//! one prediction per call).

use serde_json::Value;
use switchyard_records::Attributions;

use super::{method_of, name_of, Normalised};

/// Reads TrustyAI saliencies at `v`; returns whether there were any.
pub(super) fn saliencies(v: &Value, out: &mut Normalised) -> bool {
    let Some(map) = v.as_object() else { return false };
    let mut found = false;
    if let Some(s) = map.get("saliencies") {
        let method = map.get("sourceExplainer").and_then(Value::as_str).map_or("saliency", method_of);
        found |= level(s, method, out);
    }
    for (key, inner) in map {
        if key != "saliencies" && matches!(method_of(key), "lime" | "shap") {
            if let Some(s) = inner.get("saliencies") {
                found |= level(s, method_of(key), out);
            }
        }
    }
    found
}

/// One `saliencies` value: outputs, or methods holding outputs.
fn level(s: &Value, method: &str, out: &mut Normalised) -> bool {
    match s {
        Value::Object(map) => {
            let mut found = false;
            let mut output = 0u32;
            for (key, val) in map {
                if let Some(items) = val.as_array().filter(|a| a.first().is_some_and(is_item)) {
                    found |= push(out, method, output, key, items, None);
                    output += 1;
                } else if let Some(items) = val.get("perFeatureImportance").and_then(Value::as_array) {
                    let name = val["output"]["name"].as_str().unwrap_or(key);
                    let value = val["output"]["value"]["underlyingObject"].as_f64();
                    found |= push(out, method, output, name, items, value);
                    output += 1;
                } else if let Some(outcomes) = val.as_array().filter(|a| a.first().is_some_and(is_outcome)) {
                    found |= kogito(outcomes, method, out);
                } else if val.is_object() && matches!(method_of(key), "lime" | "shap") {
                    found |= level(val, method_of(key), out);
                }
            }
            found
        }
        Value::Array(outcomes) => kogito(outcomes, method, out),
        _ => false,
    }
}

fn kogito(outcomes: &[Value], method: &str, out: &mut Normalised) -> bool {
    let mut found = false;
    for (o, outcome) in outcomes.iter().enumerate() {
        if let Some(items) = outcome["featureImportance"].as_array() {
            let name = outcome["outcomeName"].as_str().unwrap_or_default();
            found |= push(out, method, u32::try_from(o).unwrap_or(u32::MAX), name, items, None);
        }
    }
    found
}

fn is_item(v: &Value) -> bool {
    v.get("score").is_some() || v.get("featureScore").is_some() || v.get("saliency").is_some()
}

fn is_outcome(v: &Value) -> bool {
    v.get("featureImportance").is_some()
}

fn push(out: &mut Normalised, method: &str, output: u32, name: &str, items: &[Value], value: Option<f64>) -> bool {
    let mut set = Attributions {
        output,
        output_name: name.to_owned(),
        output_value: value,
        method: method.to_owned(),
        ..Attributions::default()
    };
    for item in items {
        let feature = item
            .get("name")
            .or_else(|| item.get("featureName"))
            .or_else(|| item.get("feature").and_then(|f| f.get("name")))
            .map(name_of)
            .unwrap_or_default();
        let score = item.get("score").or_else(|| item.get("featureScore")).or_else(|| item.get("saliency"));
        set.names.push(feature);
        set.values.push(score.and_then(Value::as_f64).unwrap_or(f64::NAN));
        set.confidences.push(item.get("confidence").and_then(Value::as_f64).unwrap_or(f64::NAN));
    }
    let found = !set.names.is_empty();
    out.push(set);
    found
}
