//! The built-in MQTT connection for C (feature `mqtt`).

use std::ffi::{c_char, c_void};
use std::path::PathBuf;
use std::time::Duration;

use super::boundary::{mut_arg, null_arg, opt_str_arg, ref_arg, status_call, str_arg};
use super::client::{resmgr_client, resmgr_event_fn, PublishVia};
use super::status::resmgr_status;
use crate::error::{Error, ErrorKind, Result};
use crate::mqtt::auth::{SignMethod, DEFAULT_SDK_APP_ID};
use crate::mqtt::link::{Link, Settings};
use zeroize::Zeroizing;

/// How the built-in connection signs the platform's key authentication.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum resmgr_sign_method {
    /// HMAC-SHA256, password suffix ";hmacsha256" (the default).
    RESMGR_SIGN_HMAC_SHA256 = 0,
    /// HMAC-SHA1, password suffix ";hmacsha1".
    RESMGR_SIGN_HMAC_SHA1 = 1,
}

/// Settings of the built-in MQTT connection. Initialise with
/// `resmgr_mqtt_options_init`, then set what you need. Strings are copied
/// by `resmgr_client_new_mqtt`.
#[repr(C)]
pub struct resmgr_mqtt_options {
    /// Broker host (default "127.0.0.1"; the platform's is
    /// "<productid>.iotcloud.tencentdevices.com").
    pub host: *const c_char,
    /// Broker port; 0 for 1883, or 8883 with `tls`.
    pub port: u16,
    /// MQTT over TLS, certificate and host name verified.
    pub tls: bool,
    /// PEM CA bundle for TLS; NULL for the built-in Mozilla roots (feature
    /// `bundled-roots`, on by default), else the system's CA bundle.
    pub ca_file: *const c_char,
    /// The device secret (base64) for the platform's key authentication;
    /// NULL to use `username`/`password` as given. Never logged. The
    /// client's copy (kept to sign every connect afresh) and the decoded key
    /// are zeroed before their memory is freed; the caller's string is the
    /// caller's to wipe.
    pub device_secret: *const c_char,
    /// A resmgr_sign_method (default HMAC-SHA256).
    pub sign_method: i32,
    /// SDK app id in the username; NULL for "12010126".
    pub sdk_app_id: *const c_char,
    /// Seconds a key-authenticated login stays valid (default one year).
    /// Reconnections reuse it, so keep it long.
    pub auth_valid_s: u32,
    /// Connection id in the username (5 alphanumerics); NULL for random.
    pub connid: *const c_char,
    /// Expiry (Unix seconds) in the username; 0 for now + auth_valid_s.
    pub expiry: u64,
    /// Plain username when there is no device secret; NULL for none.
    pub username: *const c_char,
    /// Plain password when there is no device secret; NULL for none.
    pub password: *const c_char,
    /// MQTT client id; NULL for "<productid><devicename>".
    pub client_id: *const c_char,
    /// MQTT keep-alive in seconds (default 60).
    pub keep_alive_s: u16,
    /// Limit for one connection attempt (default 10000).
    pub connect_timeout_ms: u32,
    /// First delay before reconnecting, doubled after each failed or
    /// short-lived connection up to reconnect_max_ms, with jitter (default
    /// 500). The delays start again from here only once a connection has
    /// stayed up for 10 s (or reconnect_max_ms, if longer): a broker that
    /// drops the device right after accepting it (another client took the
    /// same client id) sees the delays grow, not a reconnection storm.
    pub reconnect_min_ms: u32,
    /// Longest delay between reconnection attempts (default 30000).
    pub reconnect_max_ms: u32,
}

/// Fills `*options` with the defaults.
///
/// # Safety
/// `options` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_mqtt_options_init(
    options: *mut resmgr_mqtt_options,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let o = unsafe { mut_arg(options, "options") }?;
        *o = resmgr_mqtt_options {
            host: c"127.0.0.1".as_ptr(),
            port: 0,
            tls: false,
            ca_file: std::ptr::null(),
            device_secret: std::ptr::null(),
            sign_method: resmgr_sign_method::RESMGR_SIGN_HMAC_SHA256 as i32,
            sdk_app_id: std::ptr::null(),
            auth_valid_s: 365 * 24 * 3600,
            connid: std::ptr::null(),
            expiry: 0,
            username: std::ptr::null(),
            password: std::ptr::null(),
            client_id: std::ptr::null(),
            keep_alive_s: 60,
            connect_timeout_ms: 10_000,
            reconnect_min_ms: 500,
            reconnect_max_ms: 30_000,
        };
        Ok(())
    })
}

