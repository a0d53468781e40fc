//! From the per-run JSON to the results table: ordering, overhead over `direct`, flags,
//! the goals of issue 6, and the Markdown rendering.
//!
//! Overhead is `target percentile − direct percentile` for the same scenario (same offered
//! rate, body and connection pattern), on total latency for non-streamed scenarios and on
//! time to first body byte (the first SSE token) for streamed ones. Percentiles of two
//! independent runs do not subtract exactly; a small negative overhead means "within the
//! noise", not "faster than direct".

use std::fmt::Write as _;

use serde::Serialize;

use crate::schema::RunReport;

/// Facts about the run that the JSON files do not carry.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Meta {
    pub date: String,
    pub mode: String,
    pub command: String,
    pub machine: String,
    pub versions: Vec<(String, String)>,
    pub notes: Vec<String>,
}

/// One line of a results table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub run: RunReport,
    /// `latency` or `ttfb`: what the overhead columns subtract.
    pub overhead_basis: &'static str,
    pub overhead_p50_us: Option<i64>,
    pub overhead_p99_us: Option<i64>,
    /// (load generator + upstream) CPU seconds / measured seconds: both share one core.
    pub client_core_busy: f64,
    pub flags: Vec<String>,
}

/// A goal of issue 6 and where this run stands.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: String,
    pub measured: String,
    /// None when the run lacks the data (e.g. a target was skipped).
    pub met: Option<bool>,
}

const SCENARIOS: &[&str] =
    &["rate-100", "rate-500", "rate-2000", "rate-5000", "stream-20", "body-64k", "conn-1000", "saturation"];
const TARGETS: &[&str] =
    &["direct", "switchyard", "switchyard-rl-local", "switchyard-rl-redis", "nginx", "litellm", "tensorzero"];

fn rank(list: &[&str], name: &str) -> usize {
    list.iter().position(|s| *s == name).unwrap_or(list.len())
}

/// Scenario names in report order (known ones first, then by name).
pub fn scenarios(runs: &[RunReport]) -> Vec<String> {
    let mut out: Vec<String> = runs.iter().map(|r| r.scenario.clone()).collect();
    out.sort_by(|a, b| (rank(SCENARIOS, a), a).cmp(&(rank(SCENARIOS, b), b)));
    out.dedup();
    out
}

/// Target names in report order.
pub fn targets(runs: &[RunReport]) -> Vec<String> {
    let mut out: Vec<String> = runs.iter().map(|r| r.target.clone()).collect();
    out.sort_by(|a, b| (rank(TARGETS, a), a).cmp(&(rank(TARGETS, b), b)));
    out.dedup();
    out
}

/// Rows in report order with overheads and flags.
pub fn rows(runs: &[RunReport]) -> Vec<Row> {
    let mut out = Vec::new();
    for scenario in scenarios(runs) {
        let direct = runs.iter().find(|r| r.scenario == scenario && r.target == "direct");
        for target in targets(runs) {
            let Some(run) = runs.iter().find(|r| r.scenario == scenario && r.target == target) else {
                continue;
            };
            out.push(row(run, direct));
        }
    }
    out
}

