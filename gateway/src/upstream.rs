//! The pooled upstream HTTP client shared by every adapter.
//!
//! hyper-util clients with keep-alive pools per host, `TCP_NODELAY`, HTTP/1.1 and h2
//! (negotiated by ALPN over rustls with the webpki roots, plus a provider's own CA file
//! when configured). The connect timeout is per group, so one hyper client (and pool) is
//! kept per distinct connect timeout, created on first use. [`UpstreamClient::send`]
//! bounds the wait for response headers and classifies failures as connect errors,
//! timeouts or resets.
//!
//! Each data-plane worker has its own pools ([`crate::listen::cores`]).
//!
//! Invariants: clones share pools; a provider with `ca_file`, `pool_max_idle_per_host` or
//! `max_in_flight` gets its own pools (built with its table, so a reload rebuilds them);
//! the `max_in_flight` slot is held until the response body is finished or dropped.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use parking_lot::RwLock;
use pin_project_lite::pin_project;
use switchyard_config::Timeouts;
use switchyard_core::worker;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::providers::{UpstreamBody, UpstreamFailure};

/// Idle pooled connections are closed after this.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Idle connections kept per host by default.
const DEFAULT_MAX_IDLE: usize = 256;

type Hyper = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Cheap to clone; clones share the pools.
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<Inner>,
}

struct Inner {
    tls: rustls::ClientConfig,
    max_idle: usize,
    /// Pools per data-plane worker ([`worker::current`]), the last one for every other
    /// thread: a pooled connection's task runs on the worker that opened it, so a worker
    /// that used another's connections would wake that worker's thread for every read.
    pools: Box<[Pools]>,
    slots: Option<Arc<Semaphore>>,
}

/// One client per connect timeout (ms), on its own cache line: each worker takes only
/// its own lock.
#[repr(align(128))]
#[derive(Default)]
struct Pools(RwLock<HashMap<u64, Hyper>>);

pin_project! {
    /// An upstream body holding a `max_in_flight` slot until it ends or is dropped.
    struct Slotted<B> {
        #[pin]
        inner: B,
        slot: Option<OwnedSemaphorePermit>,
    }
}

// === impl UpstreamClient ===

impl UpstreamClient {
    /// Builds the client with the webpki roots.
    pub fn new() -> Self {
        Self::build(webpki_store(), DEFAULT_MAX_IDLE, None)
    }

    fn build(roots: rustls::RootCertStore, max_idle: usize, slots: Option<usize>) -> Self {
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map(|b| b.with_root_certificates(roots).with_no_client_auth());
        // ring supports every default protocol version; should that ever change, fall
        // back to rustls' process default rather than failing every upstream call.
        let tls = tls.unwrap_or_else(|_| {
            rustls::ClientConfig::builder().with_root_certificates(webpki_store()).with_no_client_auth()
        });
        Self {
            inner: Arc::new(Inner {
                tls,
                max_idle,
                pools: (0..=worker::default_count().get()).map(|_| Pools::default()).collect(),
                slots: slots.map(|n| Arc::new(Semaphore::new(n))),
            }),
        }
    }

    /// This client, or one with its own pools when a provider sets a CA file, a pool size
    /// or a concurrency limit.
    pub fn with_settings(
        &self,
        ca_file: Option<&str>,
        max_idle: Option<usize>,
        max_in_flight: Option<usize>,
    ) -> Result<Self, String> {
        if ca_file.is_none() && max_idle.is_none() && max_in_flight.is_none() {
            return Ok(self.clone());
        }
        let mut roots = webpki_store();
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| format!("ca_file `{path}`: {e}"))?;
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| format!("ca_file `{path}`: {e}"))?;
                roots.add(cert).map_err(|e| format!("ca_file `{path}`: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err(format!("ca_file `{path}` holds no PEM certificate"));
            }
        }
        Ok(Self::build(roots, max_idle.unwrap_or(DEFAULT_MAX_IDLE), max_in_flight))
    }

    fn hyper(&self, connect: Duration) -> Hyper {
        let key = u64::try_from(connect.as_millis()).unwrap_or(u64::MAX);
        let Pools(mine) = &self.inner.pools[worker::slot(self.inner.pools.len())];
        if let Some(c) = mine.read().get(&key) {
            return c.clone();
        }
        let mut clients = mine.write();
        clients
            .entry(key)
            .or_insert_with(|| {
                let mut http = HttpConnector::new();
                http.set_nodelay(true);
                http.set_connect_timeout(Some(connect));
                http.set_keepalive(Some(Duration::from_secs(60)));
                http.enforce_http(false);
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config(self.inner.tls.clone())
                    .https_or_http()
                    .enable_all_versions()
                    .wrap_connector(http);
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(POOL_IDLE)
                    .pool_max_idle_per_host(self.inner.max_idle)
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .build(https)
            })
            .clone()
    }

    /// Sends `req`; connects within `timeouts.connect` and waits at most
    /// `timeouts.first_byte` (slot wait included) for response headers.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        timeouts: &Timeouts,
    ) -> Result<Response<UpstreamBody>, UpstreamFailure> {
        let client = self.hyper(timeouts.connect);
        let slots = self.inner.slots.clone();
        let exchange = async move {
            let slot = match slots {
                Some(s) => Some(s.acquire_owned().await.map_err(|_| UpstreamFailure::Connect)?),
                None => None,
            };
            match client.request(req).await {
                Err(e) if e.is_connect() => Err(UpstreamFailure::Connect),
                Err(_) => Err(UpstreamFailure::Reset),
                Ok(resp) => {
                    Ok(resp.map(|b| Slotted { inner: b.map_err(|_| UpstreamFailure::Reset), slot }.boxed_unsync()))
                }
            }
        };
        tokio::time::timeout(timeouts.first_byte, exchange).await.unwrap_or(Err(UpstreamFailure::FirstByteTimeout))
    }
}

impl Default for UpstreamClient {
    fn default() -> Self {
        Self::new()
    }
}

fn webpki_store() -> rustls::RootCertStore {
    rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }
}

// === impl Slotted ===

impl<B: Body<Data = Bytes, Error = UpstreamFailure>> Body for Slotted<B> {
    type Data = Bytes;
    type Error = UpstreamFailure;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, UpstreamFailure>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.slot.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
