//! Events as C sees them: one flat struct whose strings live only for the
//! duration of the callback.

use core::ffi::c_char;

use super::status::resmgr_status;
use crate::client::{Event, TaskView};
use crate::digest::{MD5_BASE64_LEN, MD5_HEX_LEN};
use crate::prelude::*;
use crate::protocol::Direction;

/// What an event is about. Which `resmgr_event` fields are set depends on
/// the kind; the others are 0 or "".
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum resmgr_event_kind {
    /// The platform sent the URL for an upload task: PUT the data to `url`
    /// with `Content-MD5: content_md5`. Fields: direction, name, size, md5,
    /// content_md5, url.
    RESMGR_EVENT_UPLOAD_URL = 1,
    /// A download task arrived (`pushed` tells whether it came unasked).
    /// Fields: direction, name, size, md5, content_md5, url, pushed. A task
    /// whose name is already in flight with another size or MD5 replaces
    /// that task: the old task's running transfer, if any, is cancelled and
    /// returns RESMGR_ERR_NO_TASK without reporting; run the new one.
    RESMGR_EVENT_DOWNLOAD_TASK = 2,
    /// A response or push for a task that already had its URL; the URL in
    /// it (possibly fresh: use it for retries) is now stored. Same fields
    /// as the task's first event.
    RESMGR_EVENT_URL_REFRESHED = 3,
    /// The platform says there is nothing to download. Fields: direction
    /// (download), result_code, result_msg.
    RESMGR_EVENT_NO_DOWNLOAD_TASK = 4,
    /// The platform acknowledged a progress report. Fields: direction, name
    /// (the report's task as far as can be told, or ""), result_msg.
    RESMGR_EVENT_PROGRESS_ACK = 5,
    /// The platform rejected a task (non-zero result_code in a response).
    /// The task is forgotten and its running transfer, if any, cancelled
    /// (the run returns RESMGR_ERR_NO_TASK without reporting); a transfer
    /// of your own must stop. Fields: direction, name (or "" when it cannot
    /// be told), result_code, result_msg.
    RESMGR_EVENT_TASK_REJECTED = 6,
    /// The platform's final verdict on an upload (`upload_result`). Fields:
    /// direction (upload), name (or ""), result_code (0 = accepted),
    /// result_msg.
    RESMGR_EVENT_UPLOAD_RESULT = 7,
    /// A valid response that matches nothing this client asked for; it was
    /// ignored. Fields: message_type, name (or ""), detail.
    RESMGR_EVENT_UNMATCHED_RESPONSE = 8,
    /// A down message of an unknown type; it was ignored. Fields: status
    /// (RESMGR_ERR_UNKNOWN_MESSAGE), detail.
    RESMGR_EVENT_UNKNOWN_MESSAGE = 9,
    /// A down message that was refused (wrong topic, invalid JSON or
    /// field, task table full...). Fields: status, detail.
    RESMGR_EVENT_MESSAGE_REJECTED = 10,
    /// The built-in MQTT connection is up and the broker acknowledged the
    /// subscription to the down topic. No fields.
    RESMGR_EVENT_CONNECTED = 11,
    /// The built-in MQTT connection went down, or could not be made; it
    /// tries again by itself (with backoff) until resmgr_client_disconnect.
    /// Fields: detail (why), status: RESMGR_ERR_NOT_AUTHORIZED (the broker
    /// refused the login) or RESMGR_ERR_TLS (certificate not trusted, wrong
    /// host) when retrying cannot help, RESMGR_ERR_NETWORK otherwise.
    RESMGR_EVENT_DISCONNECTED = 12,
    /// A task that had not started was forgotten to make room for a new
    /// one: the table of that direction was full (RESMGR_MAX_TASKS) and it
    /// was the oldest for which no progress had been tracked or reported
    /// (a run, resmgr_client_*_progress or an in-progress report starts a
    /// task). The platform is not told; resmgr_client_get_download_task
    /// finds the task again if the platform still has it. Fields:
    /// direction, name, detail.
    RESMGR_EVENT_TASK_DROPPED = 13,
}

