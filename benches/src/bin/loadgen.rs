//! Open-loop HTTP load generator with coordinated-omission-free latencies.
//!
//! Request `i` is due at `start + i / rate`. Its latency is measured from that due time,
//! not from when a connection became free, so queueing inside a slow target shows up in
//! the percentiles. At most `--connections` requests are in flight; a request that finds
//! none free waits (and its wait counts). Prints one JSON object with achieved rate,
//! errors, latency and time-to-first-byte percentiles, and — when the target sends
//! `server-timing: overhead;dur=…` — the target's self-reported overhead percentiles.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

#[derive(Parser)]
struct Args {
    /// Target URL (POST).
    #[arg(long)]
    url: String,
    /// Requests per second.
    #[arg(long)]
    rate: u32,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured warm-up at the same rate first.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Most requests in flight (and connections).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Request body: a model group / model name; the body is a small chat request.
    #[arg(long, default_value = "bench")]
    model: String,
    /// Ask for a streamed answer.
    #[arg(long)]
    stream: bool,
    /// Pad the request body to about this many bytes.
    #[arg(long, default_value_t = 0)]
    body_bytes: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    label: String,
}

#[derive(Serialize)]
struct Report {
    label: String,
    target_rate: u32,
    achieved_rate: f64,
    requests: u64,
    errors: u64,
    latency_us: Percentiles,
    ttfb_us: Percentiles,
    overhead_us: Option<Percentiles>,
}

#[derive(Serialize)]
struct Percentiles {
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
}

struct Sample {
    ok: bool,
    latency: Duration,
    ttfb: Duration,
    overhead_us: Option<u64>,
}

fn body(args: &Args) -> Bytes {
    let mut content = String::from("Say hello.");
    if args.body_bytes > 120 {
        content.push_str(&"x".repeat(args.body_bytes - 120));
    }
    Bytes::from(format!(
        r#"{{"model":"{}","stream":{},"messages":[{{"role":"user","content":"{}"}}]}}"#,
        args.model, args.stream, content
    ))
}

fn overhead_of(headers: &http::HeaderMap) -> Option<u64> {
    let v = headers.get("server-timing")?.to_str().ok()?;
    let ms: f64 = v.split(',').find_map(|p| p.trim().strip_prefix("overhead;dur="))?.parse().ok()?;
    Some((ms * 1000.0) as u64)
}

fn percentiles(h: &Histogram<u64>) -> Percentiles {
    Percentiles {
        p50: h.value_at_quantile(0.50),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

async fn run(args: Args) -> anyhow::Result<Report> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    let client: Client<_, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).pool_max_idle_per_host(args.connections).build(http);
    let uri: http::Uri = args.url.parse()?;
    let payload = body(&args);
    let slots = Arc::new(Semaphore::new(args.connections));
    let (tx, mut rx) = mpsc::unbounded_channel::<(bool, Sample)>();
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate.max(1)));
    let warm = u64::from(args.rate) * args.warmup;
    let total = warm + u64::from(args.rate) * args.duration;
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let producer = tokio::spawn(async move {
        for i in 0..total {
            let due = start + interval.mul_f64(i as f64);
            tokio::time::sleep_until(due).await;
            let (client, uri, payload, slots, tx) =
                (client.clone(), uri.clone(), payload.clone(), slots.clone(), tx.clone());
            let measured = i >= warm;
            tokio::spawn(async move {
                let due: Instant = due.into_std();
                let Ok(_permit) = slots.acquire().await else { return };
                let req = http::Request::post(uri)
                    .header("content-type", "application/json")
                    .body(Full::new(payload))
                    .expect("static request");
                let sample = match client.request(req).await {
                    Err(_) => Sample { ok: false, latency: due.elapsed(), ttfb: due.elapsed(), overhead_us: None },
                    Ok(resp) => {
                        let ttfb = due.elapsed();
                        let ok = resp.status().is_success();
                        let overhead_us = overhead_of(resp.headers());
                        let body_ok = resp.into_body().collect().await.is_ok();
                        Sample { ok: ok && body_ok, latency: due.elapsed(), ttfb, overhead_us }
                    }
                };
                let _ = tx.send((measured, sample));
            });
        }
    });
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut ttfb = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut overhead = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut requests, mut errors) = (0u64, 0u64);
    let mut first_done: Option<Instant> = None;
    let mut last_done = Instant::now();
    let mut received = 0u64;
    while received < total {
        let Some((measured, s)) = rx.recv().await else { break };
        received += 1;
        if !measured {
            continue;
        }
        first_done.get_or_insert_with(Instant::now);
        last_done = Instant::now();
        requests += 1;
        if !s.ok {
            errors += 1;
            continue;
        }
        latency.saturating_record(s.latency.as_micros() as u64);
        ttfb.saturating_record(s.ttfb.as_micros() as u64);
        if let Some(o) = s.overhead_us {
            overhead.saturating_record(o.max(1));
        }
    }
    producer.await?;
    let span = first_done.map_or(0.0, |f| last_done.duration_since(f).as_secs_f64());
    Ok(Report {
        label: args.label.clone(),
        target_rate: args.rate,
        achieved_rate: if span > 0.0 { requests as f64 / span } else { 0.0 },
        requests,
        errors,
        latency_us: percentiles(&latency),
        ttfb_us: percentiles(&ttfb),
        overhead_us: (!overhead.is_empty()).then(|| percentiles(&overhead)),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    let report = rt.block_on(run(args))?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
