//! Down messages: arbitrary topic + payload into `Client::handle_down_message`
//! (with a client that has tasks in flight, so responses can match) and into
//! `parse_down_message`.
//!
//! Input: records separated by 0x1E (ASCII record separator, which no JSON
//! document can contain outside a string and no valid one inside). A record
//! is a payload for the device's own down topic, unless it starts with 0x1F:
//! then `0x1F topic 0x1F payload` feeds it on `topic` instead. A seed that
//! is one plain JSON message is therefore one record.
//!
//! Checked on every record, beyond "no panic, no hang":
//! - `handle_down_message` fails exactly when the topic is wrong or
//!   `parse_down_message` fails (same error kind), except a full task table;
//! - every failure produces exactly one MessageRejected / UnknownMessage
//!   event, and a success none;
//! - what the parser accepts obeys the field rules (names, URLs, result
//!   messages) and agrees with a plain `serde_json::Value` reading of the
//!   same payload (type, name, size, MD5, URL);
//! - every up message the client publishes is a JSON object on the up topic.
#![no_main]

use std::sync::atomic::{AtomicUsize, Ordering};

use libfuzzer_sys::fuzz_target;
use resmgr::client::{Client, ClientIo, Event};
use resmgr::protocol::fields::{check_name, check_result_msg, check_url};
use resmgr::protocol::{parse_down_message, Direction, DownMessage, Qos};
use resmgr::{ErrorKind, Md5Digest};

const PRODUCT: &str = "PRODUCTID";
const DEVICE: &str = "device1";
const UP: &str = "$resource/up/service/PRODUCTID/device1";
const DOWN: &[u8] = b"$resource/down/service/PRODUCTID/device1";

#[derive(Default)]
struct Io {
    rejections: AtomicUsize,
    others: AtomicUsize,
}

impl ClientIo for Io {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), String> {
        assert_eq!(topic, UP);
        let v: serde_json::Value = serde_json::from_slice(payload).expect("up message is JSON");
        assert!(v.is_object() && v["type"].is_string(), "{v}");
        let _ = qos;
        Ok(())
    }

    fn event(&self, event: &Event<'_>) {
        match event {
            Event::MessageRejected { error } | Event::UnknownMessage { error } => {
                assert!(!error.message().is_empty());
                self.rejections.fetch_add(1, Ordering::Relaxed);
            }
            Event::UploadUrl(t)
            | Event::DownloadTask { task: t, .. }
            | Event::UrlRefreshed { task: t, .. } => {
                check_name(t.name).expect("event name");
                check_url(t.url).expect("event url");
                self.others.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                self.others.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn md5(hex: &str) -> Md5Digest {
    Md5Digest::from_hex(hex).unwrap()
}

/// A client in the state the seeds expect: two uploads waiting for URLs,
/// three download queries outstanding, a progress report in each direction
/// waiting for its ack.
fn client() -> Client<Io> {
    let c = Client::new(PRODUCT, DEVICE, Io::default()).unwrap();
    c.create_upload_task("zxc", 100, md5("a567907174aaaaa3bb9a2bb20716fd97"))
        .unwrap();
    c.create_upload_task("fw.bin", 372338, md5("900150983cd24fb0d6963f7d28e17f72"))
        .unwrap();
    for _ in 0..3 {
        c.get_download_task().unwrap();
    }
    for d in [Direction::Upload, Direction::Download] {
        c.report_progress(d, "zxc", &resmgr::protocol::up::Report::in_progress(10))
            .unwrap();
    }
    c
}

/// The parser's verdict must agree with a plain JSON reading.
fn check_accepted(payload: &[u8], m: &DownMessage<'_>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else {
        // serde_json's Value is stricter than skipping a value in a few
        // corners (e.g. escapes inside ignored strings); nothing to compare.
        return;
    };
    assert_eq!(v["type"].as_str(), Some(m.type_name()), "type of {v}");
    let resource = match m {
        DownMessage::UploadUrl(r) => Some(r),
        DownMessage::DownloadTask { resource, .. } => Some(resource),
        _ => None,
    };
    if let Some(r) = resource {
        check_name(&r.name).unwrap();
        check_url(&r.url).unwrap();
        assert_eq!(v["name"].as_str(), Some(&*r.name));
        assert_eq!(v["url"].as_str(), Some(&*r.url));
        assert_eq!(v["size"].as_u64(), Some(r.size));
        let hex = v["md5sum"].as_str().unwrap();
        assert_eq!(hex.to_ascii_lowercase(), r.md5.to_hex());
    }
    match m {
        DownMessage::UploadRefused { name, outcome }
        | DownMessage::UploadResult { name, outcome } => {
            check_result_msg(&outcome.msg).unwrap();
            if let Some(n) = name {
                check_name(n).unwrap();
            }
        }
        DownMessage::NoDownloadTask { outcome, .. } | DownMessage::ProgressAck { outcome, .. } => {
            check_result_msg(&outcome.msg).unwrap();
            // As numbers, not as i64: JSON's -0 is serde_json's float -0.0
            // and the parser's integer 0 (fuzz/regressions/down_message/
            // negative_zero_result_code).
            let code = v.get("result_code").map_or(Some(0.0), |c| c.as_f64());
            assert_eq!(code, Some(f64::from(outcome.code)), "result_code of {v}");
        }
        _ => {}
    }
}

fn feed(c: &Client<Io>, topic: &[u8], payload: &[u8]) {
    let parsed = parse_down_message(payload);
    if let Ok(m) = &parsed {
        check_accepted(payload, m);
    }
    let before = c.io().rejections.load(Ordering::Relaxed);
    let handled = c.handle_down_message(topic, payload);
    let after = c.io().rejections.load(Ordering::Relaxed);
    match (&handled, topic == DOWN, &parsed) {
        (Err(e), false, _) => assert_eq!(e.kind(), ErrorKind::WrongTopic),
        (Err(e), true, Err(p)) => assert_eq!(e.kind(), p.kind()),
        (Err(e), true, Ok(_)) => assert_eq!(e.kind(), ErrorKind::TooManyTasks, "{}", e.message()),
        (Ok(()), true, Ok(_)) => {}
        (Ok(()), _, _) => panic!("accepted on topic {topic:?}: {parsed:?}"),
    }
    assert_eq!(after - before, usize::from(handled.is_err()));
    if debug() {
        eprintln!(
            "{}: {:?}",
            String::from_utf8_lossy(topic),
            handled.map_err(|e| (e.kind(), e.message().to_owned()))
        );
    }
}

/// RESMGR_FUZZ_DEBUG=1: print what each record did (for reading seeds and
/// regressions, not for fuzzing).
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("RESMGR_FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    let c = client();
    for record in data.split(|&b| b == 0x1e).take(64) {
        match record.strip_prefix(&[0x1f]) {
            Some(rest) => {
                let (topic, payload) = match rest.iter().position(|&b| b == 0x1f) {
                    Some(i) => (&rest[..i], &rest[i + 1..]),
                    None => (rest, &[][..]),
                };
                feed(&c, topic, payload);
            }
            None => feed(&c, DOWN, record),
        }
    }
});
