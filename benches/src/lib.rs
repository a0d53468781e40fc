//! Switchyard benchmarks.
//!
//! - `benches/hot_path.rs`: criterion micro-benchmarks of the per-request pieces
//!   (routing-table lookup, assignment, request scanning, record encoding).
//! - `fast-upstream` (src/bin): an OpenAI-format upstream that answers from memory, so
//!   load tests measure the gateway and not the model.
//! - `loadgen` (src/bin): an open-loop load generator. Requests are scheduled at a fixed
//!   rate and each latency is measured from its *scheduled* send time, so a stalled
//!   target cannot hide its queueing delay (coordinated omission). It also measures the
//!   target's CPU and peak RSS from `/proc` ([`procstat`]) and can search for the
//!   saturation rate.
//! - `report` (src/bin): turns the per-run JSON ([`schema`]) into `results.json`,
//!   `results.md` and `chart.png` ([`summary`], [`chart`]).
//! - `load/run.sh`: the harness against peers (direct, switchyard, nginx, LiteLLM);
//!   see `benches/README.md`.
//! - `run-overhead.sh`: a quick direct-vs-gateway check at fixed rates.

pub mod chart;
pub mod loadgen_args;
pub mod measure;
pub mod procstat;
pub mod request;
pub mod schema;
pub mod search;
pub mod send;
pub mod summary;
pub mod tally;
