//! The transfer engine against a scripted server that misbehaves the way
//! networks and stores do: broken connections, ignored ranges, wrong
//! ranges, too many bytes, stalls, errors, slow bodies. Each test checks
//! the requests the engine sent, the bytes on disk, the error returned and
//! the reports the platform got.
#![cfg(feature = "http")]

mod support;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::resume::ResumeState;
use resmgr::transfer::upload::{upload, FnSource};
use resmgr::transfer::{MinSpeed, TransferConfig};
use resmgr::{ErrorKind, Result};
use support::fault::{partial, serve, FaultServer, Options, ReadPlan, Reply, Request, Response};
use support::transfer::*;
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Pushes download `name` of `object` from `server` and runs it into
/// `dir`, with the progress callback recording offsets.
fn run_download(
    server: &FaultServer,
    dir: &Path,
    name: &str,
    object: &[u8],
    config: &TransferConfig,
) -> (Result<()>, std::sync::Arc<Recorder>, Vec<u64>) {
    let url = server.url(&format!("/bucket/{name}?sig=1"));
    pushed_download(&url, dir, name, object, config)
}

/// Runs download `name` of `object` from `server` into `dir` with the
/// test config and asserts that it is done (see [`assert_downloaded`]).
/// Returns the requests the server got and the progress offsets seen.
fn download_completes(
    server: &FaultServer,
    dir: &Path,
    name: &str,
    object: &[u8],
) -> (Vec<Request>, Vec<u64>) {
    let (result, rec, seen) = run_download(server, dir, name, object, &config());
    result.unwrap();
    assert_downloaded(dir, name, object, &rec);
    (server.requests(), seen)
}

fn ranges(requests: &[Request]) -> Vec<Option<String>> {
    requests
        .iter()
        .map(|r| r.header("range").map(str::to_owned))
        .collect()
}

#[test]
fn a_connection_dropped_at_byte_n_is_resumed_with_range_from_n() {
    let object = data(200 * 1024 + 17, 10);
    let n = 70_001;
    let server = cut_once_server(&object, n);
    let dir = tempdir();

    let (requests, seen) = download_completes(&server, dir.path(), "fw.bin", &object);

    let resumed = Some(format!("bytes={n}-"));
    assert_eq!(ranges(&requests), [None, resumed], "{requests:#?}");
    assert!(seen.contains(&(n as u64)), "{seen:?}");
}

#[test]
fn a_200_answer_to_a_ranged_request_restarts_the_file_instead_of_appending() {
    let object = data(150 * 1024 + 1, 11);
    let obj = object.clone();
    let server = FaultServer::start(move |i, _| match i {
        0 => Response::new(200, obj.clone()).cut_after(50_000).into(),
        _ => Reply::ok(obj.clone()),
    });
    let dir = tempdir();

    let (requests, _) = download_completes(&server, dir.path(), "fw.bin", &object);

    let resumed = Some("bytes=50000-".to_owned());
    assert_eq!(ranges(&requests), [None, resumed], "{requests:#?}");
}

#[test]
fn a_206_with_the_wrong_content_range_restarts_from_zero() {
    let object = data(150 * 1024 + 2, 12);
    let len = object.len();
    let obj = object.clone();
    let server = FaultServer::start(move |i, r| match i {
        0 => Response::new(200, obj.clone()).cut_after(40_000).into(),
        // Claims to send the object from byte 0 although asked for 40000-.
        1 => Response::new(206, obj.clone())
            .header("Content-Range", format!("bytes 0-{}/{len}", len - 1))
            .into(),
        _ => serve(&obj, r).into(),
    });
    let dir = tempdir();

    let (requests, _) = download_completes(&server, dir.path(), "fw.bin", &object);

    assert_eq!(
        ranges(&requests),
        [None, Some("bytes=40000-".to_owned()), None],
        "after a wrong Content-Range the download starts over without Range: {requests:#?}"
    );
}

fn too_long(framing: fn(Response) -> Response) {
    let object = data(100 * 1024, 13);
    let mut longer = object.clone();
    longer.extend_from_slice(&data(100, 14));
    let server = FaultServer::start(move |_, _| framing(Response::new(200, longer.clone())).into());
    let dir = tempdir();

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config());

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadResponse, "{err}");
    assert_eq!(
        server.requests().len(),
        1,
        "a store sending too much is not retried"
    );
    assert!(
        listing(dir.path()).is_empty(),
        "no final, partial or state file: {:?}",
        listing(dir.path())
    );
    let report = rec.only_final_report(Direction::Download, "fw.bin");
    assert_fail_with_text(&report, -1, "fw.bin");
}

#[test]
fn a_200_announcing_more_bytes_than_the_task_fails_with_bad_response() {
    too_long(|r| r); // Content-Length: the true, too large, length
}

#[test]
fn a_close_delimited_body_longer_than_the_task_fails_with_bad_response() {
    too_long(Response::close_delimited);
}

