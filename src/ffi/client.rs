//! The client handle for C: creation, the operations, and the two
//! callbacks.

use alloc::ffi::CString;
use alloc::sync::Arc;
use core::ffi::{c_char, c_int, c_void};
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use super::boundary::{
    bytes_arg, null_arg, opt_str_arg, ref_arg, status_call, str_arg, value_call,
};
use super::event::{resmgr_event, with_c_event};
#[cfg(feature = "std")]
use super::md5::{fill_digest, resmgr_digest};
use super::status::resmgr_status;
use crate::client::{Client, ClientIo, Event, TaskState};
use crate::digest::Md5Digest;
use crate::error::{Error, ErrorKind, Result};
use crate::prelude::*;
use crate::progress::ProgressPolicy;
use crate::protocol::result_code::standard_message;
use crate::protocol::up::Report;
use crate::protocol::{Direction, ProgressState, Qos};

// cbindgen copies only literal values into the header; a test below keeps
// these equal to the limits the library enforces.

/// Longest resource name in bytes (see `RESMGR_ERR_INVALID_NAME`).
pub const RESMGR_MAX_NAME_LEN: usize = 255;
/// Longest URL accepted from the platform, in bytes.
pub const RESMGR_MAX_URL_LEN: usize = 4096;
/// Largest down message accepted, in bytes.
pub const RESMGR_MAX_PAYLOAD_LEN: usize = 16384;
/// Most tasks in flight per direction. A download task arriving at a full
/// table takes the place of the oldest one not started
/// (RESMGR_EVENT_TASK_DROPPED).
pub const RESMGR_MAX_TASKS: usize = 64;
/// Longest result_msg, in bytes, sent or accepted.
pub const RESMGR_MAX_RESULT_MSG_LEN: usize = 1024;

/// Progress report states, for `resmgr_client_report_*_progress`.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum resmgr_progress_state {
    /// "uploading" / "downloading", with a percent.
    RESMGR_STATE_IN_PROGRESS = 0,
    /// "done": the transfer succeeded (result_code must be 0).
    RESMGR_STATE_DONE = 1,
    /// "fail": the transfer failed (result_code must be non-zero).
    RESMGR_STATE_FAIL = 2,
}

/// Publishes `len` bytes at `payload` on `topic` (NUL-terminated; always
/// the device's up topic) with MQTT QoS `qos` (0 or 1). The payload is not
/// NUL-terminated. Returns 0 when the message was handed to the MQTT
/// client, anything else on failure.
///
/// Called on the thread that made the library call that publishes, with no
/// library lock held: it may call back into the library (for instance to
/// feed a response), but must not free the client.
pub type resmgr_publish_fn = Option<
    unsafe extern "C" fn(
        user: *mut c_void,
        topic: *const c_char,
        payload: *const u8,
        len: usize,
        qos: c_int,
    ) -> c_int,
>;

/// Receives one event. The event and its strings are valid only until the
/// callback returns.
///
/// Called on the thread that made the library call that caused the event
/// (for events from down messages: the thread that called
/// `resmgr_client_handle_down_message`; for a client made by
/// `resmgr_client_new_mqtt`, its connection thread), with no library lock
/// held: it may call back into the library, but must not free the client.
pub type resmgr_event_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, event: *const resmgr_event)>;

/// How a client's messages leave it.
pub(crate) enum PublishVia {
    /// Through the application's MQTT client.
    Callback(unsafe extern "C" fn(*mut c_void, *const c_char, *const u8, usize, c_int) -> c_int),
    /// Through the built-in connection.
    #[cfg(feature = "mqtt")]
    Mqtt(Arc<crate::mqtt::MqttPublisher>),
}

pub(crate) struct FfiIo {
    publish: PublishVia,
    on_event: resmgr_event_fn,
    user: *mut c_void,
    up_topic: CString,
    /// Wakes `resmgr_client_upload_file` waiting for its URL.
    #[cfg(feature = "std")]
    pub(crate) task_signal: crate::device::TaskSignal,
    /// Set when resmgr_client_free starts: no event is delivered after it.
    closed: AtomicBool,
}

// SAFETY: the C caller promises (resmgr_client_new's contract) that the
// callbacks and `user` may be used from every thread that calls into the
// client; the remaining fields are owned, immutable data.
unsafe impl Send for FfiIo {}
// SAFETY: as above; FfiIo has no interior mutability.
unsafe impl Sync for FfiIo {}

