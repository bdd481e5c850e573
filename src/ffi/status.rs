//! Status codes, the per-thread last error, and version information.

use core::ffi::{c_char, CStr};

use crate::error::ErrorKind;
use crate::prelude::*;

/// The result of every fallible call. `RESMGR_OK` is 0; errors are negative
/// and their numbers are never reused. -30..-49 belong to transfers,
/// -50..-69 to the built-in MQTT connection.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// Writes, from the catalogue below, everything that goes with a status
/// besides its number and doc (those are in the enum, which cbindgen
/// reads; it cannot read a macro's output): the mapping from
/// [`ErrorKind`], the static text, and the list of every status. Both
/// matches are exhaustive, so a status or an error kind missing from the
/// catalogue does not compile.
macro_rules! status_catalogue {
    ($ok:ident => $ok_text:literal; $($status:ident => $text:literal, $kind:ident;)*) => {
        impl From<ErrorKind> for resmgr_status {
            fn from(kind: ErrorKind) -> Self {
                match kind {
                    $(ErrorKind::$kind => resmgr_status::$status,)*
                }
            }
        }

        impl resmgr_status {
            /// Every status, in the catalogue's order.
            const ALL: &'static [resmgr_status] = &[resmgr_status::$ok, $(resmgr_status::$status,)*];

            /// The static description.
            fn text(self) -> &'static CStr {
                match self {
                    resmgr_status::$ok => $ok_text,
                    $(resmgr_status::$status => $text,)*
                }
            }
        }
    };
}

// The catalogue: each status once, with its text and the error kind that
// maps to it.
status_catalogue! {
    RESMGR_OK => c"success";
    RESMGR_ERR_NULL_ARG => c"a required pointer argument was NULL", NullArgument;
    RESMGR_ERR_INVALID_ARG => c"invalid argument", InvalidArgument;
    RESMGR_ERR_UTF8 => c"string is not valid UTF-8", Utf8;
    RESMGR_ERR_INVALID_ID => c"invalid product id or device name", InvalidId;
    RESMGR_ERR_WRONG_TOPIC => c"message is not on this device's down topic", WrongTopic;
    RESMGR_ERR_PAYLOAD_TOO_LARGE => c"down message too large", PayloadTooLarge;
    RESMGR_ERR_JSON => c"down message is not a JSON object", Json;
    RESMGR_ERR_MESSAGE_TYPE => c"down message type missing or not a string", MessageType;
    RESMGR_ERR_UNKNOWN_MESSAGE => c"unknown down message type", UnknownMessage;
    RESMGR_ERR_MISSING_FIELD => c"down message lacks a required field", MissingField;
    RESMGR_ERR_INVALID_NAME => c"invalid resource name", InvalidName;
    RESMGR_ERR_INVALID_SIZE => c"invalid size", InvalidSize;
    RESMGR_ERR_INVALID_MD5 => c"invalid md5", InvalidMd5;
    RESMGR_ERR_INVALID_URL => c"invalid URL", InvalidUrl;
    RESMGR_ERR_INVALID_FIELD => c"invalid field in down message", InvalidField;
    RESMGR_ERR_PUBLISH => c"publish callback failed", Publish;
    RESMGR_ERR_NO_TASK => c"no such task", NoTask;
    RESMGR_ERR_TASK_CONFLICT => c"a different task with that name is in flight", TaskConflict;
    RESMGR_ERR_TOO_MANY_TASKS => c"too many tasks in flight", TooManyTasks;
    RESMGR_ERR_IO => c"file I/O error", Io;
    RESMGR_ERR_TIMEOUT => c"transfer timed out", Timeout;
    RESMGR_ERR_NOT_FOUND => c"object not found (HTTP 404)", NotFound;
    RESMGR_ERR_SIGN_INVALID => c"signature rejected (HTTP 403)", SignInvalid;
    RESMGR_ERR_URL_EXPIRED => c"download URL expired (HTTP 403): fetch a fresh URL and resume", UrlExpired;
    RESMGR_ERR_MD5_MISMATCH => c"MD5 mismatch", Md5Mismatch;
    RESMGR_ERR_HTTP => c"unexpected HTTP status", Http;
    RESMGR_ERR_NETWORK => c"network failure", Network;
    RESMGR_ERR_TLS => c"TLS failure", Tls;
    RESMGR_ERR_CANCELLED => c"cancelled", Cancelled;
    RESMGR_ERR_UNSAFE_NAME => c"download name is not a safe file name", UnsafeName;
    RESMGR_ERR_NO_URL => c"task has no URL yet", NoUrl;
    RESMGR_ERR_BAD_RESPONSE => c"store sent an invalid response", BadResponse;
    RESMGR_ERR_IN_USE => c"another download of that name into that directory is running", InUse;
    RESMGR_ERR_INVALID_STATE => c"call does not fit the client's state", InvalidState;
    RESMGR_ERR_NOT_AUTHORIZED => c"MQTT broker refused the login", NotAuthorized;
    RESMGR_ERR_PANIC => c"internal error (panic)", Panic;
}

fn status_text(status: i32) -> &'static CStr {
    resmgr_status::ALL
        .iter()
        .find(|s| **s as i32 == status)
        .map_or(c"unknown status", |s| s.text())
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
                let n = crate::protocol::fields::truncate(e, len - 1).len();
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
        let all = resmgr_status::ALL;
        let texts: std::collections::HashSet<_> =
            all.iter().map(|s| status_text(*s as i32)).collect();
        assert_eq!(texts.len(), all.len());
        let numbers: std::collections::HashSet<_> = all.iter().map(|s| *s as i32).collect();
        assert_eq!(numbers.len(), all.len(), "a number is used twice");
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
