//! TLS for the data plane: a rustls server config from PEM files, ALPN h2 + http/1.1.

use std::io::BufReader;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use switchyard_config::schema::TlsConfig;
use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up (an operator problem; reported at start-up).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("tls.{key}: cannot read {path}: {source}")]
    Read {
        /// `cert` or `key`.
        key: &'static str,
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The files do not hold a usable certificate/key.
    #[error("tls: {0}")]
    Invalid(String),
}

/// Builds the acceptor from the config's PEM files.
pub fn acceptor(cfg: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let read = |key: &'static str, path: &str| {
        std::fs::read(path).map_err(|source| TlsError::Read { key, path: path.to_owned(), source })
    };
    let cert_pem = read("cert", &cfg.cert)?;
    let key_pem = read("key", &cfg.key)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut BufReader::new(&cert_pem[..]))
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid(format!("tls.cert: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid("tls.cert: no certificate found".into()));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut BufReader::new(&key_pem[..]))
        .map_err(|e| TlsError::Invalid(format!("tls.key: {e}")))?
        .ok_or_else(|| TlsError::Invalid("tls.key: no private key found".into()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Invalid(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
