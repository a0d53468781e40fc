//! Assignment: mapping a request to a member (ARCHITECTURE phase 4).
//!
//! A [`Sampler`] lays the members' normalised weights out on [0,1): the champion takes
//! the bottom, then challengers in *reverse* config order, so the first challenger sits at
//! the top. A request's bucket — a stable hash of (group, sticky key), or a random draw —
//! picks the member whose interval holds it. Consequences operators rely on:
//! - the same key lands on the same member in every replica and after every restart
//!   (xxh3 with a fixed seed; no per-process randomness);
//! - raising the newest challenger's share while lowering the champion's moves only the
//!   keys in the added share, all from the champion to that challenger; appending a new
//!   challenger likewise takes keys only from the champion;
//! - a member at weight 0 owns an empty interval and is never drawn.

use xxhash_rust::xxh3::Xxh3;

/// Precomputed cumulative bounds over the members of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampler {
    /// `(member index, upper bound)` in bucket order; the last bound is 1.0.
    bounds: Vec<(usize, f64)>,
}

// === impl Sampler ===

impl Sampler {
    /// Builds the layout from weights of routable members; index 0 is the champion.
    /// Weights must be finite, non-negative and sum to more than 0 (validated earlier);
    /// if they do not, every request goes to the champion.
    pub fn new(weights: &[f64]) -> Self {
        let total: f64 = weights.iter().copied().filter(|w| w.is_finite() && *w > 0.0).sum();
        if weights.is_empty() || total <= 0.0 || !total.is_finite() {
            return Self { bounds: vec![(0, 1.0)] };
        }
        let order = std::iter::once(0).chain((1..weights.len()).rev());
        let mut acc = 0.0;
        let mut bounds: Vec<(usize, f64)> = order
            .map(|i| {
                let w = weights[i];
                acc += if w.is_finite() && w > 0.0 { w / total } else { 0.0 };
                (i, acc)
            })
            .collect();
        // Floating-point sums may end at 0.9999…; the top of the range belongs to the last
        // member that has a share.
        if let Some(last) = bounds.iter_mut().rev().find(|(i, _)| weights[*i] > 0.0) {
            last.1 = 1.0;
        }
        for b in bounds.iter_mut() {
            b.1 = b.1.min(1.0);
        }
        Self { bounds }
    }

    /// The member index owning `bucket` (in [0,1)).
    #[inline]
    pub fn pick(&self, bucket: f64) -> usize {
        for &(i, upper) in &self.bounds {
            if bucket < upper {
                return i;
            }
        }
        // Only reachable for bucket >= 1.0, which callers never pass; the champion is the
        // safe answer.
        0
    }
}

/// Stable 64-bit hash of a sticky key within a group. Recorded instead of the key.
#[inline]
pub fn sticky_hash(group: &str, key: &[u8]) -> u64 {
    let mut h = Xxh3::new();
    h.update(group.as_bytes());
    h.update(&[0xff]);
    h.update(key);
    h.digest()
}

/// Maps a 64-bit hash uniformly onto [0,1).
#[inline]
pub fn bucket_of(hash: u64) -> f64 {
    (hash >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform random bucket in [0,1).
#[inline]
pub fn random_bucket() -> f64 {
    rand::random::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_weight_member_is_never_drawn() {
        let s = Sampler::new(&[1.0, 0.0, 1.0]);
        for i in 0..1000 {
            assert_ne!(s.pick(i as f64 / 1000.0), 1);
        }
    }

    #[test]
    fn raising_newest_challenger_moves_only_champion_keys() {
        let before = Sampler::new(&[80.0, 10.0, 10.0]);
        let after = Sampler::new(&[70.0, 10.0, 20.0]);
        let mut moved = 0;
        for i in 0..100_000u64 {
            let b = bucket_of(sticky_hash("g", &i.to_le_bytes()));
            let (x, y) = (before.pick(b), after.pick(b));
            if x != y {
                assert_eq!((x, y), (0, 2), "only champion -> newest challenger may move");
                moved += 1;
            }
        }
        assert!((9_000..11_000).contains(&moved), "moved {moved}");
    }

    proptest! {
        #[test]
        fn shares_match_weights(ws in proptest::collection::vec(0.0f64..100.0, 1..6)) {
            prop_assume!(ws.iter().sum::<f64>() > 1.0);
            let s = Sampler::new(&ws);
            let total: f64 = ws.iter().sum();
            let n = 20_000;
            let mut counts = vec![0usize; ws.len()];
            for i in 0..n {
                counts[s.pick((i as f64 + 0.5) / n as f64)] += 1;
            }
            for (i, w) in ws.iter().enumerate() {
                let expect = w / total * n as f64;
                prop_assert!((counts[i] as f64 - expect).abs() <= 2.0, "member {} got {} expected {}", i, counts[i], expect);
            }
        }

        #[test]
        fn pick_is_always_in_range(ws in proptest::collection::vec(0.0f64..10.0, 1..6), b in 0.0f64..1.0) {
            let s = Sampler::new(&ws);
            prop_assert!(s.pick(b) < ws.len());
        }
    }
}
