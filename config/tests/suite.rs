//! Every integration test of this crate in one test binary: one link instead of one per
//! file, which keeps the debug build small enough for CI's disk. Each file below is a
//! module; nextest names its tests `<file>::<test>` and runs each in its own process.

mod explain_config;
mod hardening;
mod history;
mod jobs_config;
mod listener_limits;
mod provider_and_resilience_keys;
mod tracing_config;
mod validation;
