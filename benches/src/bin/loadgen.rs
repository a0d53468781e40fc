//! Open-loop HTTP load generator with coordinated-omission-free latencies.
//!
//! Request `i` is due at `start + i / rate`. Its latency is measured from that due time,
//! not from when a connection became free, so queueing inside a slow target shows up in
//! the percentiles. At most `--connections` requests are in flight; a request that finds
//! none free waits (and its wait counts). Each request has a deadline (`--timeout` after
//! its due time); one that misses it is an error, so an overloaded target ends a run in
//! bounded time instead of draining a backlog for minutes.
//!
//! With `--pin-connections` all `--connections` HTTP/1.1 connections are opened up front
//! and used in turn (first free, first used), so every one of them stays open and busy
//! — the many-clients scenario. Otherwise a pooled client opens what it needs.
//!
//! `--watch-pid` names the target's main process: CPU seconds of its process tree over
//! the measured window and its peak RSS (reset at the start of the run) go into the
//! report. `--aux-pid name=pid` adds other processes' CPU (the upstream, ClickHouse).
//!
//! `--saturate` searches for the highest rate the target sustains: rates double from
//! `--start-rate` until a probe fails (errors > 0.1 %, achieved < 95 % of offered, or
//! p99 > `--slo-p99-ms`), then bisect to within 10 %. After a failed probe the search
//! waits (up to `--settle-max` seconds) until a single request is answered within a
//! second again, so a target still working off the failed probe's backlog (servers that
//! do not cancel abandoned requests) does not fail the next, lower probe for that. The
//! report is the best passing probe, with every probe listed.
//!
//! Prints one JSON [`RunReport`] (and writes it to `--out`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use switchyard_benches::loadgen_args::Args;
use switchyard_benches::measure::percentiles;
use switchyard_benches::procstat;
use switchyard_benches::request::chat_body;
use switchyard_benches::schema::{Probe, ProcessStats, RunReport};
use switchyard_benches::search::Search;
use switchyard_benches::send::{connect, one, Conns, Sample};
use switchyard_benches::tally::Tally;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// What a run needs besides its rate: the connections and the fixed request.
struct Ctx {
    conns: Conns,
    uri: http::Uri,
    host: String,
    payload: Bytes,
    slots: Arc<Semaphore>,
    timeout: Duration,
    watch: Option<u32>,
    aux: Vec<(String, u32)>,
    ticks_per_s: f64,
}

/// The result of one phase (one rate) before it becomes a report.
struct Outcome {
    offered: f64,
    duration_s: f64,
    requests: u64,
    errors: u64,
    timeouts: u64,
    error_sample: Option<String>,
    achieved: f64,
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
    overhead: Histogram<u64>,
    outside: Histogram<u64>,
    send_lag: Histogram<u64>,
    cpu: Option<ProcessStats>,
    aux_cpu_s: Vec<(String, f64)>,
    loadgen_cpu_s: f64,
}

// === impl Ctx ===

impl Ctx {
    async fn new(args: &Args) -> anyhow::Result<Self> {
        let uri: http::Uri = args.url.parse().context("--url")?;
        let host = uri.authority().context("--url needs host:port")?.to_string();
        let conns = if args.pin_connections {
            let mut senders = VecDeque::with_capacity(args.connections);
            for _ in 0..args.connections {
                senders.push_back(connect(&host).await?);
            }
            Conns::Pinned(Arc::new(Mutex::new(senders)))
        } else {
            let mut http = HttpConnector::new();
            http.set_nodelay(true);
            Conns::Pooled(Arc::new(
                Client::builder(TokioExecutor::new()).pool_max_idle_per_host(args.connections).build(http),
            ))
        };
        let mut aux = Vec::new();
        for a in &args.aux_pid {
            let (name, pid) = a.split_once('=').context("--aux-pid is name=pid")?;
            aux.push((name.to_owned(), pid.parse().context("--aux-pid pid")?));
        }
        Ok(Ctx {
            conns,
            uri,
            host,
            payload: Bytes::from(chat_body(&args.model, args.stream, args.body_bytes)),
            slots: Arc::new(Semaphore::new(args.connections)),
            timeout: Duration::from_secs_f64(args.timeout),
            watch: args.watch_pid,
            aux,
            ticks_per_s: procstat::clock_ticks(),
        })
    }