fn stall(reply: Reply, received: u64) {
    let object = data(64 * 1024, 15);
    let server = FaultServer::start(move |_, _| reply.clone());
    let dir = tempdir();
    let config = TransferConfig {
        idle_timeout: Duration::from_millis(300),
        max_retries: 0,
        ..config()
    };
    let path = dir.path().to_owned();
    let (result, rec) = bounded("a stalled download", LIMIT, move || {
        let (result, rec, _) = run_download(&server, &path, "fw.bin", &object, &config);
        assert_eq!(server.requests().len(), 1);
        (result, rec)
    });

    let err = result.unwrap_err();
    assert!(!dir.path().join("fw.bin").exists());
    if received > 0 {
        let state = ResumeState::load(&state_path(dir.path(), "fw.bin"))
            .expect("received bytes stay resumable");
        assert_eq!(state.offset, received);
    }
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    rec.assert_final(Direction::Download, "fw.bin", fail_report(-1, "time_out"));
}

#[test]
fn a_server_that_never_answers_times_out() {
    stall(Reply::StallBeforeResponse, 0);
}

#[test]
fn a_server_that_stalls_after_the_headers_times_out() {
    stall(
        Response::new(200, data(64 * 1024, 15))
            .stall_after(0)
            .into(),
        0,
    );
}

#[test]
fn a_server_that_stalls_mid_body_times_out_and_keeps_what_arrived() {
    stall(
        Response::new(200, data(64 * 1024, 15))
            .stall_after(1000)
            .into(),
        1000,
    );
}

#[test]
fn a_500_is_retried_and_the_next_answer_completes_the_download() {
    let object = data(80 * 1024, 16);
    let obj = object.clone();
    let server = FaultServer::start(move |i, r| match i {
        0 => Reply::status(500, "<Error><Code>InternalError</Code></Error>"),
        _ => serve(&obj, r).into(),
    });
    let dir = tempdir();

    let (requests, _) = download_completes(&server, dir.path(), "fw.bin", &object);

    assert_eq!(requests.len(), 2);
}

#[test]
fn a_slow_download_is_cancelled_from_another_thread() {
    // 4 MiB at 4 KiB every 100 ms: well over a minute unless cancelled.
    let object = data(4 * 1024 * 1024, 17);
    let size = object.len() as u64;
    let md5 = md5_of(&object);
    let server = slow_server(&object, 4096, Duration::from_millis(100));
    let dir = tempdir();
    let (client, rec) = client();
    let url = server.url("/bucket/slow.bin");
    push_download(&client, "slow.bin", size, md5, &url);

    let (c, path) = (client.clone(), dir.path().to_owned());
    let result = cancel_once_started(&client, Direction::Download, "slow.bin", move |progress| {
        let mut sink = DirSink::new(&path, "slow.bin").unwrap();
        download(&c, "slow.bin", &mut sink, &config(), Some(progress))
    });

    assert_cancelled(result, &rec, Direction::Download, "slow.bin");
    assert!(
        !dir.path().join("slow.bin").exists(),
        "nothing at the final path"
    );
    assert!(
        client.task(Direction::Download, "slow.bin").is_none(),
        "the fail report ends the task"
    );
}

#[test]
fn a_404_fails_the_download_with_file_not_exist() {
    let server =
        FaultServer::start(|_, _| Reply::status(404, "<Error><Code>NoSuchKey</Code></Error>"));
    let dir = tempdir();
    let object = data(1000, 18);

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config());

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let not_found = fail_report(-2, "file_not_exist");
    rec.assert_final(Direction::Download, "fw.bin", not_found);
    assert_eq!(server.requests().len(), 1, "a 404 is not retried");
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}

#[test]
fn other_bytes_of_the_right_length_fail_md5_and_leave_nothing() {
    let object = data(200 * 1024, 19);
    let other = data(200 * 1024, 20);
    let server = FaultServer::start(move |_, _| Reply::ok(other.clone()));
    let dir = tempdir();

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config());

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Md5Mismatch, "{err}");
    let mismatch = fail_report(-4, "md5sum not matched");
    rec.assert_final(Direction::Download, "fw.bin", mismatch);
    assert!(
        listing(dir.path()).is_empty(),
        "the partial file and state are deleted and nothing is put in place: {:?}",
        listing(dir.path())
    );
}

#[test]
fn upload_sends_exact_length_base64_md5_and_exactly_the_files_bytes() {
    upload_sends_the_announced_bytes(FaultServer::start(|_, _| Reply::ok("")));
}

/// A store that never answers `Expect: 100-continue` gets the same request
/// and body: the client sends it once it has waited for `100 Continue`.
#[test]
fn a_store_that_ignores_expect_100_continue_gets_the_upload_all_the_same() {
    let options = Options {
        plan: Box::new(|_| ReadPlan {
            ignore_expect: true,
            ..ReadPlan::default()
        }),
        ..Options::default()
    };
    upload_sends_the_announced_bytes(FaultServer::start_with(options, |_, _| Reply::ok("")));
}

