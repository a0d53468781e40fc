//! SHAP values and Alibi explanations: `shap_values` in any of its layouts, with
//! `expected_value`, `feature_names` and the model outputs (`raw.raw_prediction`), and
//! Alibi anchors.
//!
//! Layout of a rank-3 `shap_values` `[a][b][c]`: Alibi's `[outputs][instances][features]`
//! unless the feature names say it is shap's `[instances][features][outputs]` (`b` is
//! the number of names and `c` is not). Rank 2 is `[instances][features]`, rank 1 one
//! instance.

use serde_json::Value;
use switchyard_records::Attributions;

use super::{method_of, numbers, strings, Extras, Grid, Normalised, Order, Tensor};

/// Reads an Alibi / SHAP explanation at `v` (`{meta, data}` or flat); returns whether
/// it was one.
pub(super) fn alibi(v: &Value, instance0: u32, out: &mut Normalised) -> bool {
    let is_expl = |d: &Value| d.get("shap_values").is_some() || d.get("anchor").is_some_and(Value::is_array);
    let data = match v.get("data") {
        Some(d) if is_expl(d) => d,
        _ if is_expl(v) => v,
        _ => return false,
    };
    let source_name = v["meta"]["name"].as_str().or_else(|| data["method"].as_str());
    if let Some(rules) = data.get("anchor").and_then(Value::as_array) {
        anchors(data, rules, instance0, out);
        return true;
    }
    let method = source_name.map_or("shap", method_of);
    shap_values(data, method, instance0, out)
}

fn shap_values(data: &Value, method: &str, instance0: u32, out: &mut Normalised) -> bool {
    let Some(t) = Tensor::read(&data["shap_values"]) else { return false };
    let names = strings(data.get("feature_names"));
    let order = match t.shape.as_slice() {
        [_, b, c] if !names.is_empty() && *b == names.len() && *c != names.len() => Order::InstFeatOut,
        _ => Order::OutInstFeat,
    };
    let Some(grid) = Grid::of(&t, order) else { return false };
    let raw = data.get("raw").and_then(|r| r.get("raw_prediction")).or_else(|| data.get("output_values"));
    let output_values = raw.and_then(Tensor::read);
    let extras = Extras { names, base: numbers(data.get("expected_value")), output_values, method, instance0 };
    grid.emit(&extras, out);
    true
}

/// An anchor: one row per rule, valued at the anchor's precision, its coverage kept.
fn anchors(data: &Value, rules: &[Value], instance: u32, out: &mut Normalised) {
    let precision = numbers(data.get("precision")).first().copied().unwrap_or(f64::NAN);
    let names = strings(Some(&Value::Array(rules.to_vec())));
    let prediction = data.get("raw").and_then(|r| r.get("prediction"));
    out.push(Attributions {
        instance,
        values: vec![precision; names.len()],
        names,
        coverage: numbers(data.get("coverage")).first().copied(),
        output_value: numbers(prediction).first().copied(),
        method: "anchor".into(),
        ..Attributions::default()
    });
}
