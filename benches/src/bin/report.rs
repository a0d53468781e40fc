//! Turn a directory of load runs (`loadgen --out`, one JSON per target and scenario) into
//! `results.json` (meta, goals, rows with overheads), `results.md` (the tables) and
//! `chart.png`. Fails if there are no runs, so a harness that measured nothing is loud.
//!
//!   report --runs DIR --out DIR [--mode full|smoke] [--command "…"] [--version name=ver]…

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use serde::Serialize;
use switchyard_benches::schema::RunReport;
use switchyard_benches::summary::{self, Goal, Meta, Row};
use switchyard_benches::{chart, procstat};

#[derive(Parser)]
struct Args {
    /// Directory of per-run JSON files.
    #[arg(long)]
    runs: PathBuf,
    /// Where results.json, results.md and chart.png go.
    #[arg(long)]
    out: PathBuf,
    /// `full` or `smoke`.
    #[arg(long, default_value = "full")]
    mode: String,
    /// The command that produced the runs, quoted in the report.
    #[arg(long, default_value = "benches/load/run.sh")]
    command: String,
    /// Date shown in the report (default: today, UTC, from `date`).
    #[arg(long)]
    date: Option<String>,
    /// A component version, name=version (repeatable).
    #[arg(long)]
    version: Vec<String>,
    /// A note line for the report (repeatable).
    #[arg(long)]
    note: Vec<String>,
    /// TrueType font for the chart.
    #[arg(long, default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    font: PathBuf,
}

#[derive(Serialize)]
struct Results<'a> {
    meta: &'a Meta,
    goals: Vec<Goal>,
    rows: &'a [Row],
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cores} × {model}, {:.0} GiB RAM, Linux {}, {} clock ticks/s",
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        procstat::clock_ticks()
    )
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut runs: Vec<RunReport> = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&args.runs)
        .with_context(|| format!("read {}", args.runs.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for p in &paths {
        let text = std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?;
        runs.push(serde_json::from_str(&text).with_context(|| format!("parse {}", p.display()))?);
    }
    anyhow::ensure!(!runs.is_empty(), "no runs in {}", args.runs.display());
    let versions = args
        .version
        .iter()
        .map(|v| v.split_once('=').map(|(a, b)| (a.to_owned(), b.to_owned())).context("--version is name=version"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let meta = Meta {
        date: args.date.clone().unwrap_or_else(today),
        mode: args.mode.clone(),
        command: args.command.clone(),
        machine: machine(),
        versions,
        notes: args.note.clone(),
    };
    let rows = summary::rows(&runs);
    std::fs::create_dir_all(&args.out)?;
    let results = Results { meta: &meta, goals: summary::goals(&rows), rows: &rows };
    std::fs::write(args.out.join("results.json"), serde_json::to_string_pretty(&results)?)?;
    std::fs::write(args.out.join("results.md"), summary::markdown(&meta, &rows))?;
    chart::register_font(&args.font)?;
    let title = format!("Switchyard vs peers — {} ({} run)", meta.date, meta.mode);
    chart::draw(&rows, &title, &args.out.join("chart.png"))?;
    eprintln!("report: {} runs -> {}", runs.len(), args.out.display());
    Ok(())
}
