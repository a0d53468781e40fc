//! Sending one request of a load run: over hyper's pooled client or a fixed set of pinned
//! HTTP/1 connections, timing the answer from its *scheduled* send time (so a stalled
//! target cannot hide its queueing delay) and reading the target's own `server-timing`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::measure::{inside_of, overhead_of};

/// Where requests go.
#[derive(Clone)]
pub enum Conns {
    /// hyper's pooled client.
    Pooled(Arc<Client<HttpConnector, Full<Bytes>>>),
    /// A fixed set of HTTP/1 connections, one request at a time each.
    Pinned(Arc<Mutex<VecDeque<Sender>>>),
}

/// A pinned HTTP/1 connection.
type Sender = http1::SendRequest<Full<Bytes>>;

/// One request's measurements.
pub struct Sample {
    pub ok: bool,
    pub timed_out: bool,
    pub latency: Duration,
    pub ttfb: Duration,
    /// Due time → the request's task started (the load generator's own lateness).
    pub send_lag: Duration,
    pub overhead_us: Option<u64>,
    /// The target's accept-to-headers time (`server-timing`).
    pub inside_us: Option<u64>,
    pub error: Option<String>,
}

// === impl Sample ===

impl Sample {
    /// A request that failed with `error`, measured up to now from `due`.
    pub fn failure(due: Instant, error: String) -> Self {
        Self {
            ok: false,
            timed_out: false,
            latency: due.elapsed(),
            ttfb: due.elapsed(),
            send_lag: Duration::ZERO,
            overhead_us: None,
            inside_us: None,
            error: Some(error),
        }
    }

    /// A request that missed its deadline, measured up to now from `due`.
    pub fn timeout(due: Instant) -> Self {
        Self { timed_out: true, ..Self::failure(due, "timeout".into()) }
    }
}

pub async fn connect(host: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends one request and reads the whole answer; never longer than the caller's deadline.
pub async fn one(conns: &Conns, slots: &Semaphore, uri: http::Uri, host: &str, payload: Bytes, due: Instant) -> Sample {
    let Ok(_permit) = slots.acquire().await else { return Sample::failure(due, "closed".into()) };
    let (resp, sender) = match send(conns, uri, host, payload).await {
        Ok(r) => r,
        Err(e) => return Sample::failure(due, e),
    };
    let status = resp.status();
    let overhead_us = overhead_of(resp.headers());
    let inside_us = inside_of(resp.headers());
    let (ttfb, head) = match read_body(resp.into_body(), status, due).await {
        Ok(read) => read,
        Err(e) => return Sample::failure(due, e),
    };
    if !status.is_success() {
        let head = String::from_utf8_lossy(&head[..head.len().min(300)]);
        return Sample::failure(due, format!("status {status}: {head}"));
    }
    let latency = due.elapsed();
    if let (Conns::Pinned(pool), Some(sender)) = (conns, sender) {
        if let Ok(mut q) = pool.lock() {
            q.push_back(sender);
        }
    }
    Sample {
        ok: true,
        timed_out: false,
        latency,
        ttfb: ttfb.unwrap_or(latency),
        send_lag: Duration::ZERO,
        overhead_us,
        inside_us,
        error: None,
    }
}

/// Sends the request over `conns`; on pinned connections also returns the connection used,
/// for the caller to give back once the answer was read whole.
async fn send(
    conns: &Conns,
    uri: http::Uri,
    host: &str,
    payload: Bytes,
) -> Result<(Response<Incoming>, Option<Sender>), String> {
    match conns {
        Conns::Pooled(client) => {
            let req = http::Request::post(uri)
                .header("content-type", "application/json")
                .body(Full::new(payload))
                .expect("a POST with a static header is a valid request");
            client.request(req).await.map(|r| (r, None)).map_err(|e| format!("{e:?}"))
        }
        Conns::Pinned(pool) => {
            let mut sender = pinned_sender(pool, host).await?;
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let req = http::Request::post(path)
                .header("host", host)
                .header("content-type", "application/json")
                .body(Full::new(payload))
                .expect("a POST with a static header is a valid request");
            let resp = sender.send_request(req).await.map_err(|e| format!("{e:?}"))?;
            Ok((resp, Some(sender)))
        }
    }
}

/// The next free pinned connection, ready for a request; a new one in place of one that
/// closed or is not ready.
async fn pinned_sender(pool: &Mutex<VecDeque<Sender>>, host: &str) -> Result<Sender, String> {
    // A connection whose request timed out was dropped with it: replace it.
    let taken = pool.lock().ok().and_then(|mut q| q.pop_front());
    let mut sender = match taken {
        Some(s) if !s.is_closed() => s,
        _ => connect(host).await.map_err(|e| format!("{e:#}"))?,
    };
    if sender.ready().await.is_err() {
        sender = connect(host).await.map_err(|e| format!("{e:#}"))?;
    }
    Ok(sender)
}

/// Reads the whole body: the time its first data arrived (from `due`) and, for a
/// non-success `status`, its first bytes (at least 300 when there are that many).
async fn read_body(
    mut body: Incoming,
    status: StatusCode,
    due: Instant,
) -> Result<(Option<Duration>, Vec<u8>), String> {
    let mut ttfb = None;
    let mut head = Vec::new();
    while let Some(frame) = body.frame().await {
        let f = frame.map_err(|e| format!("body: {e}"))?;
        if let Some(d) = f.data_ref() {
            ttfb.get_or_insert_with(|| due.elapsed());
            if !status.is_success() && head.len() < 300 {
                head.extend_from_slice(d);
            }
        }
    }
    Ok((ttfb, head))
}