/// One upload to `server`, which answers 200: the request and the body the
/// server received are exactly the ones announced.
fn upload_sends_the_announced_bytes(server: FaultServer) {
    let dir = tempdir();
    let path = dir.path().join("log.bin");
    let content = data(200 * 1024 + 5, 21);
    std::fs::write(&path, &content).unwrap();
    let (client, rec) = client();
    let url = server.url("/bucket/log.bin?X-Sig=abc&x=1");
    let (name, size, md5) = upload_task_from_file(&client, &path, &url);

    upload_file(&client, &name, &path, &config()).unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.target, "/bucket/log.bin?X-Sig=abc&x=1",
        "path and query are sent as given"
    );
    assert_eq!(r.header_count("content-length"), 1);
    assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
    assert_eq!(r.header("transfer-encoding"), None, "no chunked encoding");
    assert_eq!(r.header("expect"), Some("100-continue"));
    assert_eq!(
        r.header("content-md5"),
        Some(md5.to_base64().as_str()),
        "base64 of the binary digest"
    );
    assert_eq!(md5.to_base64().len(), 24);
    assert_eq!(
        r.header("host"),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    assert!(r.body_complete);
    assert_eq!(r.body_len, content.len() as u64);
    assert_eq!(
        r.body_md5,
        md5_of(&content),
        "the server got exactly the file's bytes"
    );
    rec.assert_in_progress_reports(Direction::Upload, &name);
    rec.assert_final(Direction::Upload, &name, done_report());
}

#[test]
fn an_upload_answered_503_is_retried_and_then_succeeds() {
    let server = FaultServer::start(|i, _| match i {
        0 => Reply::status(503, "<Error><Code>SlowDown</Code></Error>"),
        _ => Reply::ok(""),
    });
    let dir = tempdir();
    let content = data(100 * 1024, 22);
    let url = server.url("/b/log.bin");
    let (client, rec, path) = file_with_upload_task(dir.path(), "log.bin", &content, &url);

    upload_file(&client, "log.bin", &path, &config()).unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert!(
            r.body_complete && r.body_md5 == md5_of(&content),
            "each attempt sends the whole file"
        );
    }
    rec.assert_final(Direction::Upload, "log.bin", done_report());
}

#[test]
fn an_upload_answered_500_every_time_fails_after_its_retries() {
    let server =
        FaultServer::start(|_, _| Reply::status(500, "<Error><Code>InternalError</Code></Error>"));
    let dir = tempdir();
    let url = server.url("/b/log.bin");
    let (client, rec, path) = file_with_upload_task(dir.path(), "log.bin", &data(1000, 23), &url);
    let config = TransferConfig {
        max_retries: 2,
        ..config()
    };

    let err = upload_file(&client, "log.bin", &path, &config).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Http, "{err}");
    assert_eq!(
        server.requests().len(),
        3,
        "the first attempt and two retries"
    );
    let report = rec.only_final_report(Direction::Upload, "log.bin");
    assert_fail_with_text(&report, -1, "500");
}

fn changed_after_hashing(change: fn(&Path)) {
    let server = FaultServer::start(|_, _| Reply::ok(""));
    let dir = tempdir();
    let path = dir.path().join("data.bin");
    std::fs::write(&path, data(300 * 1024, 24)).unwrap();
    let (client, rec) = client();
    let (name, size, _) = upload_task_from_file(&client, &path, &server.url("/b/data.bin"));
    change(&path);

    let err = upload_file(&client, &name, &path, &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Md5Mismatch, "{err}");
    let mismatch = fail_report(-4, "md5sum not matched");
    rec.assert_final(Direction::Upload, &name, mismatch);
    let requests = server.requests();
    assert!(requests.len() <= 1, "not retried: {requests:#?}");
    for r in &requests {
        assert!(
            !r.body_complete,
            "the server must never receive a complete body: {r:#?}"
        );
        assert!(r.body_len < size);
    }
}

#[test]
fn an_upload_whose_file_grew_after_hashing_fails_md5_without_sending_it_whole() {
    changed_after_hashing(|p| {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(p)
            .unwrap()
            .write_all(b"more")
            .unwrap();
    });
}

#[test]
fn an_upload_whose_file_changed_after_hashing_fails_md5_without_sending_it_whole() {
    changed_after_hashing(|p| {
        let mut bytes = std::fs::read(p).unwrap();
        bytes[100 * 1024] ^= 1;
        std::fs::write(p, bytes).unwrap();
    });
}

#[test]
fn an_upload_whose_file_shrank_after_hashing_fails_md5_without_sending_it_whole() {
    changed_after_hashing(|p| {
        std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(200 * 1024)
            .unwrap();
    });
}

#[test]
fn hostile_download_names_are_refused_before_any_request() {
    let object = data(100, 25);
    let server = FaultServer::serving(object.clone());
    let (base, dir) = downloads_dir();
    let (client, _rec) = client();
    let (size, md5, url) = (object.len() as u64, md5_of(&object), server.url("/b/x"));
    for name in ["../x", "/etc/x", "a/b", ".hidden", "..", "."] {
        push_download(&client, name, size, md5, &url);
        let err = DirSink::new(&dir, name)
            .err()
            .unwrap_or_else(|| panic!("{name:?} was accepted"));
        assert_eq!(err.kind(), ErrorKind::UnsafeName, "{name:?}: {err}");
    }
    assert!(server.requests().is_empty(), "no request may be made");
    assert!(listing(&dir).is_empty());
    assert_eq!(
        listing(base.path()),
        ["downloads"],
        "nothing is created beside the directory"
    );
}

