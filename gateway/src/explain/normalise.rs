//! One normaliser for every explanation shape: a JSON value in, long-format attribution
//! sets out — one [`Attributions`] per (instance, output), every instance and every
//! output, never only the first.
//!
//! Recognised, wherever they sit in the value (top level, under `explanation`,
//! `explanations`, in an OIP output, inside a JSON string):
//! - Open Inference Protocol v2 answers: an output named `explanation(s)`, BYTES holding
//!   explanation JSON (one string per instance or one for the batch) or numeric with
//!   feature names ([`oip`]);
//! - SHAP / Alibi: `{meta, data: {shap_values, expected_value, feature_names, raw}}` or
//!   the same keys flattened; `shap_values` as `[F]`, `[n][F]`, Alibi's
//!   `[outputs][n][F]` or shap's `[n][F][outputs]` ([`shap`]);
//! - Alibi anchors `{data: {anchor: [rules], precision, coverage}}`: method `anchor`, one
//!   row per rule with the precision as its value and the coverage kept ([`shap`]);
//! - KServe v1 explainer answers `{"explanations": …}` (an explanation, or a list with one
//!   per instance) and `{"data": …}`;
//! - TrustyAI saliencies: `{saliencies: {<output>: [{name, score, confidence}]}}`, with a
//!   method level (`{saliencies: {LIME: {<output>: […]}}}`, `{LIME: {saliencies: …}}`)
//!   and the older `perFeatureImportance` form ([`trustyai`]).
//!
//! Limits (nothing is cut silently): at most [`MAX_FEATURES`] features per set and
//! [`MAX_VALUES`] values per answer; what is cut is reported in [`Normalised::cut`] and
//! counted by the caller in `switchyard_explanation_values_cut_total{group,member,limit}`.
//! Invariants: in every set `names.len() == values.len()` (and `confidences` is empty
//! or as long); nothing here fails — an unrecognised value gives no sets.

mod oip;
mod shap;
mod trustyai;

use serde_json::Value;
use switchyard_records::Attributions;

/// Most features kept per (instance, output).
pub const MAX_FEATURES: usize = 4096;
/// Most values kept per answer (all instances × outputs × features).
pub const MAX_VALUES: usize = 100_000;
/// Deepest nesting followed (explanations inside strings inside outputs …).
const MAX_DEPTH: u32 = 8;

/// What a value normalised to.
#[derive(Debug, Default, PartialEq)]
pub struct Normalised {
    /// One set per (instance, output), in the source's order.
    pub sets: Vec<Attributions>,
    /// Values not kept because of a limit.
    pub cut: Cut,
    /// Values kept so far.
    kept: usize,
}

/// Values dropped by each limit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Beyond [`MAX_FEATURES`] in a set.
    pub features: u64,
    /// Beyond [`MAX_VALUES`] in the answer.
    pub values: u64,
}

/// Where a nested explanation sits: its instance offset in the batch.
#[derive(Debug, Clone, Copy, Default)]
struct At {
    instance: u32,
    depth: u32,
}

// === impl Normalised ===