impl resmgr_event_kind {
    /// Every kind, in number order.
    const ALL: [resmgr_event_kind; 13] = [
        resmgr_event_kind::RESMGR_EVENT_UPLOAD_URL,
        resmgr_event_kind::RESMGR_EVENT_DOWNLOAD_TASK,
        resmgr_event_kind::RESMGR_EVENT_URL_REFRESHED,
        resmgr_event_kind::RESMGR_EVENT_NO_DOWNLOAD_TASK,
        resmgr_event_kind::RESMGR_EVENT_PROGRESS_ACK,
        resmgr_event_kind::RESMGR_EVENT_TASK_REJECTED,
        resmgr_event_kind::RESMGR_EVENT_UPLOAD_RESULT,
        resmgr_event_kind::RESMGR_EVENT_UNMATCHED_RESPONSE,
        resmgr_event_kind::RESMGR_EVENT_UNKNOWN_MESSAGE,
        resmgr_event_kind::RESMGR_EVENT_MESSAGE_REJECTED,
        resmgr_event_kind::RESMGR_EVENT_CONNECTED,
        resmgr_event_kind::RESMGR_EVENT_DISCONNECTED,
        resmgr_event_kind::RESMGR_EVENT_TASK_DROPPED,
    ];

    /// A short, static name (exhaustive: a new kind needs one).
    fn text(self) -> &'static core::ffi::CStr {
        use resmgr_event_kind::*;
        match self {
            RESMGR_EVENT_UPLOAD_URL => c"upload URL",
            RESMGR_EVENT_DOWNLOAD_TASK => c"download task",
            RESMGR_EVENT_URL_REFRESHED => c"URL refreshed",
            RESMGR_EVENT_NO_DOWNLOAD_TASK => c"no download task",
            RESMGR_EVENT_PROGRESS_ACK => c"progress report acknowledged",
            RESMGR_EVENT_TASK_REJECTED => c"task rejected by the platform",
            RESMGR_EVENT_UPLOAD_RESULT => c"upload result",
            RESMGR_EVENT_UNMATCHED_RESPONSE => c"response matching no request",
            RESMGR_EVENT_UNKNOWN_MESSAGE => c"unknown down message",
            RESMGR_EVENT_MESSAGE_REJECTED => c"down message rejected",
            RESMGR_EVENT_CONNECTED => c"connected",
            RESMGR_EVENT_DISCONNECTED => c"disconnected",
            RESMGR_EVENT_TASK_DROPPED => c"task dropped to make room",
        }
    }
}

/// A static, NUL-terminated name of an event kind (`resmgr_event.kind`),
/// for logs: "upload URL", "URL refreshed"... "unknown event kind" for
/// numbers this version does not define. Never NULL; never free it.
#[no_mangle]
pub extern "C" fn resmgr_event_kind_str(kind: i32) -> *const c_char {
    resmgr_event_kind::ALL
        .iter()
        .find(|k| **k as i32 == kind)
        .map_or(c"unknown event kind", |k| k.text())
        .as_ptr()
}

/// Which way a resource moves.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum resmgr_direction {
    /// Not about one direction.
    RESMGR_DIRECTION_NONE = 0,
    /// Device to platform.
    RESMGR_DIRECTION_UPLOAD = 1,
    /// Platform to device.
    RESMGR_DIRECTION_DOWNLOAD = 2,
}

impl From<Direction> for resmgr_direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Upload => resmgr_direction::RESMGR_DIRECTION_UPLOAD,
            Direction::Download => resmgr_direction::RESMGR_DIRECTION_DOWNLOAD,
        }
    }
}

/// One event. Every string is NUL-terminated UTF-8, never NULL ("" when
/// absent), and valid only until the event callback returns: copy what you
/// keep.
#[repr(C)]
pub struct resmgr_event {
    /// What happened; says which fields below are set.
    pub kind: resmgr_event_kind,
    /// Upload or download.
    pub direction: resmgr_direction,
    /// The resource name.
    pub name: *const c_char,
    /// The resource size in bytes.
    pub size: u64,
    /// The resource MD5 as 32 lowercase hex characters.
    pub md5: *const c_char,
    /// The same MD5 in base64: the value of the HTTP `Content-MD5` header.
    pub content_md5: *const c_char,
    /// The presigned URL.
    pub url: *const c_char,
    /// True when a download task was pushed unasked.
    pub pushed: bool,
    /// The platform's result_code.
    pub result_code: i32,
    /// The platform's result_msg.
    pub result_msg: *const c_char,
    /// For rejected and unknown messages: the status the feeding call
    /// returned.
    pub status: resmgr_status,
    /// The message's `type`, for unmatched responses.
    pub message_type: *const c_char,
    /// A human-readable explanation, for unmatched, unknown and rejected
    /// messages.
    pub detail: *const c_char,
}

/// The C strings of one event, NUL-terminated, side by side in one buffer
/// that is reused from event to event (no allocation per event once it
/// has grown). The buffer never reallocates while an event is built: it
/// is reserved for the event's whole text first, so pointers stay valid.
struct Strings {
    buf: Vec<u8>,
}

