//! The C ABI used as C uses it — raw pointers, C strings, C callbacks that
//! call back into the library, out-parameters, several threads — written
//! so that Miri can run it (`tests/sanitize/miri.sh`): no sockets, no
//! files, no MD5 compression (the assembly MD5 core is foreign code).
//! Miri then checks every `unsafe` block of the FFI layer these calls go
//! through for undefined behaviour, leaks and data races.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::Mutex;

use super::*;

const MD5: &CStr = c"a567907174aaaaa3bb9a2bb20716fd97";

/// What the callbacks saw, copied out of the library's buffers.
#[derive(Default)]
struct Seen {
    /// (topic, payload, qos) of each publish.
    published: Vec<(String, String, c_int)>,
    /// (kind, name, md5, content_md5, url, result_msg, detail) of each event.
    events: Vec<(i32, [String; 6])>,
    /// The publish callback returns this.
    publish_rc: c_int,
    /// Set: the event callback calls back into the library with it.
    reenter: Option<*const resmgr_client>,
}

struct User(Mutex<Seen>);

fn text(p: *const c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: the library hands out NUL-terminated strings valid for the
    // callback.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

unsafe extern "C" fn publish(
    user: *mut c_void,
    topic: *const c_char,
    payload: *const u8,
    len: usize,
    qos: c_int,
) -> c_int {
    // SAFETY: `user` is the `User` the test passed; payload has `len` bytes.
    let (user, payload) = unsafe {
        (
            &*(user as *const User),
            std::slice::from_raw_parts(payload, len),
        )
    };
    let mut seen = user.0.lock().unwrap();
    seen.published.push((
        text(topic),
        String::from_utf8(payload.to_vec()).unwrap(),
        qos,
    ));
    seen.publish_rc
}

unsafe extern "C" fn event(user: *mut c_void, ev: *const resmgr_event) {
    // SAFETY: `user` is the `User` the test passed; `ev` lives for the call.
    let (user, ev) = unsafe { (&*(user as *const User), &*ev) };
    let strings = [
        text(ev.name),
        text(ev.md5),
        text(ev.content_md5),
        text(ev.url),
        text(ev.result_msg),
        text(ev.detail),
    ];
    text(ev.message_type);
    let reenter = {
        let mut seen = user.0.lock().unwrap();
        seen.events.push((ev.kind as i32, strings));
        seen.reenter.take()
    };
    if let Some(client) = reenter {
        // Callbacks may call back into the library.
        // SAFETY: the client is live for the whole test.
        unsafe {
            assert_eq!(
                resmgr_client_cancel(client, 2, ev.name),
                resmgr_status::RESMGR_OK
            );
            assert_eq!(
                resmgr_client_get_download_task(client),
                resmgr_status::RESMGR_OK
            );
        }
    }
}

fn last_error() -> String {
    let mut buf = [0 as c_char; 512];
    // SAFETY: 512 writable bytes.
    unsafe { resmgr_last_error(buf.as_mut_ptr(), buf.len()) };
    text(buf.as_ptr())
}

fn new_client(user: &User) -> *mut resmgr_client {
    let mut client = ptr::null_mut();
    // SAFETY: literals are NUL-terminated; `user` outlives the client.
    let s = unsafe {
        resmgr_client_new(
            c"PRODUCTID".as_ptr(),
            c"device1".as_ptr(),
            Some(publish),
            Some(event),
            user as *const User as *mut c_void,
            &mut client,
        )
    };
    assert_eq!(s, resmgr_status::RESMGR_OK);
    assert!(!client.is_null());
    client
}

fn feed(client: *const resmgr_client, json: &str) -> resmgr_status {
    // SAFETY: live client, NUL-terminated topic, `json.len()` bytes.
    unsafe {
        resmgr_client_handle_down_message(
            client,
            resmgr_client_down_topic(client),
            json.as_ptr(),
            json.len(),
        )
    }
}

#[test]
fn a_client_lives_and_dies_through_the_c_abi() {
    let user = User(Mutex::new(Seen::default()));
    let client = new_client(&user);
    // SAFETY (whole block): `client` is live until freed at the end; every
    // string is NUL-terminated; out-pointers are writable.
    unsafe {
        assert_eq!(
            text(resmgr_client_up_topic(client)),
            "$resource/up/service/PRODUCTID/device1"
        );
        assert_eq!(
            resmgr_client_create_upload_task(client, c"zxc".as_ptr(), 100, MD5.as_ptr()),
            resmgr_status::RESMGR_OK
        );
        let url = format!(
            r#"{{"type":"create_upload_task_rsp","size":100,"name":"zxc","md5sum":"{}","url":"https://h/x?a=1\u0026b=2"}}"#,
            MD5.to_str().unwrap()
        );
        assert_eq!(feed(client, &url), resmgr_status::RESMGR_OK);
        let mut published = false;
        assert_eq!(
            resmgr_client_track_upload_progress(client, c"zxc".as_ptr(), 50, &mut published),
            resmgr_status::RESMGR_OK
        );
        assert!(published);
        assert_eq!(
            resmgr_client_report_upload_progress(client, c"zxc".as_ptr(), 1, 0, 0, ptr::null()),
            resmgr_status::RESMGR_OK
        );
        assert_eq!(
            feed(
                client,
                r#"{"type":"report_upload_progress_rsp","result_code":0,"result_msg":"ok"}"#
            ),
            resmgr_status::RESMGR_OK
        );
        // Refused input: a status, the thread's last error and an event.
        assert_eq!(
            feed(
                client,
                r#"{"type":"download","size":-1,"name":"x","url":"http://h/x"}"#
            ),
            resmgr_status::RESMGR_ERR_INVALID_SIZE
        );
        assert!(last_error().contains("size"), "{}", last_error());
        let mut published = true;
        assert_eq!(
            resmgr_client_track_download_progress(client, c"nope".as_ptr(), 1, &mut published),
            resmgr_status::RESMGR_ERR_NO_TASK
        );
        assert!(published, "out-parameter untouched on failure");
        // NULL arguments are refused, never dereferenced.
        assert_eq!(
            resmgr_client_create_upload_task(client, ptr::null(), 1, MD5.as_ptr()),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        assert_eq!(
            resmgr_client_handle_down_message(client, ptr::null(), ptr::null(), 0),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        assert_eq!(
            resmgr_client_handle_down_message(
                client,
                resmgr_client_down_topic(client),
                ptr::null(),
                5
            ),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        assert_eq!(
            resmgr_client_get_download_task(ptr::null()),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        resmgr_client_free(client);
        resmgr_client_free(ptr::null_mut());
    }
    let seen = user.0.into_inner().unwrap();
    let kinds: Vec<i32> = seen.events.iter().map(|e| e.0).collect();
    assert_eq!(
        kinds,
        [
            resmgr_event_kind::RESMGR_EVENT_UPLOAD_URL as i32,
            resmgr_event_kind::RESMGR_EVENT_PROGRESS_ACK as i32,
            resmgr_event_kind::RESMGR_EVENT_MESSAGE_REJECTED as i32,
        ]
    );
    let [name, md5, b64, url, _, _] = &seen.events[0].1;
    assert_eq!(
        (name.as_str(), md5.as_str(), url.as_str()),
        ("zxc", MD5.to_str().unwrap(), "https://h/x?a=1&b=2")
    );
    assert_eq!(b64, "pWeQcXSqqqO7miuyBxb9lw==");
    assert_eq!(seen.published.len(), 3);
    assert!(seen
        .published
        .iter()
        .all(|(t, p, q)| t.ends_with("/PRODUCTID/device1") && p.starts_with('{') && *q <= 1));
}

#[test]
fn callbacks_call_back_in_and_a_failing_publish_is_an_error() {
    let user = User(Mutex::new(Seen::default()));
    let client = new_client(&user);
    user.0.lock().unwrap().reenter = Some(client);
    let push = format!(
        r#"{{"type":"download","size":3,"name":"fw.bin","md5sum":"{}","url":"http://127.0.0.1:1/x"}}"#,
        MD5.to_str().unwrap()
    );
    assert_eq!(feed(client, &push), resmgr_status::RESMGR_OK);
    user.0.lock().unwrap().publish_rc = -1;
    // SAFETY: live client, NUL-terminated strings.
    unsafe {
        assert_eq!(
            resmgr_client_create_upload_task(client, c"a".as_ptr(), 1, MD5.as_ptr()),
            resmgr_status::RESMGR_ERR_PUBLISH
        );
        assert!(last_error().contains("-1"), "{}", last_error());
        resmgr_client_free(client);
    }
    let seen = user.0.into_inner().unwrap();
    assert_eq!(
        seen.events[0].0,
        resmgr_event_kind::RESMGR_EVENT_DOWNLOAD_TASK as i32
    );
    // The re-entrant get_download_task, then the failed create.
    assert_eq!(seen.published.len(), 2);
}

/// A client handle handed to other threads, as C code does.
#[derive(Clone, Copy)]
struct Shared(*mut resmgr_client);

// SAFETY: the C ABI allows calls on one client from any thread.
unsafe impl Send for Shared {}

impl Shared {
    fn get(self) -> *const resmgr_client {
        self.0
    }
}

#[test]
fn one_client_is_shared_by_threads() {
    let user = User(Mutex::new(Seen::default()));
    let shared = Shared(new_client(&user));
    std::thread::scope(|s| {
        for t in 0..2 {
            s.spawn(move || {
                let client = shared.get();
                let name = CString::new(format!("t{t}")).unwrap();
                for _ in 0..3 {
                    // SAFETY: live client (freed after the scope), C strings.
                    unsafe {
                        assert_eq!(
                            resmgr_client_create_upload_task(
                                client,
                                name.as_ptr(),
                                1,
                                MD5.as_ptr()
                            ),
                            resmgr_status::RESMGR_OK
                        );
                        assert_eq!(
                            resmgr_client_cancel(client, 1, name.as_ptr()),
                            resmgr_status::RESMGR_OK
                        );
                    }
                    assert_eq!(
                        feed(client, r#"{"type":"report_upload_progress_rsp"}"#),
                        resmgr_status::RESMGR_OK
                    );
                }
            });
        }
    });
    // SAFETY: no other call runs now.
    unsafe { resmgr_client_free(shared.0) };
    let seen = user.0.into_inner().unwrap();
    assert_eq!(seen.published.len(), 6);
    assert_eq!(seen.events.len(), 6);
}

#[test]
fn md5_handles_refuse_null_and_free_once() {
    let h = resmgr_md5_new();
    assert!(!h.is_null());
    // SAFETY: `h` is live until freed; NULL pointers are what is tested.
    unsafe {
        assert_eq!(
            resmgr_md5_update(h, ptr::null(), 0),
            resmgr_status::RESMGR_OK
        );
        assert_eq!(
            resmgr_md5_update(h, ptr::null(), 3),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        assert_eq!(
            resmgr_md5_finish(h, ptr::null_mut()),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        assert_eq!(
            resmgr_md5_update(ptr::null_mut(), ptr::null(), 0),
            resmgr_status::RESMGR_ERR_NULL_ARG
        );
        resmgr_md5_free(h);
        resmgr_md5_free(ptr::null_mut());
    }
}