#[test]
fn a_symlink_at_the_final_path_is_replaced_and_its_target_untouched() {
    let object = data(100 * 1024, 26);
    let server = FaultServer::serving(object.clone());
    let (base, dir) = downloads_dir();
    let precious = base.path().join("precious.txt");
    std::fs::write(&precious, b"precious").unwrap();
    std::os::unix::fs::symlink(&precious, dir.join("fw.bin")).unwrap();

    download_completes(&server, &dir, "fw.bin", &object);

    assert!(
        std::fs::symlink_metadata(dir.join("fw.bin"))
            .unwrap()
            .file_type()
            .is_file(),
        "the symlink is replaced"
    );
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"precious",
        "the symlink's target is untouched"
    );
}

#[test]
fn a_symlink_at_the_partial_path_is_not_followed_even_with_a_matching_state() {
    let object = data(100 * 1024, 27);
    let server = FaultServer::serving(object.clone());
    let (base, dir) = downloads_dir();
    // The link's target holds what the state claims is the partial data.
    let precious = base.path().join("precious.bin");
    std::fs::write(&precious, &object[..8192]).unwrap();
    let original = std::fs::read(&precious).unwrap();
    std::os::unix::fs::symlink(&precious, part_path(&dir, "fw.bin")).unwrap();
    ResumeState {
        name: "fw.bin".into(),
        size: object.len() as u64,
        md5: md5_of(&object),
        offset: 4096,
    }
    .save(&state_path(&dir, "fw.bin"))
    .unwrap();

    let (requests, seen) = download_completes(&server, &dir, "fw.bin", &object);

    assert_eq!(
        seen.first(),
        Some(&0),
        "a symlinked partial file is not resumed"
    );
    assert_eq!(ranges(&requests), [None]);
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        original,
        "the symlink's target is untouched"
    );
}

#[test]
fn a_symlink_at_the_state_path_is_not_followed() {
    let object = data(100 * 1024, 28);
    let server = cut_once_server(&object, 30_000);
    let (base, dir) = downloads_dir();
    let precious = base.path().join("precious.json");
    std::fs::write(&precious, b"{}").unwrap();
    std::os::unix::fs::symlink(&precious, state_path(&dir, "fw.bin")).unwrap();

    let (result, _rec, _) = run_download(&server, &dir, "fw.bin", &object, &config());

    result.unwrap();
    assert_only_file(&dir, "fw.bin", &object);
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"{}",
        "checkpoints never write through the link"
    );
}

#[test]
fn a_partial_response_helper_matches_what_the_engine_accepts() {
    // Guards the fixture itself: a 206 built by `partial` resumes correctly.
    let object = data(10_000, 29);
    let obj = object.clone();
    let server = FaultServer::start(move |i, _| match i {
        0 => Response::new(200, obj.clone()).cut_after(1234).into(),
        _ => partial(&obj, 1234).into(),
    });
    let dir = tempdir();
    let (result, _, _) = run_download(&server, dir.path(), "f", &object, &config());
    result.unwrap();
    assert_only_file(dir.path(), "f", &object);
}

/// An upload source serving `content` at most `chunk` bytes a read, each
/// read taking 100 ms.
fn slow_source(
    content: Vec<u8>,
    chunk: usize,
) -> FnSource<impl FnMut(u64, &mut [u8]) -> std::io::Result<usize>> {
    FnSource(move |offset: u64, buf: &mut [u8]| {
        std::thread::sleep(Duration::from_millis(100));
        let start = (offset as usize).min(content.len());
        let n = buf.len().min(content.len() - start).min(chunk);
        buf[..n].copy_from_slice(&content[start..start + n]);
        Ok(n)
    })
}

#[test]
fn a_slow_upload_is_cancelled_from_another_thread() {
    let server = FaultServer::start(|_, _| Reply::ok(""));
    // 16 MiB read 64 KiB at a time, 100 ms per read: minutes unless cancelled.
    let content = data(16 * 1024 * 1024, 30);
    let size = content.len() as u64;
    let md5 = md5_of(&content);
    let (client, rec) = client();
    upload_task(&client, "big.bin", size, md5, &server.url("/b/big.bin"));

    let c = client.clone();
    let result = cancel_once_started(&client, Direction::Upload, "big.bin", move |progress| {
        let mut source = slow_source(content, usize::MAX);
        upload(&c, "big.bin", &mut source, &config(), Some(progress))
    });

    assert_cancelled(result, &rec, Direction::Upload, "big.bin");
    for r in server.requests() {
        assert!(
            !r.body_complete,
            "a cancelled upload never completes its body"
        );
    }
}

#[test]
fn the_overall_time_limit_ends_a_slow_download_with_time_out() {
    let object = data(1024 * 1024, 31);
    let server = slow_server(&object, 1024, Duration::from_millis(50));
    let dir = tempdir();
    let config = TransferConfig {
        total_timeout: Some(Duration::from_millis(500)),
        ..config()
    };
    let path = dir.path().to_owned();
    let (result, rec) = bounded("a download with an overall time limit", LIMIT, move || {
        let (result, rec, _) = run_download(&server, &path, "fw.bin", &object, &config);
        (result, rec)
    });
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    rec.assert_final(Direction::Download, "fw.bin", fail_report(-1, "time_out"));
    assert!(!dir.path().join("fw.bin").exists());
}

