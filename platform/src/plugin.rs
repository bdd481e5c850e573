//! The mosquitto 2 plugin (plugin interface version 5) that makes the real
//! broker check devices: this crate's cdylib, `libresmgr_platform.so`,
//! loaded with
//!
//! ```text
//! plugin /path/to/libresmgr_platform.so
//! plugin_opt_devices DIR/devices.json
//! plugin_opt_platform_username resmgr-platform
//! plugin_opt_platform_password SECRET
//! ```
//!
//! On `MOSQ_EVT_BASIC_AUTH` it admits the platform's own login and
//! registered devices whose key authentication is valid
//! ([`crate::devices::check_login`]); on `MOSQ_EVT_ACL_CHECK` it lets a
//! device publish only to its up topic and subscribe to / receive only its
//! down topic ([`crate::devices::allowed`]). The registry file is read
//! again whenever it changes, so `device add` and `device remove` take
//! effect without a broker restart (a removed device loses its topics at
//! once, and cannot log in again).
//!
//! The broker's functions are looked up with `dlsym` when the plugin is
//! initialised rather than linked, so the library (and the binary, which
//! links the same code) has no undefined symbols. The event structures are
//! declared here as `mosquitto_broker.h` declares them; `tests/plugin_abi.rs`
//! checks the layouts against the installed header.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use crate::devices::{self, Access, Registry};

/// `MOSQ_EVT_ACL_CHECK`.
pub const MOSQ_EVT_ACL_CHECK: c_int = 2;
/// `MOSQ_EVT_BASIC_AUTH`.
pub const MOSQ_EVT_BASIC_AUTH: c_int = 3;
/// `MOSQ_ERR_SUCCESS`.
pub const MOSQ_ERR_SUCCESS: c_int = 0;
/// `MOSQ_ERR_INVAL`.
pub const MOSQ_ERR_INVAL: c_int = 3;
/// `MOSQ_ERR_AUTH`: a refused login.
pub const MOSQ_ERR_AUTH: c_int = 11;
/// `MOSQ_ERR_ACL_DENIED`: a refused topic.
pub const MOSQ_ERR_ACL_DENIED: c_int = 12;
/// `MOSQ_ACL_READ`.
pub const MOSQ_ACL_READ: c_int = 0x01;
/// `MOSQ_ACL_WRITE`.
pub const MOSQ_ACL_WRITE: c_int = 0x02;
/// `MOSQ_ACL_SUBSCRIBE`.
pub const MOSQ_ACL_SUBSCRIBE: c_int = 0x04;
/// `MOSQ_LOG_NOTICE`.
pub const MOSQ_LOG_NOTICE: c_int = 1 << 1;
/// `MOSQ_LOG_WARNING`.
pub const MOSQ_LOG_WARNING: c_int = 1 << 2;
/// `MOSQ_PLUGIN_VERSION`: the plugin interface spoken.
pub const MOSQ_PLUGIN_VERSION: c_int = 5;

/// `struct mosquitto_opt`.
#[repr(C)]
pub struct MosquittoOpt {
    /// Option name, without `plugin_opt_`.
    pub key: *mut c_char,
    /// Its value.
    pub value: *mut c_char,
}

/// `struct mosquitto_evt_basic_auth`.
#[repr(C)]
pub struct EvtBasicAuth {
    /// Reserved.
    pub future: *mut c_void,
    /// The connecting client.
    pub client: *mut c_void,
    /// Username, or NULL.
    pub username: *mut c_char,
    /// Password, or NULL.
    pub password: *mut c_char,
    /// Reserved.
    pub future2: [*mut c_void; 4],
}

/// `struct mosquitto_evt_acl_check`.
#[repr(C)]
pub struct EvtAclCheck {
    /// Reserved.
    pub future: *mut c_void,
    /// The client asking.
    pub client: *mut c_void,
    /// Topic (or subscription filter).
    pub topic: *const c_char,
    /// Message payload.
    pub payload: *const c_void,
    /// MQTT 5 properties.
    pub properties: *mut c_void,
    /// `MOSQ_ACL_READ`, `_WRITE`, `_SUBSCRIBE`, `_UNSUBSCRIBE`.
    pub access: c_int,
    /// Payload length.
    pub payloadlen: u32,
    /// QoS.
    pub qos: u8,
    /// Retain flag.
    pub retain: bool,
    /// Reserved.
    pub future2: [*mut c_void; 4],
}

