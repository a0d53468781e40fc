//! Clients of the data plane: the compiled client entries, key authentication (constant
//! time per client) and which groups a client sees and may use.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::RoutingTable;
use crate::schema::ClientConfig;

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Client name.
    pub name: String,
    /// Tenant.
    pub tenant: String,
    key_sha256: [u8; 32],
    groups: Option<Vec<String>>,
    /// The gateway's own client: not bound to a tenant's groups.
    internal: bool,
}

/// Why a client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `authorization: Bearer` header.
    Missing,
    /// A key that matches no client.
    Invalid,
}

// === impl RoutingTable ===

impl<P> RoutingTable<P> {
    /// Whether the data plane requires a client key.
    pub fn requires_key(&self) -> bool {
        self.clients.is_some()
    }

    /// Finds the client whose key is `presented`. Compares against every client's hash in
    /// constant time per client; `Ok(None)` when no keys are configured.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Option<&Arc<Client>>, AuthFailure> {
        let Some(clients) = &self.clients else { return Ok(None) };
        let key = presented.ok_or(AuthFailure::Missing)?;
        let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut found = None;
        for c in clients {
            if bool::from(c.key_sha256.ct_eq(&hash)) {
                found = Some(c);
            }
        }
        found.map(Some).ok_or(AuthFailure::Invalid)
    }
}

// === impl Client ===

impl Client {
    /// The compiled client of a config entry (validation guarantees a 64-hex key).
    pub(super) fn from_config(c: &ClientConfig) -> Self {
        let mut key = [0u8; 32];
        let _ = hex::decode_to_slice(&c.key_sha256, &mut key);
        Self {
            name: c.name.clone(),
            tenant: c.tenant.clone().unwrap_or_else(|| c.name.clone()),
            key_sha256: key,
            groups: if c.groups.iter().any(|g| g == "*") { None } else { Some(c.groups.clone()) },
            internal: false,
        }
    }

    /// A client for requests the gateway makes for itself (e.g. the catalog's LLM-assisted
    /// import): it has no key — no presented key can ever match it — and may use every
    /// group.
    pub fn internal(name: &str, tenant: &str) -> Self {
        Self { name: name.to_owned(), tenant: tenant.to_owned(), key_sha256: [0; 32], groups: None, internal: true }
    }

    /// Whether a group of `tenant` exists for this client: a shared group (no tenant) or
    /// one of the client's own tenant. Another tenant's group is, to the client, a group
    /// that does not exist. The gateway's own client sees every group.
    pub fn sees(&self, tenant: Option<&str>) -> bool {
        self.internal || tenant.is_none_or(|t| t == self.tenant)
    }

    /// Whether this client may use `group` (of `tenant`): it [`Client::sees`] it and its
    /// allow-list names it (`["*"]`: every group it sees).
    pub fn may_use(&self, group: &str, tenant: Option<&str>) -> bool {
        self.sees(tenant) && self.groups.as_ref().is_none_or(|gs| gs.iter().any(|g| g == group))
    }
}
