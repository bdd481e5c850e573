//! The minimum-speed rule: a transfer attempt that keeps moving a byte now
//! and then, but so slowly that it would take days, is ended like one that
//! stalls. The idle timeout alone cannot see it (every read returns in
//! time), and without an overall limit nothing else did: a store sending
//! its headers one byte per 50 ms, then its body one byte per 0.9 s, kept
//! a 1 MB download alive for about ten days (issue 10).
//!
//! The rule ([`MinSpeed`]): in every window of `window` (sliding, from the
//! attempt's start), at least `bytes_per_second × window` bytes of the body
//! must move — received by a download, handed to the connection by an
//! upload. Waiting for the response head counts as moving nothing, so a
//! store trickling its headers is caught too. Once an upload has handed
//! over its whole body, the store gets one window to answer.
//!
//! A watchdog thread checks the rule every tick and, when it is broken,
//! interrupts the attempt's blocked I/O the way a cancel does (shutting the
//! attempt's connections down); the engine then reports
//! [`ErrorKind::Timeout`] with [`Pace::tripped`]'s reason, and retries
//! (a download resumes). Where no thread can be started, the rule is
//! checked each time bytes move instead (a full stall is then left to the
//! idle timeout).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};

/// The least a transfer attempt must move; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MinSpeed {
    /// Bytes per second, averaged over `window`.
    pub bytes_per_second: u32,
    /// The window the speed is averaged over; also how long a store may
    /// take to answer an upload whose body it has received.
    pub window: Duration,
}

impl MinSpeed {
    /// The default rule: 1 KiB/s over 60 s, i.e. at least 60 KiB a minute.
    ///
    /// A safety net against stores that trickle, not a quality bar: 100
    /// times below the 100 KB/s of a slow-but-alive link (a 1 GiB
    /// transfer at that speed takes three hours and is never ended by
    /// it), below GPRS and NB-IoT's usual rates, and a minute is long
    /// enough to ride out a cell handover. A trickle of a byte per second
    /// is ended within about a minute per attempt.
    pub const DEFAULT: MinSpeed = MinSpeed {
        bytes_per_second: 1024,
        window: Duration::from_secs(60),
    };