#[test]
fn a_zero_byte_resource_downloads_to_an_empty_file() {
    let server = FaultServer::serving(Vec::new());
    let dir = tempdir();

    download_completes(&server, dir.path(), "empty.txt", b"");
}

#[test]
fn a_zero_byte_file_uploads_with_content_length_0() {
    let server = FaultServer::start(|_, _| Reply::ok(""));
    let dir = tempdir();
    let path = dir.path().join("empty.txt");
    std::fs::write(&path, b"").unwrap();
    let (client, rec) = client();
    let (name, _, md5) = upload_task_from_file(&client, &path, &server.url("/b/empty.txt"));
    assert_eq!(md5.to_hex(), "d41d8cd98f00b204e9800998ecf8427e");

    upload_file(&client, &name, &path, &config()).unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("content-length"), Some("0"));
    assert_eq!(requests[0].header("transfer-encoding"), None);
    assert_eq!(
        requests[0].header("content-md5"),
        Some("1B2M2Y8AsgTpgAmY7PhCfg==")
    );
    assert!(requests[0].body_complete && requests[0].body_len == 0);
    rec.assert_final(Direction::Upload, &name, done_report());
}

#[test]
fn a_partial_file_holding_every_byte_is_verified_without_a_request() {
    let object = data(50_000, 32);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    std::fs::write(part_path(dir.path(), "fw.bin"), &object).unwrap();
    ResumeState {
        name: "fw.bin".into(),
        size: object.len() as u64,
        md5: md5_of(&object),
        offset: object.len() as u64,
    }
    .save(&state_path(dir.path(), "fw.bin"))
    .unwrap();

    let (requests, _) = download_completes(&server, dir.path(), "fw.bin", &object);

    assert!(requests.is_empty(), "{requests:#?}");
}

#[test]
fn a_partial_file_of_another_resource_is_not_resumed() {
    let object = data(50_000, 33);
    let old = data(50_000, 34);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    std::fs::write(part_path(dir.path(), "fw.bin"), &old[..20_000]).unwrap();
    ResumeState {
        name: "fw.bin".into(),
        size: old.len() as u64,
        md5: md5_of(&old),
        offset: 20_000,
    }
    .save(&state_path(dir.path(), "fw.bin"))
    .unwrap();

    let (requests, seen) = download_completes(&server, dir.path(), "fw.bin", &object);

    assert_eq!(seen.first(), Some(&0));
    assert_eq!(ranges(&requests), [None]);
}

#[test]
fn a_redirect_is_not_followed() {
    let object = data(1000, 35);
    let elsewhere = FaultServer::serving(object.clone());
    let target = elsewhere.url("/other/fw.bin");
    let server = FaultServer::start(move |_, _| {
        Response::new(302, "")
            .header("Location", target.clone())
            .into()
    });
    let dir = tempdir();

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config());

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http, "{err}");
    assert_eq!(server.requests().len(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "the redirect must not be followed"
    );
    assert!(!dir.path().join("fw.bin").exists());
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "fw.bin"),
        -1,
        "302",
    );
}

/// A file of `len` bytes named `name` in `dir`, with its upload task
/// (see [`file_with_upload_task`]).
fn upload_fixture(
    dir: &Path,
    name: &str,
    len: usize,
    url: &str,
) -> (
    std::sync::Arc<TestClient>,
    std::sync::Arc<Recorder>,
    PathBuf,
) {
    file_with_upload_task(dir, name, &data(len, 36), url)
}

/// Stores refuse an expired or forged URL as soon as they have the head,
/// and close the connection without reading the body. The answer is what
/// counts, not the broken pipe that follows when the body is large.
#[test]
fn an_upload_refused_before_its_body_is_read_reports_the_stores_403() {
    let server = FaultServer::start_early(|_, _| {
        Response::new(
            403,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        )
        .header("Content-Type", "application/xml")
        .into()
    });
    let dir = tempdir();
    let url = server.url("/b/big.bin");
    let (client, rec, path) = upload_fixture(dir.path(), "big.bin", 16 * 1024 * 1024, &url);

    let err = upload_file(&client, "big.bin", &path, &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::SignInvalid, "{err}");
    let sign_invalid = fail_report(-3, "sign invalid");
    rec.assert_final(Direction::Upload, "big.bin", sign_invalid);
    assert_eq!(server.requests().len(), 1, "a 403 is not retried");
}

