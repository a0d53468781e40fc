//! Switchyard configuration.
//!
//! The YAML schema of SPEC §2 ([`schema`]), validation that reports every problem with
//! its key path ([`validate`]), compilation into an immutable [`RoutingTable`] with
//! precomputed sampling ([`table`], [`assign`]), and the [`ConfigStore`] that hot-swaps
//! tables on file change, `SIGHUP` or an API edit ([`store`]). Secrets appear in the file
//! only as `env:`/`file:` references ([`secret`]). The `rate_limits:` section is checked
//! and its Redis password resolved in [`rate_limits`].

pub mod assign;
pub mod atomic;
pub mod catalog;
pub mod dupes;
pub mod error;
pub mod log;
pub mod rate_limits;
pub mod request_id;
pub mod schema;
pub mod secret;
pub mod split;
pub mod store;
pub mod table;
pub mod validate;

pub use catalog::CatalogView;
pub use error::{ConfigError, Problem};
pub use log::{BoxFuture, ChangeNote, LogError, MemoryLog, StoredVersion, VersionInfo, VersionLog};
pub use schema::{Config, ProviderKind, Role};
pub use secret::{Secret, SecretRef};
pub use store::{
    check, check_offline, Change, ConfigEditor, ConfigSource, ConfigStore, Describe, EditError, Edited, ReloadOutcome,
    ANY_VERSION, QUICKSTART_YAML,
};
pub use table::{
    AuthFailure, Client, Explain, Group, Member, Provider, ProviderFactory, ProviderSpec, RoutingTable, StickySource,
    Timeouts,
};
