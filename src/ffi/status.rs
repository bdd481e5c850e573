//! Status codes, the per-thread last error, and version information.

use core::ffi::{c_char, CStr};

use crate::error::ErrorKind;
use crate::prelude::*;

/// The result of every fallible call. `RESMGR_OK` is 0; errors are negative
/// and their numbers are never reused. -30..-49 belong to transfers,
/// -50..-69 to the built-in MQTT connection.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum resmgr_status {
    /// Success.
    RESMGR_OK = 0,
    /// A required pointer argument was NULL.
    RESMGR_ERR_NULL_ARG = -1,
    /// An argument had a value the call cannot use (out of range, unknown
    /// enum value, contradictory report, result_msg longer than
    /// RESMGR_MAX_RESULT_MSG_LEN...).
    RESMGR_ERR_INVALID_ARG = -2,
    /// A string argument or a down message was not valid UTF-8.
    RESMGR_ERR_UTF8 = -3,
    /// A product id or device name is empty, too long, or has characters
    /// other than A-Z a-z 0-9 _ - . : @.
    RESMGR_ERR_INVALID_ID = -4,
    /// A down message arrived on a topic other than this device's down
    /// topic.
    RESMGR_ERR_WRONG_TOPIC = -5,
    /// A down message is larger than RESMGR_MAX_PAYLOAD_LEN.
    RESMGR_ERR_PAYLOAD_TOO_LARGE = -6,
    /// A down message is not a JSON object (syntax error, another JSON
    /// value, nesting deeper than 32 levels, a field this library reads
    /// given twice).
    RESMGR_ERR_JSON = -7,
    /// A down message has no "type", or its "type" is not a string.
    RESMGR_ERR_MESSAGE_TYPE = -8,
    /// A down message has a "type" this library does not know; it was
    /// ignored (and reported as RESMGR_EVENT_UNKNOWN_MESSAGE).
    RESMGR_ERR_UNKNOWN_MESSAGE = -9,
    /// A down message lacks a field its type requires.
    RESMGR_ERR_MISSING_FIELD = -10,
    /// A resource name is empty, longer than RESMGR_MAX_NAME_LEN bytes, or
    /// has control characters.
    RESMGR_ERR_INVALID_NAME = -11,
    /// A size is not an integer in 0..2^64-1, or does not match.
    RESMGR_ERR_INVALID_SIZE = -12,
    /// An MD5 is not 32 hex characters, or does not match.
    RESMGR_ERR_INVALID_MD5 = -13,
    /// A URL is not an acceptable http(s) URL (scheme, credentials, host,
    /// port, characters, length).
    RESMGR_ERR_INVALID_URL = -14,
    /// Another field of a down message has the wrong type or value.
    RESMGR_ERR_INVALID_FIELD = -15,
    /// The publish callback returned non-zero; nothing changed.
    RESMGR_ERR_PUBLISH = -16,
    /// No task with that name is in flight.
    RESMGR_ERR_NO_TASK = -17,
    /// A task with that name is in flight with a different size or MD5.
    RESMGR_ERR_TASK_CONFLICT = -18,
    /// RESMGR_MAX_TASKS tasks of that direction are already in flight (for
    /// downloads: all of them started; otherwise the oldest not started
    /// gives way, see RESMGR_EVENT_TASK_DROPPED).
    RESMGR_ERR_TOO_MANY_TASKS = -19,
    /// Reading or writing a local file failed.
    RESMGR_ERR_IO = -20,
    /// A transfer timed out (connect, idle or overall limit) after its
    /// retries.
    RESMGR_ERR_TIMEOUT = -30,
    /// The store answered 404: the object does not exist.
    RESMGR_ERR_NOT_FOUND = -31,
    /// The store refused an upload's signature (HTTP 403).
    RESMGR_ERR_SIGN_INVALID = -32,
    /// A download's URL expired (HTTP 403). Nothing was reported and the
    /// partial download is kept: call resmgr_client_get_download_task for a
    /// fresh URL and run the download again to continue where it stopped,
    /// or end the task with a FAIL report (-3).
    RESMGR_ERR_URL_EXPIRED = -33,
    /// The data's MD5 does not match the task's (checked locally, or the
    /// store answered 400 BadDigest).
    RESMGR_ERR_MD5_MISMATCH = -34,
    /// The store answered another unexpected HTTP status.
    RESMGR_ERR_HTTP = -35,
    /// The connection failed or broke, and retries did not help.
    RESMGR_ERR_NETWORK = -36,
    /// TLS failed (untrusted certificate, wrong host name, unreadable CA
    /// file).
    RESMGR_ERR_TLS = -37,
    /// The transfer was cancelled (resmgr_client_cancel).
    RESMGR_ERR_CANCELLED = -38,
    /// A download's name is not a plain file name (separators, "..",
    /// leading dot) and cannot be stored in a directory.
    RESMGR_ERR_UNSAFE_NAME = -39,
    /// The task has no URL yet (wait for its URL event).
    RESMGR_ERR_NO_URL = -40,
    /// The store broke HTTP's rules (wrong Content-Range, more bytes than
    /// the task's size).
    RESMGR_ERR_BAD_RESPONSE = -41,
    /// Another download of the same name into the same directory is running,
    /// in this process or another (it holds `dir/.<name>.resmgr-lock`).
    /// Nothing was fetched, changed or reported: the running one goes on.
    RESMGR_ERR_IN_USE = -42,
    /// The call does not fit the client's state: connecting twice,
    /// disconnecting what is not connected, connecting a client that
    /// publishes through a callback.
    RESMGR_ERR_INVALID_STATE = -50,
    /// The MQTT broker refused the login: wrong product id, device name or
    /// secret, or the device is not allowed. Retrying will not help.
    RESMGR_ERR_NOT_AUTHORIZED = -51,
    /// A bug: the library panicked. The call had no effect that can be
    /// relied on; the handle stays usable.
    RESMGR_ERR_PANIC = -99,
}

