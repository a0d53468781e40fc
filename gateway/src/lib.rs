//! Switchyard's data plane.
//!
//! [`Gateway::start`] ([`gateway`]) loads the config into a hot-swapped store, starts the
//! record queue, binds the data-plane and admin listeners and serves until
//! [`Gateway::shutdown`]. A request's way through the data plane is in [`proxy`], phase by
//! phase; phase 1 (accept) is [`listen`]; provider adapters are in [`providers`];
//! breakers, retry budgets and mirror slots in [`resilience`]; errors and the one mapping
//! to HTTP in [`error`]; explanations (inline, explainer calls after the answer, logprob
//! summaries) in [`explain`]; trace context, spans, their export and the access log in
//! [`trace`].

pub mod admin;
pub mod error;
pub mod explain;
pub mod gateway;
pub mod headers;
pub mod listen;
pub mod metrics;
pub mod providers;
pub mod proxy;
pub mod recording;
pub mod resilience;
pub mod trace;
pub mod upstream;

pub use gateway::{Gateway, MountContext, StartError, Startup};
