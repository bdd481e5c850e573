//! What the core needs from the system it runs on: a mutex and a monotonic
//! clock, and without `std` also the heap and what a panic does.
//!
//! On a target with an operating system these are the standard library's
//! (with or without the `std` feature, which only adds the file and thread
//! APIs). On one without (`target_os = "none"`) they are the functions of
//! `include/resmgr_port.h`, which the firmware defines
//! (`firmware/mps2-an386/port.c` is the reference port): this module is
//! the only place that calls them, and the only place besides `ffi` with
//! `unsafe`. The core never blocks except on this mutex, which guards a
//! few map operations and is never held while calling out.

#[cfg(not(target_os = "none"))]
mod imp {
    use std::sync::OnceLock;
    use std::time::Instant;

    /// A mutex that ignores poisoning: every update under it is a single
    /// map or field operation, so a table seen after a panic is
    /// consistent.
    #[derive(Default)]
    pub struct Mutex<T>(std::sync::Mutex<T>);

    /// The guard of a locked [`Mutex`].
    pub type MutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// A mutex holding `value`.
        pub fn new(value: T) -> Self {
            Mutex(std::sync::Mutex::new(value))
        }

        /// Locks, waiting as long as it takes.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// Milliseconds of a monotonic clock whose epoch is the first call.
    pub fn now_ms() -> u64 {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    }
}

#[cfg(target_os = "none")]
mod imp {
    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;
    use core::ffi::{c_char, c_void};
    use core::fmt::{self, Write as _};
    use core::ops::{Deref, DerefMut};
    use core::ptr;

    // The porting contract, include/resmgr_port.h.
    extern "C" {
        fn resmgr_port_malloc(size: usize) -> *mut c_void;
        fn resmgr_port_free(ptr: *mut c_void);
        fn resmgr_port_mutex_new() -> *mut c_void;
        fn resmgr_port_mutex_lock(mutex: *mut c_void);
        fn resmgr_port_mutex_unlock(mutex: *mut c_void);
        fn resmgr_port_mutex_free(mutex: *mut c_void);
        fn resmgr_port_time_ms() -> u64;
        fn resmgr_port_panic(msg: *const c_char, len: usize);
    }

    /// A mutex of the port (`resmgr_port_mutex_*`).
    pub struct Mutex<T> {
        raw: *mut c_void,
        value: UnsafeCell<T>,
    }

    // SAFETY: the port's mutex gives one task at a time access to `value`
    // (the contract of resmgr_port_mutex_lock), as std's Mutex does.
    unsafe impl<T: Send> Send for Mutex<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send> Sync for Mutex<T> {}

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    impl<T> Mutex<T> {
        /// A mutex holding `value`. The port's mutex running out of memory
        /// is out of memory: a panic, as for any allocation.
        pub fn new(value: T) -> Self {
            // SAFETY: a plain call of the port; NULL is checked.
            let raw = unsafe { resmgr_port_mutex_new() };
            assert!(!raw.is_null(), "resmgr_port_mutex_new: out of memory");
            Mutex {
                raw,
                value: UnsafeCell::new(value),
            }
        }

        /// Locks, waiting as long as the port's mutex makes it.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            // SAFETY: `raw` is a live mutex of the port, freed only on drop.
            unsafe { resmgr_port_mutex_lock(self.raw) };
            MutexGuard { mutex: self }
        }
    }

    impl<T> Drop for Mutex<T> {
        fn drop(&mut self) {
            // SAFETY: not locked (no guard outlives `&self`), freed once.
            unsafe { resmgr_port_mutex_free(self.raw) };
        }
    }

    /// The guard of a locked [`Mutex`]; unlocks when dropped.
    pub struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: the lock is held for the guard's life.
            unsafe { &*self.mutex.value.get() }
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: the lock is held for the guard's life, and the guard
            // is borrowed mutably.
            unsafe { &mut *self.mutex.value.get() }
        }
    }

    impl<T> Drop for MutexGuard<'_, T> {
        fn drop(&mut self) {
            // SAFETY: this task locked it in Mutex::lock.
            unsafe { resmgr_port_mutex_unlock(self.mutex.raw) };
        }
    }

    /// Milliseconds of the port's monotonic clock.
    pub fn now_ms() -> u64 {
        // SAFETY: a plain call of the port.
        unsafe { resmgr_port_time_ms() }
    }

    /// The heap is the port's. It promises 8-byte alignment; a larger one
    /// is made here by over-allocating and keeping the block's address
    /// just below the aligned pointer.
    struct PortHeap;

    const PORT_ALIGN: usize = 8;

    // SAFETY: blocks come from resmgr_port_malloc and go back to
    // resmgr_port_free exactly once, aligned as `layout` asks.
    unsafe impl GlobalAlloc for PortHeap {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if layout.align() <= PORT_ALIGN {
                // SAFETY: size > 0 (GlobalAlloc's contract).
                return unsafe { resmgr_port_malloc(layout.size()) }.cast();
            }
            let Some(total) = layout.size().checked_add(layout.align()) else {
                return ptr::null_mut();
            };
            // SAFETY: total > 0.
            let block = unsafe { resmgr_port_malloc(total) }.cast::<u8>();
            if block.is_null() {
                return block;
            }
            // The next multiple of the alignment strictly above the block:
            // at least 8 bytes in (both are multiples of 8), room for the
            // block's address, and `size` bytes still fit.
            let offset = layout.align() - (block as usize & (layout.align() - 1));
            // SAFETY: offset <= align, inside the block of size + align.
            let aligned = unsafe { block.add(offset) };
            // SAFETY: the word below `aligned` is inside the block and
            // aligned (both addresses are multiples of 8).
            unsafe { aligned.cast::<*mut u8>().sub(1).write(block) };
            aligned
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let block = if layout.align() <= PORT_ALIGN {
                ptr
            } else {
                // SAFETY: written there by `alloc` for this layout.
                unsafe { ptr.cast::<*mut u8>().sub(1).read() }
            };
            // SAFETY: a block of resmgr_port_malloc, freed once.
            unsafe { resmgr_port_free(block.cast()) };
        }
    }

    #[global_allocator]
    static HEAP: PortHeap = PortHeap;

    /// A panic's text, cut to a fixed buffer: the heap may be what failed.
    struct PanicText {
        bytes: [u8; 192],
        len: usize,
    }

    impl fmt::Write for PanicText {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            let n = s.len().min(self.bytes.len() - self.len);
            self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }

    /// Out of memory ends here too (Rust's default allocation error
    /// handler panics): the port logs and resets or halts.
    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        let mut text = PanicText {
            bytes: [0; 192],
            len: 0,
        };
        let _ = write!(text, "{}", info.message());
        if let Some(at) = info.location() {
            let _ = write!(text, " at {}:{}", at.file(), at.line());
        }
        // SAFETY: `len` bytes of text; the port never returns, and if it
        // broke that promise the loop below keeps the promise for it.
        unsafe { resmgr_port_panic(text.bytes.as_ptr().cast(), text.len) };
        loop {
            core::hint::spin_loop();
        }
    }
}

pub use imp::{now_ms, Mutex, MutexGuard};