impl ClientIo for FfiIo {
    // With the mqtt feature off the match has one arm.
    #[allow(clippy::infallible_destructuring_match)]
    fn publish(&self, _topic: &str, payload: &[u8], qos: Qos) -> core::result::Result<(), String> {
        let publish = match &self.publish {
            PublishVia::Callback(f) => f,
            #[cfg(feature = "mqtt")]
            PublishVia::Mqtt(m) => {
                return m.publish(
                    self.up_topic.to_str().expect("topics are ASCII"),
                    payload,
                    qos,
                )
            }
        };
        // SAFETY: the callback was supplied for exactly this use; topic and
        // payload are valid for the duration of the call.
        let rc = unsafe {
            publish(
                self.user,
                self.up_topic.as_ptr(),
                payload.as_ptr(),
                payload.len(),
                qos as c_int,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(format!("the publish callback returned {rc}"))
        }
    }

    fn event(&self, event: &Event<'_>) {
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        if let Some(cb) = self.on_event {
            // SAFETY: the callback was supplied for exactly this use; the
            // event lives until it returns.
            with_c_event(event, |ev| unsafe { cb(self.user, ev) });
        }
    }

    fn task_changed(&self) {
        #[cfg(feature = "std")]
        self.task_signal.notify();
    }
}

/// A resource-management client for one device. Opaque.
pub struct resmgr_client {
    pub(crate) inner: Arc<Client<FfiIo>>,
    down_topic: CString,
    /// The built-in connection's settings and state (clients made with
    /// resmgr_client_new_mqtt only).
    #[cfg(feature = "mqtt")]
    pub(crate) mqtt: Option<crate::mqtt::link::Link>,
    #[cfg(feature = "http")]
    pub(crate) transfer_config: std::sync::Mutex<crate::transfer::TransferConfig>,
}

/// Freeing: the built-in connection's thread is stopped and joined before
/// anything of the handle is dropped (it may be inside a callback that
/// uses the handle), and no event starts once freeing has begun.
impl Drop for resmgr_client {
    fn drop(&mut self) {
        self.inner.io().closed.store(true, Ordering::SeqCst);
        #[cfg(feature = "mqtt")]
        if let Some(link) = &self.mqtt {
            link.close();
        }
    }
}

impl resmgr_client {
    /// The client core.
    pub(crate) fn client(&self) -> &Client<FfiIo> {
        &self.inner
    }

    /// Builds a handle around a new client core.
    pub(crate) fn build(
        product_id: &str,
        device_name: &str,
        publish: PublishVia,
        on_event: resmgr_event_fn,
        user: *mut c_void,
    ) -> Result<resmgr_client> {
        let topics = crate::protocol::Topics::new(product_id, device_name)?;
        let to_c = |s: &str| {
            CString::new(s).unwrap_or_else(|_| unreachable!("validated topics have no NUL"))
        };
        let io = FfiIo {
            publish,
            on_event,
            user,
            up_topic: to_c(topics.up()),
            #[cfg(feature = "std")]
            task_signal: Default::default(),
            closed: AtomicBool::new(false),
        };
        Ok(resmgr_client {
            down_topic: to_c(topics.down()),
            inner: Arc::new(Client::new(product_id, device_name, io)?),
            #[cfg(feature = "mqtt")]
            mqtt: None,
            #[cfg(feature = "http")]
            transfer_config: Default::default(),
        })
    }

