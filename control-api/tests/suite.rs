//! Every integration test of this crate in one test binary: one link instead of one per
//! file, which keeps the debug build small enough for CI's disk. Each file below is a
//! module; nextest names its tests `<file>::<test>` and runs each in its own process.

mod analytics_rows;

mod analytics_browser;
mod analytics_clickhouse;
mod analytics_sql_compat;
mod jobs_sql_compat;
mod stats_known_answers;
mod stats_reference;
mod stats_simulation;
