//! The catalog entry (SPEC §8): what Switchyard knows about one model, field by field.
//!
//! Invariants the types hold (the rest is [`CatalogEntry::validate`], in `validate.rs`):
//! - Unknown keys are refused at every level (`deny_unknown_fields`).
//! - *Unknown* is `null`, never a made-up default: every fact is an `Option` (a capability
//!   is `true | false | null`), and a whole section that nothing stated (`pricing`,
//!   `io_schema`) is `null`. An absent key reads as `null`; every key is written, `null`
//!   included, so a reader sees what is unknown.
//! - Prices are exact decimal strings ([`Price`]); token counts are integers.
//! - `id` is `<provider>/<name>`; `provider` has no `/`, `name` may.
//! - `created_at`/`updated_at` belong to the store; `provenance` says where each field came
//!   from (keys are field paths, see `fields.rs`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::price::Price;

/// One model in the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    /// `<provider>/<name>`, e.g. `openai/gpt-4o` or `vllm/meta-llama/Llama-3.1-8B-Instruct`.
    pub id: String,
    /// The Switchyard provider that serves the model (a `providers:` key); no `/`.
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.:@-]{1,128}$"))]
    pub provider: String,
    /// The model's name at that provider, as sent upstream; may contain `/`.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// A human-readable name. Unknown: null.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1024))]
    pub display_name: Option<String>,
    /// What requests the model answers. Unknown: null.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// What the model reads and writes.
    #[serde(default)]
    pub modalities: Modalities,
    /// Token limits.
    #[serde(default)]
    pub limits: Limits,
    /// Prices per million tokens. Unknown: null.
    #[serde(default)]
    pub pricing: Option<Pricing>,
    /// What the model can do; each `true | false | null` (unknown).
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Input and output tensors (tabular / Open Inference Protocol models). Unknown: null.
    #[serde(default)]
    pub io_schema: Option<IoSchema>,
    /// Where the model came from.
    #[serde(default)]
    pub training: Training,
    /// Evaluation results by name (accuracy, auc, …).
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"minLength": 1, "maxLength": 128}))]
    pub metrics: BTreeMap<String, f64>,
    /// Free-form labels.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"minLength": 1, "maxLength": 128}))]
    pub labels: BTreeMap<String, String>,
    /// Where each field's value came from, keyed by field path (`limits.context_tokens`).
    #[serde(default)]
    pub provenance: BTreeMap<String, Provenance>,
    /// When the entry was created (RFC 3339); set by the store.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub created_at: Option<OffsetDateTime>,
    /// When the entry last changed (RFC 3339); set by the store.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schemars(with = "Option<String>", extend("format" = "date-time"))]
    pub updated_at: Option<OffsetDateTime>,
}

/// The kind of model, which decides the requests it can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Chat completions (`/v1/chat/completions`, `/v1/messages`).
    Chat,
    /// Text completions (`/v1/completions`).
    Completion,
    /// Embeddings (`/v1/embeddings`).
    Embedding,
    /// A classifier (Open Inference Protocol `infer`).
    Classifier,
    /// A regressor (Open Inference Protocol `infer`).
    Regressor,
    /// Anything else (image generation, speech, rerank, …): serves none of the above.
    Other,
}

/// A kind of content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// Text.
    Text,
    /// Images.
    Image,
    /// Audio.
    Audio,
    /// Video.
    Video,
    /// Source code (some providers list it apart from text).
    Code,
    /// Embedding vectors.
    Embedding,
}

/// What a model reads and writes. Unknown: null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Modalities {
    /// What it reads.
    #[serde(default)]
    pub input: Option<Vec<Modality>>,
    /// What it writes.
    #[serde(default)]
    pub output: Option<Vec<Modality>>,
}

/// Token limits; each unknown when null, else > 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// The context window: input and output tokens of one request together (tokens).
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub context_tokens: Option<u64>,
    /// The most input tokens one request may carry (tokens); ≤ `context_tokens`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_input_tokens: Option<u64>,
    /// The most tokens one answer may have (tokens); ≤ `context_tokens`.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub max_output_tokens: Option<u64>,
}

/// Prices per million tokens in `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pricing {
    /// Price of one million input tokens. Unknown: null.
    #[serde(default)]
    pub input_per_mtok: Option<Price>,
    /// Price of one million output tokens. Unknown: null.
    #[serde(default)]
    pub output_per_mtok: Option<Price>,
    /// ISO 4217 code of the currency, e.g. `USD`.
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
}

/// What a model can do: `true`, `false`, or null (unknown).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Streams answers (`stream: true`).
    #[serde(default)]
    pub streaming: Option<bool>,
    /// Calls tools / functions.
    #[serde(default)]
    pub tools: Option<bool>,
    /// Can be held to answering JSON.
    #[serde(default)]
    pub json_mode: Option<bool>,
    /// Returns token log-probabilities.
    #[serde(default)]
    pub logprobs: Option<bool>,
    /// Returns feature attributions with its answers.
    #[serde(default)]
    pub explanations: Option<bool>,
}