use resmgr_status::*;

impl From<ErrorKind> for resmgr_status {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::NullArgument => RESMGR_ERR_NULL_ARG,
            ErrorKind::InvalidArgument => RESMGR_ERR_INVALID_ARG,
            ErrorKind::Utf8 => RESMGR_ERR_UTF8,
            ErrorKind::InvalidId => RESMGR_ERR_INVALID_ID,
            ErrorKind::WrongTopic => RESMGR_ERR_WRONG_TOPIC,
            ErrorKind::PayloadTooLarge => RESMGR_ERR_PAYLOAD_TOO_LARGE,
            ErrorKind::Json => RESMGR_ERR_JSON,
            ErrorKind::MessageType => RESMGR_ERR_MESSAGE_TYPE,
            ErrorKind::UnknownMessage => RESMGR_ERR_UNKNOWN_MESSAGE,
            ErrorKind::MissingField => RESMGR_ERR_MISSING_FIELD,
            ErrorKind::InvalidName => RESMGR_ERR_INVALID_NAME,
            ErrorKind::InvalidSize => RESMGR_ERR_INVALID_SIZE,
            ErrorKind::InvalidMd5 => RESMGR_ERR_INVALID_MD5,
            ErrorKind::InvalidUrl => RESMGR_ERR_INVALID_URL,
            ErrorKind::InvalidField => RESMGR_ERR_INVALID_FIELD,
            ErrorKind::Publish => RESMGR_ERR_PUBLISH,
            ErrorKind::NoTask => RESMGR_ERR_NO_TASK,
            ErrorKind::TaskConflict => RESMGR_ERR_TASK_CONFLICT,
            ErrorKind::TooManyTasks => RESMGR_ERR_TOO_MANY_TASKS,
            ErrorKind::Io => RESMGR_ERR_IO,
            ErrorKind::Timeout => RESMGR_ERR_TIMEOUT,
            ErrorKind::NotFound => RESMGR_ERR_NOT_FOUND,
            ErrorKind::SignInvalid => RESMGR_ERR_SIGN_INVALID,
            ErrorKind::UrlExpired => RESMGR_ERR_URL_EXPIRED,
            ErrorKind::Md5Mismatch => RESMGR_ERR_MD5_MISMATCH,
            ErrorKind::Http => RESMGR_ERR_HTTP,
            ErrorKind::Network => RESMGR_ERR_NETWORK,
            ErrorKind::Tls => RESMGR_ERR_TLS,
            ErrorKind::Cancelled => RESMGR_ERR_CANCELLED,
            ErrorKind::UnsafeName => RESMGR_ERR_UNSAFE_NAME,
            ErrorKind::NoUrl => RESMGR_ERR_NO_URL,
            ErrorKind::BadResponse => RESMGR_ERR_BAD_RESPONSE,
            ErrorKind::InUse => RESMGR_ERR_IN_USE,
            ErrorKind::InvalidState => RESMGR_ERR_INVALID_STATE,
            ErrorKind::NotAuthorized => RESMGR_ERR_NOT_AUTHORIZED,
            ErrorKind::Panic => RESMGR_ERR_PANIC,
        }
    }
}

