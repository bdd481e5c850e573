//! The library against a platform and a store that lie: every hostile
//! down message is refused with its own error kind and a MessageRejected
//! event, creates no task and publishes nothing; hostile names never reach
//! the file system; absurd sizes fail without allocating; a store sending
//! gigabytes more than the task's size is cut off; a flood stops at the
//! task table's bound. (tests/hostile/*.py run the same cases end to end
//! through resmgr-device and mosquitto.)
#![cfg(feature = "http")]

mod support;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use resmgr::limits::MAX_TASKS;
use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::TransferConfig;
use resmgr::ErrorKind;
use support::fault::{serve, FaultServer, Response};
use support::transfer::download_into;
use support::*;

const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";
const DOWN: &[u8] = b"$resource/down/service/PROD1/dev1";

fn task_json(name: &str, size: &str, md5: &str, url: &str) -> String {
    format!(
        r#"{{"type":"download","size":{size},"name":{},"md5sum":{},"url":{}}}"#,
        serde_json::to_string(name).unwrap(),
        serde_json::to_string(md5).unwrap(),
        serde_json::to_string(url).unwrap()
    )
}

#[test]
fn hostile_down_messages_are_refused_each_with_its_kind_and_change_nothing() {
    let ok_url = "http://127.0.0.1:9/obj";
    // Each hostile value, put into an otherwise valid download task.
    let long_name = "n".repeat(10240);
    let names = [
        ("empty name", ""),
        ("10 KB name", long_name.as_str()),
        ("name with NUL", "a\0b"),
        ("name with newline", "a\nb"),
    ];
    let url_4097 = format!("http://h/{}", "a".repeat(4088));
    let urls = [
        ("file:// URL", "file:///etc/passwd"),
        ("ftp:// URL", "ftp://127.0.0.1/x"),
        ("userinfo", "http://u:p@127.0.0.1/x"),
        ("port 0", "http://127.0.0.1:0/x"),
        ("port 65536", "http://127.0.0.1:65536/x"),
        ("IPv6 zone", "http://[fe80::1%25lo]/x"),
        ("4097-byte URL", url_4097.as_str()),
    ];
    let sizes = [
        ("size 2^64", "18446744073709551616"),
        ("size -1", "-1"),
        ("size 1.5", "1.5"),
        ("size 1e3", "1e3"),
        ("size as string", "\"3\""),
    ];
    let not_hex = "z".repeat(32);
    let md5s = [
        ("md5 not hex", not_hex.as_str()),
        ("md5 31 chars", &MD5[..31]),
    ];
    let mut cases: Vec<(&str, String, ErrorKind)> = Vec::new();
    for (what, name) in names {
        let payload = task_json(name, "3", MD5, ok_url);
        cases.push((what, payload, ErrorKind::InvalidName));
    }
    for (what, url) in urls {
        cases.push((what, task_json("x", "3", MD5, url), ErrorKind::InvalidUrl));
    }
    let url_100k = format!("http://h/{}", "a".repeat(102_400));
    let payload = task_json("x", "3", MD5, &url_100k);
    cases.push(("100 KB URL", payload, ErrorKind::PayloadTooLarge));
    for (what, size) in sizes {
        cases.push((
            what,
            task_json("x", size, MD5, ok_url),
            ErrorKind::InvalidSize,
        ));
    }
    for (what, md5) in md5s {
        cases.push((
            what,
            task_json("x", "3", md5, ok_url),
            ErrorKind::InvalidMd5,
        ));
    }
    assert_eq!(cases.len(), 19, "every hostile value is tried");
    for (what, payload, kind) in cases {
        let (client, rec) = client();
        let err = client
            .handle_down_message(DOWN, payload.as_bytes())
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{what}: {err}");
        assert!(client.task(Direction::Download, "x").is_none(), "{what}");
        assert!(
            rec.published().is_empty(),
            "{what}: something was published"
        );
        let events = rec.events();
        assert_eq!(events.len(), 1, "{what}: {events:?}");
        assert!(
            matches!(&events[0], Seen::Other(e) if e.starts_with("MessageRejected")),
            "{what}: {events:?}"
        );
    }
}

