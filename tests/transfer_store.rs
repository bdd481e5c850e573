//! The transfer engine against a real S3 object store (s3s-fs) with real
//! SigV4 presigned URLs: what the store ends up holding, what lands on
//! disk, and what the platform is told.
#![cfg(feature = "http")]

mod support;

use std::fs::File;
use std::time::{Duration, SystemTime};

use resmgr::protocol::Direction;
use resmgr::transfer::resume::ResumeState;
use resmgr::transfer::upload::upload;
use resmgr::ErrorKind;
use support::fault::{FaultServer, Response};
use support::s3::S3Fs;
use support::transfer::*;
use support::*;

const HOUR: Duration = Duration::from_secs(3600);

/// A URL signed an hour ago, valid for a minute: expired.
fn expired(store: &S3Fs, method: &str, bucket: &str, key: &str) -> String {
    store.presign_at(
        method,
        bucket,
        key,
        Duration::from_secs(60),
        SystemTime::now() - HOUR,
    )
}

#[test]
fn upload_stores_exactly_the_file_and_reports_uploading_then_done() {
    let store = S3Fs::start();
    store.bucket("uploads");
    let dir = tempdir();
    let path = dir.path().join("log.bin");
    let content = data(300 * 1024 + 123, 1);
    std::fs::write(&path, &content).unwrap();
    let (client, rec) = client();
    let url = store.presign("PUT", "uploads", "log.bin", HOUR);
    let (name, size, md5) = upload_task_from_file(&client, &path, &url);
    assert_eq!(
        (name.as_str(), size, md5),
        ("log.bin", content.len() as u64, md5_of(&content))
    );

    let mut seen = Vec::new();
    let mut progress = |done: u64, total: u64| seen.push((done, total));
    upload(
        &client,
        &name,
        &mut File::open(&path).unwrap(),
        &config(),
        Some(&mut progress),
    )
    .unwrap();

    assert_eq!(
        store.object("uploads", "log.bin").as_deref(),
        Some(&content[..]),
        "the store holds the file"
    );
    assert_eq!(
        seen.last(),
        Some(&(size, size)),
        "progress ends at the full size"
    );
    rec.assert_in_progress_reports(Direction::Upload, &name);
    rec.assert_final(Direction::Upload, &name, done_report());
    assert!(
        client.task(Direction::Upload, &name).is_none(),
        "the done report ends the task"
    );
}

#[test]
fn upload_of_data_other_than_announced_fails_locally_and_the_store_holds_nothing() {
    let store = S3Fs::start();
    store.bucket("uploads");
    let dir = tempdir();
    let path = dir.path().join("other.bin");
    let announced = data(200 * 1024, 2);
    let mut actual = announced.clone();
    actual[150 * 1024] ^= 0xff; // same size, one byte differs
    std::fs::write(&path, &actual).unwrap();
    let (client, rec) = client();
    let url = store.presign("PUT", "uploads", "other.bin", HOUR);
    let (size, md5) = (announced.len() as u64, md5_of(&announced));
    upload_task(&client, "other.bin", size, md5, &url);

    let err = upload_file(&client, "other.bin", &path, &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Md5Mismatch, "{err}");
    let mismatch = fail_report(-4, "md5sum not matched");
    rec.assert_final(Direction::Upload, "other.bin", mismatch);
    assert!(
        store.object("uploads", "other.bin").is_none(),
        "the store must hold no object"
    );
    // And the store itself says so.
    let get = store.presign("GET", "uploads", "other.bin", HOUR);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    assert_eq!(agent.get(&get).call().unwrap().status().as_u16(), 404);
}

/// What s3s-fs answers to a PUT whose body does not match its
/// `Content-MD5`: status, `Content-Type` and body.
fn real_bad_digest_answer(store: &S3Fs) -> (u16, String, String) {
    store.bucket("probe");
    let url = store.presign("PUT", "probe", "bad-digest", HOUR);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .put(&url)
        .header("Content-MD5", md5_of(b"not these bytes").to_base64())
        .send(&b"hello world"[..])
        .expect("PUT to s3s-fs");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/xml")
        .to_owned();
    let body = response.body_mut().read_to_string().unwrap();
    (status, content_type, body)
}

#[test]
fn the_stores_own_bad_digest_answer_fails_the_upload_with_md5_mismatch() {
    let store = S3Fs::start();
    let (status, content_type, body) = real_bad_digest_answer(&store);
    assert_eq!(
        status, 400,
        "s3s-fs answers a wrong Content-MD5 with 400: {body}"
    );
    assert!(body.contains("<Code>BadDigest</Code>"), "{body}");
    drop(store);

    // Replay that answer to a correct upload.
    let server = FaultServer::start(move |_, _| {
        Response::new(status, body.clone())
            .header("Content-Type", content_type.clone())
            .into()
    });
    let dir = tempdir();
    let content = data(70_000, 3);
    let url = server.url("/b/report.bin");
    let (client, rec, path) = file_with_upload_task(dir.path(), "report.bin", &content, &url);

    let err = upload_file(&client, "report.bin", &path, &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Md5Mismatch, "{err}");
    let mismatch = fail_report(-4, "md5sum not matched");
    rec.assert_final(Direction::Upload, "report.bin", mismatch);
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1,
        "a digest refusal is not retried: {requests:?}"
    );
    assert!(requests[0].body_complete);
    assert_eq!(requests[0].body_md5, md5_of(&content));
}