fn row(run: &RunReport, direct: Option<&RunReport>) -> Row {
    let basis = if run.stream { "ttfb" } else { "latency" };
    let pick = |r: &RunReport| if run.stream { r.ttfb_us } else { r.latency_us };
    let comparable = run.mode == "fixed" && run.target != "direct";
    let (o50, o99) = match direct.filter(|d| comparable && kept_up(d)) {
        Some(d) if kept_up(run) => {
            let (t, d) = (pick(run), pick(d));
            (Some(t.p50 as i64 - d.p50 as i64), Some(t.p99 as i64 - d.p99 as i64))
        }
        _ => (None, None),
    };
    let upstream = run.aux_cpu_s.iter().find(|(n, _)| n == "upstream").map_or(0.0, |(_, s)| *s);
    let busy = if run.duration_s > 0.0 { (run.loadgen_cpu_s + upstream) / run.duration_s } else { 0.0 };
    let mut flags = Vec::new();
    if run.errors > 0 {
        flags.push(format!("{} errors ({} timeouts)", run.errors, run.timeouts));
    }
    if run.mode == "fixed" && run.achieved_rate < 0.95 * run.offered_rate {
        flags.push("below offered rate".into());
    }
    if run.send_lag_us.p99 > 1000 {
        flags.push(format!("loadgen send lag p99 {} ms", ms(run.send_lag_us.p99)));
    }
    if busy > 0.9 {
        flags.push(format!("client core {:.0}% busy", busy * 100.0));
    }
    if run.mode == "saturation" && !run.probes.iter().any(|p| p.pass) {
        flags.push("no probe passed".into());
    }
    Row {
        run: run.clone(),
        overhead_basis: basis,
        overhead_p50_us: o50,
        overhead_p99_us: o99,
        client_core_busy: busy,
        flags,
    }
}

/// Whether a fixed-rate run served its load (≥ 95 % of the offered rate, ≤ 1 % errors):
/// only then are its percentiles — of the requests that succeeded — compared with
/// direct's. An overloaded target's few successes say nothing about its overhead.
fn kept_up(run: &RunReport) -> bool {
    run.requests > 0 && run.achieved_rate >= 0.95 * run.offered_rate && run.errors * 100 <= run.requests
}

fn find<'a>(rows: &'a [Row], target: &str, scenario: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.run.target == target && r.run.scenario == scenario)
}

fn saturation(rows: &[Row], target: &str) -> Option<f64> {
    find(rows, target, "saturation").filter(|r| r.run.probes.iter().any(|p| p.pass)).map(|r| r.run.achieved_rate)
}

/// Issue 6's goals, evaluated on this run.
pub fn goals(rows: &[Row]) -> Vec<Goal> {
    let mut out = Vec::new();
    let sy = saturation(rows, "switchyard");
    let ng = saturation(rows, "nginx");
    let ll = saturation(rows, "litellm");
    out.push(Goal {
        goal: "switchyard saturation ≥ nginx's (same cores, recording on)".into(),
        measured: format!("{} vs {} req/s", fmt_rate(sy), fmt_rate(ng)),
        met: sy.zip(ng).map(|(s, n)| s >= n),
    });
    for (scenario, bound) in [("rate-2000", 1000i64), ("rate-5000", 2000)] {
        let o = find(rows, "switchyard", scenario).and_then(|r| r.overhead_p99_us);
        out.push(Goal {
            goal: format!("added p99 over direct ≤ {} ms at {scenario}", bound / 1000),
            measured: o.map_or("n/a".into(), |o| format!("{:.3} ms", o as f64 / 1000.0)),
            met: o.map(|o| o <= bound),
        });
    }
    out.push(Goal {
        goal: "≥ 20× LiteLLM's throughput at equal p99 (saturation, same p99 bound)".into(),
        measured: match sy.zip(ll) {
            Some((s, l)) if l > 0.0 => format!("{:.1}× ({} vs {} req/s)", s / l, fmt_rate(sy), fmt_rate(ll)),
            _ => format!("{} vs {} req/s", fmt_rate(sy), fmt_rate(ll)),
        },
        met: sy.zip(ll).map(|(s, l)| s >= 20.0 * l),
    });
    let rss = find(rows, "switchyard", "rate-5000").and_then(|r| r.run.cpu.as_ref()).map(|c| c.peak_rss_kib);
    out.push(Goal {
        goal: "peak RSS ≤ 64 MiB at 5,000 req/s".into(),
        measured: rss.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        met: rss.map(|k| k <= 64 * 1024),
    });
    let ttft = find(rows, "switchyard", "stream-20").and_then(|r| r.overhead_p99_us);
    out.push(Goal {
        goal: "streaming TTFT overhead ≤ 0.5 ms p99".into(),
        measured: ttft.map_or("n/a".into(), |o| format!("{:.3} ms", o as f64 / 1000.0)),
        met: ttft.map(|o| o <= 500),
    });
    // Issue 16: what three rate-limit rules add over the same gateway without them.
    let plain = find(rows, "switchyard", "rate-2000").and_then(|r| r.overhead_p99_us);
    for (target, backend, bound) in [("switchyard-rl-local", "local", 100i64), ("switchyard-rl-redis", "redis", 300)] {
        let added = find(rows, target, "rate-2000").and_then(|r| r.overhead_p99_us).zip(plain).map(|(rl, p)| rl - p);
        out.push(Goal {
            goal: format!(
                "3 rate-limit rules ({backend}) add ≤ {:.1} ms p99 over no limits at rate-2000",
                bound as f64 / 1000.0
            ),
            measured: added.map_or("n/a".into(), |a| format!("{:+.3} ms", a as f64 / 1000.0)),
            met: added.map(|a| a <= bound),
        });
    }
    out
}