type Callback = extern "C" fn(c_int, *mut c_void, *mut c_void) -> c_int;
type RegisterFn =
    unsafe extern "C" fn(*mut c_void, c_int, Callback, *const c_void, *mut c_void) -> c_int;
type UnregisterFn = unsafe extern "C" fn(*mut c_void, c_int, Callback, *const c_void) -> c_int;
type ClientStrFn = unsafe extern "C" fn(*const c_void) -> *const c_char;
type LogFn = unsafe extern "C" fn(c_int, *const c_char, ...);

/// The broker functions the plugin calls.
struct Broker {
    register: RegisterFn,
    unregister: UnregisterFn,
    client_id: ClientStrFn,
    client_username: ClientStrFn,
    log: LogFn,
}

static BROKER: OnceLock<Broker> = OnceLock::new();

fn lookup(name: &CStr) -> Option<*mut c_void> {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads.
    let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    (!p.is_null()).then_some(p)
}

fn broker() -> Option<&'static Broker> {
    if let Some(b) = BROKER.get() {
        return Some(b);
    }
    let found = (|| {
        let register = lookup(c"mosquitto_callback_register")?;
        let unregister = lookup(c"mosquitto_callback_unregister")?;
        let client_id = lookup(c"mosquitto_client_id")?;
        let client_username = lookup(c"mosquitto_client_username")?;
        let log = lookup(c"mosquitto_log_printf")?;
        // SAFETY: these are the broker's exported functions of exactly
        // these signatures (mosquitto_broker.h, plugin interface 5).
        unsafe {
            Some(Broker {
                register: std::mem::transmute::<*mut c_void, RegisterFn>(register),
                unregister: std::mem::transmute::<*mut c_void, UnregisterFn>(unregister),
                client_id: std::mem::transmute::<*mut c_void, ClientStrFn>(client_id),
                client_username: std::mem::transmute::<*mut c_void, ClientStrFn>(client_username),
                log: std::mem::transmute::<*mut c_void, LogFn>(log),
            })
        }
    })()?;
    Some(BROKER.get_or_init(|| found))
}

fn log(level: c_int, msg: &str) {
    let Some(b) = broker() else { return };
    let Ok(text) = CString::new(format!("resmgr-platform plugin: {msg}")) else {
        return;
    };
    // SAFETY: a "%s" format with one NUL-terminated string argument.
    unsafe { (b.log)(level, c"%s".as_ptr(), text.as_ptr()) };
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the result.
unsafe fn text<'a>(p: *const c_char) -> Option<&'a str> {
    if p.is_null() {
        None
    } else {
        // SAFETY: the caller's promise.
        unsafe { CStr::from_ptr(p) }.to_str().ok()
    }
}

struct Cached {
    /// (inode, length, modification time) of the file last read.
    stamp: Option<(u64, u64, i64, i64)>,
    registry: Registry,
}

/// What one loaded plugin knows.
struct Plugin {
    id: *mut c_void,
    devices: PathBuf,
    platform: Option<(String, String)>,
    cache: Mutex<Cached>,
}

impl Plugin {
    /// The current registry: read again when the file changed. A file that
    /// cannot be read admits no device (never the previous contents).
    fn with_registry<T>(&self, f: impl FnOnce(&Registry) -> T) -> T {
        use std::os::unix::fs::MetadataExt;
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let stamp = std::fs::metadata(&self.devices)
            .ok()
            .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec()));
        if stamp != cache.stamp {
            cache.registry = match Registry::load(&self.devices) {
                Ok(r) => r,
                Err(e) => {
                    log(MOSQ_LOG_WARNING, &format!("cannot read the devices: {e}"));
                    Registry::default()
                }
            };
            cache.stamp = stamp;
        }
        f(&cache.registry)
    }

    fn is_platform(&self, username: Option<&str>, password: Option<&str>) -> bool {
        match (&self.platform, username, password) {
            (Some((u, p)), Some(gu), Some(gp)) => {
                u == gu
                    && p.len() == gp.len()
                    && p.bytes().zip(gp.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
            }
            _ => false,
        }
    }

    fn basic_auth(&self, ev: &EvtBasicAuth) -> c_int {
        let Some(b) = broker() else {
            return MOSQ_ERR_AUTH;
        };
        // SAFETY: the broker passes NULL or valid strings for the call.
        let (username, password) = unsafe { (text(ev.username), text(ev.password)) };
        // SAFETY: `client` is the broker's live client for this call.
        let client_id = unsafe { text((b.client_id)(ev.client)) }.unwrap_or("");
        if self.is_platform(username, password) {
            return MOSQ_ERR_SUCCESS;
        }
        let (Some(username), Some(password)) = (username, password) else {
            log(
                MOSQ_LOG_NOTICE,
                &format!("refused client {client_id:?}: no username or password"),
            );
            return MOSQ_ERR_AUTH;
        };
        let verdict = self.with_registry(|r| {
            devices::check_login(r, client_id, username, password, crate::util::now_unix())
                .map(|_| ())
        });
        match verdict {
            Ok(()) => MOSQ_ERR_SUCCESS,
            Err(why) => {
                log(
                    MOSQ_LOG_NOTICE,
                    &format!("refused client {client_id:?} (username {username:?}): {why}"),
                );
                MOSQ_ERR_AUTH
            }
        }
    }

    fn acl_check(&self, ev: &EvtAclCheck) -> c_int {
        let Some(b) = broker() else {
            return MOSQ_ERR_ACL_DENIED;
        };
        // SAFETY: the broker passes valid strings for the call.
        let (client_id, username, topic) = unsafe {
            (
                text((b.client_id)(ev.client)).unwrap_or(""),
                text((b.client_username)(ev.client)),
                text(ev.topic).unwrap_or(""),
            )
        };
        // The platform's login is checked at connect; its username has no
        // ';', so no device's can be it.
        if let (Some((u, _)), Some(got)) = (&self.platform, username) {
            if u == got {
                return MOSQ_ERR_SUCCESS;
            }
        }
        let access = match ev.access {
            MOSQ_ACL_READ => Access::Read,
            MOSQ_ACL_WRITE => Access::Write,
            MOSQ_ACL_SUBSCRIBE => Access::Subscribe,
            _ => Access::Unsubscribe,
        };
        let ok = self.with_registry(|r| {
            r.by_client_id(client_id)
                .is_some_and(|d| devices::allowed(d, topic, access))
        });
        if ok {
            MOSQ_ERR_SUCCESS
        } else {
            if access != Access::Read {
                log(
                    MOSQ_LOG_NOTICE,
                    &format!("denied client {client_id:?} {access:?} on {topic:?}"),
                );
            }
            MOSQ_ERR_ACL_DENIED
        }
    }
}