    /// One open-loop phase: `warmup` seconds unmeasured, then `duration` measured.
    async fn phase(&self, rate: f64, warmup: f64, duration: f64) -> anyhow::Result<Outcome> {
        let rate = rate.max(1.0);
        let warm = (rate * warmup).round() as u64;
        let total = warm + (rate * duration).round().max(1.0) as u64;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let peak_reset = self.watch.map(procstat::reset_peak_rss).unwrap_or(false);
        let start = Instant::now() + Duration::from_millis(20);
        let measured_start = start + interval.mul_f64(warm as f64);
        let (tx, mut rx) = mpsc::unbounded_channel::<(bool, Sample)>();
        let producer = self.pace(start, interval, total, warm, tx);
        tokio::time::sleep_until(measured_start).await;
        let before = self.snapshots().await?;
        let mut tally = Tally::new(measured_start)?;
        let mut received = 0u64;
        while received < total {
            let Some((measured, s)) = rx.recv().await else { break };
            received += 1;
            if measured {
                tally.record(s);
            }
        }
        producer.join().map_err(|_| anyhow::anyhow!("pacing thread panicked"))?;
        let after = self.snapshots().await?;
        let achieved = tally.achieved(duration);
        let cpu = self.target_stats(&before, &after, tally.ok, peak_reset);
        let aux_cpu_s = self
            .aux
            .iter()
            .zip(before.1.iter().zip(after.1.iter()))
            .map(|((name, _), (b, a))| (name.clone(), procstat::cpu_seconds(b, a, self.ticks_per_s)))
            .collect();
        let loadgen_cpu_s = procstat::cpu_seconds(&before.2, &after.2, self.ticks_per_s);
        Ok(Outcome {
            offered: rate,
            duration_s: duration,
            requests: tally.requests,
            errors: tally.errors,
            timeouts: tally.timeouts,
            error_sample: tally.error_sample,
            achieved,
            latency: tally.latency,
            ttfb: tally.ttfb,
            overhead: tally.overhead,
            outside: tally.outside,
            send_lag: tally.send_lag,
            cpu,
            aux_cpu_s,
            loadgen_cpu_s,
        })
    }

    /// Starts the pacing thread: request `i` is sent at `start + i * interval` with its
    /// deadline `timeout` later, and its sample goes to `tx`, measured from request `warm` on.
    ///
    /// Pacing runs on its own thread with nanosleep (~60 us precision) rather than on
    /// tokio's 1 ms timer wheel, so requests leave close to their due time; whatever
    /// lag remains is measured (`send_lag_us`) and counted in the latency.
    fn pace(
        &self,
        start: Instant,
        interval: Duration,
        total: u64,
        warm: u64,
        tx: mpsc::UnboundedSender<(bool, Sample)>,
    ) -> std::thread::JoinHandle<()> {
        let (conns, slots, timeout) = (self.conns.clone(), self.slots.clone(), self.timeout);
        let (uri, host, payload) = (self.uri.clone(), self.host.clone(), self.payload.clone());
        let runtime = tokio::runtime::Handle::current();
        let start = start.into_std();
        std::thread::spawn(move || {
            for i in 0..total {
                let due = start + interval.mul_f64(i as f64);
                let now = std::time::Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                let (conns, slots, tx) = (conns.clone(), slots.clone(), tx.clone());
                let (uri, host, payload) = (uri.clone(), host.clone(), payload.clone());
                runtime.spawn(async move {
                    let due = Instant::from_std(due);
                    let lag = due.elapsed();
                    let work = one(&conns, &slots, uri, &host, payload, due);
                    let mut sample =
                        tokio::time::timeout_at(due + timeout, work).await.unwrap_or_else(|_| Sample::timeout(due));
                    sample.send_lag = lag;
                    let _ = tx.send((i >= warm, sample));
                });
            }
        })
    }

    /// The target tree's CPU between two snapshots (`ok`: the successes it served) and its
    /// peak RSS; `None` without `--watch-pid`.
    fn target_stats(&self, before: &Snapshots, after: &Snapshots, ok: u64, peak_reset: bool) -> Option<ProcessStats> {
        match (self.watch, &before.0, &after.0) {
            (Some(pid), Some(b), Some(a)) => {
                let cpu_s = procstat::cpu_seconds(b, a, self.ticks_per_s);
                Some(ProcessStats {
                    cpu_s,
                    cpu_s_per_1k: if ok > 0 { cpu_s * 1000.0 / ok as f64 } else { 0.0 },
                    peak_rss_kib: procstat::peak_rss_kib(pid),
                    peak_reset,
                    processes: procstat::len(a),
                })
            }
            _ => None,
        }
    }