fn status_text(status: i32) -> &'static CStr {
    match status {
        0 => c"success",
        -1 => c"a required pointer argument was NULL",
        -2 => c"invalid argument",
        -3 => c"string is not valid UTF-8",
        -4 => c"invalid product id or device name",
        -5 => c"message is not on this device's down topic",
        -6 => c"down message too large",
        -7 => c"down message is not a JSON object",
        -8 => c"down message type missing or not a string",
        -9 => c"unknown down message type",
        -10 => c"down message lacks a required field",
        -11 => c"invalid resource name",
        -12 => c"invalid size",
        -13 => c"invalid md5",
        -14 => c"invalid URL",
        -15 => c"invalid field in down message",
        -16 => c"publish callback failed",
        -17 => c"no such task",
        -18 => c"a different task with that name is in flight",
        -19 => c"too many tasks in flight",
        -20 => c"file I/O error",
        -30 => c"transfer timed out",
        -31 => c"object not found (HTTP 404)",
        -32 => c"signature rejected (HTTP 403)",
        -33 => c"download URL expired (HTTP 403): fetch a fresh URL and resume",
        -34 => c"MD5 mismatch",
        -35 => c"unexpected HTTP status",
        -36 => c"network failure",
        -37 => c"TLS failure",
        -38 => c"cancelled",
        -39 => c"download name is not a safe file name",
        -40 => c"task has no URL yet",
        -41 => c"store sent an invalid response",
        -42 => c"another download of that name into that directory is running",
        -50 => c"call does not fit the client's state",
        -51 => c"MQTT broker refused the login",
        -99 => c"internal error (panic)",
        _ => c"unknown status",
    }
}

/// The last error: per thread with `std`.
#[cfg(not(target_os = "none"))]
fn with_last_error<R>(f: impl FnOnce(&mut String) -> R) -> R {
    std::thread_local! {
        static LAST_ERROR: core::cell::RefCell<String> = const { core::cell::RefCell::new(String::new()) };
    }
    LAST_ERROR.with(|e| f(&mut e.borrow_mut()))
}

/// The last error without `std`: one for the whole library, under a port
/// mutex made by the first call that needs it (include/resmgr_port.h says
/// what that means for tasks).
#[cfg(target_os = "none")]
fn with_last_error<R>(f: impl FnOnce(&mut String) -> R) -> R {
    use crate::port::Mutex;
    use core::sync::atomic::{AtomicPtr, Ordering};
    static LAST_ERROR: AtomicPtr<Mutex<String>> = AtomicPtr::new(core::ptr::null_mut());
    let mut shared = LAST_ERROR.load(Ordering::Acquire);
    if shared.is_null() {
        let fresh = Box::into_raw(Box::new(Mutex::new(String::new())));
        shared = match LAST_ERROR.compare_exchange(
            core::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(first) => {
                // SAFETY: `fresh` came from Box::into_raw above and was
                // never shared.
                drop(unsafe { Box::from_raw(fresh) });
                first
            }
        };
    }
    // SAFETY: set once from Box::into_raw and never freed: it lives as
    // long as the program.
    let mut guard = unsafe { &*shared }.lock();
    f(&mut guard)
}

/// Records `message` as the last error.
pub(crate) fn set_last_error(message: &str) {
    with_last_error(|e| {
        e.clear();
        // The text is handed to C as a NUL-terminated string.
        e.extend(message.chars().map(|c| if c == '\0' { '?' } else { c }));
    });
}

/// Clears the last error (the last call succeeded).
pub(crate) fn clear_last_error() {
    with_last_error(|e| e.clear());
}

/// A static, NUL-terminated description of a status code ("unknown status"
/// for numbers this version does not define). Never NULL; never free it.
#[no_mangle]
pub extern "C" fn resmgr_status_str(status: i32) -> *const c_char {
    status_text(status).as_ptr()
}