impl Normalised {
    /// Adds `set` within the limits; a set without features is ignored.
    fn push(&mut self, mut set: Attributions) {
        let n = set.names.len().min(set.values.len());
        set.names.truncate(n);
        set.values.truncate(n);
        if n == 0 {
            return;
        }
        if n > MAX_FEATURES {
            self.cut.features += (n - MAX_FEATURES) as u64;
            set.names.truncate(MAX_FEATURES);
            set.values.truncate(MAX_FEATURES);
        }
        let room = MAX_VALUES.saturating_sub(self.kept);
        if set.values.len() > room {
            self.cut.values += (set.values.len() - room) as u64;
            set.names.truncate(room);
            set.values.truncate(room);
            if room == 0 {
                return;
            }
        }
        set.confidences.resize(set.names.len(), f64::NAN);
        if set.confidences.iter().all(|c| c.is_nan()) {
            set.confidences.clear();
        }
        self.kept += set.values.len();
        self.sets.push(set);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// Normalises a backend's whole answer (inline attributions). Cheap for answers that
/// carry none: a byte scan before any parse.
pub fn from_answer(body: &[u8]) -> Normalised {
    let mentions = |needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    if !(mentions(b"shap") || mentions(b"salienc") || mentions(b"xplanation") || mentions(b"anchor")) {
        return Normalised::default();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => normalise(&v),
        Err(_) => Normalised::default(),
    }
}

/// Normalises any explanation value.
pub fn normalise(v: &Value) -> Normalised {
    let mut out = Normalised::default();
    walk(v, At::default(), &mut out);
    out
}

/// Finds explanations in `v`; returns whether it found any.
fn walk(v: &Value, at: At, out: &mut Normalised) -> bool {
    if at.depth > MAX_DEPTH {
        return false;
    }
    let deeper = At { depth: at.depth + 1, ..at };
    match v {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => walk(&inner, deeper, out),
            _ => false,
        },
        Value::Array(items) => {
            let mut found = false;
            for (i, item) in items.iter().enumerate() {
                let instance = at.instance + u32::try_from(i).unwrap_or(u32::MAX);
                found |= walk(item, At { instance, ..deeper }, out);
            }
            found
        }
        Value::Object(map) => {
            if map.get("outputs").is_some_and(Value::is_array) {
                return oip::outputs(v, deeper, out);
            }
            if trustyai::saliencies(v, out) {
                return true;
            }
            if shap::alibi(v, at.instance, out) {
                return true;
            }
            for key in ["explanations", "explanation", "data"] {
                if let Some(inner) = map.get(key) {
                    if walk(inner, deeper, out) {
                        return true;
                    }
                }
            }
            false
        }
        _ => false,
    }
}

/// The method vocabulary of SPEC §9 for a source's own name (`TreeShap`, `LIME`, …).
pub fn method_of(name: &str) -> &'static str {
    let n: String = name.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    if n.contains("anchor") {
        "anchor"
    } else if n.contains("shap") {
        "shap"
    } else if n.contains("lime") {
        "lime"
    } else if n.contains("integratedgradient") {
        "integrated_gradients"
    } else if n.contains("salien") {
        "saliency"
    } else {
        "other"
    }
}

/// A feature name from a JSON value (strings as they are, anything else as JSON).
fn name_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A rectangular numeric tensor: its shape and its values in row-major order.
#[derive(Debug, PartialEq)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

// === impl Tensor ===

impl Tensor {
    /// Reads nested arrays of numbers; `None` when ragged or not numeric.
    fn read(v: &Value) -> Option<Self> {
        let mut shape = Vec::new();
        let mut probe = v;
        while let Value::Array(a) = probe {
            shape.push(a.len());
            match a.first() {
                Some(first) => probe = first,
                None => break,
            }
        }
        let mut data = Vec::with_capacity(shape.iter().product());
        fill(v, &shape, &mut data)?;
        Some(Self { shape, data })
    }

    /// Reshapes flat data to `shape` when the sizes agree.
    fn with_shape(mut self, shape: &[usize]) -> Option<Self> {
        (shape.iter().product::<usize>() == self.data.len()).then(|| {
            self.shape = shape.to_vec();
            self
        })
    }
}

fn fill(v: &Value, shape: &[usize], out: &mut Vec<f64>) -> Option<()> {
    match (v, shape.split_first()) {
        (Value::Array(a), Some((&n, rest))) if a.len() == n => {
            for item in a {
                fill(item, rest, out)?;
            }
            Some(())
        }
        (Value::Number(x), None) => {
            out.push(x.as_f64()?);
            Some(())
        }
        _ => None,
    }
}

/// How a tensor of attributions is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Alibi: `[outputs][instances][features]`.
    OutInstFeat,
    /// shap ≥ 0.45 multi-output: `[instances][features][outputs]`.
    InstFeatOut,
    /// OIP `[n, k, F]`: `[instances][outputs][features]`.
    InstOutFeat,
}

