//! An OTLP/HTTP trace collector for load tests that accepts and discards: `POST
//! /v1/traces` is read whole and answered `200` with an empty `ExportTraceServiceResponse`
//! (an empty protobuf message), after `--delay-ms` (a slow collector). `GET /stats` answers
//! `{"requests":N,"bytes":M}` — export requests and body bytes received so far.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Parser, Clone)]
struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:4318")]
    listen: String,
    /// Pause before answering an export, milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    bytes: AtomicU64,
}

async fn answer(args: &Args, stats: &Stats, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    let reply = |status: StatusCode, ct: &'static str, body: Bytes| {
        let mut r = Response::new(Full::new(body));
        *r.status_mut() = status;
        r.headers_mut().insert("content-type", http::HeaderValue::from_static(ct));
        r
    };
    match (method, path.as_str()) {
        (Method::POST, "/v1/traces") => {
            if args.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
            }
            stats.requests.fetch_add(1, Ordering::Relaxed);
            stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
            reply(StatusCode::OK, "application/x-protobuf", Bytes::new())
        }
        (Method::GET, "/stats") => {
            let text = format!(
                r#"{{"requests":{},"bytes":{}}}"#,
                stats.requests.load(Ordering::Relaxed),
                stats.bytes.load(Ordering::Relaxed)
            );
            reply(StatusCode::OK, "application/json", Bytes::from(text))
        }
        _ => reply(StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"not found")),
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen).await?;
        eprintln!("otlp-sink listening on {} (delay {} ms)", listener.local_addr()?, args.delay_ms);
        let (args, stats) = (Arc::new(args), Arc::new(Stats::default()));
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("otlp-sink: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let (args, stats) = (args.clone(), stats.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (args, stats) = (args.clone(), stats.clone());
                    async move { Ok::<_, Infallible>(answer(&args, &stats, req).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