#[test]
fn a_response_for_another_device_is_refused_by_topic() {
    let (client, rec) = client();
    let payload = task_json("fw.bin", "3", MD5, "http://127.0.0.1:9/x");
    for topic in [
        &b"$resource/down/service/PROD1/dev2"[..],
        b"$resource/down/service/PROD2/dev1",
        b"$resource/down/service/PROD1/dev1/x",
        b"$resource/up/service/PROD1/dev1",
    ] {
        let err = client
            .handle_down_message(topic, payload.as_bytes())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongTopic, "{err}");
    }
    assert!(client.task(Direction::Download, "fw.bin").is_none());
    assert!(rec.published().is_empty());
}

#[test]
fn hostile_download_names_never_become_paths() {
    let dir = tempdir();
    for name in ["../x", "/etc/x", "a/b", ".hidden", "..", ".", "a\\b", ""] {
        let err = DirSink::new(dir.path(), name).err().expect(name);
        assert_eq!(err.kind(), ErrorKind::UnsafeName, "{name:?}: {err}");
    }
    assert!(listing(dir.path()).is_empty());
    assert!(!std::path::Path::new("/etc/x").exists());
}

#[test]
fn a_name_within_the_name_limit_downloads_or_is_refused_up_front() {
    // RESMGR_MAX_NAME_LEN is 255, Linux's NAME_MAX; the partial file
    // ".NAME.resmgr-part" adds 13 bytes.
    for len in [242usize, 243, 255] {
        let object = data(1000, len as u64);
        let server = FaultServer::serving(object.clone());
        let dir = tempdir();
        let name = "n".repeat(len);
        let (client, rec) = client_with_download(&name, &object, &server.url("/bucket/obj?sig=1"));
        match DirSink::new(dir.path(), &name) {
            Err(e) => assert_eq!(e.kind(), ErrorKind::UnsafeName, "{len}: {e}"),
            Ok(mut sink) => {
                let result = download(&client, &name, &mut sink, &config(), None);
                assert!(
                    result.is_ok(),
                    "a {len}-byte name was accepted as a task and a sink, then failed: {result:?}; \
                     report {:?}",
                    rec.final_reports(Direction::Download, &name)
                );
                assert_eq!(listing(dir.path()), std::slice::from_ref(&name));
            }
        }
    }
}

fn huge_download(
    size: u64,
    server: &FaultServer,
    config: &TransferConfig,
) -> (ErrorKind, Vec<(String, u64, u64)>) {
    let dir = tempdir();
    let url = server.url("/bucket/fw.bin?sig=1");
    let (client, rec) = client_with_task("fw.bin", size, md5_of(b"whatever"), &url);
    let err = download_into(&client, "fw.bin", dir.path(), config).unwrap_err();
    let report = rec.only_final_report(Direction::Download, "fw.bin");
    assert_eq!(report["state"], "fail");
    let files = listing(dir.path())
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(dir.path().join(&f)).unwrap();
            (f, m.len(), m.blocks() * 512)
        })
        .collect::<Vec<_>>();
    assert!(
        files.iter().all(|(f, _, _)| f != "fw.bin"),
        "a file at the final path: {files:?}"
    );
    for (f, _, allocated) in &files {
        assert!(
            *allocated < 1 << 20,
            "{f} occupies {allocated} bytes: preallocated?"
        );
    }
    (err.kind(), files)
}

