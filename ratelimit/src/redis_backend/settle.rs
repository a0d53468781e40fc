//! Token settlements to Redis, coalesced: [`SettleQueue`] gathers the adjustments that
//! requests hand off without waiting ([`Backend::adjust_detached`](crate::backend::Backend))
//! for [`DELAY`], merges those of the same bucket, and writes them in one script call per
//! [`MAX_BATCH`] buckets — one round trip for many requests instead of one each.
//!
//! A settlement was already written after its request, by a spawned task; coalescing
//! delays it by at most [`DELAY`] more. A failed call reports the error to every
//! adjustment in it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::RedisBackend;
use crate::backend::{BackendError, OwnedOp};

/// How long adjustments gather before they are written.
pub(super) const DELAY: Duration = Duration::from_millis(2);
/// Most buckets in one script call.
const MAX_BATCH: usize = 128;

type OnError = Box<dyn FnOnce(BackendError) + Send>;

/// Adjustments waiting to be written, and whether a flush is scheduled.
#[derive(Default)]
pub(super) struct SettleQueue {
    pending: Mutex<Pending>,
}

#[derive(Default)]
struct Pending {
    ops: Vec<OwnedOp>,
    on_error: Vec<OnError>,
    scheduled: bool,
}

impl SettleQueue {
    /// Queues `ops`; the first adjustment after a flush schedules the next one.
    pub(super) fn push(&self, backend: Arc<RedisBackend>, ops: Vec<OwnedOp>, on_error: OnError) {
        let schedule = {
            let mut pending = self.pending.lock();
            pending.ops.extend(ops);
            pending.on_error.push(on_error);
            !std::mem::replace(&mut pending.scheduled, true)
        };
        if !schedule {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(DELAY).await;
                    backend.settle.flush(&backend).await;
                });
            }
            Err(_) => {
                let taken = std::mem::take(&mut *self.pending.lock());
                let err = BackendError::Failed("no tokio runtime to settle in".into());
                taken.on_error.into_iter().for_each(|report| report(err.clone()));
            }
        }
    }

    /// Writes everything queued, merged per bucket, [`MAX_BATCH`] buckets per call.
    async fn flush(&self, backend: &RedisBackend) {
        let Pending { ops, on_error, .. } = std::mem::take(&mut *self.pending.lock());
        let merged = merge(ops);
        let mut failed = None;
        for chunk in merged.chunks(MAX_BATCH) {
            let borrowed: Vec<_> = chunk.iter().map(OwnedOp::as_op).collect();
            if let Err(err) = backend.adjust_now(&borrowed).await {
                failed = Some(err);
            }
        }
        if let Some(err) = failed {
            on_error.into_iter().for_each(|report| report(err.clone()));
        }
    }
}

/// One op per bucket (rule and key), costs summed, in first-seen order: the script reads
/// every level before it writes any, so a bucket named twice would keep only one cost.
fn merge(ops: Vec<OwnedOp>) -> Vec<OwnedOp> {
    let mut merged: Vec<OwnedOp> = Vec::with_capacity(ops.len());
    for op in ops {
        match merged.iter_mut().find(|m| Arc::ptr_eq(&m.slot, &op.slot) && m.key == op.key) {
            Some(m) => {
                m.cost += op.cost;
                m.gcra = op.gcra;
            }
            None => merged.push(op),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Unit;
    use crate::gcra::Gcra;
    use crate::slot::Slot;

    fn op(slot: &Arc<Slot>, key: &str, cost: f64) -> OwnedOp {
        let gcra = Gcra::new(1_000, Duration::from_secs(60), 1_000);
        OwnedOp { slot: slot.clone(), per_attempt: false, key: key.into(), cost, gcra }
    }

    #[test]
    fn merge_sums_each_bucket_once_in_first_seen_order() {
        let a = Arc::new(Slot::new("a".into(), Unit::Tokens));
        // A second rule whose bucket has the same key name is another bucket.
        let b = Arc::new(Slot::new("b".into(), Unit::Tokens));
        let merged = merge(vec![op(&a, "m1", 5.0), op(&b, "m1", 1.0), op(&a, "m2", -3.0), op(&a, "m1", -2.0)]);
        let got: Vec<_> = merged.iter().map(|m| (&*m.slot.name, &*m.key, m.cost)).collect();
        assert_eq!(got, [("a", "m1", 3.0), ("b", "m1", 1.0), ("a", "m2", -3.0)]);
    }
}