    /// The transfer options in force now.
    #[cfg(feature = "http")]
    pub(crate) fn transfer_config(&self) -> crate::transfer::TransferConfig {
        self.transfer_config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// # Safety
/// `p` is NULL or a live client.
unsafe fn client<'a>(p: *const resmgr_client) -> Result<&'a Client<FfiIo>> {
    // SAFETY: forwarded contract.
    unsafe { ref_arg(p, "client") }.map(resmgr_client::client)
}

/// The arguments most calls start with: the client and a task's name.
///
/// # Safety
/// `client` is NULL or a live client; `name` is NULL or NUL-terminated.
unsafe fn client_and_name<'a>(
    client: *const resmgr_client,
    name: *const c_char,
) -> Result<(&'a Client<FfiIo>, &'a str)> {
    // SAFETY: forwarded contract.
    let c = unsafe { self::client(client) }?;
    // SAFETY: forwarded contract.
    Ok((c, unsafe { str_arg(name, "name") }?))
}

/// Creates a client for device `product_id`/`device_name`.
///
/// `publish` is required; `on_event` may be NULL to ignore events. `user` is
/// passed unchanged as the first argument of both callbacks; it and the
/// callbacks must be usable from every thread that calls into the client.
/// On success writes the new handle to `*out`; on failure `*out` is left
/// unchanged. Free the handle with `resmgr_client_free`.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_INVALID_ID.
///
/// # Safety
/// Strings are NUL-terminated; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_new(
    product_id: *const c_char,
    device_name: *const c_char,
    publish: resmgr_publish_fn,
    on_event: resmgr_event_fn,
    user: *mut c_void,
    out: *mut *mut resmgr_client,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let product_id = unsafe { str_arg(product_id, "product_id") }?;
        // SAFETY: per this function's contract.
        let device_name = unsafe { str_arg(device_name, "device_name") }?;
        let publish = publish.ok_or_else(|| null_arg("publish callback"))?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        let handle = Box::new(resmgr_client::build(
            product_id,
            device_name,
            PublishVia::Callback(publish),
            on_event,
            user,
        )?);
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { *out = Box::into_raw(handle) };
        Ok(())
    })
}

/// Frees a client. NULL is a no-op. No other call of the application's on
/// this client may run concurrently or afterwards, and it must not be
/// called from the client's own callbacks.
///
/// A client made by `resmgr_client_new_mqtt` first stops its built-in
/// connection and joins the connection thread (about a second at most)
/// before it frees anything: a callback already running on that thread
/// (which may use the client) finishes first, no event is delivered once
/// the free has begun, and no callback runs after it returns.
///
/// # Safety
/// `client` is NULL or a handle from `resmgr_client_new` not yet freed.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_free(client: *mut resmgr_client) {
    value_call(|| {
        if !client.is_null() {
            // SAFETY: created by Box::into_raw in resmgr_client_new and, per
            // the contract, freed once.
            drop(unsafe { Box::from_raw(client) });
        }
    })
}

/// The topic this device publishes on,
/// `$resource/up/service/{productid}/{devicename}`. Owned by the client,
/// valid until it is freed. NULL if `client` is NULL.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_up_topic(client: *const resmgr_client) -> *const c_char {
    value_call(|| {
        // SAFETY: per this function's contract.
        match unsafe { client.as_ref() } {
            Some(c) => c.inner.io().up_topic.as_ptr(),
            None => core::ptr::null(),
        }
    })
}

/// The topic to subscribe to (QoS 1) and feed to
/// `resmgr_client_handle_down_message`,
/// `$resource/down/service/{productid}/{devicename}`. Owned by the client,
/// valid until it is freed. NULL if `client` is NULL.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_down_topic(client: *const resmgr_client) -> *const c_char {
    value_call(|| {
        // SAFETY: per this function's contract.
        match unsafe { client.as_ref() } {
            Some(c) => c.down_topic.as_ptr(),
            None => core::ptr::null(),
        }
    })
}

/// Sets when `resmgr_client_track_upload_progress` / `_track_download_progress`
/// publish: at most one report per `min_interval_ms` milliseconds, and only
/// when the percent moved by at least `min_percent_step` (1-100). The first
/// report and the 100 % report always go out; the same percent never goes
/// out twice. Defaults: 1000 ms, 1 %.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_INVALID_ARG (step outside 1-100).
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_set_progress_throttle(
    client: *const resmgr_client,
    min_interval_ms: u32,
    min_percent_step: u32,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { self::client(client) }?;
        let min_step = match min_percent_step {
            1..=100 => min_percent_step as u8,
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("min_percent_step {min_percent_step} is outside 1-100"),
                ))
            }
        };
        c.set_progress_policy(ProgressPolicy {
            min_interval: Duration::from_millis(u64::from(min_interval_ms)),
            min_step,
        });
        Ok(())
    })
}

