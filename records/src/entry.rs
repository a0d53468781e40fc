//! What one spool frame holds: an inference, a feedback event or an explainer's answer,
//! as JSON.
//!
//! JSON keeps the spool readable with standard tools and tolerant of added fields (a
//! newer binary can replay an older spool). Invariant: [`Entry::decode`] of
//! [`Entry::encode`] is the identity; a payload that does not decode is dead-lettered by
//! the shipper, never dropped silently.

use serde::{Deserialize, Serialize};

use crate::{ExplanationRecord, FeedbackRecord, InferenceRecord};

/// One spooled item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Entry {
    /// An inference record (`inferences_<group>`, plus `explanations` rows).
    #[serde(rename = "i")]
    Inference(Box<InferenceRecord>),
    /// A feedback event (`feedback`).
    #[serde(rename = "f")]
    Feedback(FeedbackRecord),
    /// An explainer's attributions for an inference (`explanations` rows).
    #[serde(rename = "x")]
    Explanation(Box<ExplanationRecord>),
}

// === impl Entry ===

impl Entry {
    /// Appends the JSON encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) -> serde_json::Result<()> {
        serde_json::to_writer(buf, self)
    }

    /// Decodes a spool payload.
    pub fn decode(payload: &[u8]) -> serde_json::Result<Self> {
        serde_json::from_slice(payload)
    }
}
