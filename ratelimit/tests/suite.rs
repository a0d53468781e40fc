//! Every integration test of this crate in one test binary: one link instead of one per
//! file, which keeps the debug build small enough for CI's disk. Each file below is a
//! module; nextest names its tests `<file>::<test>` and runs each in its own process.

mod common;

mod config;
mod local;
mod redis;
mod redis_outage;
mod redis_replicas;
