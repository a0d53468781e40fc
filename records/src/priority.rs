//! The shipper thread's CPU priority: idle while the spool is comfortably small, normal
//! when the backlog grows.
//!
//! Shipping is batchy work (read a second of records, encode, insert): on a core shared
//! with the data plane a burst of it delays requests by a scheduler slice. Measured at
//! 5,000 req/s with one tokio worker on one core: added p99 ≈ 2 ms with the shipper at
//! normal priority. Under Linux `SCHED_IDLE` the shipper runs only when the core is
//! otherwise idle, and a waking request handler preempts it at once. A gateway at full
//! CPU would then never ship, so once the spool holds more than half its `max_bytes` the
//! shipper returns to normal priority until it is back under a quarter. Leaving
//! `SCHED_IDLE` needs `CAP_SYS_NICE` (or `RLIMIT_NICE` ≥ 20): without it the shipper stays
//! idle, a WARN says so once, and under sustained full CPU the spool holds the backlog
//! until load drops (records are kept, up to `max_bytes`). Elsewhere (not Linux) this is a
//! no-op.

/// The policy the shipper thread is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// `SCHED_IDLE`: runs only on otherwise idle CPU time.
    Idle,
    /// `SCHED_OTHER`, nice 0.
    Normal,
}

/// Switches the calling thread's policy as the spool fills and drains.
#[derive(Debug)]
pub(crate) struct Governor {
    current: Option<Priority>,
    max_bytes: u64,
    /// Leaving `SCHED_IDLE` was refused (warned once).
    boost_denied: bool,
}

// === impl Governor ===

impl Governor {
    pub(crate) fn new(max_bytes: u64) -> Self {
        Self { current: None, max_bytes, boost_denied: false }
    }

    /// The policy for a spool holding `bytes`, given the current one (hysteresis between
    /// a quarter and a half of `max_bytes`).
    pub(crate) fn wanted(&self, bytes: u64) -> Priority {
        let high = self.max_bytes / 2;
        let low = self.max_bytes / 4;
        match self.current {
            Some(Priority::Normal) if bytes > low => Priority::Normal,
            _ if bytes > high => Priority::Normal,
            _ => Priority::Idle,
        }
    }

    /// Applies [`Governor::wanted`] to the calling thread when it changed.
    pub(crate) fn update(&mut self, bytes: u64) {
        let wanted = self.wanted(bytes);
        if self.current == Some(wanted) {
            return;
        }
        match set_current_thread(wanted) {
            Ok(()) => {
                tracing::debug!(?wanted, spool_bytes = bytes, "record shipper priority");
                self.current = Some(wanted);
            }
            Err(error) if wanted == Priority::Normal => {
                if !self.boost_denied {
                    self.boost_denied = true;
                    tracing::warn!(
                        %error,
                        spool_bytes = bytes,
                        "record spool past half full but the shipper may not leave idle CPU priority \
                         (needs CAP_SYS_NICE); it ships only when the CPU has idle time"
                    );
                }
            }
            Err(error) => {
                tracing::debug!(%error, "cannot give the record shipper idle CPU priority");
                self.current = Some(wanted);
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn set_current_thread(priority: Priority) -> Result<(), thread_priority::Error> {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy, ThreadPriority,
        ThreadPriorityValue, ThreadSchedulePolicy,
    };
    let (value, policy) = match priority {
        // SCHED_IDLE has a single level.
        Priority::Idle => (ThreadPriority::Min, NormalThreadSchedulePolicy::Idle),
        // The crate maps 0..=99 onto nice 19..=-20; 48 is nice 0 (checked in the tests).
        Priority::Normal => (
            ThreadPriority::Crossplatform(
                ThreadPriorityValue::try_from(48u8)
                    .map_err(|_| thread_priority::Error::Priority("nice 0 is not a valid cross-platform priority"))?,
            ),
            NormalThreadSchedulePolicy::Other,
        ),
    };
    set_thread_priority_and_policy(thread_native_id(), value, ThreadSchedulePolicy::Normal(policy))
}

#[cfg(not(target_os = "linux"))]
fn set_current_thread(_priority: Priority) -> Result<(), std::convert::Infallible> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_until_half_full_then_normal_until_a_quarter() {
        let mut g = Governor::new(1000);
        assert_eq!(g.wanted(0), Priority::Idle);
        assert_eq!(g.wanted(500), Priority::Idle);
        assert_eq!(g.wanted(501), Priority::Normal);
        g.current = Some(Priority::Normal);
        assert_eq!(g.wanted(300), Priority::Normal);
        assert_eq!(g.wanted(250), Priority::Idle);
    }

    /// (nice, policy) of the calling thread from `/proc/thread-self/stat` (fields 19 and
    /// 41; policy 0 is SCHED_OTHER, 5 SCHED_IDLE).
    #[cfg(target_os = "linux")]
    fn nice_and_policy() -> (i64, i64) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("read /proc/thread-self/stat");
        // Fields after the parenthesised command name start at field 3.
        let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
        let fields: Vec<i64> = rest.split(' ').skip(1).map(|f| f.trim().parse().unwrap_or(-1)).collect();
        (fields[19 - 4], fields[41 - 4])
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_applies_the_policy_to_the_calling_thread_only() {
        const OTHER: (i64, i64) = (0, 0);
        const IDLE: (i64, i64) = (0, 5);
        std::thread::spawn(|| {
            assert_eq!(nice_and_policy(), OTHER);
            let mut g = Governor::new(1000);
            g.update(0);
            assert_eq!(nice_and_policy(), IDLE);
            g.update(900);
            if g.boost_denied {
                // Unprivileged: the documented fallback is to stay idle.
                assert_eq!(nice_and_policy(), IDLE);
                return;
            }
            assert_eq!(nice_and_policy(), OTHER, "back to normal priority at nice 0");
            g.update(100);
            assert_eq!(nice_and_policy(), IDLE);
        })
        .join()
        .expect("priority thread");
        assert_eq!(nice_and_policy(), OTHER, "only the shipper's own thread changes");
    }
}
