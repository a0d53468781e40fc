//! `switchyard-core`: the few helpers every Switchyard crate needs, kept in one place so
//! that nothing copies them.
//!
//! - [`Blame`]: who caused a failure — every crate's error types answer with this one type.
//! - [`clock`]: Unix time in milliseconds and seconds.
//! - [`id`]: time-ordered random ids (request ids, audit ids, feedback ids).
//! - [`backoff`]: capped exponential backoff with equal jitter.
//! - [`vocab`]: the names config, records, metrics and headers share (role, assignment
//!   reason, error class).
//! - [`dataplane`]: the seam through which the control plane sends a request through a
//!   group and reads live data-plane state without importing the data plane.
//! - [`worker`]: which data-plane worker thread this is, for per-worker connections.

pub mod backoff;
pub mod clock;
pub mod dataplane;
pub mod id;
pub mod vocab;
pub mod worker;

pub use backoff::Backoff;
pub use clock::{unix_ms, unix_secs};
pub use dataplane::{DataPlane, Discover, Dispatch, DispatchError, Dispatched, KeyUsage};
pub use id::new_id;
pub use vocab::{AssignmentReason, ErrorClass, Role};

/// The peer address of the connection a request came on, left in the request's
/// extensions by listeners that are asked to (the admin listener: the console throttles
/// failed sign-ins per address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Who caused a failure (ARCHITECTURE: errors know their blame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Blame {
    /// The caller's input was wrong; retrying it unchanged fails again.
    Client,
    /// A system we call (a model server, ClickHouse, the state store) failed.
    Upstream,
    /// This process or its host (not ready, overloaded, disk, a bug).
    Internal,
}
