//! Explanations in an Open Inference Protocol v2 answer: an output named `explanation`
//! (or `explanations`).
//!
//! - BYTES (or string data): each string is explanation JSON; one string explains the
//!   batch, several strings are one per instance (instance offset = position).
//! - Numeric: the tensor's `shape` `[F]`, `[n, F]` or `[n, k, F]`; feature names from
//!   `parameters.feature_names` or an output named `feature_names`; base values from
//!   `parameters.base_value`/`expected_value` or an output of that name; method from
//!   `parameters.method`/`explainer` (default `shap`); model outputs from the first other
//!   numeric output of `n` (or `n × k`) values.

use serde_json::Value;

use super::{method_of, numbers, strings, walk, At, Extras, Grid, Normalised, Order, Tensor};

/// Names that are not a model output.
const NOT_PREDICTIONS: &[&str] = &["explanation", "explanations", "feature_names", "base_value", "expected_value"];

/// Reads the explanation output of the OIP answer `v`; returns whether it had one.
pub(super) fn outputs(v: &Value, at: At, out: &mut Normalised) -> bool {
    let Some(outputs) = v["outputs"].as_array() else { return false };
    let named = |names: &[&str]| outputs.iter().find(|o| o["name"].as_str().is_some_and(|n| names.contains(&n)));
    let Some(expl) = named(&["explanation", "explanations"]) else { return false };
    let texts: Vec<&str> = flat_strings(&expl["data"]);
    if !texts.is_empty() || expl["datatype"] == "BYTES" {
        let (mut found, start) = (false, out.sets.len());
        for (k, text) in texts.iter().enumerate() {
            let instance = if texts.len() == 1 { at.instance } else { at.instance + u32::try_from(k).unwrap_or(0) };
            found |= walk(&Value::String((*text).to_owned()), At { instance, ..at }, out);
        }
        fill_output_values(outputs, at.instance, &mut out.sets[start..]);
        return found;
    }
    let Some(mut t) = Tensor::read(&expl["data"]) else { return false };
    let shape: Vec<usize> = numbers(expl.get("shape")).into_iter().filter(|x| *x >= 0.0).map(|x| x as usize).collect();
    if !shape.is_empty() {
        match t.with_shape(&shape) {
            Some(reshaped) => t = reshaped,
            None => return false,
        }
    }
    let Some(grid) = Grid::of(&t, Order::InstOutFeat) else { return false };
    let params = &expl["parameters"];
    let mut names = strings(params.get("feature_names"));
    if names.is_empty() {
        names = strings(named(&["feature_names"]).and_then(|o| o.get("data")));
    }
    let mut base = numbers(params.get("base_value").or_else(|| params.get("expected_value")));
    if base.is_empty() {
        base = numbers(named(&["base_value", "expected_value"]).and_then(|o| o.get("data")));
    }
    let method = params["method"].as_str().or_else(|| params["explainer"].as_str()).map_or("shap", method_of);
    let output_values = predictions(outputs, &[grid.instances, grid.instances * grid.outputs]);
    grid.emit(&Extras { names, base, output_values, method, instance0: at.instance }, out);
    true
}

/// The first model output (not an explanation part) with one of the `sizes`.
fn predictions(outputs: &[Value], sizes: &[usize]) -> Option<Tensor> {
    outputs
        .iter()
        .filter(|o| o["name"].as_str().is_some_and(|n| !NOT_PREDICTIONS.contains(&n)))
        .filter_map(|o| Tensor::read(&o["data"]))
        .find(|p| sizes.contains(&p.data.len()))
}

/// Sets read from explanation JSON that carry no model output get it from the answer's
/// prediction output, when its size is instances × outputs.
fn fill_output_values(outputs: &[Value], instance0: u32, sets: &mut [switchyard_records::Attributions]) {
    let instances = sets.iter().map(|s| s.instance.saturating_sub(instance0) as usize + 1).max().unwrap_or(0);
    let k = sets.iter().map(|s| s.output as usize + 1).max().unwrap_or(0);
    if sets.iter().all(|s| s.output_value.is_some()) {
        return;
    }
    let Some(p) = predictions(outputs, &[instances * k]) else { return };
    for s in sets.iter_mut().filter(|s| s.output_value.is_none()) {
        let at = s.instance.saturating_sub(instance0) as usize * k + s.output as usize;
        s.output_value = p.data.get(at).copied();
    }
}

fn flat_strings(v: &Value) -> Vec<&str> {
    fn go<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    go(v, &mut out);
    out
}
