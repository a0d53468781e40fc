use serde_json::json;

use super::*;

fn sets(v: serde_json::Value) -> Vec<Attributions> {
    normalise(&v).sets
}

fn key(a: &Attributions) -> (u32, u32, usize) {
    (a.instance, a.output, a.names.len())
}

#[test]
fn alibi_inside_an_oip_bytes_output() {
    let n = from_answer(include_bytes!("../../../fixtures/oip_infer_explained.json"));
    assert_eq!(n.sets.len(), 1);
    let a = &n.sets[0];
    assert_eq!(a.names, ["age", "hours_per_week", "capital_gain"]);
    assert_eq!(a.values, [0.21, -0.04, 0.13]);
    assert_eq!((a.base_value, a.method.as_str()), (Some(0.52), "shap"));
    assert_eq!(from_answer(br#"{"outputs":[{"name":"predict","data":[1]}]}"#), Normalised::default());
    assert_eq!(from_answer(b"not json but mentions shap"), Normalised::default());
}

#[test]
fn alibi_multi_output_batch_keeps_every_instance_and_output() {
    // Alibi KernelShap on a 2-class classifier, 3 instances: shap_values[output][instance][feature].
    let v = json!({"meta": {"name": "KernelShap"}, "data": {
        "shap_values": [[[1, 2], [3, 4], [5, 6]], [[-1, -2], [-3, -4], [-5, -6]]],
        "expected_value": [0.4, 0.6], "feature_names": ["a", "b"],
        "raw": {"raw_prediction": [[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]]}}});
    let s = sets(v);
    assert_eq!(
        s.iter().map(key).collect::<Vec<_>>(),
        [(0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2), (2, 0, 2), (2, 1, 2)]
    );
    let i2o1 = &s[5];
    assert_eq!(i2o1.values, [-5.0, -6.0]);
    assert_eq!((i2o1.base_value, i2o1.output_value, i2o1.method.as_str()), (Some(0.6), Some(0.7), "shap"));
}

#[test]
fn shap_library_layouts() {
    // shap >= 0.45 multi-output: [instance][feature][output], told apart by the names.
    let s = sets(json!({"shap_values": [[[1, -1], [2, -2], [3, -3]]], "feature_names": ["x", "y", "z"],
        "expected_value": [0.5, 0.5]}));
    assert_eq!(s.iter().map(key).collect::<Vec<_>>(), [(0, 0, 3), (0, 1, 3)]);
    assert_eq!(s[1].values, [-1.0, -2.0, -3.0]);
    // Single-output batch [n][F]; flat with a scalar base.
    let s =
        sets(json!({"shap_values": [[0.5, -0.25], [0.1, 0.2]], "feature_names": ["x", "y"], "expected_value": 0.1}));
    assert_eq!(s.iter().map(key).collect::<Vec<_>>(), [(0, 0, 2), (1, 0, 2)]);
    assert_eq!((s[1].values.clone(), s[1].base_value), (vec![0.1, 0.2], Some(0.1)));
    // No names: generated, never dropped.
    let s = sets(json!({"shap_values": [0.5, -0.25, 1]}));
    assert_eq!(s[0].names, ["feature_0", "feature_1", "feature_2"]);
}

#[test]
fn kserve_v1_explainer_answers() {
    let alibi = json!({"meta": {"name": "TreeShap"}, "data": {"shap_values": [[[0.1, 0.2]]], "expected_value": [1.0],
        "feature_names": ["a", "b"]}});
    assert_eq!(sets(json!({"explanations": alibi.clone()})).len(), 1);
    assert_eq!(sets(json!({"data": alibi["data"].clone()})).len(), 1);
    // One explanation per instance.
    let s = sets(json!({"explanations": [alibi.clone(), alibi]}));
    assert_eq!(s.iter().map(key).collect::<Vec<_>>(), [(0, 0, 2), (1, 0, 2)]);
}

#[test]
fn trustyai_forms() {
    let s = sets(json!({"timestamp": "t", "type": "explanation", "saliencies": {"LIME": {
        "outputs-0": [{"name": "inputs-4", "score": 0.87, "confidence": 0.1}, {"name": "inputs-1", "score": 0.85, "confidence": 0.0}],
        "outputs-1": [{"name": "inputs-4", "score": -0.5, "confidence": 0.2}]}}}));
    assert_eq!(s.iter().map(key).collect::<Vec<_>>(), [(0, 0, 2), (0, 1, 1)]);
    assert_eq!((s[0].method.as_str(), s[0].output_name.as_str()), ("lime", "outputs-0"));
    assert_eq!((s[0].confidences.clone(), s[1].values.clone()), (vec![0.1, 0.0], vec![-0.5]));
    let both = sets(json!({"timestamp": "t",
        "LIME": {"saliencies": {"outputs-0": [{"name": "a", "score": 0.3, "confidence": 0}]}},
        "SHAP": {"saliencies": {"outputs-0": [{"name": "a", "score": 0.2, "confidence": 0}]}}}));
    assert_eq!(both.iter().map(|a| a.method.as_str()).collect::<Vec<_>>(), ["lime", "shap"]);
    let old = sets(json!({"saliencies": {"value": {"output": {"value": {"underlyingObject": 1}, "name": "value"},
        "perFeatureImportance": [{"feature": {"name": "f"}, "score": 0.74}]}}, "sourceExplainer": "LIME"}));
    assert_eq!((old[0].names[0].as_str(), old[0].values[0], old[0].output_value), ("f", 0.74, Some(1.0)));
    assert_eq!(old[0].method, "lime");
    let plain =
        sets(json!({"saliencies": {"predict": {"perFeatureImportance": [{"featureName": "a", "score": 0.3}]}}}));
    assert_eq!((plain[0].names[0].as_str(), plain[0].method.as_str()), ("a", "saliency"));
    assert!(plain[0].confidences.is_empty());
    let kogito = sets(json!({"saliencies": {"status": "SUCCEEDED", "saliencies": [{"outcomeName": "sum",
        "featureImportance": [{"featureName": "n", "featureScore": 0}, {"featureName": "m", "featureScore": 1}]}]}}));
    assert_eq!((kogito[0].output_name.as_str(), kogito[0].values.clone()), ("sum", vec![0.0, 1.0]));
}

#[test]
fn anchors_keep_rules_precision_and_coverage() {
    let s = sets(json!({"meta": {"name": "AnchorTabular"}, "data": {"anchor": ["Marital Status = Separated",
        "Sex = Female"], "precision": 0.9736, "coverage": 0.1032, "raw": {"prediction": [0]}}}));
    assert_eq!(s.len(), 1);
    let a = &s[0];
    assert_eq!((a.method.as_str(), a.names[1].as_str()), ("anchor", "Sex = Female"));
    assert_eq!((a.values.clone(), a.coverage, a.output_value), (vec![0.9736, 0.9736], Some(0.1032), Some(0.0)));
}

#[test]
fn oip_numeric_explanation_tensor() {
    let v = json!({"outputs": [
        {"name": "predict", "shape": [3, 2], "datatype": "FP64", "data": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7]},
        {"name": "explanation", "shape": [3, 2, 2], "datatype": "FP64", "data": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
         "parameters": {"feature_names": ["a", "b"], "base_value": [0.5, 0.5], "method": "integrated_gradients"}}]});
    let s = sets(v);
    assert_eq!(
        s.iter().map(key).collect::<Vec<_>>(),
        [(0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2), (2, 0, 2), (2, 1, 2)]
    );
    assert_eq!((s[3].values.clone(), s[3].output_value), (vec![7.0, 8.0], Some(0.8)));
    assert_eq!(s[0].method, "integrated_gradients");
    // Names in an output of their own; a wrong shape gives nothing rather than a guess.
    let s = sets(json!({"outputs": [{"name": "feature_names", "datatype": "BYTES", "data": ["a", "b"]},
        {"name": "explanation", "shape": [2], "datatype": "FP32", "data": [0.5, 0.25]}]}));
    assert_eq!(s[0].names, ["a", "b"]);
    assert!(sets(json!({"outputs": [{"name": "explanation", "shape": [3], "datatype": "FP32", "data": [0.5, 0.25]}]}))
        .is_empty());
}

#[test]
fn oip_bytes_one_string_per_instance() {
    let one = |x: f64| {
        json!({"meta": {"name": "TreeShap"}, "data": {"shap_values": [[[x, 1.0]]], "expected_value": [0.0],
            "feature_names": ["a", "b"]}})
        .to_string()
    };
    let s = sets(
        json!({"outputs": [{"name": "explanation", "datatype": "BYTES", "shape": [2], "data": [one(0.1), one(0.2)]}]}),
    );
    assert_eq!(s.iter().map(|a| (a.instance, a.values[0])).collect::<Vec<_>>(), [(0, 0.1), (1, 0.2)]);
}

#[test]
fn limits_are_counted_not_silent() {
    let wide: Vec<f64> = (0..MAX_FEATURES + 10).map(|i| i as f64).collect();
    let n = normalise(&json!({"shap_values": wide}));
    assert_eq!((n.sets[0].values.len(), n.cut.features, n.cut.values), (MAX_FEATURES, 10, 0));
    let rows: Vec<Vec<f64>> = (0..30).map(|_| vec![1.0; 4000]).collect();
    let n = normalise(&json!({"shap_values": rows}));
    let kept: usize = n.sets.iter().map(|s| s.values.len()).sum();
    assert_eq!((kept, n.cut.values), (MAX_VALUES, 30 * 4000 - MAX_VALUES as u64));
}

#[test]
fn method_names_map_to_the_vocabulary() {
    for (name, method) in [
        ("TreeShap", "shap"),
        ("KernelShap", "shap"),
        ("LIME", "lime"),
        ("IntegratedGradients", "integrated_gradients"),
        ("AnchorText", "anchor"),
        ("saliency", "saliency"),
        ("CEM", "other"),
    ] {
        assert_eq!(method_of(name), method, "{name}");
    }
}
