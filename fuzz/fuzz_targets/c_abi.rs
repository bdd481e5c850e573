//! The C ABI, driven from the input bytes the way a C program calls it:
//! raw pointers, NUL-terminated strings (or NULL), `(pointer, length)`
//! payloads, C callbacks that publish and receive events (and call back
//! into the library from inside a callback), out-parameters, status codes
//! and the per-thread last error. Every call goes through the exported
//! `extern "C"` functions of `resmgr::ffi`, exactly the symbols
//! `include/resmgr.h` declares.
//!
//! The input is a little program: one opcode byte, then that operation's
//! arguments, read from the bytes that follow (missing bytes read as 0).
//! Names and MD5s are mostly picked from small pools so that responses can
//! match the tasks the program created; `op_message` builds well-formed down
//! messages from a template, `op_raw_message` feeds raw bytes.
//!
//! Checked beyond "no crash, no leak" (AddressSanitizer/LeakSanitizer):
//! - no call returns RESMGR_ERR_PANIC (a panic is a bug even when caught);
//! - the last error is empty after RESMGR_OK and set after an error, and
//!   `resmgr_last_error` NUL-terminates within the buffer it is given;
//! - every event has a known kind and all of its string fields are non-NULL,
//!   NUL-terminated UTF-8; task events carry 32 hex / 24 base64 MD5 texts;
//! - every publish goes to the up topic with QoS 0 or 1 and a JSON object
//!   payload;
//! - out-parameters are left alone on failure.
#![no_main]

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

use libfuzzer_sys::fuzz_target;
use resmgr::ffi::*;