/// Creates an upload task for `size` bytes whose MD5 is `md5_hex` (32 hex
/// characters, either case) and publishes `create_upload_task`. The URL
/// arrives later as RESMGR_EVENT_UPLOAD_URL.
///
/// Calling it again for a task in flight with the same size and MD5 asks
/// for a fresh URL.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_INVALID_NAME,
/// RESMGR_ERR_INVALID_MD5, RESMGR_ERR_TASK_CONFLICT (same name, other
/// size/MD5), RESMGR_ERR_TOO_MANY_TASKS, RESMGR_ERR_PUBLISH (the task is
/// not created).
///
/// # Safety
/// `client` is NULL or a live client; strings are NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_create_upload_task(
    client: *const resmgr_client,
    name: *const c_char,
    size: u64,
    md5_hex: *const c_char,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let (c, name) = unsafe { client_and_name(client, name) }?;
        // SAFETY: per this function's contract.
        let md5 = Md5Digest::from_hex(unsafe { str_arg(md5_hex, "md5_hex") }?)?;
        c.create_upload_task(name, size, md5)
    })
}

/// Hashes the file at `path` (streaming, constant memory) and creates its
/// upload task as `resmgr_client_create_upload_task` does. `name` NULL
/// names the task after the file's base name. When not NULL, `digest_out`
/// and `size_out` receive the file's MD5 and size.
///
/// Errors: as `resmgr_client_create_upload_task`, plus RESMGR_ERR_IO.
///
/// # Safety
/// `client` is NULL or a live client; strings are NUL-terminated or (for
/// `name`) NULL; out-pointers are NULL or writable.
#[cfg(feature = "std")]
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_create_upload_task_from_file(
    client: *const resmgr_client,
    path: *const c_char,
    name: *const c_char,
    digest_out: *mut resmgr_digest,
    size_out: *mut u64,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { self::client(client) }?;
        // SAFETY: per this function's contract.
        let path = unsafe { str_arg(path, "path") }?;
        // SAFETY: per this function's contract.
        let name = unsafe { opt_str_arg(name, "name") }?;
        let (_, size, md5) =
            crate::device::create_upload_task_from_file(c, std::path::Path::new(path), name)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(d) = unsafe { digest_out.as_mut() } {
            fill_digest(d, &md5);
        }
        // SAFETY: NULL or writable per the contract.
        if let Some(s) = unsafe { size_out.as_mut() } {
            *s = size;
        }
        Ok(())
    })
}

/// Publishes `get_download_task`. The answer arrives as
/// RESMGR_EVENT_DOWNLOAD_TASK or RESMGR_EVENT_NO_DOWNLOAD_TASK.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_PUBLISH.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_get_download_task(
    client: *const resmgr_client,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        unsafe { self::client(client) }?.get_download_task()
    })
}

/// Feeds one MQTT message: `topic` (NUL-terminated) and `len` bytes of
/// payload at `payload` (need not be NUL-terminated; NULL allowed when
/// `len` is 0). Events it causes are delivered before this returns, on
/// this thread.
///
/// A message that is refused also produces RESMGR_EVENT_MESSAGE_REJECTED
/// (or RESMGR_EVENT_UNKNOWN_MESSAGE), so that MQTT glue which ignores the
/// return value loses nothing.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_WRONG_TOPIC,
/// RESMGR_ERR_PAYLOAD_TOO_LARGE, RESMGR_ERR_UTF8, RESMGR_ERR_JSON,
/// RESMGR_ERR_MESSAGE_TYPE, RESMGR_ERR_UNKNOWN_MESSAGE,
/// RESMGR_ERR_MISSING_FIELD, RESMGR_ERR_INVALID_NAME,
/// RESMGR_ERR_INVALID_SIZE, RESMGR_ERR_INVALID_MD5, RESMGR_ERR_INVALID_URL,
/// RESMGR_ERR_INVALID_FIELD, RESMGR_ERR_TOO_MANY_TASKS.
///
/// # Safety
/// `client` is NULL or a live client; `topic` is NUL-terminated; `payload`
/// points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_handle_down_message(
    client: *const resmgr_client,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { self::client(client) }?;
        if topic.is_null() {
            return Err(null_arg("topic"));
        }
        // SAFETY: non-NULL and NUL-terminated per the contract. Taken as
        // bytes: a topic that is not UTF-8 is simply another topic.
        let topic = unsafe { core::ffi::CStr::from_ptr(topic) }.to_bytes();
        // SAFETY: per this function's contract.
        let payload = unsafe { bytes_arg(payload, len, "payload") }?;
        c.handle_down_message(topic, payload)
    })
}