/// # Safety
/// The strings in `o` are NULL or NUL-terminated.
unsafe fn settings(o: &resmgr_mqtt_options) -> Result<Settings> {
    let own = |p: *const c_char, what: &str| -> Result<Option<String>> {
        // SAFETY: per this function's contract.
        Ok(unsafe { opt_str_arg(p, what) }?.map(str::to_owned))
    };
    let method = match o.sign_method {
        0 => SignMethod::HmacSha256,
        1 => SignMethod::HmacSha1,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("sign_method {other} is not RESMGR_SIGN_HMAC_SHA256 or _SHA1"),
            ))
        }
    };
    let host = own(o.host, "host")?.ok_or_else(|| null_arg("host"))?;
    if host.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArgument, "host is empty"));
    }
    if o.connect_timeout_ms == 0 {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "connect_timeout_ms must be above 0",
        ));
    }
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    Ok(Settings {
        port: match o.port {
            0 if o.tls => 8883,
            0 => 1883,
            p => p,
        },
        host,
        tls: o.tls,
        ca_file: own(o.ca_file, "ca_file")?.map(PathBuf::from),
        secret: own(o.device_secret, "device_secret")?.map(Zeroizing::new),
        method,
        sdk_app_id: own(o.sdk_app_id, "sdk_app_id")?
            .unwrap_or_else(|| DEFAULT_SDK_APP_ID.to_owned()),
        valid_for_s: u64::from(o.auth_valid_s),
        connid: own(o.connid, "connid")?,
        expiry: (o.expiry != 0).then_some(o.expiry),
        username: own(o.username, "username")?.unwrap_or_default(),
        password: Zeroizing::new(own(o.password, "password")?.unwrap_or_default()),
        client_id: own(o.client_id, "client_id")?,
        keep_alive: Duration::from_secs(u64::from(o.keep_alive_s)),
        connect_timeout: ms(o.connect_timeout_ms),
        reconnect_min: ms(o.reconnect_min_ms),
        reconnect_max: ms(o.reconnect_max_ms.max(o.reconnect_min_ms)),
    })
}

/// Creates a client that owns its MQTT connection: messages are published
/// through it and every message on the down topic is handled by it. Events
/// (including RESMGR_EVENT_CONNECTED / _DISCONNECTED) are delivered on the
/// connection's own thread for down messages, and on the calling thread
/// for everything else. Nothing connects until `resmgr_client_connect`.
///
/// Errors: as `resmgr_client_new`, plus RESMGR_ERR_INVALID_ARG (bad
/// options) and RESMGR_ERR_TLS (unreadable CA file).
///
/// # Safety
/// Strings are NUL-terminated; `options` is readable; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_new_mqtt(
    product_id: *const c_char,
    device_name: *const c_char,
    options: *const resmgr_mqtt_options,
    on_event: resmgr_event_fn,
    user: *mut c_void,
    out: *mut *mut resmgr_client,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let product_id = unsafe { str_arg(product_id, "product_id") }?;
        // SAFETY: per this function's contract.
        let device_name = unsafe { str_arg(device_name, "device_name") }?;
        // SAFETY: per this function's contract.
        let options = unsafe { ref_arg(options, "options") }?;
        if out.is_null() {
            return Err(null_arg("out"));
        }
        // SAFETY: per this function's contract.
        let settings = unsafe { settings(options) }?;
        let topics = crate::protocol::Topics::new(product_id, device_name)?;
        let link = Link::new(settings, &topics)?;
        let mut handle = resmgr_client::build(
            product_id,
            device_name,
            PublishVia::Mqtt(link.publisher().clone()),
            on_event,
            user,
        )?;
        handle.mqtt = Some(link);
        // SAFETY: checked non-NULL above; writable per the contract.
        unsafe { *out = Box::into_raw(Box::new(handle)) };
        Ok(())
    })
}

fn link(c: &resmgr_client) -> Result<&Link> {
    c.mqtt.as_ref().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidState,
            "this client publishes through a callback; only clients made by resmgr_client_new_mqtt connect",
        )
    })
}

/// Starts the built-in connection in a background thread and returns at
/// once. The thread connects, subscribes to the down topic at QoS 1 (again
/// after every reconnect), reconnects with backoff after any drop, and
/// reports each change as RESMGR_EVENT_CONNECTED / _DISCONNECTED.
/// Messages published from this call on wait in the connection's queue
/// until the broker is reached; before it, publishing fails with
/// RESMGR_ERR_PUBLISH.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_INVALID_STATE (not an MQTT
/// client, already connected, being freed, or called from a callback on the
/// connection thread that the callback just disconnected: connect from
/// another thread once it has returned), RESMGR_ERR_INVALID_ARG
/// (credentials).
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_connect(client: *const resmgr_client) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ref_arg(client, "client") }?;
        link(c)?.connect(&c.inner)
    })
}

/// Blocks until the built-in connection is up, or `timeout_ms` passes.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_INVALID_STATE (not connecting),
/// RESMGR_ERR_TIMEOUT.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_wait_connected(
    client: *const resmgr_client,
    timeout_ms: u32,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ref_arg(client, "client") }?;
        link(c)?.wait_connected(Duration::from_millis(u64::from(timeout_ms)))
    })
}

/// Stops the built-in connection: waits up to `timeout_ms` for messages
/// sent at QoS 1 (task requests, final reports) to be acknowledged by the
/// broker, disconnects, and joins the connection thread. The client stays
/// usable and may connect again.
///
/// From an event callback running on the connection's own thread it cannot
/// wait (that thread receives the acks) nor join its own thread: it queues
/// the DISCONNECT behind the messages already queued, returns RESMGR_OK at
/// once, and the thread ends when the callback returns (one last
/// RESMGR_EVENT_DISCONNECTED follows). That thread is joined by the next
/// resmgr_client_connect, resmgr_client_disconnect (which then returns
/// RESMGR_OK) or resmgr_client_free.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_INVALID_STATE (not connected,
/// and no stopped connection left to join).
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_disconnect(
    client: *const resmgr_client,
    timeout_ms: u32,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ref_arg(client, "client") }?;
        link(c)?.disconnect(Duration::from_millis(u64::from(timeout_ms)))
    })
}