/// Reads operation arguments from the input.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A length-prefixed byte string (at most 255 bytes).
    fn blob(&mut self) -> &'a [u8] {
        let n = self.byte() as usize;
        self.bytes(n)
    }

    /// A C string: from the pool, fuzzed bytes (cut at the first NUL), or
    /// NULL.
    fn c_string(&mut self, pool: &[&str]) -> Option<CString> {
        let sel = self.byte();
        match sel {
            0..=199 => Some(CString::new(pool[sel as usize % pool.len()]).unwrap()),
            200..=249 => {
                let b = self.blob();
                let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                Some(CString::new(&b[..end]).unwrap())
            }
            _ => None,
        }
    }

    /// One item of `pool`, picked by the next byte.
    fn pick<T: Copy>(&mut self, pool: &[T]) -> T {
        pool[self.byte() as usize % pool.len()]
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

const NAMES: &[&str] = &["fw.bin", "log.bin", "zxc", "AAAA", "日本.txt", "a b"];
const MD5S: &[&str] = &[
    "a567907174aaaaa3bb9a2bb20716fd97",
    "900150983cd24fb0d6963f7d28e17f72",
    "D41D8CD98F00B204E9800998ECF8427E",
    "00000000000000000000000000000000",
];
const SIZES: &[u64] = &[0, 1, 100, 372338, 1 << 32, u64::MAX];
const URLS: &[&str] = &[
    "https://iothub.cos.ap-guangzhou.myqcloud.com/x?sign=1",
    "http://127.0.0.1:9/obj",
    "https://[::1]:8443/a?b=c&d=e",
];
const DOWN_TYPES: &[&str] = &[
    "create_upload_task_rsp",
    "get_download_task_rsp",
    "download",
    "report_upload_progress_rsp",
    "report_download_progress_rsp",
    "upload_result",
    "firmware_update",
];
const UP_TYPES: &[&str] = &[
    "create_upload_task",
    "report_upload_progress",
    "get_download_task",
    "report_download_progress",
];

/// What the callbacks see: the application's `user` pointer.
struct App {
    client: *mut resmgr_client,
    up_topic: Option<CString>,
    /// Non-zero: the publish callback fails with this value.
    publish_rc: c_int,
    /// Calls back into the library from the event callback.
    reenter: bool,
    depth: u32,
    events: u64,
    publishes: u64,
}

fn c_str<'a>(p: *const c_char, what: &str) -> &'a str {
    assert!(!p.is_null(), "{what} is NULL");
    // SAFETY: the library promises a NUL-terminated string for the
    // duration of the callback; ASan catches it if not.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .unwrap_or_else(|_| panic!("{what} is not UTF-8"))
}

unsafe extern "C" fn on_publish(
    user: *mut c_void,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
) -> c_int {
    // SAFETY: `user` is the App passed to resmgr_client_new.
    let app = unsafe { &mut *(user as *mut App) };
    app.publishes += 1;
    let topic = c_str(topic, "publish topic");
    if let Some(up) = &app.up_topic {
        assert_eq!(topic, up.to_str().unwrap());
    }
    assert!(qos == 0 || qos == 1, "qos {qos}");
    assert!(!payload.is_null());
    // SAFETY: `len` readable bytes per the header's contract.
    let bytes = unsafe { std::slice::from_raw_parts(payload, len) };
    let v: serde_json::Value = serde_json::from_slice(bytes).expect("published payload is JSON");
    let kind = v["type"].as_str().expect("published payload has a type");
    assert!(UP_TYPES.contains(&kind), "{kind}");
    app.publish_rc
}

unsafe extern "C" fn on_event(user: *mut c_void, ev: *const resmgr_event) {
    // SAFETY: `user` is the App passed to resmgr_client_new.
    let app = unsafe { &mut *(user as *mut App) };
    app.events += 1;
    assert!(!ev.is_null());
    // SAFETY: valid for the duration of the callback.
    let ev = unsafe { &*ev };
    // Read the kind as the int32_t C sees.
    // SAFETY: resmgr_event_kind is repr(i32).
    let kind = unsafe { *(ptr::addr_of!(ev.kind) as *const i32) };
    assert!((1..=13).contains(&kind), "event kind {kind}");
    let name = c_str(ev.name, "name");
    let md5 = c_str(ev.md5, "md5");
    let b64 = c_str(ev.content_md5, "content_md5");
    let url = c_str(ev.url, "url");
    c_str(ev.result_msg, "result_msg");
    c_str(ev.message_type, "message_type");
    let detail = c_str(ev.detail, "detail");
    if (1..=3).contains(&kind) {
        assert!(!name.is_empty() && !url.is_empty());
        assert!(
            md5.len() == 32
                && md5
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(b64.len(), 24);
    }
    if kind == 9 || kind == 10 {
        assert!(!detail.is_empty());
        assert_ne!(ev.status as i32, 0);
    }
    if kind == 13 {
        assert!(!name.is_empty() && !detail.is_empty());
    }
    if app.reenter && app.depth < 2 && !app.client.is_null() {
        // Callbacks may call back into the library (not free the client).
        app.depth += 1;
        let client = app.client;
        // SAFETY: live client, NUL-terminated strings.
        unsafe {
            let msg =
                br#"{"type":"report_download_progress_rsp","result_code":0,"result_msg":"ok"}"#;
            check(resmgr_client_handle_down_message(
                client,
                resmgr_client_down_topic(client),
                msg.as_ptr(),
                msg.len(),
            ));
            if !name.is_empty() {
                let n = CString::new(name).unwrap();
                check(resmgr_client_cancel(
                    client,
                    ev.direction as i32,
                    n.as_ptr(),
                ));
            }
        }
        app.depth -= 1;
    }
}

/// The contract every status call keeps.
fn check(status: resmgr_status) -> resmgr_status {
    let s = status as i32;
    assert_ne!(s, resmgr_status::RESMGR_ERR_PANIC as i32, "a call panicked");
    // SAFETY: NULL with length 0 asks for the length only.
    let len = unsafe { resmgr_last_error(ptr::null_mut(), 0) };
    if s == 0 {
        assert_eq!(len, 0, "last error set after RESMGR_OK");
    } else {
        assert!(len > 0, "no last error after status {s}");
    }
    status
}

fn opt_ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// A down message built from the template, fields picked by the input.
fn template_message(inp: &mut Input<'_>) -> Vec<u8> {
    let kind = inp.pick(DOWN_TYPES);
    let mut fields = vec![format!("\"type\":\"{kind}\"")];
    let mask = inp.byte();
    // A task's fields, each present when its bit of the mask is set.
    let task_fields: [(u8, &str, fn(&mut Input<'_>) -> String); 4] = [
        (1, "name", |inp| format!("\"{}\"", inp.pick(NAMES))),
        (2, "size", |inp| inp.pick(SIZES).to_string()),
        (4, "md5sum", |inp| format!("\"{}\"", inp.pick(MD5S))),
        (8, "url", |inp| format!("\"{}\"", inp.pick(URLS))),
    ];
    for (bit, key, value) in task_fields {
        if mask & bit != 0 {
            fields.push(format!("\"{key}\":{}", value(inp)));
        }
    }
    if mask & 16 != 0 {
        fields.push(format!("\"result_code\":{}", inp.byte() as i8));
    }
    if mask & 32 != 0 {
        fields.push("\"result_msg\":\"r\\u00e9sultat \\\"quoted\\\"\"".to_string());
    }
    if mask & 64 != 0 {
        fields.push(format!(
            "\"report\":{{\"name\":\"{}\",\"progress\":{{\"state\":\"done\",\"result_code\":{}}}}}",
            inp.pick(NAMES),
            inp.byte() as i8
        ));
    }
    if mask & 128 != 0 {
        fields.push("\"extra\":{\"deep\":[1,2,{\"x\":null}]}".to_string());
    }
    format!("{{{}}}", fields.join(",")).into_bytes()
}

/// Runs one program against one client.
fn run(inp: &mut Input<'_>) {
    let mut app = Box::new(App {
        client: ptr::null_mut(),
        up_topic: None,
        publish_rc: 0,
        reenter: false,
        depth: 0,
        events: 0,
        publishes: 0,
    });
    let user = &mut *app as *mut App as *mut c_void;

    // Creation: usually a valid device, sometimes fuzzed ids or NULLs.
    let (product, device) = if inp.byte() < 224 {
        (
            Some(CString::new("PRODUCTID").unwrap()),
            Some(CString::new("device1").unwrap()),
        )
    } else {
        (
            inp.c_string(&["PRODUCTID", "", "a/b"]),
            inp.c_string(&["device1", "+", "#"]),
        )
    };
    // A sentinel that must stay untouched on failure.
    let sentinel = ptr::dangling_mut::<resmgr_client>();
    let mut client = sentinel;
    // SAFETY: strings are NULL or NUL-terminated, `client` is writable.
    let s = check(unsafe {
        resmgr_client_new(
            opt_ptr(&product),
            opt_ptr(&device),
            Some(on_publish),
            Some(on_event),
            user,
            &mut client,
        )
    });
    if s != resmgr_status::RESMGR_OK {
        assert_eq!(client, sentinel, "out written on failure");
        return;
    }
    app.client = client;
    // SAFETY: live client; the topics are NUL-terminated and live as long as it.
    let (up, down) = unsafe {
        (
            resmgr_client_up_topic(client),
            resmgr_client_down_topic(client),
        )
    };
    app.up_topic = Some(CString::new(c_str(up, "up topic")).unwrap());
    let down_owned = CString::new(c_str(down, "down topic")).unwrap();
    assert!(down_owned
        .to_str()
        .unwrap()
        .starts_with("$resource/down/service/"));

    let mut hashers: Vec<*mut resmgr_md5> = Vec::new();
    let mut ops = 0;
    while !inp.is_empty() && ops < 200 {
        ops += 1;
        // SAFETY (whole match): `client` is live until freed below; every
        // pointer argument is NULL or valid for the call as the header
        // requires.
        unsafe {
            match inp.byte() % 20 {
                0 | 1 => {
                    let msg = template_message(inp);
                    check(resmgr_client_handle_down_message(
                        client,
                        down_owned.as_ptr(),
                        msg.as_ptr(),
                        msg.len(),
                    ));
                }
                2 => {
                    let n = inp.u16() as usize;
                    let payload = inp.bytes(n);
                    check(resmgr_client_handle_down_message(
                        client,
                        down_owned.as_ptr(),
                        payload.as_ptr(),
                        payload.len(),
                    ));
                }
                3 => {
                    let topic = inp.c_string(&[
                        down_owned.to_str().unwrap(),
                        "$resource/down/service/PRODUCTID/device2",
                        "",
                    ]);
                    let payload = inp.blob();
                    // A NULL payload is allowed only with length 0.
                    let (p, n) = if inp.byte() & 1 == 0 {
                        (payload.as_ptr(), payload.len())
                    } else {
                        (ptr::null(), 0)
                    };
                    check(resmgr_client_handle_down_message(
                        client,
                        opt_ptr(&topic),
                        p,
                        n,
                    ));
                }
                4 => {
                    let name = inp.c_string(NAMES);
                    let size = if inp.byte() & 1 == 0 {
                        inp.pick(SIZES)
                    } else {
                        inp.u64()
                    };
                    let md5 = inp.c_string(MD5S);
                    check(resmgr_client_create_upload_task(
                        client,
                        opt_ptr(&name),
                        size,
                        opt_ptr(&md5),
                    ));
                }
                5 => {
                    check(resmgr_client_get_download_task(client));
                }
                6 | 7 => {
                    let name = inp.c_string(NAMES);
                    let state = match inp.byte() {
                        b @ 0..=250 => i32::from(b % 3),
                        b => i32::from(b) - 256,
                    };
                    let percent = i32::from(inp.byte() as i8).wrapping_mul(2);
                    let code = i32::from(inp.byte() as i8);
                    let msg = inp.c_string(&["", "time_out", "disk full"]);
                    let f = if inp.byte() & 1 == 0 {
                        resmgr_client_report_upload_progress
                    } else {
                        resmgr_client_report_download_progress
                    };
                    check(f(
                        client,
                        opt_ptr(&name),
                        state,
                        percent,
                        code,
                        opt_ptr(&msg),
                    ));
                }
                8 | 9 => {
                    let name = inp.c_string(NAMES);
                    let done = if inp.byte() & 1 == 0 {
                        u64::from(inp.u32() % 400000)
                    } else {
                        inp.u64()
                    };
                    let mut published = 7u8; // must stay untouched on failure
                    let out: *mut bool = if inp.byte() & 1 == 0 {
                        ptr::addr_of_mut!(published).cast()
                    } else {
                        ptr::null_mut()
                    };
                    let f = if inp.byte() & 1 == 0 {
                        resmgr_client_track_upload_progress
                    } else {
                        resmgr_client_track_download_progress
                    };
                    let s = check(f(client, opt_ptr(&name), done, out));
                    if !out.is_null() {
                        if s == resmgr_status::RESMGR_OK {
                            assert!(published <= 1);
                        } else {
                            assert_eq!(published, 7, "published written on failure");
                        }
                    }
                }
                10 => {
                    let direction = i32::from(inp.byte() as i8);
                    let name = inp.c_string(NAMES);
                    check(resmgr_client_cancel(client, direction, opt_ptr(&name)));
                }
                11 => {
                    check(resmgr_client_set_progress_throttle(
                        client,
                        inp.u32(),
                        u32::from(inp.byte()),
                    ));
                }
                12 => {
                    let h = resmgr_md5_new();
                    assert!(!h.is_null());
                    hashers.push(h);
                }
                13 => {
                    if let Some(&h) = hashers.get(inp.byte() as usize % hashers.len().max(1)) {
                        let data = inp.blob();
                        let (p, n) = match inp.byte() % 3 {
                            0 => (data.as_ptr(), data.len()),
                            1 => (ptr::null(), 0),
                            // NULL with a length: refused, never read.
                            _ => (ptr::null(), data.len().max(1)),
                        };
                        let s = check(resmgr_md5_update(h, p, n));
                        assert_eq!(s == resmgr_status::RESMGR_OK, !p.is_null() || n == 0);
                    }
                }
                14 => {
                    let pick = inp.byte() as usize;
                    let h = hashers
                        .get(pick % hashers.len().max(1))
                        .copied()
                        .unwrap_or(ptr::null_mut());
                    let mut d: resmgr_digest = std::mem::zeroed();
                    let out: *mut resmgr_digest = if inp.byte() & 1 == 0 {
                        &mut d
                    } else {
                        ptr::null_mut()
                    };
                    let s = check(resmgr_md5_finish(h, out));
                    if s == resmgr_status::RESMGR_OK {
                        let hex = c_str(d.hex.as_ptr(), "digest hex");
                        assert_eq!(hex.len(), 32);
                        assert_eq!(c_str(d.base64.as_ptr(), "digest base64").len(), 24);
                    }
                }
                15 => {
                    if !hashers.is_empty() {
                        let h = hashers.swap_remove(inp.byte() as usize % hashers.len());
                        resmgr_md5_free(h);
                    }
                    resmgr_md5_free(ptr::null_mut());
                }
                16 => {
                    // The last error of the previous call, into a buffer of
                    // any size; the bytes past it must stay untouched.
                    let full = resmgr_last_error(ptr::null_mut(), 0);
                    let len = inp.byte() as usize % 300;
                    let mut buf = vec![0x55 as c_char; len + 8];
                    let n = resmgr_last_error(
                        if len == 0 {
                            ptr::null_mut()
                        } else {
                            buf.as_mut_ptr()
                        },
                        len,
                    );
                    assert_eq!(n, full);
                    if len > 0 {
                        let text = CStr::from_bytes_until_nul(std::slice::from_raw_parts(
                            buf.as_ptr().cast::<u8>(),
                            len,
                        ))
                        .expect("NUL within the buffer");
                        assert!(text.to_bytes().len() <= full);
                        assert!(text.to_str().is_ok(), "cut inside a UTF-8 character");
                    }
                    assert!(
                        buf[len..].iter().all(|&b| b == 0x55),
                        "wrote past the buffer"
                    );
                }
                17 => {
                    let s = resmgr_status_str(inp.u32() as i32);
                    c_str(s, "status text");
                    c_str(resmgr_version(), "version");
                }
                18 => {
                    // Callback behaviour.
                    let b = inp.byte();
                    app.publish_rc = if b & 3 == 3 {
                        c_int::from(inp.byte() as i8) | 1
                    } else {
                        0
                    };
                    app.reenter = b & 4 != 0;
                }
                _ => {
                    // Every entry point with a NULL client is refused cleanly.
                    let n = c"fw.bin".as_ptr();
                    let m = c"a567907174aaaaa3bb9a2bb20716fd97".as_ptr();
                    let null: *mut resmgr_client = ptr::null_mut();
                    let nul_arg = resmgr_status::RESMGR_ERR_NULL_ARG;
                    assert_eq!(
                        check(resmgr_client_create_upload_task(null, n, 1, m)),
                        nul_arg
                    );
                    assert_eq!(check(resmgr_client_get_download_task(null)), nul_arg);
                    assert_eq!(
                        check(resmgr_client_handle_down_message(null, n, ptr::null(), 0)),
                        nul_arg
                    );
                    assert_eq!(check(resmgr_client_cancel(null, 1, n)), nul_arg);
                    assert_eq!(
                        check(resmgr_client_track_upload_progress(null, n, 0, ptr::null_mut())),
                        nul_arg
                    );
                    assert_eq!(
                        check(resmgr_client_report_download_progress(
                            null,
                            n,
                            1,
                            0,
                            0,
                            ptr::null()
                        )),
                        nul_arg
                    );
                    assert_eq!(
                        check(resmgr_client_set_progress_throttle(null, 0, 1)),
                        nul_arg
                    );
                    assert!(resmgr_client_up_topic(null).is_null());
                    assert!(resmgr_client_down_topic(null).is_null());
                    resmgr_client_free(ptr::null_mut());
                }
            }
        }
    }
    for h in hashers {
        // SAFETY: each hasher is freed once.
        unsafe { resmgr_md5_free(h) };
    }
    app.client = ptr::null_mut();
    // SAFETY: created above, freed once, no call runs concurrently.
    unsafe { resmgr_client_free(client) };
}

fuzz_target!(|data: &[u8]| {
    run(&mut Input { data });
});