fn progress_report<'a>(
    state: i32,
    percent: i32,
    result_code: i32,
    result_msg: Option<&'a str>,
) -> Result<Report<'a>> {
    let state = match state {
        0 => ProgressState::InProgress,
        1 => ProgressState::Done,
        2 => ProgressState::Fail,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("state {other} is not RESMGR_STATE_IN_PROGRESS, _DONE or _FAIL"),
            ))
        }
    };
    let percent = match (state, u8::try_from(percent)) {
        (ProgressState::InProgress, Ok(p @ 0..=100)) => p,
        (ProgressState::InProgress, _) => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("percent {percent} is outside 0-100"),
            ))
        }
        _ => 100,
    };
    let result_msg = result_msg.unwrap_or_else(|| standard_message(result_code).unwrap_or(""));
    Ok(Report {
        state,
        percent,
        result_code,
        result_msg,
    })
}

/// # Safety
/// As for the exported report functions.
unsafe fn report(
    direction: Direction,
    client: *const resmgr_client,
    name: *const c_char,
    state: i32,
    percent: i32,
    result_code: i32,
    result_msg: *const c_char,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: forwarded contract.
        let (c, name) = unsafe { client_and_name(client, name) }?;
        // SAFETY: forwarded contract.
        let msg = unsafe { opt_str_arg(result_msg, "result_msg") }?;
        c.report_progress(
            direction,
            name,
            &progress_report(state, percent, result_code, msg)?,
        )
    })
}

/// Where a task stands, as `resmgr_client_task_state` tells it.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum resmgr_task_state {
    /// No task of that name is in flight: it never was, a DONE or FAIL
    /// report ended it (a run call's own or the application's), or the
    /// platform rejected or dropped it.
    RESMGR_TASK_NONE = 0,
    /// An upload task whose URL the platform has not sent yet.
    RESMGR_TASK_WAITING_FOR_URL = 1,
    /// The task has its URL; no progress was tracked or reported yet.
    RESMGR_TASK_READY = 2,
    /// Progress was tracked or reported: its transfer began. Only a DONE
    /// or FAIL report (or the platform) ends it.
    RESMGR_TASK_STARTED = 3,
}

/// Tells whether task `name` is in flight, and how far: writes a
/// `resmgr_task_state` to `*state_out` (RESMGR_TASK_NONE when there is no
/// such task: not an error). Use it after a failed run call to know
/// whether the task is still open, or to poll a task another thread runs.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_INVALID_ARG
/// (direction).
///
/// # Safety
/// `client` is NULL or a live client; `name` is NUL-terminated;
/// `state_out` is writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_task_state(
    client: *const resmgr_client,
    direction: i32,
    name: *const c_char,
    state_out: *mut resmgr_task_state,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let (c, name) = unsafe { client_and_name(client, name) }?;
        let direction = direction_arg(direction)?;
        // SAFETY: per this function's contract.
        let out = unsafe { super::boundary::mut_arg(state_out, "state_out") }?;
        *out = match c.task_state(direction, name) {
            TaskState::None => resmgr_task_state::RESMGR_TASK_NONE,
            TaskState::WaitingForUrl => resmgr_task_state::RESMGR_TASK_WAITING_FOR_URL,
            TaskState::Ready => resmgr_task_state::RESMGR_TASK_READY,
            TaskState::Started => resmgr_task_state::RESMGR_TASK_STARTED,
        };
        Ok(())
    })
}

/// A `resmgr_direction` from C.
fn direction_arg(direction: i32) -> Result<Direction> {
    match direction {
        1 => Ok(Direction::Upload),
        2 => Ok(Direction::Download),
        other => Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("direction {other} is not RESMGR_DIRECTION_UPLOAD or _DOWNLOAD"),
        )),
    }
}

/// Publishes one `report_upload_progress` exactly as given. `state` is a
/// `resmgr_progress_state`; `percent` (0-100) is sent only with
/// RESMGR_STATE_IN_PROGRESS; `result_code` must be 0 except with
/// RESMGR_STATE_FAIL, where it must not be. `result_msg` NULL sends the
/// platform's standard text for codes 0..-4 ("time_out", "file_not_exist",
/// "sign invalid", "md5sum not matched") and "" otherwise; at most
/// RESMGR_MAX_RESULT_MSG_LEN bytes. A DONE or FAIL
/// report ends the task of that name, if any, and cancels its running
/// transfer (which then returns RESMGR_ERR_NO_TASK without a report of its
/// own). QoS 0 in progress, 1 final.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_INVALID_NAME,
/// RESMGR_ERR_INVALID_ARG, RESMGR_ERR_PUBLISH (the task is kept).
///
/// # Safety
/// `client` is NULL or a live client; `name` is NUL-terminated;
/// `result_msg` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_report_upload_progress(
    client: *const resmgr_client,
    name: *const c_char,
    state: i32,
    percent: i32,
    result_code: i32,
    result_msg: *const c_char,
) -> resmgr_status {
    // SAFETY: forwarded contract.
    unsafe {
        report(
            Direction::Upload,
            client,
            name,
            state,
            percent,
            result_code,
            result_msg,
        )
    }
}

