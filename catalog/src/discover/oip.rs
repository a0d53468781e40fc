//! Open Inference Protocol `GET /v2/models/{model}`: `{"name", "versions", "platform",
//! "inputs": [{"name", "datatype", "shape"}], "outputs": [...]}`.
//!
//! The tensor metadata becomes `io_schema` verbatim (datatypes as the protocol names them,
//! `-1` for a variable dimension). A server that publishes no tensors at all (both lists
//! empty or absent) has said nothing, so `io_schema` stays unknown rather than becoming
//! an empty schema; one malformed tensor leaves the whole `io_schema` unknown (a partial
//! schema would be wrong). `platform`, when not empty, becomes `labels.platform`. The kind
//! (classifier or regressor) is not stated and stays unknown.

use serde::Deserialize;
use serde_json::Value;

use super::{keep, parse_body, parse_item, verbatim, Discovery};
use crate::entry::{CatalogEntry, Datatype, IoSchema, Tensor};
use crate::problem::Problem;

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    platform: Option<String>,
    #[serde(default)]
    inputs: Vec<Value>,
    #[serde(default)]
    outputs: Vec<Value>,
}

#[derive(Deserialize)]
struct TensorMetadata {
    name: String,
    datatype: String,
    shape: Vec<i64>,
}

/// Maps OIP model metadata for the model the gateway calls `model` (the URL's name);
/// `provider` is the Switchyard provider's name.
pub fn oip_model(provider: &str, model: &str, body: &[u8]) -> Result<Discovery, Problem> {
    let meta: Metadata = parse_body(body, "OIP model metadata ({\"name\", \"inputs\", \"outputs\"})")?;
    let mut out = Discovery::default();
    if let Some(name) = meta.name.as_deref().filter(|n| *n != model) {
        out.problems.push(Problem::new("name", format!("the server calls the model {name:?}, asked for {model:?}")));
    }
    let mut entry = CatalogEntry::new(provider, model);
    if !(meta.inputs.is_empty() && meta.outputs.is_empty()) {
        let inputs = tensors(meta.inputs, "inputs", &mut out.problems);
        let outputs = tensors(meta.outputs, "outputs", &mut out.problems);
        if let (Some(inputs), Some(outputs)) = (inputs, outputs) {
            entry.io_schema = Some(IoSchema { inputs, outputs });
            verbatim(&mut entry, "io_schema.inputs");
            verbatim(&mut entry, "io_schema.outputs");
        }
    }
    if let Some(platform) = meta.platform.filter(|p| !p.is_empty()) {
        entry.labels.insert("platform".into(), platform);
        verbatim(&mut entry, "labels.platform");
    }
    keep(&mut out, "", entry);
    Ok(out)
}

/// All tensors of one side, or none (with problems) if any is malformed.
fn tensors(items: Vec<Value>, side: &str, problems: &mut Vec<Problem>) -> Option<Vec<Tensor>> {
    let before = problems.len();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("{side}[{i}]");
        let Ok(t) = parse_item::<TensorMetadata>(item, &at).map_err(|p| problems.push(p)) else { continue };
        match Datatype::parse(&t.datatype) {
            Some(datatype) => out.push(Tensor { name: t.name, datatype, shape: t.shape }),
            None => problems.push(Problem::new(
                format!("{at}.datatype"),
                format!("{:?} is not an Open Inference Protocol datatype", t.datatype),
            )),
        }
    }
    (problems.len() == before).then_some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oip_metadata_becomes_the_io_schema() {
        let body = br#"{"name":"iris","versions":["1"],"platform":"sklearn_sklearn",
            "inputs":[{"name":"input-0","datatype":"FP32","shape":[-1,4],"parameters":{"content_type":"np"}}],
            "outputs":[{"name":"predict","datatype":"INT64","shape":[-1,1]}]}"#;
        let d = oip_model("tabular", "iris", body).unwrap();
        assert!(d.problems.is_empty(), "{:?}", d.problems);
        let e = &d.entries[0];
        assert_eq!(e.id, "tabular/iris");
        let io = e.io_schema.as_ref().unwrap();
        assert_eq!(io.inputs, vec![Tensor { name: "input-0".into(), datatype: Datatype::Fp32, shape: vec![-1, 4] }]);
        assert_eq!(io.outputs[0].datatype, Datatype::Int64);
        assert_eq!(e.labels["platform"], "sklearn_sklearn");
        assert_eq!(e.kind, None);
    }

    #[test]
    fn empty_or_malformed_metadata_leaves_the_io_schema_unknown() {
        let empty = oip_model("tabular", "m", br#"{"name":"m","platform":"","inputs":[],"outputs":[]}"#).unwrap();
        assert_eq!(empty.entries[0].io_schema, None);
        assert!(empty.entries[0].labels.is_empty());
        let bad = oip_model(
            "tabular",
            "m",
            br#"{"name":"other","inputs":[{"name":"a","datatype":"FLOAT","shape":[1]},{"name":"b","datatype":"FP32"}],
                 "outputs":[{"name":"y","datatype":"FP32","shape":[1]}]}"#,
        )
        .unwrap();
        assert_eq!(bad.entries[0].io_schema, None);
        let paths: Vec<&str> = bad.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["name", "inputs[0].datatype", "inputs[1]"]);
    }
}
