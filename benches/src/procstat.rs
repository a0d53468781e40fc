//! CPU time and peak memory of a process tree, from `/proc`.
//!
//! A target is a process and its descendants (nginx's master and worker, LiteLLM's
//! uvicorn workers). CPU is `utime + stime` from `/proc/<pid>/stat` (clock ticks, all
//! threads); peak memory is `VmHWM` from `/proc/<pid>/status`, which root can reset by
//! writing `5` to `/proc/<pid>/clear_refs` so each run reports its own peak. A process
//! that exits inside the window takes its CPU with it (children's `cutime` is only
//! counted once they are reaped): targets here keep their processes for the whole run.

use std::collections::HashMap;
use std::fs;

/// CPU ticks per process at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    ticks: HashMap<u32, u64>,
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// `root` and every live descendant.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok())) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids);
        }
        i += 1;
    }
    out
}

/// Fields of `/proc/<pid>/stat` after the `(comm)`: index 0 is the state, 1 the ppid,
/// 11 utime, 12 stime.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// CPU ticks of every process in `root`'s tree.
pub fn snapshot(root: u32) -> Snapshot {
    Snapshot { ticks: tree(root).into_iter().filter_map(|p| Some((p, cpu_ticks(p)?))).collect() }
}

/// CPU seconds spent between two snapshots. A process that appeared in between counts
/// from its start.
pub fn cpu_seconds(before: &Snapshot, after: &Snapshot, ticks_per_s: f64) -> f64 {
    let ticks: u64 =
        after.ticks.iter().map(|(pid, t)| t.saturating_sub(before.ticks.get(pid).copied().unwrap_or(0))).sum();
    ticks as f64 / ticks_per_s
}

/// Processes in the snapshot.
pub fn len(s: &Snapshot) -> usize {
    s.ticks.len()
}

/// Reset the peak RSS of every process in the tree; false if any reset failed.
pub fn reset_peak_rss(root: u32) -> bool {
    tree(root).into_iter().all(|p| fs::write(format!("/proc/{p}/clear_refs"), "5").is_ok())
}

/// Sum of `VmHWM` over the tree, KiB.
pub fn peak_rss_kib(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|p| {
            let status = fs::read_to_string(format!("/proc/{p}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}