    /// Bytes the window must hold.
    fn bytes_per_window(&self) -> u64 {
        (u128::from(self.bytes_per_second) * self.window.as_millis() / 1000)
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// How often the watchdog looks: a quarter of the window, at most a
    /// second, at least 10 ms.
    fn tick(&self) -> Duration {
        (self.window / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }
}

/// The rule applied to one attempt. Dropping it stops its watchdog.
pub(crate) struct Pace {
    shared: Arc<Shared>,
    watchdog: Option<JoinHandle<()>>,
}

struct Shared {
    rule: Option<MinSpeed>,
    /// Body bytes moved in this attempt.
    moved: AtomicU64,
    state: Mutex<State>,
    wake: Condvar,
    interrupt: Box<dyn Fn() + Send + Sync>,
}

struct State {
    started: Instant,
    /// (when, bytes moved by then), one per tick; the front is the newest
    /// sample at least a window old (once there is one).
    samples: VecDeque<(Instant, u64)>,
    /// When an upload handed over its last byte.
    sent_all: Option<Instant>,
    /// Why the rule ended the attempt.
    tripped: Option<String>,
    stop: bool,
}

impl Pace {
    /// Starts watching an attempt under `rule` (`None`: no rule, nothing
    /// is started); `interrupt` ends the attempt's blocked I/O.
    pub(crate) fn watch(
        rule: Option<MinSpeed>,
        interrupt: impl Fn() + Send + Sync + 'static,
    ) -> Pace {
        let now = Instant::now();
        let shared = Arc::new(Shared {
            rule,
            moved: AtomicU64::new(0),
            state: Mutex::new(State {
                started: now,
                samples: VecDeque::from([(now, 0)]),
                sent_all: None,
                tripped: None,
                stop: false,
            }),
            wake: Condvar::new(),
            interrupt: Box::new(interrupt),
        });
        let watchdog = rule.and_then(|rule| {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("resmgr-pace".into())
                .stack_size(64 * 1024)
                .spawn(move || shared.watch(rule.tick()))
                .ok()
        });
        Pace { shared, watchdog }
    }

    /// `n` more body bytes moved.
    pub(crate) fn moved(&self, n: u64) {
        self.shared.moved.fetch_add(n, Ordering::Relaxed);
        if self.watchdog.is_none() && self.shared.rule.is_some() {
            self.shared.check(Instant::now());
        }
    }

    /// An upload handed over its last byte: from now on the store has one
    /// window to answer.
    pub(crate) fn sent_all(&self) {
        let mut state = self.shared.lock();
        state.sent_all.get_or_insert_with(Instant::now);
    }

    /// The error that ended the attempt, if the rule did: a timeout.
    pub(crate) fn tripped(&self, what: &str) -> Option<Error> {
        let state = self.shared.lock();
        let why = state.tripped.as_ref()?;
        Some(Error::new(ErrorKind::Timeout, format!("{what}: {why}")))
    }
}

impl Drop for Pace {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watch(&self, tick: Duration) {
        let mut state = self.lock();
        while !state.stop && state.tripped.is_none() {
            state = self
                .wake
                .wait_timeout(state, tick)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            if state.stop {
                break;
            }
            drop(state);
            self.check(Instant::now());
            state = self.lock();
        }
    }

    /// Applies the rule at `now`; interrupts the attempt when it is
    /// broken.
    fn check(&self, now: Instant) {
        let Some(rule) = self.rule else { return };
        let moved = self.moved.load(Ordering::Relaxed);
        let mut state = self.lock();
        if state.tripped.is_some() {
            return;
        }
        let why = Self::broken(&rule, &mut state, now, moved);
        let Some(why) = why else { return };
        state.tripped = Some(why);
        drop(state);
        (self.interrupt)();
    }

    fn broken(rule: &MinSpeed, state: &mut State, now: Instant, moved: u64) -> Option<String> {
        let window_secs = rule.window.as_secs_f64();
        if let Some(sent) = state.sent_all {
            return (now.saturating_duration_since(sent) >= rule.window).then(|| {
                format!(
                    "the store did not answer within {window_secs} s of receiving the whole body"
                )
            });
        }
        if state
            .samples
            .back()
            .is_none_or(|(at, _)| now.saturating_duration_since(*at) >= rule.tick())
        {
            state.samples.push_back((now, moved));
        }
        let cutoff = now.checked_sub(rule.window)?;
        while state.samples.get(1).is_some_and(|(at, _)| *at <= cutoff) {
            state.samples.pop_front();
        }
        let (since, then) = *state.samples.front()?;
        if since > cutoff || state.started > cutoff {
            return None; // not a whole window yet
        }
        let in_window = moved - then;
        (in_window < rule.bytes_per_window()).then(|| {
            format!(
                "slower than the minimum speed: {in_window} bytes in the last {:.0} s, at least {} bytes/s over {window_secs} s are needed",
                now.saturating_duration_since(since).as_secs_f64(),
                rule.bytes_per_second
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn rule(bytes_per_second: u32, window_ms: u64) -> MinSpeed {
        MinSpeed {
            bytes_per_second,
            window: Duration::from_millis(window_ms),
        }
    }

    fn state(at: Instant) -> State {
        State {
            started: at,
            samples: VecDeque::from([(at, 0)]),
            sent_all: None,
            tripped: None,
            stop: false,
        }
    }

    #[test]
    fn a_window_is_judged_only_once_it_is_whole() {
        let r = rule(1000, 1000);
        let t0 = Instant::now();
        let mut s = state(t0);
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(Shared::broken(&r, &mut s, ms(500), 0), None);
        assert_eq!(Shared::broken(&r, &mut s, ms(999), 0), None);
        assert!(Shared::broken(&r, &mut s, ms(1000), 999).is_some());
    }

    #[test]
    fn the_window_slides_and_a_fast_start_does_not_excuse_a_later_trickle() {
        let r = rule(1000, 1000);
        let t0 = Instant::now();
        let mut s = state(t0);
        let ms = |n| t0 + Duration::from_millis(n);
        // 10 KB in the first quarter second, then nothing.
        for t in (0..=1000).step_by(250) {
            assert_eq!(Shared::broken(&r, &mut s, ms(t), 10_000), None, "{t}");
        }
        // The window (250 ms, 1250 ms] holds nothing.
        let why = Shared::broken(&r, &mut s, ms(1250), 10_000).expect("nothing moved for 1 s");
        assert!(why.contains("0 bytes"), "{why}");
        assert!(
            s.samples.len() <= 6,
            "samples stay bounded: {}",
            s.samples.len()
        );
    }

    #[test]
    fn steady_progress_at_the_floor_passes() {
        let r = rule(1000, 1000);
        let t0 = Instant::now();
        let mut s = state(t0);
        for t in (0..10_000u64).step_by(250) {
            let now = t0 + Duration::from_millis(t);
            assert_eq!(Shared::broken(&r, &mut s, now, t), None, "{t}");
        }
    }

    #[test]
    fn an_upload_that_sent_everything_gets_one_window_for_the_answer() {
        let r = rule(1000, 1000);
        let t0 = Instant::now();
        let mut s = state(t0);
        s.sent_all = Some(t0);
        assert_eq!(
            Shared::broken(&r, &mut s, t0 + Duration::from_millis(999), 0),
            None
        );
        let why = Shared::broken(&r, &mut s, t0 + Duration::from_millis(1000), 0).unwrap();
        assert!(why.contains("did not answer"), "{why}");
    }

    #[test]
    fn the_watchdog_interrupts_a_trickle_once_and_stops_when_dropped() {
        let interrupts = Arc::new(AtomicUsize::new(0));
        let i = interrupts.clone();
        let pace = Pace::watch(Some(rule(1000, 40)), move || {
            i.fetch_add(1, Ordering::SeqCst);
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while pace.tripped("x").is_none() {
            assert!(Instant::now() < deadline, "the watchdog never tripped");
            pace.moved(1);
            std::thread::sleep(Duration::from_millis(5));
        }
        let err = pace.tripped("download 'x'").unwrap();
        assert_eq!(err.kind(), ErrorKind::Timeout);
        assert!(
            err.message().starts_with("download 'x': slower than"),
            "{err}"
        );
        drop(pace);
        assert_eq!(interrupts.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn without_a_rule_nothing_is_watched() {
        let pace = Pace::watch(None, || panic!("no rule, no interrupt"));
        assert!(pace.watchdog.is_none());
        pace.moved(1);
        assert!(pace.tripped("x").is_none());
    }

    #[test]
    fn the_default_lets_100_kb_per_s_through_and_not_a_byte_per_second() {
        let d = MinSpeed::DEFAULT;
        assert_eq!(d.bytes_per_window(), 60 * 1024);
        assert!(100_000 * d.window.as_secs() > d.bytes_per_window());
        assert!(d.window.as_secs() < d.bytes_per_window());
    }
}
