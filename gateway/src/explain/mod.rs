//! Explanations (SPEC §9): attributions found in a backend's answer, the member's
//! explainer called after the client has its answer, and LLM log-probability summaries.
//!
//! - [`normalise`] turns every explanation shape into long-format sets (one per
//!   instance and output); inline attributions ([`normalise::from_answer`]) and explainer
//!   answers go through the same code.
//! - [`call`] runs the explainer: the recorder keeps a [`Pending`] from the start of a
//!   request (the request body only when the request is in the sample — a refcount, no
//!   copy) and hands it to [`after_answer`] when it finishes, after the record was
//!   offered. The call is spawned, sampled by `sample_percent`, bounded per member by
//!   `max_in_flight` with `try_acquire` (a busy explainer is a counted skip, never a
//!   wait), cut off at `timeout_ms`, never retried, and its answer is spooled as an
//!   [`switchyard_records::ExplanationRecord`] — as durable as the records.
//! - [`input`] builds the explainer's request; [`logprobs`] summarises token
//!   log-probabilities.
//!
//! Invariant: nothing here runs on a request's path before its response is complete;
//! a slow or dead explainer changes no client's latency.

pub mod call;
pub mod input;
pub mod logprobs;
pub mod metrics;
pub mod normalise;

pub use call::{after_answer, pending, Explainers, Pending};
pub use metrics::{ExplainMetrics, Outcome};
pub use normalise::{normalise, Cut, Normalised};
