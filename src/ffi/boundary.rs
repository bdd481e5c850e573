//! The one boundary every exported function goes through: panics become
//! error values, errors become status codes plus the thread's last error,
//! and raw arguments become checked Rust references.

use super::status::{clear_last_error, resmgr_status, set_last_error};
use crate::error::{Error, ErrorKind, Result};
use crate::prelude::*;
use core::ffi::{c_char, CStr};

/// Runs `body`; a panic becomes `Err` with its message.
#[cfg(not(target_os = "none"))]
fn guarded<R>(body: impl FnOnce() -> R) -> core::result::Result<R, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("unknown panic");
        format!("internal error (panic): {what}")
    })
}

/// Without `std` there is no unwinding to catch: a panic goes to the
/// port's `resmgr_port_panic` (src/port.rs), which never returns.
#[cfg(target_os = "none")]
fn guarded<R>(body: impl FnOnce() -> R) -> core::result::Result<R, String> {
    Ok(body())
}

/// Runs a fallible body: `Ok` gives `RESMGR_OK` and clears the last error;
/// `Err` gives its status and records its message; a panic gives
/// `RESMGR_ERR_PANIC`.
pub(crate) fn status_call(body: impl FnOnce() -> Result<()>) -> resmgr_status {
    match guarded(body) {
        Ok(Ok(())) => {
            clear_last_error();
            resmgr_status::RESMGR_OK
        }
        Ok(Err(e)) => {
            set_last_error(e.message());
            e.kind().into()
        }
        Err(panic) => {
            set_last_error(&panic);
            resmgr_status::RESMGR_ERR_PANIC
        }
    }
}

/// What a non-status function returns when its body panicked.
pub(crate) trait PanicValue {
    /// NULL, 0, nothing.
    fn on_panic() -> Self;
}

impl PanicValue for () {
    fn on_panic() -> Self {}
}

impl PanicValue for usize {
    fn on_panic() -> Self {
        0
    }
}

impl<T> PanicValue for *const T {
    fn on_panic() -> Self {
        core::ptr::null()
    }
}

impl<T> PanicValue for *mut T {
    fn on_panic() -> Self {
        core::ptr::null_mut()
    }
}

/// Runs an infallible body; a panic gives [`PanicValue::on_panic`] and
/// records the last error.
pub(crate) fn value_call<T: PanicValue>(body: impl FnOnce() -> T) -> T {
    guarded(body).unwrap_or_else(|panic| {
        set_last_error(&panic);
        T::on_panic()
    })
}

pub(crate) fn null_arg(what: &str) -> Error {
    Error::new(ErrorKind::NullArgument, format!("{what} is NULL"))
}

/// A NUL-terminated UTF-8 argument, borrowed for the call.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a`.
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|e| {
        Error::new(
            ErrorKind::Utf8,
            format!("{what} is not valid UTF-8 (at byte {})", e.valid_up_to()),
        )
    })
}

/// Like [`str_arg`], but NULL means "not given".
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { str_arg(p, what) }.map(Some)
}

/// A `(pointer, length)` byte buffer; NULL is allowed when `len` is 0.
///
/// # Safety
/// `p` is NULL or points to `len` readable bytes valid for `'a`.
pub(crate) unsafe fn bytes_arg<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null_arg(what));
    }
    // SAFETY: non-NULL with `len` readable bytes per the contract.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A reference to an object the caller owns.
///
/// # Safety
/// `p` is NULL or points to a live `T` not mutated elsewhere during `'a`.
pub(crate) unsafe fn ref_arg<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: per the contract.
    unsafe { p.as_ref() }.ok_or_else(|| null_arg(what))
}

/// A mutable reference to an object the caller owns.
///
/// # Safety
/// `p` is NULL or points to a live `T` used by nothing else during `'a`.
pub(crate) unsafe fn mut_arg<'a, T>(p: *mut T, what: &str) -> Result<&'a mut T> {
    // SAFETY: per the contract.
    unsafe { p.as_mut() }.ok_or_else(|| null_arg(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = status_call(|| panic!("boom"));
        assert_eq!(status, resmgr_status::RESMGR_ERR_PANIC);
        let mut buf = [0 as c_char; 64];
        // SAFETY: 64 writable bytes.
        unsafe { super::super::status::resmgr_last_error(buf.as_mut_ptr(), buf.len()) };
        // SAFETY: resmgr_last_error NUL-terminates.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_str().unwrap();
        assert_eq!(text, "internal error (panic): boom");
    }

    #[test]
    fn a_panic_in_a_value_function_gives_its_neutral_value() {
        let p: *const u8 = value_call(|| panic!("x"));
        assert!(p.is_null());
        assert_eq!(value_call::<usize>(|| panic!("y")), 0);
    }

    #[test]
    fn errors_map_to_their_status_and_success_clears_the_message() {
        let s = status_call(|| Err(Error::new(ErrorKind::InvalidMd5, "bad md5")));
        assert_eq!(s, resmgr_status::RESMGR_ERR_INVALID_MD5);
        assert_eq!(status_call(|| Ok(())), resmgr_status::RESMGR_OK);
        // SAFETY: NULL with len 0.
        assert_eq!(
            unsafe { super::super::status::resmgr_last_error(std::ptr::null_mut(), 0) },
            0
        );
    }

    #[test]
    fn null_and_non_utf8_string_arguments_are_refused() {
        // SAFETY: NULL is allowed; the other pointer is a NUL-terminated literal.
        unsafe {
            assert_eq!(
                str_arg(std::ptr::null(), "name").unwrap_err().kind(),
                ErrorKind::NullArgument
            );
            let bad = b"a\xffb\0";
            assert_eq!(
                str_arg(bad.as_ptr().cast(), "name").unwrap_err().kind(),
                ErrorKind::Utf8
            );
            assert_eq!(opt_str_arg(std::ptr::null(), "name").unwrap(), None);
            assert_eq!(bytes_arg(std::ptr::null(), 0, "payload").unwrap(), b"");
            assert_eq!(
                bytes_arg(std::ptr::null(), 3, "payload")
                    .unwrap_err()
                    .kind(),
                ErrorKind::NullArgument
            );
        }
    }
}
