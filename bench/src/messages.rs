//! Down-message handling on one thread: how many `create_upload_task_rsp`
//! messages with a 1 KB presigned URL `Client::handle_down_message` takes
//! per second, and how many heap allocations each costs (counted by the
//! bench's global allocator). The reference is the least any JSON reader
//! must do with the same bytes: serde_json walking them into
//! `IgnoredAny` (validates, keeps nothing).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use resmgr::Client;

use crate::device::NullIo;

/// The system allocator, counting calls.
pub struct Counting;

pub static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

/// A presigned COS-style URL of exactly `len` bytes.
pub fn presigned_url(len: usize) -> String {
    let mut url = String::from(
        "https://iothub-1250000000.cos.ap-guangzhou.myqcloud.com/PRODUCT1/dev1/fw.bin?\
         q-sign-algorithm=sha1&q-ak=AKIDabcdefghijklmnopqrstuvwxyz012345&\
         q-sign-time=1700000000%3B1700003600&q-key-time=1700000000%3B1700003600&\
         q-header-list=host&q-url-param-list=&q-signature=",
    );
    let hex = b"0123456789abcdef";
    let mut i = 0usize;
    while url.len() < len - 16 {
        url.push(hex[(i * 7 + 3) % 16] as char);
        i += 1;
    }
    url.push_str("&x-cos-token=ab1");
    while url.len() < len {
        url.push('Z');
    }
    url
}

/// One measured pass.
pub struct Pass {
    pub per_sec: f64,
    pub allocs_per_msg: f64,
    pub ref_per_sec: f64,
    pub payload_len: usize,
}

/// Handles `n` copies of the message, then walks it `n` times with
/// serde_json, timing both.
pub fn pass(n: u64) -> Pass {
    let client = Client::new("PRODUCT1", "dev1", NullIo::default()).unwrap();
    let md5 = resmgr::Md5Digest::from_hex("0123456789abcdef0123456789abcdef").unwrap();
    client.create_upload_task("fw.bin", 1_048_576, md5).unwrap();
    let payload = serde_json::json!({
        "type": "create_upload_task_rsp",
        "size": 1_048_576,
        "name": "fw.bin",
        "md5sum": "0123456789abcdef0123456789abcdef",
        "url": presigned_url(1024),
    })
    .to_string();
    let topic = client.topics().down().as_bytes().to_vec();
    // The first answer gives the task its URL; each later one refreshes it
    // (a UrlRefreshed event), which is the steady state measured.
    client
        .handle_down_message(&topic, payload.as_bytes())
        .unwrap();
    for _ in 0..1000 {
        client
            .handle_down_message(&topic, payload.as_bytes())
            .unwrap();
    }
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let t = Instant::now();
    for _ in 0..n {
        client
            .handle_down_message(black_box(&topic), black_box(payload.as_bytes()))
            .unwrap();
    }
    let ours = t.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;

    let t = Instant::now();
    for _ in 0..n {
        let v: serde::de::IgnoredAny =
            serde_json::from_slice(black_box(payload.as_bytes())).unwrap();
        black_box(v);
    }
    let reference = t.elapsed().as_secs_f64();
    Pass {
        per_sec: n as f64 / ours,
        allocs_per_msg: allocs as f64 / n as f64,
        ref_per_sec: n as f64 / reference,
        payload_len: payload.len(),
    }
}

/// `messages [N]`: one pass, printed as JSON (for profiling on its own).
pub fn main(args: &[String]) -> Result<(), String> {
    let n = args
        .first()
        .map(|s| s.parse().map_err(|e| format!("N: {e}")))
        .transpose()?
        .unwrap_or(1_000_000);
    let p = pass(n);
    println!(
        "{{\"per_sec\":{:.0},\"allocs_per_msg\":{},\"ref_per_sec\":{:.0},\"payload_len\":{}}}",
        p.per_sec, p.allocs_per_msg, p.ref_per_sec, p.payload_len
    );
    Ok(())
}