#[test]
fn an_upload_the_server_stops_reading_times_out() {
    let server = FaultServer::start_early(|_, _| Reply::StallBeforeResponse);
    let dir = tempdir();
    let url = server.url("/b/big.bin");
    let (client, rec, path) = upload_fixture(dir.path(), "big.bin", 32 * 1024 * 1024, &url);
    let config = TransferConfig {
        idle_timeout: Duration::from_millis(300),
        max_retries: 0,
        ..config()
    };

    let what = "an upload to a server that stopped reading";
    let (err, rec) = bounded(what, LIMIT, move || {
        let err = upload_file(&client, "big.bin", &path, &config).unwrap_err();
        drop(server);
        (err, rec)
    });
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    rec.assert_final(Direction::Upload, "big.bin", fail_report(-1, "time_out"));
}

#[test]
fn an_upload_to_a_closed_port_fails_after_its_retries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempdir();
    let url = format!("http://127.0.0.1:{port}/b/f.bin");
    let (client, rec, path) = upload_fixture(dir.path(), "f.bin", 1000, &url);

    let err = upload_file(&client, "f.bin", &path, &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    let report = rec.only_final_report(Direction::Upload, "f.bin");
    assert_fail_with_text(&report, -1, "f.bin");
}

#[test]
fn a_url_refreshed_during_a_download_is_used_by_its_next_attempt() {
    let object = data(200 * 1024, 37);
    let fresh = FaultServer::serving(object.clone());
    let fresh_url = fresh.url("/bucket/fw.bin?sig=fresh");
    let (client, rec) = client();
    let md5 = md5_of(&object);
    let size = object.len() as u64;
    // The first server breaks the connection after the platform pushed
    // the same resource again with a URL on another server.
    let stale = {
        let client = client.clone();
        let object = object.clone();
        let fresh_url = fresh_url.clone();
        FaultServer::start(move |_, _| {
            push_download(&client, "fw.bin", size, md5, &fresh_url);
            Response::new(200, object.clone()).cut_after(60_000).into()
        })
    };
    let stale_url = stale.url("/bucket/fw.bin?sig=stale");
    push_download(&client, "fw.bin", size, md5, &stale_url);
    let dir = tempdir();

    download_into(&client, "fw.bin", dir.path(), &config()).unwrap();

    assert_eq!(stale.requests().len(), 1);
    let requests = fresh.requests();
    assert_eq!(ranges(&requests), [Some("bytes=60000-".to_owned())]);
    assert_eq!(requests[0].target, "/bucket/fw.bin?sig=fresh");
    assert_downloaded(dir.path(), "fw.bin", &object, &rec);
}

/// The same for an upload: the header says a refreshed URL is for retries,
/// so the attempt after a `500` goes to the URL the platform sent since.
#[test]
fn a_url_refreshed_during_an_upload_is_used_by_its_next_attempt() {
    let fresh = FaultServer::start(|_, _| Reply::ok(""));
    let fresh_url = fresh.url("/bucket/log.bin?sig=fresh");
    let dir = tempdir();
    let path = dir.path().join("log.bin");
    let content = data(100 * 1024, 38);
    std::fs::write(&path, &content).unwrap();
    let (client, rec) = client();
    let (md5, size) = (md5_of(&content), content.len() as u64);
    // The first store fails the PUT after the platform answered the task
    // again with a URL on another store.
    let stale = {
        let client = client.clone();
        FaultServer::start(move |_, _| {
            give_upload_url(&client, "log.bin", size, md5, &fresh_url);
            Reply::status(500, "<Error><Code>InternalError</Code></Error>")
        })
    };
    upload_task(
        &client,
        "log.bin",
        size,
        md5,
        &stale.url("/bucket/log.bin?sig=stale"),
    );

    upload_file(&client, "log.bin", &path, &config()).unwrap();

    assert_eq!(stale.requests().len(), 1);
    let requests = fresh.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].target, "/bucket/log.bin?sig=fresh");
    assert!(requests[0].body_complete && requests[0].body_md5 == md5);
    rec.assert_final(Direction::Upload, "log.bin", done_report());
}

/// Issue 10, defect 3: a store that answers `2xx` before it has the whole
/// body (instead of `100 Continue`, or after reading 128 KiB of 2 MiB and
/// then no more) got a `done` report. `linger`: the store keeps the
/// connection open after answering (without reading), instead of closing it.
fn an_early_2xx(after: u64, linger: bool) {
    let server = FaultServer::start_answering_after(after, move |_, _| {
        let ok = Response::new(200, "");
        if linger { ok.stall_after(0) } else { ok }.into()
    });
    let dir = tempdir();
    let size = 2 * 1024 * 1024;
    let (client, rec, path) =
        upload_fixture(dir.path(), "big.bin", size, &server.url("/b/big.bin"));
    let config = TransferConfig {
        max_retries: 1,
        ..config()
    };

    let err = upload_file(&client, "big.bin", &path, &config)
        .expect_err("an answer before the whole body arrived is not done");

    let requests = server.requests();
    assert!(
        requests.iter().all(|r| r.body_len < size as u64),
        "the store never had the whole body: {requests:#?}"
    );
    assert_eq!(err.kind(), ErrorKind::BadResponse, "{err}");
    assert!(err.message().contains("HTTP 200"), "{err}");
    assert_eq!(requests.len(), 2, "retried once, as configured");
    assert_fail_with_text(
        &rec.only_final_report(Direction::Upload, "big.bin"),
        -1,
        "not counted as done",
    );
}

