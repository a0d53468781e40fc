//! The edit surface of the [`ConfigStore`](super::ConfigStore) as the control API sees it
//! ([`ConfigEditor`]): config text and versions, no runtime parts, and what an edit
//! returns or why it was refused.

use std::sync::Arc;

use crate::catalog::CatalogView;
use crate::error::ConfigError;
use crate::log::{BoxFuture, ChangeNote, VersionInfo};
use crate::schema::Config;

/// Why an edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The edit was based on an older version (HTTP 412).
    #[error("config version {current} is current; the change was based on an older version")]
    Stale {
        /// The version now serving (or stored by another replica).
        current: u64,
    },
    /// The resulting config is invalid (HTTP 422).
    #[error("{0}")]
    Invalid(ConfigError),
    /// The running config is the embedded quick start; there is no file to write.
    #[error("the running config is embedded; start with --config FILE to edit it")]
    ReadOnly,
    /// No such version in the history.
    #[error("config version {0} is not in the history")]
    UnknownVersion(u64),
    /// The state store cannot be reached; nothing was changed (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// Writing failed; nothing was applied.
    #[error("could not persist the config: {0}")]
    Io(String),
}

/// A successful edit.
#[derive(Debug, Clone)]
pub struct Edited {
    /// The new version.
    pub version: u64,
    /// The config before.
    pub before: Arc<Config>,
    /// The config after.
    pub after: Arc<Config>,
}

/// A change to a copy of the config (refuses with a config error).
pub type Change<'a> = Box<dyn FnOnce(&mut Config) -> Result<(), ConfigError> + Send + 'a>;
/// Who made a change and its audit entry, from the config before and after.
pub type Describe<'a> = Box<dyn FnOnce(&Config, &Config) -> ChangeNote + Send + 'a>;

/// The store as the control API sees it: config text and versions, no runtime parts.
pub trait ConfigEditor: Send + Sync {
    /// The config serving now and its version.
    fn snapshot(&self) -> (Arc<Config>, u64);
    /// Applies `change` to a copy of the current config if `expected` is current, and
    /// stores it with the note `describe` gives.
    fn edit_with<'a>(
        &'a self,
        expected: u64,
        change: Change<'a>,
        describe: Describe<'a>,
    ) -> BoxFuture<'a, Result<Edited, EditError>>;
    /// Re-applies a stored version as a new version.
    fn rollback<'a>(
        &'a self,
        expected: u64,
        to: u64,
        describe: Describe<'a>,
    ) -> BoxFuture<'a, Result<Edited, EditError>>;
    /// Takes a new catalog snapshot: the running config is compiled again with it (see
    /// [`ConfigStore::set_catalog`]).
    fn set_catalog(&self, catalog: Arc<CatalogView>) -> BoxFuture<'_, ()>;
    /// Up to `limit` stored versions, newest first.
    fn versions(&self, limit: u32) -> BoxFuture<'_, Result<Vec<VersionInfo>, EditError>>;
    /// The YAML text of a stored version (in shared mode: the routing document).
    fn version_text(&self, version: u64) -> BoxFuture<'_, Result<Option<String>, EditError>>;
}
