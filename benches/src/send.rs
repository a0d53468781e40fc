//! Sending one request of a load run: over hyper's pooled client or a fixed set of pinned
//! HTTP/1 connections, timing the answer from its *scheduled* send time (so a stalled
//! target cannot hide its queueing delay) and reading the target's own `server-timing`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
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
    Pinned(Arc<Mutex<VecDeque<http1::SendRequest<Full<Bytes>>>>>),
}

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

pub async fn connect(host: &str) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(host).await.with_context(|| format!("connect {host}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends one request and reads the whole answer; never longer than the caller's deadline.
pub async fn one(conns: &Conns, slots: &Semaphore, uri: http::Uri, host: &str, payload: Bytes, due: Instant) -> Sample {
    let fail = |e: String| Sample {
        ok: false,
        timed_out: false,
        latency: due.elapsed(),
        ttfb: due.elapsed(),
        send_lag: Duration::ZERO,
        overhead_us: None,
        inside_us: None,
        error: Some(e),
    };
    let Ok(_permit) = slots.acquire().await else { return fail("closed".into()) };
    let (resp, sender) = match conns {
        Conns::Pooled(client) => {
            let req = http::Request::post(uri)
                .header("content-type", "application/json")
                .body(Full::new(payload))
                .expect("a POST with a static header is a valid request");
            (client.request(req).await.map_err(|e| format!("{e:?}")), None)
        }
        Conns::Pinned(pool) => {
            // A connection whose request timed out was dropped with it: replace it.
            let taken = pool.lock().ok().and_then(|mut q| q.pop_front());
            let mut sender = match taken {
                Some(s) if !s.is_closed() => s,
                _ => match connect(host).await {
                    Ok(s) => s,
                    Err(e) => return fail(format!("{e:#}")),
                },
            };
            if sender.ready().await.is_err() {
                match connect(host).await {
                    Ok(s) => sender = s,
                    Err(e) => return fail(format!("{e:#}")),
                }
            }
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let req = http::Request::post(path)
                .header("host", host)
                .header("content-type", "application/json")
                .body(Full::new(payload))
                .expect("a POST with a static header is a valid request");
            (sender.send_request(req).await.map_err(|e| format!("{e:?}")), Some(sender))
        }
    };
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let status = resp.status();
    let overhead_us = overhead_of(resp.headers());
    let inside_us = inside_of(resp.headers());
    let mut body = resp.into_body();
    let mut ttfb = None;
    let mut head = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Err(e) => return fail(format!("body: {e}")),
            Ok(f) => {
                if let Some(d) = f.data_ref() {
                    ttfb.get_or_insert_with(|| due.elapsed());
                    if !status.is_success() && head.len() < 300 {
                        head.extend_from_slice(d);
                    }
                }
            }
        }
    }
    if !status.is_success() {
        return fail(format!("status {status}: {}", String::from_utf8_lossy(&head[..head.len().min(300)])));
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
