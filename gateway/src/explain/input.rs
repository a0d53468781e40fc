//! The explainer's input: the same input the member answered, in the protocol's shape.
//!
//! KServe v1 takes `{"instances": rows}`. Rows come from the request's own `instances`
//! when it has them, or from an OIP v2 request's `inputs`: one input `[n, F]` (or `[F]`,
//! one row) gives `n` rows of `F` values in row-major order; several inputs of `[n]` or
//! `[n, 1]` are columns zipped into rows (in the request's input order). Values pass
//! through as JSON (numbers keep their exact text). OIP and `http` explainers get the
//! body as is.

use bytes::Bytes;
use serde_json::Value;
use switchyard_config::schema::ExplainProtocol;

/// The explainer request body for `protocol`, or `None` when the request's input cannot
/// be put in that shape (counted `bad_input`).
pub fn for_protocol(protocol: ExplainProtocol, body: &Bytes) -> Option<Bytes> {
    match protocol {
        ExplainProtocol::Oip | ExplainProtocol::Http => Some(body.clone()),
        ExplainProtocol::KserveV1 => {
            let rows = instances(body)?;
            serde_json::to_vec(&serde_json::json!({ "instances": rows })).ok().map(Bytes::from)
        }
    }
}

/// The request's rows (see the module docs).
pub fn instances(body: &[u8]) -> Option<Vec<Value>> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(rows) = v.get("instances").and_then(Value::as_array) {
        return Some(rows.clone());
    }
    let inputs = v.get("inputs")?.as_array()?;
    match inputs.as_slice() {
        [] => None,
        [one] => one_input(one),
        many => columns(many),
    }
}

fn shape(input: &Value) -> Option<Vec<usize>> {
    input.get("shape")?.as_array()?.iter().map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok())).collect()
}

fn flat(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
        other => out.push(other.clone()),
    }
}

fn one_input(input: &Value) -> Option<Vec<Value>> {
    let mut data = Vec::new();
    flat(input.get("data")?, &mut data);
    let width = match shape(input)?.as_slice() {
        [f] => *f,
        [n, f] if n * f == data.len() => *f,
        _ => return None,
    };
    if width == 0 || data.len() % width != 0 {
        return None;
    }
    Some(data.chunks(width).map(|row| Value::Array(row.to_vec())).collect())
}

fn columns(inputs: &[Value]) -> Option<Vec<Value>> {
    let mut cols = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut data = Vec::new();
        flat(input.get("data")?, &mut data);
        match shape(input)?.as_slice() {
            [n] | [n, 1] if *n == data.len() => cols.push(data),
            _ => return None,
        }
    }
    let n = cols.first()?.len();
    if cols.iter().any(|c| c.len() != n) {
        return None;
    }
    Some((0..n).map(|i| Value::Array(cols.iter().map(|c| c[i].clone()).collect())).collect())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rows_from_oip_inputs() {
        let body = json!({"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64",
            "data": [0.038075906433423026, -0.044641636506989144, 1, 2, 3, 4]}]});
        let rows = instances(body.to_string().as_bytes()).expect("rows");
        assert_eq!(rows, [json!([0.038075906433423026, -0.044641636506989144, 1]), json!([2, 3, 4])]);
        let nested = json!({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, 2], [3, 4]]}]});
        assert_eq!(instances(nested.to_string().as_bytes()).expect("rows").len(), 2);
        let single = json!({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2, 3]}]});
        assert_eq!(instances(single.to_string().as_bytes()).expect("rows"), [json!([1, 2, 3])]);
        let cols = json!({"inputs": [{"name": "age", "shape": [2], "datatype": "INT32", "data": [39, 50]},
            {"name": "job", "shape": [2, 1], "datatype": "BYTES", "data": ["a", "b"]}]});
        assert_eq!(instances(cols.to_string().as_bytes()).expect("rows"), [json!([39, "a"]), json!([50, "b"])]);
        let v1 = json!({"instances": [[1, 2]]});
        assert_eq!(instances(v1.to_string().as_bytes()).expect("rows"), [json!([1, 2])]);
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        for bad in [
            json!({"inputs": [{"name": "x", "shape": [2, 3], "data": [1, 2, 3]}]}),
            json!({"inputs": [{"name": "a", "shape": [2], "data": [1, 2]}, {"name": "b", "shape": [3], "data": [1, 2, 3]}]}),
            json!({"messages": []}),
            json!({"inputs": []}),
        ] {
            assert_eq!(instances(bad.to_string().as_bytes()), None, "{bad}");
        }
        assert_eq!(for_protocol(ExplainProtocol::KserveV1, &Bytes::from_static(b"{}")), None);
        assert_eq!(for_protocol(ExplainProtocol::Oip, &Bytes::from_static(b"{}")), Some(Bytes::from_static(b"{}")));
    }
}
