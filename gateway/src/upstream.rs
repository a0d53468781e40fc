//! The pooled upstream HTTP client shared by every adapter.
//!
//! One hyper-util client with keep-alive pools per host, `TCP_NODELAY`, HTTP/1.1 and h2
//! (negotiated by ALPN over rustls with the webpki roots), and a connect timeout.
//! [`UpstreamClient::send`] bounds the wait for response headers and classifies failures
//! as connect errors, timeouts or resets.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::providers::UpstreamFailure;

/// Connect timeout for upstream connections.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle pooled connections are closed after this.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Cheap to clone; clones share the pool.
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// Builds the client.
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_keepalive(Some(Duration::from_secs(60)));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .pool_max_idle_per_host(1024)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Self { inner }
    }

    /// Sends `req`; waits at most `first_byte` for response headers.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        first_byte: Duration,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        match tokio::time::timeout(first_byte, self.inner.request(req)).await {
            Err(_) => Err(UpstreamFailure::FirstByteTimeout),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamFailure::Connect),
            Ok(Err(_)) => Err(UpstreamFailure::Reset),
            Ok(Ok(resp)) => Ok(resp),
        }
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}
