//! HTTPS transfers: certificates are verified against the configured CA
//! file or the built-in roots, and every way verification can fail is a
//! TLS error that fails the task — never a silent success.
#![cfg(feature = "http")]

mod support;

use std::path::Path;
use std::time::Duration;

use resmgr::protocol::Direction;
use resmgr::transfer::TransferConfig;
use resmgr::{ErrorKind, Result};
use support::fault::{serve, FaultServer, Reply};
use support::tls::Ca;
use support::transfer::*;
use support::*;

fn tls_server(ca: &Ca, names: &[&str], object: &[u8]) -> FaultServer {
    let object = object.to_vec();
    FaultServer::start_tls(ca.server_config(names), move |_, r| {
        serve(&object, r).into()
    })
}

fn run_download(
    url: &str,
    dir: &Path,
    object: &[u8],
    config: &TransferConfig,
) -> (Result<()>, std::sync::Arc<Recorder>) {
    let (result, rec, _) = pushed_download(url, dir, "fw.bin", object, config);
    (result, rec)
}

fn with_ca(path: &Path) -> TransferConfig {
    TransferConfig {
        ca_file: Some(path.to_owned()),
        ..config()
    }
}

#[test]
fn https_download_trusting_the_private_ca_file_succeeds() {
    let ca = Ca::new();
    let object = data(300 * 1024 + 9, 40);
    let server = tls_server(&ca, &["127.0.0.1", "localhost"], &object);
    let dir = tempdir();

    let (result, rec) = run_download(
        &server.url("/bucket/fw.bin?sig=1"),
        dir.path(),
        &object,
        &with_ca(&ca.file),
    );

    result.unwrap();
    assert!(server.url("/").starts_with("https://"));
    assert_eq!(server.requests().len(), 1);
    assert_downloaded(dir.path(), "fw.bin", &object, &rec);
}

#[test]
fn https_upload_trusting_the_private_ca_file_sends_the_whole_file() {
    let ca = Ca::new();
    let server = FaultServer::start_tls(ca.server_config(&["127.0.0.1"]), |_, _| Reply::ok(""));
    let dir = tempdir();
    let content = data(150 * 1024 + 3, 41);
    let url = server.url("/b/log.bin");
    let (client, rec, path) = file_with_upload_task(dir.path(), "log.bin", &content, &url);

    upload_file(&client, "log.bin", &path, &with_ca(&ca.file)).unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].body_complete);
    assert_eq!(requests[0].body_md5, md5_of(&content));
    rec.assert_final(Direction::Upload, "log.bin", done_report());
}

/// Nothing at the final path, and no byte received into a partial file
/// (an empty one may be kept for a later resume).
fn assert_no_data(dir: &Path) {
    assert!(!dir.join("fw.bin").exists(), "{:?}", listing(dir));
    let part = part_path(dir, "fw.bin");
    if part.exists() {
        assert_eq!(
            std::fs::metadata(&part).unwrap().len(),
            0,
            "no byte may be stored"
        );
    }
}

fn assert_tls_failure(result: Result<()>, rec: &Recorder, server: &FaultServer, dir: &Path) {
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        server.requests().is_empty(),
        "no request may get through an untrusted connection"
    );
    assert_no_data(dir);
    let report = rec.only_final_report(Direction::Download, "fw.bin");
    assert_eq!(report["state"], "fail", "{report}");
    assert_ne!(report["result_code"], 0, "{report}");
}

/// Downloads from a server whose certificate for `names` a fresh private
/// CA signed, trusting what `trust` makes of that CA, and asserts that
/// this is a TLS failure (see [`assert_tls_failure`]).
fn assert_refused(names: &[&str], trust: fn(&Ca) -> TransferConfig) {
    let ca = Ca::new();
    let object = data(1000, 42);
    let server = tls_server(&ca, names, &object);
    let dir = tempdir();

    let url = server.url("/bucket/fw.bin");
    let (result, rec) = run_download(&url, dir.path(), &object, &trust(&ca));

    assert_tls_failure(result, &rec, &server, dir.path());
}

#[test]
fn https_download_with_the_builtin_roots_rejects_a_private_ca() {
    assert_refused(&["127.0.0.1", "localhost"], |_| config());
}

#[test]
fn a_ca_file_that_is_not_pem_is_a_tls_error() {
    let ca = Ca::new();
    let object = data(1000, 43);
    let server = tls_server(&ca, &["127.0.0.1"], &object);
    let files = tempdir();
    let not_pem = files.path().join("ca.txt");
    std::fs::write(&not_pem, "this is not a certificate bundle\n").unwrap();
    let broken = files.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = files.path().join("missing.pem");

    for ca_file in [&not_pem, &broken, &missing] {
        let dir = tempdir();
        let (result, rec) = run_download(
            &server.url("/bucket/fw.bin"),
            dir.path(),
            &object,
            &with_ca(ca_file),
        );
        let err = result.as_ref().unwrap_err();
        assert!(
            err.message().contains("CA file"),
            "{}: {err}",
            ca_file.display()
        );
        assert_tls_failure(result, &rec, &server, dir.path());
    }
}

#[test]
fn a_certificate_for_another_host_name_is_a_tls_error() {
    assert_refused(&["example.invalid"], |ca| with_ca(&ca.file));
}

#[test]
fn an_https_url_is_never_fetched_over_plain_http() {
    let object = data(1000, 45);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    let url = server
        .url("/bucket/fw.bin")
        .replacen("http://", "https://", 1);
    let config = TransferConfig {
        idle_timeout: Duration::from_millis(500),
        max_retries: 0,
        ..config()
    };

    let (result, rec) = bounded(
        "an https download from a plain server",
        Duration::from_secs(60),
        {
            let dir = dir.path().to_owned();
            move || run_download(&url, &dir, &object, &config)
        },
    );

    let err = result.unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Tls | ErrorKind::Timeout | ErrorKind::Network
        ),
        "{err}"
    );
    assert!(
        server.requests().is_empty(),
        "no plain-text request may be sent: {:#?}",
        server.requests()
    );
    assert_no_data(dir.path());
    assert_eq!(
        rec.only_final_report(Direction::Download, "fw.bin")["state"],
        "fail"
    );
}

#[test]
fn https_upload_with_the_builtin_roots_rejects_a_private_ca() {
    let ca = Ca::new();
    let server = FaultServer::start_tls(ca.server_config(&["127.0.0.1"]), |_, _| Reply::ok(""));
    let dir = tempdir();
    let url = server.url("/b/log.bin");
    let (client, rec, path) = file_with_upload_task(dir.path(), "log.bin", &data(10_000, 46), &url);

    let err = upload_file(&client, "log.bin", &path, &config()).unwrap_err();

    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(
        server.requests().is_empty(),
        "nothing is sent over an untrusted connection"
    );
    let report = rec.only_final_report(Direction::Upload, "log.bin");
    assert_eq!(report["state"], "fail", "{report}");
    assert_ne!(report["result_code"], 0, "{report}");
}