fn guarded(f: impl FnOnce() -> c_int, on_panic: c_int) -> c_int {
    // No panic may unwind into the broker.
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(on_panic)
}

/// Hands a broker event (`data`, an `E`) to the plugin (`user`) through
/// `handle`; NULL pointers and a panic get `refuse`.
fn on_event<E>(
    data: *mut c_void,
    user: *mut c_void,
    refuse: c_int,
    handle: impl FnOnce(&Plugin, &E) -> c_int,
) -> c_int {
    if data.is_null() || user.is_null() {
        return refuse;
    }
    // SAFETY: `user` is the Plugin given at registration; `data` is the
    // broker's event structure for this call, of the type registered.
    let (plugin, event) = unsafe { (&*(user as *const Plugin), &*(data as *const E)) };
    guarded(|| handle(plugin, event), refuse)
}

extern "C" fn on_basic_auth(_event: c_int, data: *mut c_void, user: *mut c_void) -> c_int {
    on_event(data, user, MOSQ_ERR_AUTH, Plugin::basic_auth)
}

extern "C" fn on_acl_check(_event: c_int, data: *mut c_void, user: *mut c_void) -> c_int {
    on_event(data, user, MOSQ_ERR_ACL_DENIED, Plugin::acl_check)
}

/// Plugin entry point: which interface version it speaks (5).
///
/// # Safety
/// Called by mosquitto with `count` readable integers at `versions`.
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_version(count: c_int, versions: *const c_int) -> c_int {
    if versions.is_null() || count <= 0 {
        return -1;
    }
    // SAFETY: the caller's promise.
    let list = unsafe { std::slice::from_raw_parts(versions, count as usize) };
    if list.contains(&MOSQ_PLUGIN_VERSION) {
        MOSQ_PLUGIN_VERSION
    } else {
        -1
    }
}

