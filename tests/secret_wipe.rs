//! The device secret is wiped from memory once it is no longer needed
//! (issue 10, suspected item, confirmed): a client made by
//! `resmgr_client_new_mqtt` with a device secret keeps it (base64, and the
//! decoded key while it signs) only in buffers that are zeroed before they
//! are freed.
//!
//! The test binary's global allocator looks at every block as it is freed
//! and counts those that still hold the secret's text or its decoded key.
//! Everything the test itself hands the library is static (not heap), so
//! any hit is a copy the library made and dropped unwiped. One test only:
//! other tests of the binary would allocate concurrently.
#![cfg(feature = "mqtt")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use resmgr::ffi::client::resmgr_client_free;
use resmgr::ffi::mqtt::{
    resmgr_client_connect, resmgr_client_disconnect, resmgr_client_new_mqtt, resmgr_mqtt_options,
    resmgr_mqtt_options_init,
};
use resmgr::ffi::status::resmgr_status;

/// base64 of `KEY`.
const SECRET: &CStr = c"cmVzbWdyLXdpcGUtdGVzdC1rZXktMDEyMzQ1Njc4OQ==";
const KEY: &[u8] = b"resmgr-wipe-test-key-0123456789";

/// Freed blocks that still held the secret or the key.
static LEAKED: AtomicUsize = AtomicUsize::new(0);

struct ScanOnFree;

fn holds(block: &[u8], needle: &[u8]) -> bool {
    block.windows(needle.len()).any(|w| w == needle)
}

// SAFETY: forwards every call to the system allocator unchanged; dealloc
// only reads the block it is handed, which is still allocated then.
unsafe impl GlobalAlloc for ScanOnFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes until the
        // System.dealloc below.
        let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
        if holds(block, SECRET.to_bytes()) || holds(block, KEY) {
            LEAKED.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: ScanOnFree = ScanOnFree;

#[test]
fn the_device_secret_and_its_key_are_wiped_before_their_memory_is_freed() {
    // A port nobody listens on: connecting derives the credentials and
    // then fails, which is all this needs.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = std::mem::MaybeUninit::<resmgr_mqtt_options>::uninit();
    // SAFETY: writable options; static NUL-terminated strings; the client
    // is used and freed once.
    unsafe {
        assert_eq!(
            resmgr_mqtt_options_init(o.as_mut_ptr()),
            resmgr_status::RESMGR_OK
        );
        let mut o = o.assume_init();
        o.port = port;
        o.device_secret = SECRET.as_ptr();
        o.connid = c"Ab3dE".as_ptr();
        o.reconnect_min_ms = 50;
        o.reconnect_max_ms = 50;
        let mut client = std::ptr::null_mut();
        let st = resmgr_client_new_mqtt(
            c"PROD1".as_ptr(),
            c"dev1".as_ptr(),
            &o,
            None,
            std::ptr::null_mut(),
            &mut client,
        );
        assert_eq!(st, resmgr_status::RESMGR_OK);
        for _ in 0..2 {
            assert_eq!(resmgr_client_connect(client), resmgr_status::RESMGR_OK);
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(
                resmgr_client_disconnect(client, 0),
                resmgr_status::RESMGR_OK
            );
        }
        resmgr_client_free(client);
    }
    assert_eq!(
        LEAKED.load(Ordering::SeqCst),
        0,
        "freed heap blocks still held the device secret or its decoded key"
    );
}
