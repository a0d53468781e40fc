//! The measured samples of one load phase as they arrive: histograms (µs) of latency,
//! time to first byte, the target's reported overhead, the time spent outside the target
//! and the load generator's own send lag; counts, the first error, and the span of
//! successful completions that gives the achieved rate.

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::send::Sample;

/// What a phase measured so far.
pub struct Tally {
    pub latency: Histogram<u64>,
    pub ttfb: Histogram<u64>,
    pub overhead: Histogram<u64>,
    pub outside: Histogram<u64>,
    pub send_lag: Histogram<u64>,
    /// Measured requests, failed ones included.
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// The first error's text.
    pub error_sample: Option<String>,
    first_done: Option<Instant>,
    last_done: Instant,
}

// === impl Tally ===

impl Tally {
    /// An empty tally for a phase whose measured part starts at `measured_start`.
    pub fn new(measured_start: Instant) -> anyhow::Result<Self> {
        let latency = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?;
        Ok(Self {
            ttfb: latency.clone(),
            overhead: latency.clone(),
            outside: latency.clone(),
            send_lag: latency.clone(),
            latency,
            requests: 0,
            ok: 0,
            errors: 0,
            timeouts: 0,
            error_sample: None,
            first_done: None,
            last_done: measured_start,
        })
    }

    /// Counts one measured sample; a success completes now.
    pub fn record(&mut self, s: Sample) {
        self.requests += 1;
        self.send_lag.saturating_record(s.send_lag.as_micros() as u64);
        if !s.ok {
            self.errors += 1;
            self.timeouts += u64::from(s.timed_out);
            if self.error_sample.is_none() {
                self.error_sample = s.error;
            }
            return;
        }
        self.ok += 1;
        self.last_done = Instant::now();
        self.first_done.get_or_insert(self.last_done);
        self.latency.saturating_record(s.latency.as_micros() as u64);
        self.ttfb.saturating_record(s.ttfb.as_micros() as u64);
        if let Some(o) = s.overhead_us {
            self.overhead.saturating_record(o.max(1));
        }
        if let Some(i) = s.inside_us {
            self.outside.saturating_record((s.ttfb.as_micros() as u64).saturating_sub(i).max(1));
        }
    }

    /// Completion rate between the first and the last measured success: the latency of
    /// the first request does not dilute it, a backlog that drains late does. `duration`:
    /// the measured window, seconds.
    pub fn achieved(&self, duration: f64) -> f64 {
        let ok = self.ok;
        match self.first_done {
            Some(first) if ok > 1 && self.last_done > first => {
                (ok - 1) as f64
                    / self.last_done.duration_since(first).as_secs_f64().max(duration * (ok - 1) as f64 / ok as f64)
            }
            _ => ok as f64 / duration,
        }
    }
}
