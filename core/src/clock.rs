//! Wall-clock time as Unix milliseconds or seconds.
//!
//! A clock set before 1970 reads as 0, one past the year 292 million as `i64::MAX`: both
//! are impossible in practice and neither panics.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Now, in whole Unix seconds.
pub fn unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn milliseconds_and_seconds_agree() {
        let (ms, s) = (super::unix_ms(), super::unix_secs());
        assert!(ms > 1_700_000_000_000, "{ms}");
        assert!((ms / 1000).abs_diff(s as i64) <= 1);
    }
}
