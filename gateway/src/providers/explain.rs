//! Feature attributions found in a model server's answer, normalised for the record.
//!
//! Recognised shapes (first match wins):
//! - an OIP v2 output named `explanation` (or `explanations`): either a BYTES tensor
//!   holding an Alibi explanation as JSON text, or a numeric tensor whose feature names
//!   are in its `parameters.feature_names` or in an output named `feature_names`;
//! - an Alibi explanation object — `{"meta":{"name"},"data":{"shap_values",
//!   "expected_value","feature_names"}}` — at the top level or under `explanation`, or
//!   the same three keys flattened;
//! - KServe TrustyAI `saliencies`: `{"saliencies":{"<output>":[{"name"|"featureName",
//!   "score"}]}}` or `{..:{"perFeatureImportance":[…]}}`.
//!
//! Invariant: names and values have the same length (the shorter list wins); nothing
//! here fails — an answer without a recognisable explanation has no attributions.

use serde_json::Value;
use switchyard_records::Attributions;

/// Most features kept per explanation.
const MAX_FEATURES: usize = 4096;

/// The attributions in `body`, if any.
pub fn attributions(body: &[u8]) -> Option<Attributions> {
    if !body.windows(4).any(|w| w == b"shap" || w == b"sali" || w == b"expl") {
        return None;
    }
    let v: Value = serde_json::from_slice(body).ok()?;
    from_oip(&v).or_else(|| from_alibi(v.get("explanation").unwrap_or(&v))).or_else(|| from_saliencies(&v))
}

fn from_oip(v: &Value) -> Option<Attributions> {
    let outputs = v.get("outputs")?.as_array()?;
    let expl = outputs.iter().find(|o| matches!(o["name"].as_str(), Some("explanation" | "explanations")))?;
    let data = expl.get("data")?.as_array()?;
    if let Some(text) = data.first().and_then(Value::as_str) {
        let inner: Value = serde_json::from_str(text).ok()?;
        return from_alibi(&inner).or_else(|| from_saliencies(&inner));
    }
    let names = expl["parameters"]["feature_names"]
        .as_array()
        .or_else(|| outputs.iter().find(|o| o["name"] == "feature_names").and_then(|o| o["data"].as_array()))?;
    build(names, data, None, "shap".into())
}

fn from_alibi(v: &Value) -> Option<Attributions> {
    let data = v.get("data").filter(|d| d.get("shap_values").is_some()).unwrap_or(v);
    let shap = data.get("shap_values")?;
    let values = match shap.as_array()?.first() {
        Some(Value::Array(row)) => match row.first() {
            Some(Value::Array(inner)) => inner.as_slice(),
            _ => row.as_slice(),
        },
        _ => shap.as_array()?.as_slice(),
    };
    let names = data.get("feature_names")?.as_array()?;
    let base = match data.get("expected_value") {
        Some(Value::Array(a)) => a.first().and_then(Value::as_f64),
        Some(x) => x.as_f64(),
        None => None,
    };
    let method = v["meta"]["name"].as_str().map_or_else(|| "shap".to_owned(), str::to_ascii_lowercase);
    build(names, values, base, method)
}

fn from_saliencies(v: &Value) -> Option<Attributions> {
    let sal = v.get("saliencies")?.as_object()?;
    let (_, first) = sal.iter().next()?;
    let items = first.as_array().or_else(|| first.get("perFeatureImportance").and_then(Value::as_array))?;
    let names: Vec<Value> =
        items.iter().map(|i| i.get("featureName").or_else(|| i.get("name")).cloned().unwrap_or(Value::Null)).collect();
    let values: Vec<Value> =
        items.iter().map(|i| i.get("score").or_else(|| i.get("saliency")).cloned().unwrap_or(Value::Null)).collect();
    build(&names, &values, None, "saliency".into())
}

fn build(names: &[Value], values: &[Value], base_value: Option<f64>, method: String) -> Option<Attributions> {
    let n = names.len().min(values.len()).min(MAX_FEATURES);
    if n == 0 {
        return None;
    }
    let mut out = Attributions { names: Vec::with_capacity(n), values: Vec::with_capacity(n), base_value, method };
    for (name, value) in names.iter().zip(values).take(n) {
        let name = match name {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.names.push(name);
        out.values.push(value.as_f64().unwrap_or(f64::NAN));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alibi_inside_an_oip_output() {
        let a = attributions(include_bytes!("../../fixtures/oip_infer_explained.json")).expect("found");
        assert_eq!(a.names, ["age", "hours_per_week", "capital_gain"]);
        assert_eq!(a.values, [0.21, -0.04, 0.13]);
        assert_eq!(a.base_value, Some(0.52));
        assert_eq!(a.method, "treeshap");
    }

    #[test]
    fn flat_alibi_and_trustyai() {
        let a = attributions(
            br#"{"prediction":1,"shap_values":[0.5,-0.25],"feature_names":["x","y"],"expected_value":0.1}"#,
        )
        .expect("found");
        assert_eq!((a.names.len(), a.base_value), (2, Some(0.1)));
        let t =
            attributions(br#"{"saliencies":{"predict":{"perFeatureImportance":[{"featureName":"a","score":0.3}]}}}"#)
                .expect("found");
        assert_eq!((t.names[0].as_str(), t.values[0], t.method.as_str()), ("a", 0.3, "saliency"));
        assert_eq!(attributions(br#"{"outputs":[{"name":"predict","data":[1]}]}"#), None);
    }
}
