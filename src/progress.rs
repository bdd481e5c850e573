//! Throttling of progress reports: a transfer tells how many bytes are done
//! as often as it likes; only reports worth sending go out.
//!
//! A report goes out when it is the first one, when it reaches 100 %, or when
//! the percent moved by at least the policy's step *and* the policy's
//! interval has passed since the last report. The same percent is never
//! sent twice in a row.

use core::time::Duration;

/// When an in-progress report is worth sending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressPolicy {
    /// Least time between two reports (the first and the 100 % report are
    /// exempt).
    pub min_interval: Duration,
    /// Least change in percent between two reports (1-100).
    pub min_step: u8,
}

impl Default for ProgressPolicy {
    /// One report a second at most, for any change of at least 1 %.
    fn default() -> Self {
        ProgressPolicy {
            min_interval: Duration::from_secs(1),
            min_step: 1,
        }
    }
}

/// Percent of `done` out of `size`, rounded down; a 0-byte resource is
/// complete. `done` must not exceed `size`.
pub fn percent(done: u64, size: u64) -> u8 {
    if size == 0 {
        return 100;
    }
    // u128: done * 100 overflows u64 above 184 PB, but never u128.
    (u128::from(done.min(size)) * 100 / u128::from(size)) as u8
}

/// What one task has reported so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Throttle {
    /// The last percent reported and when, in the caller's milliseconds.
    last: Option<(u8, u64)>,
}

impl Throttle {
    /// Decides whether `percent` at `now_ms` (milliseconds of any
    /// monotonic clock; the core reads none) should be reported and, if
    /// so, records it as reported.
    pub fn admit(&mut self, percent: u8, now_ms: u64, policy: &ProgressPolicy) -> bool {
        let send = match self.last {
            None => true,
            Some((last, _)) if last == percent => false,
            Some(_) if percent == 100 => true,
            Some((last, at)) => {
                last.abs_diff(percent) >= policy.min_step.max(1)
                    && u128::from(now_ms.saturating_sub(at)) >= policy.min_interval.as_millis()
            }
        };
        if send {
            self.last = Some((percent, now_ms));
        }
        send
    }

    /// Forgets a report that was admitted but could not be sent, so the next
    /// call may send it again.
    pub fn revert(&mut self, previous: Throttle) {
        *self = previous;
    }

    /// The last percent reported, if any.
    pub fn last_percent(&self) -> Option<u8> {
        self.last.map(|(p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1000;
    /// Any start: the clock's epoch does not matter.
    const T0: u64 = 123_456;

    #[test]
    fn percent_is_rounded_down_and_exact_for_huge_sizes() {
        assert_eq!(percent(0, 100), 0);
        assert_eq!(percent(99, 100), 99);
        assert_eq!(percent(100, 100), 100);
        assert_eq!(percent(1, 3), 33);
        assert_eq!(percent(u64::MAX / 2, u64::MAX), 49);
        assert_eq!(percent(u64::MAX - 1, u64::MAX), 99);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
        // 50 GB at 42.9 MB: where 32-bit math used to overflow.
        assert_eq!(percent(42_949_673 * 100, 50_000_000_000), 8);
    }

    #[test]
    fn a_zero_byte_resource_is_complete() {
        assert_eq!(percent(0, 0), 100);
    }

    /// At most one report per `secs` seconds, and only for `step` percent.
    fn policy(secs: u64, step: u8) -> ProgressPolicy {
        ProgressPolicy {
            min_interval: Duration::from_secs(secs),
            min_step: step,
        }
    }

    #[test]
    fn first_report_always_goes_out() {
        let mut t = Throttle::default();
        assert!(t.admit(37, T0, &ProgressPolicy::default()));
        assert_eq!(t.last_percent(), Some(37));
    }

    #[test]
    fn same_percent_is_never_sent_twice() {
        let (p, mut t, t0) = (policy(0, 1), Throttle::default(), T0);
        assert!(t.admit(5, t0, &p));
        assert!(!t.admit(5, t0 + 10 * SEC, &p));
        assert!(t.admit(100, t0, &p));
        assert!(!t.admit(100, t0 + 10 * SEC, &p));
    }

    #[test]
    fn reports_wait_for_both_the_interval_and_the_step() {
        let (p, mut t, t0) = (policy(1, 10), Throttle::default(), T0);
        assert!(t.admit(0, t0, &p));
        assert!(!t.admit(50, t0 + SEC / 2, &p), "too soon");
        assert!(!t.admit(9, t0 + 2 * SEC, &p), "too small a step");
        assert!(t.admit(10, t0 + 2 * SEC, &p));
        assert!(
            !t.admit(30, t0 + 2 * SEC, &p),
            "interval restarts at each report"
        );
    }

    #[test]
    fn hundred_percent_goes_out_at_once() {
        let (p, mut t, t0) = (policy(60, 50), Throttle::default(), T0);
        assert!(t.admit(99, t0, &p));
        assert!(t.admit(100, t0, &p));
    }

    #[test]
    fn revert_lets_a_failed_report_be_sent_again() {
        let p = ProgressPolicy::default();
        let mut t = Throttle::default();
        let before = t;
        assert!(t.admit(3, T0, &p));
        t.revert(before);
        assert!(t.admit(3, T0, &p));
    }
}