#[cfg(not(target_os = "none"))]
std::thread_local! {
    static EVENT_TEXT: core::cell::Cell<Vec<u8>> = const { core::cell::Cell::new(Vec::new()) };
}

impl Strings {
    /// Takes this thread's buffer (a callback that causes a nested event
    /// finds it taken and gets a fresh one) with room for `len` bytes.
    /// Without `std` (no thread-locals) each event has its own buffer.
    fn with_room(len: usize) -> Strings {
        #[cfg(not(target_os = "none"))]
        let mut buf = EVENT_TEXT.with(|b| b.take());
        #[cfg(target_os = "none")]
        let mut buf = Vec::new();
        buf.clear();
        buf.reserve(len);
        Strings { buf }
    }

    fn add(&mut self, s: &str) -> *const c_char {
        if s.is_empty() {
            return c"".as_ptr();
        }
        if self.buf.len() + s.len() >= self.buf.capacity() {
            // Cannot happen (text_len sized the buffer), and growing now
            // would move the strings already handed out.
            debug_assert!(false, "event text was not sized for {s:?}");
            return c"".as_ptr();
        }
        let start = self.buf.len();
        // Names, URLs and messages are validated NUL-free; error texts
        // quoting input escape it. A stray NUL would cut the C string.
        self.buf
            .extend(s.bytes().map(|b| if b == 0 { b'?' } else { b }));
        self.buf.push(0);
        self.buf[start..].as_ptr().cast()
    }
}

#[cfg(not(target_os = "none"))]
impl Drop for Strings {
    fn drop(&mut self) {
        let buf = core::mem::take(&mut self.buf);
        // Keep a moderate buffer for the next event; give back a huge one.
        if buf.capacity() <= 64 * 1024 {
            EVENT_TEXT.with(|b| b.set(buf));
        }
    }
}

/// Bytes of text `event` hands to C, NULs included.
fn text_len(event: &Event<'_>) -> usize {
    let task = |t: &TaskView<'_>| t.name.len() + t.url.len() + 2;
    let opt = |n: &Option<&str>| n.map_or(0, |n| n.len() + 1);
    1 + match event {
        Event::UploadUrl(t)
        | Event::DownloadTask { task: t, .. }
        | Event::UrlRefreshed { task: t, .. } => task(t),
        Event::NoDownloadTask { result_msg, .. } => result_msg.len() + 1,
        Event::ProgressAck {
            name, result_msg, ..
        } => opt(name) + result_msg.len() + 1,
        Event::TaskDropped { name, detail, .. } => name.len() + detail.len() + 2,
        Event::TaskRejected {
            name, result_msg, ..
        }
        | Event::UploadResult {
            name, result_msg, ..
        } => opt(name) + result_msg.len() + 1,
        Event::UnmatchedResponse {
            message_type,
            name,
            detail,
        } => message_type.len() + opt(name) + detail.len() + 2,
        Event::Connected => 0,
        Event::Disconnected { reason, .. } => reason.len() + 1,
        Event::UnknownMessage { error } | Event::MessageRejected { error } => {
            error.message().len() + 1
        }
    }
}

/// Points the event's task fields at `t`; `hex` and `b64` hold the MD5's
/// NUL-terminated text forms.
fn fill_task(
    ev: &mut resmgr_event,
    t: &TaskView<'_>,
    direction: Direction,
    strings: &mut Strings,
    hex: &mut [u8; MD5_HEX_LEN + 1],
    b64: &mut [u8; MD5_BASE64_LEN + 1],
) {
    ev.direction = direction.into();
    ev.name = strings.add(t.name);
    ev.size = t.size;
    ev.url = strings.add(t.url);
    let digits: &mut [u8; MD5_HEX_LEN] = (&mut hex[..MD5_HEX_LEN])
        .try_into()
        .unwrap_or_else(|_| unreachable!("32 bytes"));
    t.md5.write_hex(digits);
    hex[MD5_HEX_LEN] = 0;
    ev.md5 = hex.as_ptr().cast();
    t.md5.write_base64(&mut b64[..MD5_BASE64_LEN]);
    b64[MD5_BASE64_LEN] = 0;
    ev.content_md5 = b64.as_ptr().cast();
}