/// A model's tensors (Open Inference Protocol metadata).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IoSchema {
    /// Input tensors.
    #[serde(default)]
    pub inputs: Vec<Tensor>,
    /// Output tensors.
    #[serde(default)]
    pub outputs: Vec<Tensor>,
}

/// One tensor's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tensor {
    /// The tensor's name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Its element type.
    pub datatype: Datatype,
    /// Its shape; `-1` is a dimension of any size.
    #[schemars(inner(range(min = -1)))]
    pub shape: Vec<ShapeDim>,
}

/// One dimension of a tensor's shape: a size, or `-1` for any size.
pub type ShapeDim = i64;

/// Open Inference Protocol tensor data types (plus Triton's `BF16`).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Datatype {
    /// Boolean.
    Bool,
    /// Unsigned 8-bit integer.
    Uint8,
    /// Unsigned 16-bit integer.
    Uint16,
    /// Unsigned 32-bit integer.
    Uint32,
    /// Unsigned 64-bit integer.
    Uint64,
    /// Signed 8-bit integer.
    Int8,
    /// Signed 16-bit integer.
    Int16,
    /// Signed 32-bit integer.
    Int32,
    /// Signed 64-bit integer.
    Int64,
    /// IEEE half precision.
    Fp16,
    /// IEEE single precision.
    Fp32,
    /// IEEE double precision.
    Fp64,
    /// Bytes (strings).
    Bytes,
    /// bfloat16 (Triton).
    Bf16,
}

/// Where a model came from. Unknown: null.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Training {
    /// The model it was trained from (a catalog id or a provider's name).
    #[serde(default)]
    pub base_model: Option<String>,
    /// The dataset it was trained on.
    #[serde(default)]
    pub dataset: Option<String>,
    /// The framework (`sklearn`, `xgboost`, `transformers`, …).
    #[serde(default)]
    pub framework: Option<String>,
    /// The Switchyard fine-tuning job that produced it.
    #[serde(default)]
    pub job: Option<String>,
}

/// Where a field's value came from and how far it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The source.
    pub source: Source,
    /// Trust in the value, from 0 (none) to 1 (taken verbatim from the source).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
}

/// A source of catalog data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The provider's own API (discover).
    Provider,
    /// An imported catalog file (LiteLLM's).
    File,
    /// An LLM-assisted transformation.
    Llm,
    /// An operator's edit.
    Operator,
}

// === impl CatalogEntry ===

impl CatalogEntry {
    /// An entry that knows only its identity: `id` is `<provider>/<name>`, everything else
    /// unknown.
    pub fn new(provider: &str, name: &str) -> Self {
        Self {
            id: format!("{provider}/{name}"),
            provider: provider.to_owned(),
            name: name.to_owned(),
            display_name: None,
            kind: None,
            modalities: Modalities::default(),
            limits: Limits::default(),
            pricing: None,
            capabilities: Capabilities::default(),
            io_schema: None,
            training: Training::default(),
            metrics: BTreeMap::new(),
            labels: BTreeMap::new(),
            provenance: BTreeMap::new(),
            created_at: None,
            updated_at: None,
        }
    }

    /// Records that the field at `path` came from `source` with `confidence`.
    pub fn mark(&mut self, path: &str, source: Source, confidence: f64) {
        self.provenance.insert(path.to_owned(), Provenance { source, confidence });
    }
}

// === impl Kind ===

impl Kind {
    /// The word used in JSON and messages (`chat`, `embedding`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Chat => "chat",
            Kind::Completion => "completion",
            Kind::Embedding => "embedding",
            Kind::Classifier => "classifier",
            Kind::Regressor => "regressor",
            Kind::Other => "other",
        }
    }
}

// === impl Modality ===

impl Modality {
    /// Reads a modality word as providers write it (`text`, `image`, …).
    pub fn parse(word: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(word.to_owned())).ok()
    }
}

// === impl Datatype ===

impl Datatype {
    /// The protocol's name for it (`FP32`, `BYTES`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp16 => "FP16",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bytes => "BYTES",
            Datatype::Bf16 => "BF16",
        }
    }

    /// Reads an Open Inference Protocol datatype (`FP32`, `BYTES`, …); case-sensitive.
    pub fn parse(word: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(word.to_owned())).ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn datatype_names_are_the_wire_names() {
        use Datatype::*;
        for dt in [Bool, Uint8, Uint16, Uint32, Uint64, Int8, Int16, Int32, Int64, Fp16, Fp32, Fp64, Bytes, Bf16] {
            assert_eq!(serde_json::to_value(dt).unwrap(), dt.as_str());
            assert_eq!(Datatype::parse(dt.as_str()), Some(dt));
        }
        assert_eq!(Datatype::parse("fp32"), None);
        assert_eq!(Modality::parse("image"), Some(Modality::Image));
        assert_eq!(Modality::parse("smell"), None);
    }
}