    /// Waits until one request is answered within a second (or `max_s` passed); returns
    /// the seconds waited.
    async fn settle(&self, max_s: f64) -> f64 {
        let started = Instant::now();
        while started.elapsed().as_secs_f64() < max_s {
            let due = Instant::now();
            let probe = one(&self.conns, &self.slots, self.uri.clone(), &self.host, self.payload.clone(), due);
            if let Ok(s) = tokio::time::timeout(Duration::from_secs(1), probe).await {
                if s.ok {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        started.elapsed().as_secs_f64()
    }

    /// CPU snapshots of (target tree, aux trees, this process), off the runtime thread.
    async fn snapshots(&self) -> anyhow::Result<Snapshots> {
        let (watch, aux) = (self.watch, self.aux.iter().map(|(_, p)| *p).collect::<Vec<_>>());
        Ok(tokio::task::spawn_blocking(move || {
            (
                watch.map(procstat::snapshot),
                aux.into_iter().map(procstat::snapshot).collect(),
                procstat::snapshot(std::process::id()),
            )
        })
        .await?)
    }
}

type Snapshots = (Option<procstat::Snapshot>, Vec<procstat::Snapshot>, procstat::Snapshot);

fn report(args: &Args, ctx: &Ctx, mode: &str, o: &Outcome, probes: Vec<Probe>) -> RunReport {
    RunReport {
        target: args.target.clone(),
        scenario: args.scenario.clone(),
        label: args.label.clone(),
        mode: mode.into(),
        offered_rate: o.offered,
        achieved_rate: o.achieved,
        duration_s: o.duration_s,
        requests: o.requests,
        errors: o.errors,
        timeouts: o.timeouts,
        error_sample: o.error_sample.clone(),
        stream: args.stream,
        body_bytes: ctx.payload.len(),
        connections: args.connections,
        pinned_connections: args.pin_connections,
        latency_us: percentiles(&o.latency),
        ttfb_us: percentiles(&o.ttfb),
        overhead_us: (!o.overhead.is_empty()).then(|| percentiles(&o.overhead)),
        outside_us: (!o.outside.is_empty()).then(|| percentiles(&o.outside)),
        send_lag_us: percentiles(&o.send_lag),
        cpu: o.cpu.clone(),
        aux_cpu_s: o.aux_cpu_s.clone(),
        loadgen_cpu_s: o.loadgen_cpu_s,
        probes,
    }
}

fn passes(args: &Args, o: &Outcome) -> bool {
    let p99_ms = if o.latency.is_empty() { f64::INFINITY } else { o.latency.value_at_quantile(0.99) as f64 / 1000.0 };
    o.requests > 0
        && (o.errors as f64) <= 0.001 * o.requests as f64
        && o.achieved >= 0.95 * o.offered
        && p99_ms <= args.slo_p99_ms
}

/// Runs the [`Search`]; returns the best passing probe (or the last probe if none
/// passed) and every probe.
async fn saturate(args: &Args, ctx: &Ctx) -> anyhow::Result<(Outcome, Vec<Probe>)> {
    let mut search = Search::new(args.rate, args.max_rate);
    let mut best: Option<Outcome> = None;
    let mut last: Option<Outcome> = None;
    let mut probes = Vec::new();
    for n in 0..args.max_probes {
        if n > 0 {
            tokio::time::sleep(Duration::from_secs_f64(args.pause)).await;
        }
        let rate = search.rate();
        let o = ctx.phase(rate, args.warmup, args.duration).await?;
        let pass = passes(args, &o);
        let p99_us = if o.latency.is_empty() { 0 } else { o.latency.value_at_quantile(0.99) };
        eprintln!(
            "saturation {} probe {rate:.0}/s: achieved {:.0}/s, errors {}, p99 {p99_us} us -> {}",
            args.target,
            o.achieved,
            o.errors,
            if pass { "pass" } else { "fail" }
        );
        probes.push(Probe {
            offered_rate: rate,
            achieved_rate: o.achieved,
            requests: o.requests,
            errors: o.errors,
            p99_us,
            pass,
        });
        if pass {
            best = Some(o);
        } else {
            last = Some(o);
            let waited = ctx.settle(args.settle_max).await;
            eprintln!("saturation {}: settled after {waited:.1} s", args.target);
        }
        if search.record(pass).is_none() {
            break;
        }
    }
    let chosen = best.or(last).context("no probe ran")?;
    Ok((chosen, probes))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()?;
    let report = rt.block_on(async {
        let ctx = Ctx::new(&args).await?;
        if args.saturate {
            let (o, probes) = saturate(&args, &ctx).await?;
            Ok::<_, anyhow::Error>(report(&args, &ctx, "saturation", &o, probes))
        } else {
            let o = ctx.phase(args.rate, args.warmup, args.duration).await?;
            Ok(report(&args, &ctx, "fixed", &o, Vec::new()))
        }
    })?;
    let json = serde_json::to_string(&report)?;
    if let Some(path) = &args.out {
        std::fs::write(path, format!("{json}\n")).with_context(|| format!("write {}", path.display()))?;
    }
    println!("{json}");
    // Requests still queued at a timed-out target must not keep the process alive.
    rt.shutdown_timeout(Duration::from_millis(100));
    if let Some(max) = args.max_error_rate {
        if report.requests == 0 || report.errors as f64 > max * report.requests as f64 {
            eprintln!(
                "loadgen: {} {}: {} of {} requests failed (allowed {:.1} %); first error: {}",
                report.target,
                report.scenario,
                report.errors,
                report.requests,
                max * 100.0,
                report.error_sample.as_deref().unwrap_or("-")
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