/// Uploads `content` as `name` to an expired URL of the store: the store
/// holds nothing and the task fails with `sign invalid`.
fn upload_to_an_expired_url(name: &str, content: &[u8]) {
    let store = S3Fs::start();
    store.bucket("uploads");
    let dir = tempdir();
    let url = expired(&store, "PUT", "uploads", name);
    let (client, rec, path) = file_with_upload_task(dir.path(), name, content, &url);

    let err = upload_file(&client, name, &path, &config()).unwrap_err();

    assert!(store.object("uploads", name).is_none());
    assert_eq!(err.kind(), ErrorKind::SignInvalid, "{err}");
    rec.assert_final(Direction::Upload, name, fail_report(-3, "sign invalid"));
}

#[test]
fn upload_to_an_expired_url_fails_with_sign_invalid() {
    upload_to_an_expired_url("late.bin", &data(10_000, 4));
}

/// A real store refuses an expired URL as soon as it has the request
/// head, answers 403 and closes the connection without reading the body.
/// With a body larger than the socket buffers the client's writes then
/// fail; the store's answer is still 403 and must be reported as such.
#[test]
fn upload_of_a_large_file_to_an_expired_url_fails_with_sign_invalid() {
    upload_to_an_expired_url("big-late.bin", &data(16 * 1024 * 1024, 8));
}

#[test]
fn download_puts_the_verified_object_in_place_and_leaves_no_partial_or_state() {
    let store = S3Fs::start();
    let object = data(1024 * 1024 + 7, 5);
    store.seed("firmware", "fw.bin", &object);
    let dir = tempdir();
    let url = store.presign("GET", "firmware", "fw.bin", HOUR);
    let (client, rec) = client_with_download("fw.bin", &object, &url);

    download_into(&client, "fw.bin", dir.path(), &config()).unwrap();

    // Only the final file: no partial or state file is left.
    assert_downloaded(dir.path(), "fw.bin", &object, &rec);
    rec.assert_in_progress_reports(Direction::Download, "fw.bin");
    assert!(client.task(Direction::Download, "fw.bin").is_none());
}

/// Leaves what an interrupted download of `object` as `name` leaves: the
/// first `offset` bytes in the partial file and a state recording them.
fn seed_partial(dir: &std::path::Path, name: &str, object: &[u8], offset: usize) {
    std::fs::write(part_path(dir, name), &object[..offset]).unwrap();
    ResumeState {
        name: name.to_owned(),
        size: object.len() as u64,
        md5: md5_of(object),
        offset: offset as u64,
    }
    .save(&state_path(dir, name))
    .unwrap();
}

#[test]
fn download_resumes_a_saved_partial_with_a_range_request_to_the_store() {
    let store = S3Fs::start();
    let object = data(512 * 1024 + 3, 6);
    let half = object.len() / 2;
    store.seed("firmware", "big.bin", &object);
    let dir = tempdir();
    seed_partial(dir.path(), "big.bin", &object, half);
    let url = store.presign("GET", "firmware", "big.bin", HOUR);
    let (client, rec) = client_with_download("big.bin", &object, &url);

    let (result, seen) = download_seen(&client, "big.bin", dir.path(), &config());
    result.unwrap();

    assert_eq!(
        seen.first(),
        Some(&(half as u64)),
        "the download resumes at the saved offset"
    );
    assert!(
        seen.iter().all(|&d| d >= half as u64),
        "never restarted from 0: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&(object.len() as u64)));
    assert_downloaded(dir.path(), "big.bin", &object, &rec);
}

#[test]
fn expired_download_url_keeps_the_task_open_and_a_fresh_url_resumes_it() {
    let store = S3Fs::start();
    let object = data(300 * 1024 + 11, 7);
    let half = object.len() / 2;
    store.seed("firmware", "app.bin", &object);
    let dir = tempdir();
    seed_partial(dir.path(), "app.bin", &object, half);
    let (client, rec) = client();
    let md5 = md5_of(&object);
    push_download(
        &client,
        "app.bin",
        object.len() as u64,
        md5,
        &expired(&store, "GET", "firmware", "app.bin"),
    );

    let err = download_into(&client, "app.bin", dir.path(), &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::UrlExpired, "{err}");
    assert!(
        rec.final_reports(Direction::Download, "app.bin").is_empty(),
        "an expired URL must not end the task: {:?}",
        rec.reports(Direction::Download, "app.bin")
    );
    assert!(
        client.task(Direction::Download, "app.bin").is_some(),
        "the task stays open"
    );
    assert!(!dir.path().join("app.bin").exists());
    let state =
        ResumeState::load(&state_path(dir.path(), "app.bin")).expect("the resume state is kept");
    assert_eq!(state.offset, half as u64);

    // The platform pushes the same resource again with a fresh URL.
    let fresh = store.presign("GET", "firmware", "app.bin", HOUR);
    push_download(&client, "app.bin", object.len() as u64, md5, &fresh);
    assert!(rec.events().contains(&Seen::UrlRefreshed(
        Direction::Download,
        "app.bin".into(),
        fresh.clone()
    )));

    let (result, seen) = download_seen(&client, "app.bin", dir.path(), &config());
    result.unwrap();

    assert_eq!(seen.first(), Some(&(half as u64)), "the second run resumes");
    assert_downloaded(dir.path(), "app.bin", &object, &rec);
}

#[test]
fn a_missing_object_in_the_store_fails_the_download_with_file_not_exist() {
    let store = S3Fs::start();
    store.bucket("firmware");
    let dir = tempdir();
    let (client, rec) = client();
    let url = store.presign("GET", "firmware", "gone.bin", HOUR);
    push_download(&client, "gone.bin", 10, md5_of(b"0123456789"), &url);

    let err = download_into(&client, "gone.bin", dir.path(), &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let not_found = fail_report(-2, "file_not_exist");
    rec.assert_final(Direction::Download, "gone.bin", not_found);
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));
}