fn fmt_rate(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.0}"))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn delta(us: Option<i64>) -> String {
    us.map_or("–".into(), |u| format!("{:+.3}", u as f64 / 1000.0))
}

/// The Markdown report.
pub fn markdown(meta: &Meta, rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Switchyard load benchmark — {} ({} run)\n", meta.date, meta.mode);
    if meta.mode != "full" {
        let _ = writeln!(s, "> **Smoke run: seconds per scenario on a possibly busy machine. The numbers are noise; they only show the harness works.**\n");
    }
    let _ = writeln!(s, "- machine: {}", meta.machine);
    let _ = writeln!(s, "- command: `{}`", meta.command);
    for (name, version) in &meta.versions {
        let _ = writeln!(s, "- {name}: {version}");
    }
    for note in &meta.notes {
        let _ = writeln!(s, "- {note}");
    }
    let _ = writeln!(s, "\nLatencies in ms, measured open-loop from each request's scheduled time (coordinated-omission corrected). Δ = target − direct at the same scenario (p50 / p99 of total latency; of time to first token for streams). CPU-s/1k = target CPU seconds (user+system, all its processes) per 1,000 answered requests; RSS = peak resident set of the target's processes during the scenario.\n");
    let heading = if meta.mode == "full" { "" } else { " — not meaningful in a smoke run" };
    let _ = writeln!(s, "## Goals (issue 6){heading}\n\n| goal | measured | met |\n|---|---|---|");
    for g in goals(rows) {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "n/a",
        };
        let _ = writeln!(s, "| {} | {} | {met} |", g.goal, g.measured);
    }
    let mut current = String::new();
    for r in rows {
        if r.run.scenario != current {
            current = r.run.scenario.clone();
            let _ = writeln!(
                s,
                "\n## {current}{}\n",
                if r.run.label.is_empty() { String::new() } else { format!(" — {}", r.run.label) }
            );
            let _ = writeln!(s, "| target | offered req/s | achieved req/s | errors | p50 | p90 | p99 | p99.9 | TTFT p99 | Δp50 | Δp99 | CPU-s/1k | RSS MiB | notes |");
            let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|");
        }
        let run = &r.run;
        let (cpu, rss) = run.cpu.as_ref().map_or(("–".into(), "–".into()), |c| {
            (format!("{:.3}", c.cpu_s_per_1k), format!("{:.1}", c.peak_rss_kib as f64 / 1024.0))
        });
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            run.target,
            run.offered_rate,
            run.achieved_rate,
            run.errors,
            ms(run.latency_us.p50),
            ms(run.latency_us.p90),
            ms(run.latency_us.p99),
            ms(run.latency_us.p999),
            if run.stream { ms(run.ttfb_us.p99) } else { "–".into() },
            delta(r.overhead_p50_us),
            delta(r.overhead_p99_us),
            cpu,
            rss,
            r.flags.join("; ")
        );
    }
    if let Some(r) = rows.iter().find(|r| r.run.mode == "saturation") {
        let _ = writeln!(s, "\nSaturation: the highest offered rate with errors ≤ 0.1 %, achieved ≥ 95 % of offered and p99 within the bound (`{}`); the row is that probe. Probes per target are in results.json.", r.run.label);
    }
    if let Some(r) = rows
        .iter()
        .find(|r| r.run.target == "switchyard" && r.run.overhead_us.is_some() && r.run.scenario == "rate-2000")
    {
        if let Some(o) = &r.run.overhead_us {
            let _ = writeln!(
                s,
                "\nSwitchyard's own `server-timing: overhead` at rate-2000: p50 {} ms, p99 {} ms, p99.9 {} ms.",
                ms(o.p50),
                ms(o.p99),
                ms(o.p999)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Percentiles;

    fn run(target: &str, achieved: f64, requests: u64, errors: u64, p99: u64) -> RunReport {
        let lat = Percentiles { p50: p99 / 2, p99, ..Percentiles::default() };
        RunReport {
            target: target.into(),
            scenario: "rate-500".into(),
            label: String::new(),
            mode: "fixed".into(),
            offered_rate: 500.0,
            achieved_rate: achieved,
            duration_s: 10.0,
            requests,
            errors,
            timeouts: errors,
            error_sample: None,
            stream: false,
            body_bytes: 84,
            connections: 256,
            pinned_connections: false,
            latency_us: lat,
            ttfb_us: lat,
            send_lag_us: Percentiles::default(),
            overhead_us: None,
            outside_us: None,
            cpu: None,
            aux_cpu_s: Vec::new(),
            loadgen_cpu_s: 0.0,
            probes: Vec::new(),
        }
    }

    #[test]
    fn overhead_is_compared_only_for_runs_that_kept_up() {
        let runs = vec![
            run("direct", 500.0, 5000, 0, 400),
            run("switchyard", 500.0, 5000, 0, 900),
            // LiteLLM at 500 req/s in the 2026-11-26 run: 19 req/s, 4,810 timeouts.
            run("litellm", 19.0, 5000, 4810, 9_994_000),
            run("nginx", 499.0, 5000, 60, 800),
        ];
        let rows = rows(&runs);
        let by = |t: &str| rows.iter().find(|r| r.run.target == t).expect("row");
        assert_eq!(by("switchyard").overhead_p99_us, Some(500));
        assert_eq!(by("litellm").overhead_p99_us, None, "an overloaded run has no overhead");
        assert_eq!(by("nginx").overhead_p99_us, None, "1.2 % errors is not keeping up");
        assert!(by("litellm").flags.iter().any(|f| f == "below offered rate"));
    }

    #[test]
    fn rate_limit_targets_are_judged_against_switchyard_without_limits() {
        let at_2000 =
            |target: &str, p99| RunReport { scenario: "rate-2000".into(), ..run(target, 2000.0, 20_000, 0, p99) };
        let runs = vec![
            at_2000("direct", 300),
            at_2000("switchyard", 700),
            at_2000("switchyard-rl-local", 760),
            at_2000("switchyard-rl-redis", 1_100),
        ];
        let goals = goals(&rows(&runs));
        let find = |backend: &str| goals.iter().find(|g| g.goal.contains(backend)).expect("goal");
        assert_eq!((find("(local)").measured.as_str(), find("(local)").met), ("+0.060 ms", Some(true)));
        assert_eq!((find("(redis)").measured.as_str(), find("(redis)").met), ("+0.400 ms", Some(false)));
        assert_eq!(targets(&runs), ["direct", "switchyard", "switchyard-rl-local", "switchyard-rl-redis"]);
    }
}
