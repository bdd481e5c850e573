//! The few system calls the transfer engine makes that the standard library
//! has no safe wrapper for (on the library's minimum Rust version), each in
//! a small safe function. Besides `src/ffi/`, this is the only `unsafe`
//! code of the library: integers and descriptors go in, integers come out,
//! and no memory of ours is handed over except one local integer.
#![allow(unsafe_code)]

use std::fs::File;

/// Asks the kernel to start writing `len` bytes at `offset` of `file` to
/// disk, without waiting for them. A hint: the next checkpoint's
/// `fdatasync` then finds most of the data already written instead of
/// stalling the download while all of it goes to disk (BENCHMARKS.md,
/// figure 3). Linux only; elsewhere it does nothing.
pub(crate) fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: sync_file_range takes integers only and touches no memory
        // of ours; the descriptor stays open while `file` is borrowed. The
        // result is ignored on purpose: a failed hint costs nothing, and
        // the checkpoint's fdatasync reports every real write error.
        unsafe {
            libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, offset, len);
    }
}

/// The process's effective user id: the owner of every file it creates.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Takes an exclusive `flock` on `file` without waiting: `Ok(false)` when
/// another open file description (another process, or another open of
/// the same file in this one) holds it. The lock goes with the descriptor:
/// closing it, or the process ending in any way, releases it.
pub(crate) fn try_lock_exclusive(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes a descriptor and flags and touches no memory of
    // ours; the descriptor stays open while `file` is borrowed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

/// Bytes written to `socket` that its peer has not acknowledged yet (sent
/// and unacknowledged, or not sent at all): the `SIOCOUTQ` (`TIOCOUTQ`)
/// ioctl of a TCP socket. `None` where that cannot be asked (not Linux) or
/// the call fails.
pub(crate) fn unacknowledged_bytes(socket: &std::net::TcpStream) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut queued: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one int through the pointer, which points
        // to a local int that outlives the call; the descriptor stays open
        // while `socket` is borrowed.
        let rc = unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
        (rc == 0).then(|| u64::try_from(queued).ok()).flatten()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        None
    }
}