/// Builds the C view of `event` and hands it to `deliver`.
pub(crate) fn with_c_event(event: &Event<'_>, deliver: impl FnOnce(&resmgr_event)) {
    use resmgr_event_kind::*;
    let mut strings = Strings::with_room(text_len(event));
    let mut hex = [0u8; MD5_HEX_LEN + 1];
    let mut b64 = [0u8; MD5_BASE64_LEN + 1];
    let mut ev = resmgr_event {
        kind: RESMGR_EVENT_MESSAGE_REJECTED,
        direction: resmgr_direction::RESMGR_DIRECTION_NONE,
        name: c"".as_ptr(),
        size: 0,
        md5: c"".as_ptr(),
        content_md5: c"".as_ptr(),
        url: c"".as_ptr(),
        pushed: false,
        result_code: 0,
        result_msg: c"".as_ptr(),
        status: resmgr_status::RESMGR_OK,
        message_type: c"".as_ptr(),
        detail: c"".as_ptr(),
    };
    match event {
        Event::UploadUrl(t) => {
            ev.kind = RESMGR_EVENT_UPLOAD_URL;
            fill_task(
                &mut ev,
                t,
                Direction::Upload,
                &mut strings,
                &mut hex,
                &mut b64,
            );
        }
        Event::DownloadTask { task: t, pushed } => {
            ev.kind = RESMGR_EVENT_DOWNLOAD_TASK;
            ev.pushed = *pushed;
            fill_task(
                &mut ev,
                t,
                Direction::Download,
                &mut strings,
                &mut hex,
                &mut b64,
            );
        }
        Event::UrlRefreshed {
            direction,
            task: t,
            pushed,
        } => {
            ev.kind = RESMGR_EVENT_URL_REFRESHED;
            ev.pushed = *pushed;
            fill_task(&mut ev, t, *direction, &mut strings, &mut hex, &mut b64);
        }
        Event::NoDownloadTask {
            result_code,
            result_msg,
        } => {
            ev.kind = RESMGR_EVENT_NO_DOWNLOAD_TASK;
            ev.direction = resmgr_direction::RESMGR_DIRECTION_DOWNLOAD;
            ev.result_code = *result_code;
            ev.result_msg = strings.add(result_msg);
        }
        Event::ProgressAck {
            direction,
            name,
            result_msg,
        } => {
            ev.kind = RESMGR_EVENT_PROGRESS_ACK;
            ev.direction = (*direction).into();
            ev.name = strings.add(name.unwrap_or(""));
            ev.result_msg = strings.add(result_msg);
        }
        Event::TaskDropped {
            direction,
            name,
            detail,
        } => {
            ev.kind = RESMGR_EVENT_TASK_DROPPED;
            ev.direction = (*direction).into();
            ev.name = strings.add(name);
            ev.detail = strings.add(detail);
        }
        Event::TaskRejected {
            direction,
            name,
            result_code,
            result_msg,
        } => {
            ev.kind = RESMGR_EVENT_TASK_REJECTED;
            ev.direction = (*direction).into();
            ev.name = strings.add(name.unwrap_or(""));
            ev.result_code = *result_code;
            ev.result_msg = strings.add(result_msg);
        }
        Event::UploadResult {
            name,
            result_code,
            result_msg,
        } => {
            ev.kind = RESMGR_EVENT_UPLOAD_RESULT;
            ev.direction = resmgr_direction::RESMGR_DIRECTION_UPLOAD;
            ev.name = strings.add(name.unwrap_or(""));
            ev.result_code = *result_code;
            ev.result_msg = strings.add(result_msg);
        }
        Event::UnmatchedResponse {
            message_type,
            name,
            detail,
        } => {
            ev.kind = RESMGR_EVENT_UNMATCHED_RESPONSE;
            ev.message_type = strings.add(message_type);
            ev.name = strings.add(name.unwrap_or(""));
            ev.detail = strings.add(detail);
        }
        Event::Connected => ev.kind = RESMGR_EVENT_CONNECTED,
        Event::Disconnected { reason, kind } => {
            ev.kind = RESMGR_EVENT_DISCONNECTED;
            ev.status = (*kind).into();
            ev.detail = strings.add(reason);
        }
        Event::UnknownMessage { error } => {
            ev.kind = RESMGR_EVENT_UNKNOWN_MESSAGE;
            ev.status = error.kind().into();
            ev.detail = strings.add(error.message());
        }
        Event::MessageRejected { error } => {
            ev.kind = RESMGR_EVENT_MESSAGE_REJECTED;
            ev.status = error.kind().into();
            ev.detail = strings.add(error.message());
        }
    }
    deliver(&ev);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_kind_is_listed_once_in_number_order() {
        for (i, kind) in resmgr_event_kind::ALL.iter().enumerate() {
            assert_eq!(*kind as i32, i as i32 + 1);
        }
    }
}