#[test]
fn size_2_pow_63_with_a_store_sending_1_kib_fails_at_once_without_allocating() {
    let server = FaultServer::start(|_, _| Response::new(200, data(1024, 1)).into());
    let (kind, files) = huge_download(1 << 63, &server, &config());
    assert_eq!(kind, ErrorKind::BadResponse);
    assert!(files.is_empty(), "{files:?}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn size_2_pow_64_minus_1_with_a_store_dribbling_fails_after_its_retries_without_allocating() {
    let size = u64::MAX;
    let server = FaultServer::start(move |_, r| {
        let body = data(1024, 2);
        match r.range_start() {
            Some(n) => Response::new(206, body)
                .header("Content-Range", format!("bytes {n}-{}/{size}", size - 1))
                .close_delimited()
                .into(),
            None => Response::new(200, body).close_delimited().into(),
        }
    });
    let (kind, files) = huge_download(size, &server, &config());
    assert_eq!(kind, ErrorKind::Network);
    let requests = server.requests();
    assert_eq!(requests.len(), 4, "one attempt and 3 retries");
    let offsets: Vec<_> = requests.iter().map(|r| r.range_start()).collect();
    assert_eq!(offsets, [None, Some(1024), Some(2048), Some(3072)]);
    let part = files
        .iter()
        .find(|(f, _, _)| f == ".fw.bin.resmgr-part")
        .unwrap();
    assert_eq!(part.1, 4096, "the partial holds what arrived, no more");
}

/// A store answering every GET with `200` and up to 8 GiB of bytes
/// (close-delimited, or announced as `content_length`): the download of a
/// 1 MiB task is cut off long before.
fn gigabytes_more(content_length: Option<u64>) {
    let store = FaultServer::start(move |_, _| {
        let endless = Response::new(200, Vec::new()).generated(8 << 30);
        match content_length {
            Some(n) => endless.declared_length(n).into(),
            None => endless.close_delimited().into(),
        }
    });
    let size = 1 << 20;
    let dir = tempdir();
    let url = store.url("/bucket/fw.bin");
    let (client, rec) = client_with_task("fw.bin", size, md5_of(b"x"), &url);
    let at = dir.path().to_owned();
    let err = bounded("an endless download", Duration::from_secs(60), move || {
        download_into(&client, "fw.bin", &at, &config()).unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::BadResponse, "{err}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "fw.bin"),
        -1,
        "fw.bin",
    );
    std::thread::sleep(Duration::from_millis(200));
    let sent: u64 = store.requests().iter().map(|r| r.sent).sum();
    assert!(sent < 256 << 20, "the store got to send {sent} bytes");
}

#[test]
fn a_store_sending_gigabytes_more_than_the_size_is_cut_off() {
    gigabytes_more(None);
}

#[test]
fn a_store_announcing_5_gib_for_a_1_mib_task_is_refused_at_once() {
    gigabytes_more(Some(5 << 30));
}

#[test]
fn a_206_with_the_right_range_but_an_endless_body_is_cut_off_at_the_size() {
    let object = data(100_000, 3);
    let obj = object.clone();
    let server = FaultServer::start(move |i, r| match i {
        0 => Response::new(200, obj.clone()).cut_after(30_000).into(),
        _ => {
            let mut longer = serve(&obj, r);
            longer.body.extend_from_slice(&data(10 << 20, 4));
            longer.close_delimited().into()
        }
    });
    let dir = tempdir();
    let (client, rec) =
        client_with_download("fw.bin", &object, &server.url("/bucket/fw.bin?sig=1"));
    let err = download_into(&client, "fw.bin", dir.path(), &config()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadResponse, "{err}");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
    assert_eq!(
        rec.only_final_report(Direction::Download, "fw.bin")["state"],
        "fail"
    );
}

#[test]
fn a_flood_of_10000_pushes_stays_bounded_and_the_client_recovers() {
    let (client, rec) = client();
    let name = |i: usize| format!("f{i:05}.bin");
    for i in 0..10_000 {
        let payload = task_json(&name(i), "3", MD5, "http://127.0.0.1:9/x");
        // None has started: each push beyond the limit drops the oldest.
        client
            .handle_down_message(DOWN, payload.as_bytes())
            .unwrap();
    }
    let dropped = rec
        .events()
        .iter()
        .filter(|e| matches!(e, Seen::Other(s) if s.starts_with("TaskDropped")))
        .count();
    assert_eq!(dropped, 10_000 - MAX_TASKS);
    let kept = 10_000 - MAX_TASKS;
    assert!(client.task(Direction::Download, &name(kept - 1)).is_none());
    for i in kept..10_000 {
        assert!(client.task(Direction::Download, &name(i)).is_some());
    }
    assert!(rec.published().is_empty());
    // Once all of them have started, a push is refused...
    for i in kept..10_000 {
        client
            .track_progress(Direction::Download, &name(i), 0, resmgr::port::now_ms())
            .unwrap();
    }
    let payload = task_json("refused.bin", "3", MD5, "http://127.0.0.1:9/x");
    let e = client
        .handle_down_message(DOWN, payload.as_bytes())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyTasks, "{e}");
    // ...and ending one makes room for the next push.
    client
        .report_progress(
            Direction::Download,
            &name(kept),
            &resmgr::protocol::up::Report {
                state: resmgr::protocol::ProgressState::Fail,
                percent: 0,
                result_code: -1,
                result_msg: "no thanks",
            },
        )
        .unwrap();
    let payload = task_json("after.bin", "3", MD5, "http://127.0.0.1:9/x");
    client
        .handle_down_message(DOWN, payload.as_bytes())
        .unwrap();
    assert!(client.task(Direction::Download, "after.bin").is_some());
}