/// A tensor read as (instance, output, feature).
struct Grid<'a> {
    t: &'a Tensor,
    instances: usize,
    outputs: usize,
    features: usize,
    order: Order,
}

/// What every set of one grid shares.
struct Extras<'a> {
    /// Feature names (generated ones fill in where the source gave too few).
    names: Vec<String>,
    /// Base values: one per output, or one for all.
    base: Vec<f64>,
    /// Model outputs: `[n]`, `[n][k]` or `[n][1]`.
    output_values: Option<Tensor>,
    method: &'a str,
    instance0: u32,
}

// === impl Grid ===

impl Grid<'_> {
    /// The grid of a tensor whose rank says the layout: `[F]`, `[n][F]`, or rank 3 in
    /// `order3`.
    fn of(t: &Tensor, order3: Order) -> Option<Grid<'_>> {
        let (instances, outputs, features) = match (t.shape.as_slice(), order3) {
            ([f], _) => (1, 1, *f),
            ([n, f], _) => (*n, 1, *f),
            ([k, n, f], Order::OutInstFeat) => (*n, *k, *f),
            ([n, f, k], Order::InstFeatOut) => (*n, *k, *f),
            ([n, k, f], Order::InstOutFeat) => (*n, *k, *f),
            _ => return None,
        };
        let order = if t.shape.len() == 3 { order3 } else { Order::InstOutFeat };
        Some(Grid { t, instances, outputs, features, order })
    }

    fn value(&self, i: usize, o: usize, j: usize) -> f64 {
        let (n, k, f) = (self.instances, self.outputs, self.features);
        let at = match self.order {
            Order::OutInstFeat => (o * n + i) * f + j,
            Order::InstFeatOut => (i * f + j) * k + o,
            Order::InstOutFeat => (i * k + o) * f + j,
        };
        self.t.data.get(at).copied().unwrap_or(f64::NAN)
    }

    /// Pushes one set per (instance, output).
    fn emit(&self, extras: &Extras<'_>, out: &mut Normalised) {
        let mut names = extras.names.clone();
        names.truncate(self.features);
        names.extend((names.len()..self.features).map(|j| format!("feature_{j}")));
        for i in 0..self.instances {
            for o in 0..self.outputs {
                let base = match extras.base.as_slice() {
                    [one] => Some(*one),
                    many if many.len() == self.outputs => Some(many[o]),
                    _ => None,
                };
                let output_value = extras.output_values.as_ref().and_then(|t| match t.data.len() {
                    len if len == self.instances * self.outputs => Some(t.data[i * self.outputs + o]),
                    _ => None,
                });
                out.push(Attributions {
                    instance: extras.instance0.saturating_add(u32::try_from(i).unwrap_or(u32::MAX)),
                    output: u32::try_from(o).unwrap_or(u32::MAX),
                    names: names.clone(),
                    values: (0..self.features).map(|j| self.value(i, o, j)).collect(),
                    base_value: base,
                    output_value,
                    method: extras.method.to_owned(),
                    ..Attributions::default()
                });
            }
        }
    }
}

/// Numbers of a scalar or (nested) array, flattened.
fn numbers(v: Option<&Value>) -> Vec<f64> {
    fn go(v: &Value, out: &mut Vec<f64>) {
        match v {
            Value::Number(x) => out.extend(x.as_f64()),
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(v) = v {
        go(v, &mut out);
    }
    out
}

/// Strings of a (nested) array, flattened; other values as JSON text.
fn strings(v: Option<&Value>) -> Vec<String> {
    fn go(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(a) => a.iter().for_each(|x| go(x, out)),
            other => out.push(name_of(other)),
        }
    }
    let mut out = Vec::new();
    if let Some(v) = v {
        go(v, &mut out);
    }
    out
}

#[cfg(test)]
#[path = "normalise/tests.rs"]
mod tests;
