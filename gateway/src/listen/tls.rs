//! TLS for a listener: a certificate chain and key from PEM files behind a swappable
//! resolver, ALPN h2 + http/1.1.
//!
//! [`CertResolver`] holds the serving [`CertifiedKey`] in an `ArcSwap`. rustls asks it once
//! per handshake (on the ClientHello), so a swap changes only handshakes that start after
//! it: established connections and handshakes in progress keep the key they began with.
//! [`load`] accepts a pair only when the chain parses, the key parses, and the key belongs
//! to the first certificate; [`crate::listen::tls_reload`] swaps new pairs in.

use std::hash::{DefaultHasher, Hasher};
use std::io::BufReader;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use switchyard_config::schema::TlsConfig;
use tokio_rustls::TlsAcceptor;

/// Why a certificate/key pair could not be used (an operator problem: refused at start-up,
/// and on reload while the last good pair keeps serving).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("{at}: cannot read {path}: {source}")]
    Read {
        /// Dotted config path, e.g. `tls.cert`.
        at: String,
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("{at}: {path}: {message}")]
    Invalid {
        /// Dotted config path, e.g. `admin_tls.key`.
        at: String,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A loaded pair and a fingerprint of the files it came from.
pub struct Loaded {
    /// What handshakes present.
    pub key: Arc<CertifiedKey>,
    /// Hash of both files' bytes (to skip reloading identical files).
    pub fingerprint: u64,
}

/// Hands rustls the serving certificate; swapped on reload.
#[derive(Debug)]
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

/// Reads both files of `cfg` (`section` is `tls` or `admin_tls`, for messages).
pub fn read(section: &str, cfg: &TlsConfig) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |key: &str, path: &str| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            at: format!("{section}.{key}"),
            path: path.to_owned(),
            source,
        })
    };
    Ok((read("cert", &cfg.cert)?, read("key", &cfg.key)?))
}

/// The fingerprint of a pair's file contents.
pub fn fingerprint(cert_pem: &[u8], key_pem: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(cert_pem);
    h.write(key_pem);
    h.finish()
}

/// Parses and checks a pair read from `cfg`'s files.
pub fn parse(section: &str, cfg: &TlsConfig, cert_pem: &[u8], key_pem: &[u8]) -> Result<Loaded, TlsError> {
    let invalid = |key: &str, path: &str, message: String| TlsError::Invalid {
        at: format!("{section}.{key}"),
        path: path.to_owned(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut BufReader::new(cert_pem))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid("cert", &cfg.cert, format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid("cert", &cfg.cert, "no certificate found".into()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut BufReader::new(key_pem))
        .map_err(|e| invalid("key", &cfg.key, format!("not PEM: {e}")))?
        .ok_or_else(|| invalid("key", &cfg.key, "no private key found".into()))?;
    let provider = rustls::crypto::ring::default_provider();
    // Parses the key, and the first certificate to compare its public key with the key's.
    let key = CertifiedKey::from_der(certs, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => {
            invalid("key", &cfg.key, format!("does not belong to the certificate in {}", cfg.cert))
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            invalid("cert", &cfg.cert, format!("unusable certificate: {e}"))
        }
        e => invalid("key", &cfg.key, format!("unusable key: {e}")),
    })?;
    Ok(Loaded { key: Arc::new(key), fingerprint: fingerprint(cert_pem, key_pem) })
}

/// Reads, parses and checks `cfg`'s pair.
pub fn load(section: &str, cfg: &TlsConfig) -> Result<Loaded, TlsError> {
    let (cert_pem, key_pem) = read(section, cfg)?;
    parse(section, cfg, &cert_pem, &key_pem)
}

/// The acceptor of a listener whose certificate `resolver` chooses.
pub fn acceptor(resolver: Arc<CertResolver>) -> Result<TlsAcceptor, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid { at: "tls".into(), path: String::new(), message: e.to_string() })?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

// === impl CertResolver ===

impl CertResolver {
    /// A resolver serving `key`.
    pub fn new(key: Arc<CertifiedKey>) -> Self {
        Self { current: ArcSwap::new(key) }
    }

    /// Serves `key` to every handshake from now on.
    pub fn swap(&self, key: Arc<CertifiedKey>) {
        self.current.store(key);
    }

    /// The certificate handshakes get now (its end-entity certificate first).
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current.load_full()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
        (c.cert.pem(), c.key_pair.serialize_pem())
    }

    fn cfg() -> TlsConfig {
        TlsConfig { cert: "/c.pem".into(), key: "/k.pem".into() }
    }

    #[test]
    fn a_matching_pair_loads_and_others_are_refused_with_their_path() {
        let (cert, key) = pair();
        let (_, other_key) = pair();
        assert!(parse("tls", &cfg(), cert.as_bytes(), key.as_bytes()).is_ok());
        let err = parse("admin_tls", &cfg(), cert.as_bytes(), other_key.as_bytes()).err().expect("mismatch");
        assert_eq!(err.to_string(), "admin_tls.key: /k.pem: does not belong to the certificate in /c.pem");
        let err = parse("tls", &cfg(), b"", key.as_bytes()).err().expect("empty");
        assert_eq!(err.to_string(), "tls.cert: /c.pem: no certificate found");
        let err = parse("tls", &cfg(), cert.as_bytes(), cert.as_bytes()).err().expect("no key");
        assert_eq!(err.to_string(), "tls.key: /k.pem: no private key found");
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let err = parse("tls", &cfg(), garbage.as_bytes(), key.as_bytes()).err().expect("garbage");
        assert!(err.to_string().starts_with("tls.cert: /c.pem: unusable certificate"), "{err}");
    }
}
