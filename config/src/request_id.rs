//! Request ids bound to their tenant: `<id><tag>`, where `<id>` is a [`switchyard_core::new_id`]
//! (32 hex digits) and `<tag>` is 16 hex digits of HMAC-SHA256 over (`<id>`, tenant).
//!
//! `POST /v1/feedback` accepts a request id only when its tag verifies for the caller's
//! tenant, so a client can attach feedback only to its own tenant's inferences, on any
//! replica, as soon as the response headers are out, and without a lookup: the id proves
//! itself. The MAC key is a subkey of the master key (`SWITCHYARD_MASTER_KEY`):
//! HMAC-SHA256(master key, [`SUBKEY_LABEL`]), never the master key itself, so a tag says
//! nothing about sealed secrets. Without a master key the key is random per process: ids
//! then verify only on the process that made them (a WARN at start says so).
//!
//! Invariants: a signed id is 48 lower-case hex digits; its first 32 are the unsigned id
//! (its time prefix still sorts and dates it); tags compare in constant time; an id a
//! client chose (`x-request-id`) is never signed, so it can never verify.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secret::master_key;

/// The label the request-id subkey is derived under.
pub const SUBKEY_LABEL: &[u8] = b"switchyard/request-id-tag/v1";
/// Hex digits of the tag (64 bits).
pub const TAG_HEX: usize = 16;
/// Length of a signed request id.
pub const SIGNED_ID_LEN: usize = switchyard_core::id::ID_LEN + TAG_HEX;

/// Signs and verifies request ids for a tenant.
#[derive(Clone)]
pub struct RequestIdSigner {
    /// HMAC-SHA256 keyed with the subkey once (its padded key blocks already hashed), cloned
    /// per tag: a tag then costs two SHA-256 compressions, not four.
    keyed: Hmac<Sha256>,
    ephemeral: bool,
}

// === impl RequestIdSigner ===

impl RequestIdSigner {
    /// The signer under the master key's subkey, or under a random per-process key when
    /// `SWITCHYARD_MASTER_KEY` is unset or malformed ([`Self::is_ephemeral`]).
    pub fn from_env() -> Self {
        match master_key() {
            Ok(master) => Self::from_master(&master),
            Err(_) => Self { keyed: mac(&rand::random::<[u8; 32]>()), ephemeral: true },
        }
    }

    /// The signer for a given master key.
    pub fn from_master(master: &[u8; 32]) -> Self {
        let subkey = mac(master).chain_update(SUBKEY_LABEL).finalize().into_bytes();
        Self { keyed: mac(&subkey), ephemeral: false }
    }

    /// Whether the key is random to this process (no master key).
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }

    /// `id` with its tag for `tenant` appended (`id` is an unsigned [`switchyard_core::new_id`]).
    pub fn sign(&self, id: &str, tenant: &str) -> String {
        let mut out = String::with_capacity(id.len() + TAG_HEX);
        out.push_str(id);
        out.push_str(&hex::encode(self.tag(id, tenant)));
        out
    }

    /// Whether `signed` is an id this deployment signed for `tenant`.
    pub fn verify(&self, signed: &str, tenant: &str) -> bool {
        if signed.len() != SIGNED_ID_LEN || !signed.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return false;
        }
        let (id, tag) = signed.split_at(switchyard_core::id::ID_LEN);
        let mut given = [0u8; TAG_HEX / 2];
        if hex::decode_to_slice(tag, &mut given).is_err() {
            return false;
        }
        self.tag(id, tenant).ct_eq(&given).into()
    }

    fn tag(&self, id: &str, tenant: &str) -> [u8; TAG_HEX / 2] {
        // The id has a fixed length in a signed id, so (id, tenant) is unambiguous; the
        // separator keeps it so for any caller.
        let full = self
            .keyed
            .clone()
            .chain_update(id.as_bytes())
            .chain_update([0u8])
            .chain_update(tenant.as_bytes())
            .finalize();
        let mut tag = [0u8; TAG_HEX / 2];
        tag.copy_from_slice(&full.into_bytes()[..TAG_HEX / 2]);
        tag
    }
}

impl std::fmt::Debug for RequestIdSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestIdSigner").field("ephemeral", &self.ephemeral).finish_non_exhaustive()
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_id_verifies_for_its_tenant_only() {
        let s = RequestIdSigner::from_master(&[7; 32]);
        let id = switchyard_core::new_id();
        let signed = s.sign(&id, "acme");
        assert_eq!(signed.len(), SIGNED_ID_LEN);
        assert!(signed.starts_with(&id));
        assert!(s.verify(&signed, "acme"));
        assert!(!s.verify(&signed, "other"));
        assert!(!s.verify(&id, "acme"), "an unsigned id");
        assert!(!s.verify(&signed.to_ascii_uppercase(), "acme"));
        let mut flipped = signed.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(!s.verify(std::str::from_utf8(&flipped).expect("ascii"), "acme"));
        assert!(!RequestIdSigner::from_master(&[8; 32]).verify(&signed, "acme"), "another master key");
        assert!(!RequestIdSigner::from_master(&[7; 32]).is_ephemeral());
        assert_eq!(RequestIdSigner::from_master(&[7; 32]).sign(&id, "acme"), signed, "deterministic across replicas");
    }
}
