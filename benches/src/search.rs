//! The saturation search's rate stepping: double from the start rate until a probe fails,
//! then bisect between the best pass and the lowest failure until they are within 10 %
//! (or, if nothing passes, halve until below 5 req/s). Pure, so it is tested here; the
//! load generator runs the probes.

/// Where the search stands.
#[derive(Debug, Clone)]
pub struct Search {
    rate: f64,
    max_rate: f64,
    /// Highest passing rate so far (0: none).
    lo: f64,
    /// Lowest failing rate so far.
    hi: Option<f64>,
}

impl Search {
    /// A search starting at `start` req/s, never probing above `max_rate`.
    pub fn new(start: f64, max_rate: f64) -> Self {
        Self { rate: start, max_rate, lo: 0.0, hi: None }
    }

    /// The rate to probe next.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Records the current probe's outcome; returns the next rate, or `None` when done.
    pub fn record(&mut self, pass: bool) -> Option<f64> {
        if pass {
            self.lo = self.rate;
        } else {
            self.hi = Some(self.rate);
        }
        self.rate = match self.hi {
            None => self.rate * 2.0,
            Some(h) if self.lo > 0.0 => (self.lo + h) / 2.0,
            Some(h) => h / 2.0,
        };
        let done = match self.hi {
            Some(h) => (self.lo > 0.0 && (h - self.lo) / h < 0.1) || (self.lo == 0.0 && self.rate < 5.0),
            None => false,
        };
        (!done && self.rate <= self.max_rate).then_some(self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probes a target that passes up to `capacity`; returns the probed rates.
    fn run(start: f64, capacity: f64, max_probes: usize) -> Vec<f64> {
        let mut s = Search::new(start, 400_000.0);
        let mut probed = vec![s.rate()];
        while probed.len() < max_probes {
            match s.record(s.rate() <= capacity) {
                Some(r) => probed.push(r),
                None => break,
            }
        }
        probed
    }

    #[test]
    fn doubles_then_bisects_to_within_ten_percent() {
        let probed = run(100.0, 17_000.0, 20);
        assert_eq!(&probed[..9], [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0, 6400.0, 12800.0, 25600.0]);
        assert_eq!(&probed[9..], [19200.0, 16000.0, 17600.0], "bisection stops once within 10 %");
    }

    #[test]
    fn a_target_that_never_passes_ends_below_five_per_second() {
        let probed = run(100.0, 1.0, 20);
        assert_eq!(probed, [100.0, 50.0, 25.0, 12.5, 6.25]);
    }
}
