//! Secrets: `env:NAME` / `file:/path` references in the file, resolved values in memory.
//!
//! A [`SecretRef`] is all the config file may hold; a literal key is a validation error.
//! A key set through the control API is stored as `enc:<base64>`: ChaCha20-Poly1305 with a
//! random 96-bit nonce under the master key in `SWITCHYARD_MASTER_KEY` (64 hex characters),
//! so the file at rest never holds it in clear.
//! A resolved [`Secret`] never prints: its `Debug` is redacted and it has no `Display`
//! or `Serialize`, so it cannot reach a log line, a record or an API response by accident.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A reference to a secret, as written in the file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretRef(pub String);

/// Where a [`SecretRef`] points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource<'a> {
    /// An environment variable.
    Env(&'a str),
    /// A file whose content (trimmed) is the secret.
    File(&'a str),
    /// Encrypted in place with the master key.
    Encrypted(&'a str),
}

/// Environment variable holding the master key for `enc:` secrets (64 hex characters).
pub const MASTER_KEY_ENV: &str = "SWITCHYARD_MASTER_KEY";

/// A resolved secret value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

// === impl SecretRef ===

impl SecretRef {
    /// Parses the reference, or says why it is not one.
    pub fn source(&self) -> Result<SecretSource<'_>, &'static str> {
        if let Some(name) = self.0.strip_prefix("env:") {
            if name.is_empty() {
                return Err("`env:` needs a variable name");
            }
            Ok(SecretSource::Env(name))
        } else if let Some(path) = self.0.strip_prefix("file:") {
            if path.is_empty() {
                return Err("`file:` needs a path");
            }
            Ok(SecretSource::File(path))
        } else if let Some(sealed) = self.0.strip_prefix("enc:") {
            Ok(SecretSource::Encrypted(sealed))
        } else {
            Err("secrets must be `env:NAME` or `file:/path` references, not literal values")
        }
    }

    /// Encrypts `value` under the master key (for keys set through the control API).
    pub fn seal(value: &str) -> Result<Self, String> {
        use base64::Engine;
        use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
        let cipher = chacha20poly1305::ChaCha20Poly1305::new(&master_key()?.into());
        let nonce = chacha20poly1305::ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = cipher.encrypt(&nonce, value.as_bytes()).map_err(|_| "encryption failed".to_owned())?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(Self(format!("enc:{}", base64::engine::general_purpose::STANDARD.encode(out))))
    }

    /// Reads the secret's value.
    pub fn resolve(&self) -> Result<Secret, String> {
        match self.source().map_err(str::to_owned)? {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(Secret(v)),
                _ => Err(format!("environment variable {name} is not set")),
            },
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| Secret(s.trim().to_owned()))
                .map_err(|e| format!("cannot read secret file {path}: {e}")),
            SecretSource::Encrypted(sealed) => open_sealed(sealed).map(Secret),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A reference names a variable or a path, not a value; but if someone wrote a
        // literal key here, do not echo it.
        match self.source() {
            Ok(SecretSource::Encrypted(_)) => f.write_str("SecretRef(enc:<sealed>)"),
            Ok(_) => write!(f, "SecretRef({:?})", self.0),
            Err(_) => f.write_str("SecretRef(<literal redacted>)"),
        }
    }
}

pub(crate) fn master_key() -> Result<[u8; 32], String> {
    let hex_key = std::env::var(MASTER_KEY_ENV).map_err(|_| format!("{MASTER_KEY_ENV} is not set"))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut key)
        .map_err(|_| format!("{MASTER_KEY_ENV} must be 64 hex characters"))?;
    Ok(key)
}

fn open_sealed(sealed: &str) -> Result<String, String> {
    use base64::Engine;
    use chacha20poly1305::aead::{Aead, KeyInit};
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sealed)
        .map_err(|_| "`enc:` secret is not valid base64".to_owned())?;
    if bytes.len() < 12 + 16 {
        return Err("`enc:` secret is too short".into());
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    let cipher = chacha20poly1305::ChaCha20Poly1305::new(&master_key()?.into());
    let plain = cipher
        .decrypt(chacha20poly1305::Nonce::from_slice(nonce), ciphertext)
        .map_err(|_| format!("`enc:` secret does not decrypt with {MASTER_KEY_ENV} (wrong key or tampered)"))?;
    String::from_utf8(plain).map_err(|_| "`enc:` secret is not UTF-8".into())
}

// === impl Secret ===

impl Secret {
    /// Wraps a value (for secrets that come from somewhere other than a reference).
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for building an upstream header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
