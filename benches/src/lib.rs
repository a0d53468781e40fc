//! Switchyard benchmarks.
//!
//! - `benches/hot_path.rs`: criterion micro-benchmarks of the per-request pieces
//!   (routing-table lookup, assignment, request scanning, record encoding).
//! - `fast-upstream` (src/bin): an OpenAI-format upstream that answers from memory, so
//!   load tests measure the gateway and not the model.
//! - `loadgen` (src/bin): an open-loop load generator. Requests are scheduled at a fixed
//!   rate and each latency is measured from its *scheduled* send time, so a stalled
//!   target cannot hide its queueing delay (coordinated omission).
//! - `run-overhead.sh`: direct vs through-the-gateway at fixed rates, for the README.