#[test]
fn an_upload_answered_200_instead_of_100_continue_is_not_done() {
    an_early_2xx(0, false);
}

#[test]
fn an_upload_answered_200_after_128_kib_of_2_mib_is_not_done() {
    an_early_2xx(128 * 1024, true);
}

// ---------------------------------------------------------------------------
// Issue 10, defect 9: the minimum speed
// ---------------------------------------------------------------------------

fn min_speed(bytes_per_second: u32, window: Duration) -> Option<MinSpeed> {
    Some(MinSpeed {
        bytes_per_second,
        window,
    })
}

/// The audit's store: headers one byte per 50 ms, then the body one byte
/// per 0.9 s, each read well within a 1 s idle timeout. With nothing but
/// the library's defaults (and no retry), the download is ended by the
/// default minimum speed about a minute in, instead of running for ten
/// days.
#[test]
fn a_trickling_store_is_ended_by_the_default_minimum_speed() {
    let object = data(1_000_000, 40);
    let obj = object.clone();
    let server = FaultServer::start(move |_, _| {
        Response::new(200, obj.clone())
            .slow_head(1, Duration::from_millis(50))
            .slow(1, Duration::from_millis(900))
            .into()
    });
    let dir = tempdir();
    let config = TransferConfig {
        idle_timeout: Duration::from_secs(1),
        max_retries: 0,
        ..TransferConfig::default()
    };
    assert_eq!(config.min_speed, Some(MinSpeed::DEFAULT), "on by default");
    assert_eq!(config.total_timeout, None, "no overall limit needed for it");
    let path = dir.path().to_owned();
    let (result, rec, seen) = bounded(
        "a download from a trickling store, with the defaults",
        Duration::from_secs(300),
        move || run_download(&server, &path, "fw.bin", &object, &config),
    );

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.message().contains("slower than the minimum speed"),
        "{err}"
    );
    let got = seen.last().copied().unwrap_or(0);
    assert!(got < 1000, "a trickle: {got} bytes");
    assert_eq!(
        ResumeState::load(&state_path(dir.path(), "fw.bin")).map(|s| s.offset),
        Some(got),
        "what arrived stays resumable"
    );
    rec.assert_final(Direction::Download, "fw.bin", fail_report(-1, "time_out"));
}

#[test]
fn a_download_below_the_minimum_speed_is_ended_and_its_retry_resumes() {
    let object = data(100 * 1024, 41);
    let obj = object.clone();
    let server = FaultServer::start(move |i, r| match i {
        // 16 bytes per 100 ms: 160 bytes/s.
        0 => Response::new(200, obj.clone())
            .slow(16, Duration::from_millis(100))
            .into(),
        _ => serve(&obj, r).into(),
    });
    let dir = tempdir();
    let config = TransferConfig {
        min_speed: min_speed(1024, Duration::from_secs(1)),
        max_retries: 1,
        ..config()
    };
    let path = dir.path().to_owned();
    let (result, rec, requests) = bounded("a slow download", LIMIT, move || {
        let (result, rec, _) = run_download(&server, &path, "fw.bin", &object, &config);
        (result, rec, server.requests())
    });

    result.expect("the retry completes the download");
    let held = requests
        .get(1)
        .and_then(Request::range_start)
        .expect("the retry resumes with a Range");
    assert!(held > 0 && held < 1024, "{held} bytes came slowly");
    assert_eq!(requests.len(), 2);
    assert_downloaded(dir.path(), "fw.bin", &data(100 * 1024, 41), &rec);
}

/// A slow but steady transfer is not the minimum speed's business: here
/// 20 KiB/s against a floor of 1 KiB/s (a 1 GiB download at 100 KB/s is
/// in the same ratio to the default, and even further above it).
#[test]
fn a_slow_but_steady_download_is_not_ended_by_the_minimum_speed() {
    let object = data(60 * 1024, 42);
    let server = slow_server(&object, 2048, Duration::from_millis(100));
    let dir = tempdir();
    let config = TransferConfig {
        min_speed: min_speed(1024, Duration::from_millis(500)),
        max_retries: 0,
        ..config()
    };

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config);

    result.unwrap();
    assert_eq!(server.requests().len(), 1);
    assert_downloaded(dir.path(), "fw.bin", &object, &rec);
}

#[test]
fn an_upload_below_the_minimum_speed_is_ended() {
    let server = FaultServer::start(|_, _| Reply::ok(""));
    let content = data(256 * 1024, 43);
    let (client, rec) = client();
    let (size, md5) = (content.len() as u64, md5_of(&content));
    upload_task(&client, "slow.bin", size, md5, &server.url("/b/slow.bin"));
    let config = TransferConfig {
        min_speed: min_speed(1024, Duration::from_secs(1)),
        max_retries: 0,
        ..config()
    };
    let (err, rec) = bounded("a slow upload", LIMIT, move || {
        // 64 bytes per 100 ms: 640 bytes/s.
        let mut source = slow_source(content, 64);
        let err = upload(&client, "slow.bin", &mut source, &config, None).unwrap_err();
        (err, rec)
    });
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    rec.assert_final(Direction::Upload, "slow.bin", fail_report(-1, "time_out"));
    assert!(
        err.message().contains("slower than the minimum speed"),
        "{err}"
    );
    for r in server.requests() {
        assert!(!r.body_complete);
    }
}

