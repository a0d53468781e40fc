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

    /// Decodes a spool payload. Its UTF-8 is checked once, up front: `from_slice` would
    /// check every string on its own, which cost the shipper a fifth of its decode.
    pub fn decode(payload: &[u8]) -> serde_json::Result<Self> {
        let text = std::str::from_utf8(payload).map_err(serde::de::Error::custom)?;
        serde_json::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_of_encode_is_the_identity_and_bad_utf8_is_an_error() {
        let record = InferenceRecord {
            request_id: "r1".into(),
            group: "gröup".into(),
            request_body: Some("{\"content\":\"naïve \\\"quoted\\\" ✓\"}".into()),
            ..InferenceRecord::default()
        };
        let entry = Entry::Inference(Box::new(record));
        let mut buf = Vec::new();
        entry.encode(&mut buf).expect("encodes");
        assert_eq!(Entry::decode(&buf).expect("decodes"), entry);
        let mut bad = buf.clone();
        let at = bad.windows(2).position(|w| w == "ö".as_bytes()).expect("the group's ö");
        bad[at] = 0xff;
        assert!(Entry::decode(&bad).is_err(), "invalid UTF-8 inside a string must not decode");
    }
}
