//! Cancellation of a running transfer from any thread.
//!
//! A flag the transfer polls between chunks, plus an optional hook that
//! interrupts I/O the transfer is blocked in (the HTTP engine registers one
//! that shuts its connection down), so a cancel takes effect at once rather
//! than after the next timeout.

use core::sync::atomic::{AtomicBool, Ordering};

use crate::port::Mutex;
use crate::prelude::*;

type Hook = Box<dyn FnOnce() + Send>;

/// A one-way switch: once cancelled, always cancelled.
#[derive(Default)]
pub struct CancelToken {
    cancelled: AtomicBool,
    hook: Mutex<Option<Hook>>,
}

impl core::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels, and runs the interrupt hook if one is set.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let hook = self.hook.lock().take();
        if let Some(hook) = hook {
            hook();
        }
    }

    /// True once [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Sets the hook that interrupts blocked I/O, replacing any earlier one.
    /// Runs it at once if the token is already cancelled.
    pub fn set_interrupt(&self, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock() = Some(Box::new(hook));
        // A cancel that raced with the line above either took the hook (and
        // ran it) or left it for this check.
        if self.is_cancelled() {
            let hook = self.hook.lock().take();
            if let Some(hook) = hook {
                hook();
            }
        }
    }

    /// Removes the hook (the I/O it would interrupt is over).
    pub fn clear_interrupt(&self) {
        self.hook.lock().take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Sets a hook on `t` that counts its runs.
    fn count_runs(t: &CancelToken) -> Arc<AtomicUsize> {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        t.set_interrupt(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        runs
    }

    #[test]
    fn cancel_runs_the_hook_once() {
        let t = CancelToken::new();
        let runs = count_runs(&t);
        assert!(!t.is_cancelled());
        t.cancel();
        t.cancel();
        assert!(t.is_cancelled());
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_hook_set_after_cancel_runs_at_once() {
        let t = CancelToken::new();
        t.cancel();
        let runs = count_runs(&t);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_cleared_hook_does_not_run() {
        let t = CancelToken::new();
        let runs = count_runs(&t);
        t.clear_interrupt();
        t.cancel();
        assert_eq!(runs.load(Ordering::SeqCst), 0);
    }
}