/// Publishes one `report_download_progress`; otherwise exactly as
/// `resmgr_client_report_upload_progress`.
///
/// # Safety
/// As for `resmgr_client_report_upload_progress`.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_report_download_progress(
    client: *const resmgr_client,
    name: *const c_char,
    state: i32,
    percent: i32,
    result_code: i32,
    result_msg: *const c_char,
) -> resmgr_status {
    // SAFETY: forwarded contract.
    unsafe {
        report(
            Direction::Download,
            client,
            name,
            state,
            percent,
            result_code,
            result_msg,
        )
    }
}

/// Cancels the running transfer of task `name` (`direction` is
/// RESMGR_DIRECTION_UPLOAD or RESMGR_DIRECTION_DOWNLOAD), from any thread.
/// The transfer stops within moments, reports `fail`, and its run call
/// returns RESMGR_ERR_CANCELLED; a download keeps its partial file for a
/// later resume and leaves nothing at the final path. A transfer started
/// after the cancel stops at once.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_INVALID_ARG
/// (direction), RESMGR_ERR_NO_TASK.
///
/// # Safety
/// `client` is NULL or a live client; `name` is NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_cancel(
    client: *const resmgr_client,
    direction: i32,
    name: *const c_char,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let (c, name) = unsafe { client_and_name(client, name) }?;
        c.cancel(direction_arg(direction)?, name)
    })
}

/// # Safety
/// As for the exported progress functions.
unsafe fn track(
    direction: Direction,
    client: *const resmgr_client,
    name: *const c_char,
    bytes_done: u64,
    published: *mut bool,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: forwarded contract.
        let (c, name) = unsafe { client_and_name(client, name) }?;
        let sent = c.track_progress(direction, name, bytes_done, crate::port::now_ms())?;
        // SAFETY: NULL or writable per the contract.
        if let Some(p) = unsafe { published.as_mut() } {
            *p = sent;
        }
        Ok(())
    })
}

/// Tells the client `bytes_done` bytes of upload task `name` are sent.
/// Publishes an "uploading" report only when the throttle policy (see
/// `resmgr_client_set_progress_throttle`) says it is worth it; when
/// `published` is not NULL, it tells whether one went out. Call it as often
/// as you like. A 0-byte task is at 100 %.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_NO_TASK,
/// RESMGR_ERR_INVALID_ARG (more bytes than the task's size),
/// RESMGR_ERR_PUBLISH (the report will be retried by the next call).
///
/// # Safety
/// `client` is NULL or a live client; `name` is NUL-terminated; `published`
/// is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_track_upload_progress(
    client: *const resmgr_client,
    name: *const c_char,
    bytes_done: u64,
    published: *mut bool,
) -> resmgr_status {
    // SAFETY: forwarded contract.
    unsafe { track(Direction::Upload, client, name, bytes_done, published) }
}

/// As `resmgr_client_track_upload_progress`, for download task `name`
/// ("downloading" reports).
///
/// # Safety
/// As for `resmgr_client_track_upload_progress`.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_track_download_progress(
    client: *const resmgr_client,
    name: *const c_char,
    bytes_done: u64,
    published: *mut bool,
) -> resmgr_status {
    // SAFETY: forwarded contract.
    unsafe { track(Direction::Download, client, name, bytes_done, published) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;

    #[test]
    fn header_constants_equal_the_enforced_limits() {
        assert_eq!(RESMGR_MAX_NAME_LEN, limits::MAX_NAME_LEN);
        assert_eq!(RESMGR_MAX_URL_LEN, limits::MAX_URL_LEN);
        assert_eq!(RESMGR_MAX_PAYLOAD_LEN, limits::MAX_PAYLOAD_LEN);
        assert_eq!(RESMGR_MAX_TASKS, limits::MAX_TASKS);
        assert_eq!(RESMGR_MAX_RESULT_MSG_LEN, limits::MAX_RESULT_MSG_LEN);
    }
}
