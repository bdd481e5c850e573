//! Retry delays: exponential, capped, with jitter so that a fleet of
//! devices cut off together does not come back in lockstep.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The delay before retry number `retry` (0 for the first retry): a random
/// point in the upper half of `min(max, initial * 2^retry)`.
pub fn delay(retry: u32, initial: Duration, max: Duration, random: u64) -> Duration {
    let ceiling = initial
        .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
        .min(max);
    let half = ceiling / 2;
    let spread = half.as_nanos() as u64;
    let jitter = if spread == 0 {
        0
    } else {
        random % (spread + 1)
    };
    half + Duration::from_nanos(jitter)
}

/// A small xorshift generator for jitter; seeded from the clock and the
/// thread so that devices and threads differ. Not for anything secret.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator seeded from the current time and thread.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(now);
        Jitter(h.finish() | 1)
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_within_the_upper_half_and_stop_at_the_cap() {
        let mut j = Jitter::new();
        for retry in 0..40 {
            let ceiling = (500 * MS)
                .saturating_mul(1 << retry.min(20))
                .min(30_000 * MS);
            for _ in 0..20 {
                let d = delay(retry, 500 * MS, 30_000 * MS, j.next_u64());
                assert!(d >= ceiling / 2 && d <= ceiling, "retry {retry}: {d:?}");
            }
        }
    }

    #[test]
    fn zero_delays_stay_zero() {
        assert_eq!(
            delay(3, Duration::ZERO, Duration::from_secs(1), 12345),
            Duration::ZERO
        );
    }

    #[test]
    fn jitter_varies() {
        let mut j = Jitter::new();
        let a: Vec<u64> = (0..4).map(|_| j.next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] != w[1]));
    }
}