/// Plugin entry point: reads the options and registers the two checks.
///
/// # Safety
/// Called by mosquitto with its plugin identifier, a place for the user
/// data, and `count` options.
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_init(
    id: *mut c_void,
    userdata: *mut *mut c_void,
    opts: *mut MosquittoOpt,
    count: c_int,
) -> c_int {
    guarded(
        || {
            let Some(b) = broker() else {
                eprintln!(
                    "resmgr-platform plugin: not loaded by mosquitto 2 (broker functions missing)"
                );
                return MOSQ_ERR_INVAL;
            };
            let opts = if opts.is_null() || count <= 0 {
                &[][..]
            } else {
                // SAFETY: the caller's promise.
                unsafe { std::slice::from_raw_parts(opts, count as usize) }
            };
            let mut devices = None;
            let (mut user, mut password) = (None, None);
            for o in opts {
                // SAFETY: option keys and values are NUL-terminated strings.
                let (k, v) = unsafe { (text(o.key), text(o.value)) };
                match (k, v) {
                    (Some("devices"), Some(v)) => devices = Some(PathBuf::from(v)),
                    (Some("platform_username"), Some(v)) => user = Some(v.to_string()),
                    (Some("platform_password"), Some(v)) => password = Some(v.to_string()),
                    _ => {}
                }
            }
            let Some(devices) = devices else {
                log(MOSQ_LOG_WARNING, "plugin_opt_devices is required");
                return MOSQ_ERR_INVAL;
            };
            let plugin = Box::new(Plugin {
                id,
                devices,
                platform: user.zip(password),
                cache: Mutex::new(Cached {
                    stamp: None,
                    registry: Registry::default(),
                }),
            });
            let user_ptr = Box::into_raw(plugin) as *mut c_void;
            // SAFETY: registering our callbacks with the broker's own id;
            // `user_ptr` lives until cleanup.
            let rc = unsafe {
                let a = (b.register)(
                    id,
                    MOSQ_EVT_BASIC_AUTH,
                    on_basic_auth,
                    std::ptr::null(),
                    user_ptr,
                );
                let c = (b.register)(
                    id,
                    MOSQ_EVT_ACL_CHECK,
                    on_acl_check,
                    std::ptr::null(),
                    user_ptr,
                );
                if a != MOSQ_ERR_SUCCESS {
                    a
                } else {
                    c
                }
            };
            if !userdata.is_null() {
                // SAFETY: the broker gives a place for one pointer.
                unsafe { *userdata = user_ptr };
            }
            log(MOSQ_LOG_NOTICE, "checking device logins and topics");
            rc
        },
        MOSQ_ERR_INVAL,
    )
}

/// Plugin entry point: unregisters the checks and frees the state.
///
/// # Safety
/// Called by mosquitto with the user data `mosquitto_plugin_init` set.
#[no_mangle]
pub unsafe extern "C" fn mosquitto_plugin_cleanup(
    userdata: *mut c_void,
    _opts: *mut MosquittoOpt,
    _count: c_int,
) -> c_int {
    guarded(
        || {
            if userdata.is_null() {
                return MOSQ_ERR_SUCCESS;
            }
            // SAFETY: the Box made in mosquitto_plugin_init, freed once.
            let plugin = unsafe { Box::from_raw(userdata as *mut Plugin) };
            if let Some(b) = broker() {
                // SAFETY: unregistering what init registered.
                unsafe {
                    (b.unregister)(
                        plugin.id,
                        MOSQ_EVT_BASIC_AUTH,
                        on_basic_auth,
                        std::ptr::null(),
                    );
                    (b.unregister)(
                        plugin.id,
                        MOSQ_EVT_ACL_CHECK,
                        on_acl_check,
                        std::ptr::null(),
                    );
                }
            }
            MOSQ_ERR_SUCCESS
        },
        MOSQ_ERR_SUCCESS,
    )
}

/// Where `serve` finds the plugin: `$RESMGR_MOSQUITTO_PLUGIN`, else
/// `libresmgr_platform.so` beside the running executable, where `cargo
/// build` puts it, or in `deps/` beside it, where `cargo test` leaves it
/// (the newer of the two when both exist).
pub fn plugin_path() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("RESMGR_MOSQUITTO_PLUGIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "RESMGR_MOSQUITTO_PLUGIN={} is not a file",
                p.display()
            ))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot locate myself: {e}"))?;
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let newest = [
        dir.join("libresmgr_platform.so"),
        dir.join("deps/libresmgr_platform.so"),
    ]
    .into_iter()
    .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
    .max_by_key(|(modified, _)| *modified);
    match newest {
        Some((_, p)) => p
            .canonicalize()
            .map_err(|e| format!("cannot resolve {}: {e}", p.display())),
        None => Err(format!(
            "the broker plugin libresmgr_platform.so is not beside {} (cargo build -p resmgr-platform \
             builds both; or set RESMGR_MOSQUITTO_PLUGIN, or serve --anonymous)",
            exe.display()
        )),
    }
}