/// Once an upload's whole body is out, the store has one window to
/// answer (the idle timeout is far longer here).
#[test]
fn an_upload_the_store_never_answers_ends_one_window_after_its_body() {
    let server = FaultServer::start(|_, _| Reply::StallBeforeResponse);
    let dir = tempdir();
    let (client, rec, path) =
        upload_fixture(dir.path(), "f.bin", 100 * 1024, &server.url("/b/f.bin"));
    let config = TransferConfig {
        idle_timeout: Duration::from_secs(600),
        min_speed: min_speed(1024, Duration::from_secs(3)),
        max_retries: 0,
        ..config()
    };
    let (err, rec) = bounded("an unanswered upload", LIMIT, move || {
        let mut file = File::open(&path).unwrap();
        let err = upload(&client, "f.bin", &mut file, &config, None).unwrap_err();
        drop(server);
        (err, rec)
    });

    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.message().contains("did not answer"), "{err}");
    assert_eq!(
        rec.only_final_report(Direction::Upload, "f.bin"),
        fail_report(-1, "time_out")
    );
}

// ---------------------------------------------------------------------------
// Moved from tests/c/test_transfer.c (issue 14): engine behaviour the C
// tests used to be the only ones to check. The C tests now check only what
// C shows (arguments, callbacks, status mapping, threads).
// ---------------------------------------------------------------------------

/// A wrong `Content-Range` is never appended: with a retry left the
/// download starts over (above); without one it fails as a bad response,
/// nothing put in place.
#[test]
fn a_206_with_the_wrong_content_range_and_no_retry_left_fails_with_bad_response() {
    let object = data(200 * 1024, 50);
    let len = object.len();
    let obj = object.clone();
    let server = FaultServer::start(move |i, r| match i {
        0 => Response::new(200, obj.clone()).cut_after(70_000).into(),
        // One byte late: claims 70001- although asked for 70000-.
        1 => Response::new(206, obj[70_000..].to_vec())
            .header("Content-Range", format!("bytes 70001-{}/{len}", len - 1))
            .into(),
        _ => serve(&obj, r).into(),
    });
    let dir = tempdir();
    let config = TransferConfig {
        max_retries: 1,
        ..config()
    };

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config);

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadResponse, "{err}");
    assert_eq!(
        ranges(&server.requests()),
        [None, Some("bytes=70000-".to_owned())]
    );
    assert!(!dir.path().join("fw.bin").exists());
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "fw.bin"),
        -1,
        "fw.bin",
    );
}

#[test]
fn a_download_answered_500_every_time_fails_after_its_retries() {
    let server =
        FaultServer::start(|_, _| Reply::status(500, "<Error><Code>InternalError</Code></Error>"));
    let dir = tempdir();
    let object = data(30_000, 51);
    let config = TransferConfig {
        max_retries: 1,
        ..config()
    };

    let (result, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config);

    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http, "{err}");
    assert_eq!(
        server.requests().len(),
        2,
        "the first attempt and one retry"
    );
    assert!(!dir.path().join("fw.bin").exists());
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "fw.bin"),
        -1,
        "500",
    );
}

/// A cancelled download keeps what arrived; a later run for the same
/// resource continues from there with a Range request.
#[test]
fn a_cancelled_download_keeps_its_partial_and_the_next_run_resumes_it() {
    let object = data(64 * 1024, 52);
    let obj = object.clone();
    let server = FaultServer::start(move |i, r| match i {
        0 => Response::new(200, obj.clone())
            .slow(512, Duration::from_millis(50))
            .into(),
        _ => serve(&obj, r).into(),
    });
    let dir = tempdir();
    let (client, rec) = client_with_download("fw.bin", &object, &server.url("/bucket/fw.bin"));

    // Cancelled from its own progress callback once bytes moved.
    let mut cancelled = false;
    let mut progress = |done: u64, _: u64| {
        if done > 0 && !cancelled {
            cancelled = true;
            client.cancel(Direction::Download, "fw.bin").unwrap();
        }
    };
    let mut sink = DirSink::new(dir.path(), "fw.bin").unwrap();
    let result = download(&client, "fw.bin", &mut sink, &config(), Some(&mut progress));

    assert_cancelled(result, &rec, Direction::Download, "fw.bin");
    assert!(!dir.path().join("fw.bin").exists());
    let part = std::fs::metadata(part_path(dir.path(), "fw.bin"))
        .expect("the partial file is kept")
        .len();
    assert!(part > 0 && part < object.len() as u64, "{part}");
    let kept = ResumeState::load(&state_path(dir.path(), "fw.bin"))
        .expect("the resume state is kept")
        .offset;
    assert!(kept > 0, "{kept}");

    let (again, rec, _) = run_download(&server, dir.path(), "fw.bin", &object, &config());

    again.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(requests[1].range_start(), Some(kept));
    assert_downloaded(dir.path(), "fw.bin", &object, &rec);
}
