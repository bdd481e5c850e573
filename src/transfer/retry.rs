//! The one loop both directions retry in: backoff with jitter between
//! attempts, bounded by the retry count and the overall deadline, and
//! ended at once by a cancel.

use std::time::{Duration, Instant};

use super::http::Failure;
use super::TransferConfig;
use crate::backoff::{delay, Jitter};
use crate::cancel::CancelToken;
use crate::error::Error;

/// Why the attempts stopped without success.
pub(crate) struct Stop {
    /// The last attempt's error.
    pub error: Error,
    /// The task was cancelled (before or while waiting to retry).
    pub cancelled: bool,
    /// The overall deadline passed.
    pub out_of_time: bool,
}

/// Runs `attempt` until it succeeds, fails for good (a failure that is not
/// transient), the task is cancelled, the deadline passes or
/// `config.max_retries` retries are spent, waiting the backoff between
/// attempts.
pub(crate) fn with_retries(
    config: &TransferConfig,
    cancel: &CancelToken,
    deadline: Option<Instant>,
    mut attempt: impl FnMut() -> Result<(), Failure>,
) -> Result<(), Stop> {
    let mut jitter = Jitter::new();
    let mut retry = 0;
    loop {
        let failure = match attempt() {
            Ok(()) => return Ok(()),
            Err(f) => f,
        };
        let cancelled = cancel.is_cancelled();
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        if !failure.transient || cancelled || out_of_time || retry >= config.max_retries {
            return Err(Stop {
                error: failure.error,
                cancelled,
                out_of_time,
            });
        }
        let wait = delay(
            retry,
            config.backoff_initial,
            config.backoff_max,
            jitter.next_u64(),
        );
        retry += 1;
        if !sleep_unless_cancelled(cancel, wait, deadline) {
            return Err(Stop {
                error: failure.error,
                cancelled: true,
                out_of_time: false,
            });
        }
    }
}

/// Sleeps `wait` (never past `deadline`), waking early to return false
/// when the task is cancelled.
fn sleep_unless_cancelled(cancel: &CancelToken, wait: Duration, deadline: Option<Instant>) -> bool {
    let until = Instant::now() + wait;
    let until = deadline.map_or(until, |d| d.min(until));
    while Instant::now() < until {
        if cancel.is_cancelled() {
            return false;
        }
        std::thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50)),
        );
    }
    !cancel.is_cancelled()
}