/// Copies the calling thread's last error message into `buf` (at most
/// `len - 1` bytes and a terminating NUL, cut at a UTF-8 character
/// boundary) and returns the message's full length in bytes, without the
/// NUL. The message describes the most recent call on this thread that
/// returned a status: it is empty after a call that returned RESMGR_OK.
///
/// `buf` may be NULL when `len` is 0, to learn the length.
///
/// # Safety
/// `buf` must point to `len` writable bytes (or be NULL with `len` 0).
#[no_mangle]
pub unsafe extern "C" fn resmgr_last_error(buf: *mut c_char, len: usize) -> usize {
    super::boundary::value_call(|| {
        with_last_error(|e| {
            if !buf.is_null() && len > 0 {
                let mut n = e.len().min(len - 1);
                while !e.is_char_boundary(n) {
                    n -= 1;
                }
                // SAFETY: the caller gave `len` writable bytes at `buf`;
                // n + 1 <= len, and the source is a live String.
                unsafe {
                    core::ptr::copy_nonoverlapping(e.as_ptr(), buf.cast::<u8>(), n);
                    *buf.add(n) = 0;
                }
            }
            e.len()
        })
    })
}

/// The library's version, e.g. "0.1.0". Static; never free it.
#[no_mangle]
pub extern "C" fn resmgr_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_its_own_text() {
        let all = [
            RESMGR_OK,
            RESMGR_ERR_NULL_ARG,
            RESMGR_ERR_INVALID_ARG,
            RESMGR_ERR_UTF8,
            RESMGR_ERR_INVALID_ID,
            RESMGR_ERR_WRONG_TOPIC,
            RESMGR_ERR_PAYLOAD_TOO_LARGE,
            RESMGR_ERR_JSON,
            RESMGR_ERR_MESSAGE_TYPE,
            RESMGR_ERR_UNKNOWN_MESSAGE,
            RESMGR_ERR_MISSING_FIELD,
            RESMGR_ERR_INVALID_NAME,
            RESMGR_ERR_INVALID_SIZE,
            RESMGR_ERR_INVALID_MD5,
            RESMGR_ERR_INVALID_URL,
            RESMGR_ERR_INVALID_FIELD,
            RESMGR_ERR_PUBLISH,
            RESMGR_ERR_NO_TASK,
            RESMGR_ERR_TASK_CONFLICT,
            RESMGR_ERR_TOO_MANY_TASKS,
            RESMGR_ERR_IO,
            RESMGR_ERR_TIMEOUT,
            RESMGR_ERR_NOT_FOUND,
            RESMGR_ERR_SIGN_INVALID,
            RESMGR_ERR_URL_EXPIRED,
            RESMGR_ERR_MD5_MISMATCH,
            RESMGR_ERR_HTTP,
            RESMGR_ERR_NETWORK,
            RESMGR_ERR_TLS,
            RESMGR_ERR_CANCELLED,
            RESMGR_ERR_UNSAFE_NAME,
            RESMGR_ERR_NO_URL,
            RESMGR_ERR_BAD_RESPONSE,
            RESMGR_ERR_IN_USE,
            RESMGR_ERR_INVALID_STATE,
            RESMGR_ERR_NOT_AUTHORIZED,
            RESMGR_ERR_PANIC,
        ];
        let texts: std::collections::HashSet<_> =
            all.iter().map(|s| status_text(*s as i32)).collect();
        assert_eq!(texts.len(), all.len());
        assert!(!texts.contains(status_text(12345)));
    }

    #[test]
    fn last_error_is_truncated_on_a_char_boundary_and_reports_full_length() {
        set_last_error("héllo");
        let mut buf = [0x7f as c_char; 3];
        // SAFETY: buf has 3 writable bytes.
        let n = unsafe { resmgr_last_error(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(n, "héllo".len());
        // "h" + the first byte of "é" would split the character.
        assert_eq!(buf[0] as u8, b'h');
        assert_eq!(buf[1], 0);
        // SAFETY: NULL with len 0 is allowed.
        assert_eq!(unsafe { resmgr_last_error(std::ptr::null_mut(), 0) }, 6);
        clear_last_error();
        // SAFETY: as above.
        assert_eq!(unsafe { resmgr_last_error(buf.as_mut_ptr(), buf.len()) }, 0);
        assert_eq!(buf[0], 0);
    }
}
