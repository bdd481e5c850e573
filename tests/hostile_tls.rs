//! TLS against servers that lie about who they are, for HTTPS transfers
//! and for the built-in MQTT connection: expired, not yet valid,
//! self-signed, and wrong-host certificates are refused (never retried,
//! nothing sent over them); redirects are not followed whatever their
//! scheme; and the device secret never shows in errors, events or Debug
//! output.
#![cfg(all(feature = "http", feature = "mqtt"))]

mod support;

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use resmgr::mqtt::auth::{key_credentials, KeyAuth, SignMethod};
use resmgr::mqtt::{Credentials, MqttConfig, MqttConnection};
use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::upload;
use resmgr::transfer::TransferConfig;
use resmgr::{ErrorKind, Event};
use support::broker::{free_port, Mosquitto};
use support::fault::{serve, FaultServer, Reply, Response};
use support::hostile_tls::{self, Bad, HostileCa};
use support::mqtt_device::{anonymous, mqtt_config, start_device};
use support::*;

const WAIT: Duration = Duration::from_secs(20);

fn with_ca(ca: &Path) -> TransferConfig {
    TransferConfig {
        ca_file: Some(ca.to_owned()),
        ..config()
    }
}

fn https_download(bad: Bad) -> (resmgr::Result<()>, Arc<Recorder>, usize, Vec<String>) {
    let work = tempdir();
    let ca = HostileCa::new(work.path());
    let leaf = ca.leaf(bad, "leaf");
    let object = data(50_000, 70);
    let obj = object.clone();
    let server = FaultServer::start_tls(leaf.server_config(), move |_, r| serve(&obj, r).into());
    let dir = tempdir();
    let (client, rec) =
        client_with_download("fw.bin", &object, &server.url("/bucket/fw.bin?sig=1"));
    let mut sink = DirSink::new(dir.path(), "fw.bin").unwrap();
    let result = download(&client, "fw.bin", &mut sink, &with_ca(&ca.ca_file), None);
    let requests = server.requests().len();
    (result, rec, requests, listing(dir.path()))
}

fn assert_https_refused(bad: Bad, needle: &str) {
    let (result, rec, requests, files) = https_download(bad);
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{bad:?}: {err}");
    assert!(
        err.message().contains(needle),
        "{bad:?}: {:?} should mention {needle:?}",
        err.message()
    );
    assert_eq!(
        requests, 0,
        "{bad:?}: no HTTP request may pass a bad certificate"
    );
    assert!(!files.contains(&"fw.bin".to_owned()), "{files:?}");
    let report = rec.only_final_report(Direction::Download, "fw.bin");
    assert_fail_with_text(&report, -1, needle);
}

#[test]
fn https_with_a_valid_certificate_from_the_ca_file_downloads() {
    let (result, rec, requests, files) = https_download(Bad::None);
    result.unwrap();
    assert_eq!(requests, 1);
    assert_eq!(files, ["fw.bin"]);
    rec.assert_final(Direction::Download, "fw.bin", done_report());
}

#[test]
fn https_with_an_expired_certificate_is_refused() {
    assert_https_refused(Bad::Expired, "expired");
}

#[test]
fn https_with_a_not_yet_valid_certificate_is_refused() {
    assert_https_refused(Bad::NotYetValid, "certificate");
}

#[test]
fn https_with_a_self_signed_certificate_is_refused() {
    assert_https_refused(Bad::SelfSigned, "certificate");
}

#[test]
fn https_with_a_certificate_for_another_host_is_refused() {
    assert_https_refused(Bad::WrongHost, "not valid for name");
}

#[test]
fn https_upload_to_a_server_with_an_expired_certificate_sends_nothing() {
    let work = tempdir();
    let ca = HostileCa::new(work.path());
    let leaf = ca.leaf(Bad::Expired, "leaf");
    let server = FaultServer::start_tls(leaf.server_config(), |_, _| Reply::ok(""));
    let file_dir = tempdir();
    let path = file_dir.path().join("log.bin");
    let body = data(10_000, 71);
    std::fs::write(&path, &body).unwrap();
    let (client, rec) = client();
    upload_task(
        &client,
        "log.bin",
        body.len() as u64,
        md5_of(&body),
        &server.url("/bucket/log.bin?sig=1"),
    );
    let mut file = std::fs::File::open(&path).unwrap();
    let err = upload(&client, "log.bin", &mut file, &with_ca(&ca.ca_file), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert!(server.requests().is_empty(), "{:#?}", server.requests());
    assert_fail_with_text(
        &rec.only_final_report(Direction::Upload, "log.bin"),
        -1,
        "expired",
    );
}

// ---------------------------------------------------------------------------
// Redirects, whatever their scheme, are not followed
// ---------------------------------------------------------------------------

fn redirect_case(status: u16, from_tls: bool, to_tls: bool) {
    let work = tempdir();
    let ca = HostileCa::new(work.path());
    let good = ca.leaf(Bad::None, "good");
    let object = data(2000, 72);
    let obj = object.clone();
    let target = if to_tls {
        FaultServer::start_tls(good.server_config(), move |_, r| serve(&obj, r).into())
    } else {
        FaultServer::start(move |_, r| serve(&obj, r).into())
    };
    let location = target.url("/elsewhere/fw.bin");
    let script = move |_: usize, _: &support::fault::Request| -> Reply {
        Response::new(status, "")
            .header("Location", location.clone())
            .into()
    };
    let source = if from_tls {
        FaultServer::start_tls(good.server_config(), script)
    } else {
        FaultServer::start(script)
    };
    let dir = tempdir();
    let (client, rec) =
        client_with_download("fw.bin", &object, &source.url("/bucket/fw.bin?sig=1"));
    let mut sink = DirSink::new(dir.path(), "fw.bin").unwrap();
    let err = download(&client, "fw.bin", &mut sink, &with_ca(&ca.ca_file), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Http, "{err}");
    assert_eq!(source.requests().len(), 1, "a 3xx is not retried");
    assert!(
        target.requests().is_empty(),
        "{status} {} -> {} was followed",
        if from_tls { "https" } else { "http" },
        if to_tls { "https" } else { "http" }
    );
    assert!(!dir.path().join("fw.bin").exists());
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "fw.bin"),
        -1,
        &status.to_string(),
    );
}

#[test]
fn a_redirect_from_http_to_https_is_not_followed() {
    redirect_case(301, false, true);
}

#[test]
fn a_redirect_from_https_to_http_is_not_followed() {
    redirect_case(302, true, false);
}

#[test]
fn temporary_and_permanent_redirects_within_https_are_not_followed() {
    redirect_case(307, true, true);
    redirect_case(308, true, true);
}

// ---------------------------------------------------------------------------
// MQTT over TLS against a mosquitto presenting bad certificates
// ---------------------------------------------------------------------------

/// One mosquitto with a TLS listener per certificate, plus `extra` lines.
fn tls_broker(leaves: &[&hostile_tls::Leaf], extra: &str) -> Mosquitto {
    let mut conf = format!("{extra}\n");
    let mut ports = Vec::new();
    for leaf in leaves {
        let port = free_port();
        conf.push_str(&format!(
            "listener {port} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
            leaf.cert_file.display(),
            leaf.key_file.display()
        ));
        ports.push(port);
    }
    Mosquitto::start(&conf, ports)
}

#[derive(Debug, Clone, PartialEq)]
enum Conn {
    Connected,
    Disconnected(ErrorKind, String),
}

fn conn(event: &Event<'_>) -> Option<Conn> {
    match event {
        Event::Connected => Some(Conn::Connected),
        Event::Disconnected { reason, kind } => Some(Conn::Disconnected(*kind, reason.to_string())),
        _ => None,
    }
}

/// A device on MQTT over TLS to 127.0.0.1:`port`, trusting `ca` (the
/// built-in roots without one).
fn mqtt_device(
    port: u16,
    ca: Option<&Path>,
    credentials: Credentials,
) -> (MqttConnection, Receiver<Conn>, MqttConfig) {
    let config = MqttConfig {
        tls: true,
        ca_file: ca.map(Path::to_owned),
        ..mqtt_config(port, credentials)
    };
    let (_client, connection, rx) = start_device(&config, conn);
    (connection, rx, config)
}

/// The first connection outcome, within WAIT.
fn first_outcome(rx: &Receiver<Conn>) -> Conn {
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("no connection event within {WAIT:?}"))
}

#[test]
fn mqtt_tls_refuses_expired_self_signed_wrong_host_and_not_yet_valid_brokers() {
    let work = tempdir();
    let ca = HostileCa::new(work.path());
    let cases = [
        (Bad::None, "good"),
        (Bad::Expired, "expired"),
        (Bad::SelfSigned, "self"),
        (Bad::WrongHost, "wronghost"),
        (Bad::NotYetValid, "notyet"),
    ];
    let leaves: Vec<_> = cases.iter().map(|(b, t)| ca.leaf(*b, t)).collect();
    let broker = tls_broker(&leaves.iter().collect::<Vec<_>>(), "allow_anonymous true");
    for ((bad, tag), port) in cases.iter().zip(&broker.ports) {
        let (connection, rx, _) = mqtt_device(*port, Some(&ca.ca_file), anonymous());
        let outcome = first_outcome(&rx);
        match bad {
            Bad::None => assert_eq!(outcome, Conn::Connected, "{tag}"),
            _ => {
                let Conn::Disconnected(kind, reason) = &outcome else {
                    panic!("{tag}: connected through a bad certificate");
                };
                assert_eq!(*kind, ErrorKind::Tls, "{tag}: {reason}");
                assert!(reason.contains("certificate"), "{tag}: {reason}");
                // Never connected afterwards either (it retries, and fails).
                std::thread::sleep(Duration::from_millis(500));
                assert!(
                    rx.try_iter().all(|c| c != Conn::Connected),
                    "{tag}: connected on a retry"
                );
            }
        }
        connection.stop(Duration::from_secs(1));
    }
}

#[test]
fn mqtt_tls_with_the_builtin_roots_refuses_a_private_ca() {
    let work = tempdir();
    let ca = HostileCa::new(work.path());
    let good = ca.leaf(Bad::None, "good");
    let broker = tls_broker(&[&good], "allow_anonymous true");
    let (connection, rx, _) = mqtt_device(broker.ports[0], None, anonymous());
    match first_outcome(&rx) {
        Conn::Disconnected(ErrorKind::Tls, reason) => assert!(reason.contains("certificate")),
        other => panic!("{other:?}"),
    }
    connection.stop(Duration::from_secs(1));
}

// ---------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------

const SECRET: &str = "cmVzbWdyLWhvc3RpbGUtZGV2aWNlLWtleS0wMTIzNDU2Nzg5"; // base64 of the key below
const KEY: &str = "resmgr-hostile-device-key-0123456789";

fn assert_no_secret(what: &str, text: &str, password: &str) {
    for (name, needle) in [
        ("secret", SECRET),
        ("decoded key", KEY),
        ("password", password.split(';').next().unwrap()),
    ] {
        assert!(
            !text.contains(needle),
            "the {name} appears in {what}: {text}"
        );
    }
}

#[test]
fn the_secret_never_appears_in_errors_events_or_debug_output() {
    let auth = KeyAuth {
        product_id: "PROD1",
        device_name: "dev1",
        secret_base64: SECRET,
        method: SignMethod::HmacSha256,
        sdk_app_id: "12010126",
        connid: Some("Ab3x9"),
        expiry: Some(4_000_000_000),
        valid_for_s: 3600,
    };
    let creds = key_credentials(&auth).unwrap();
    let password = creds.password.clone();
    assert_no_secret("Credentials' Debug", &format!("{creds:?}"), &password);

    // A broker refusing the login, and a TLS failure: the reasons given
    // to the application must not carry the secret or the password.
    let work = tempdir();
    let ca = HostileCa::new(work.path());
    let good = ca.leaf(Bad::None, "good");
    let expired = ca.leaf(Bad::Expired, "expired");
    let pwfile = work.path().join("passwords");
    std::fs::write(&pwfile, "").unwrap();
    let broker = tls_broker(
        &[&good, &expired],
        &format!("allow_anonymous false\npassword_file {}", pwfile.display()),
    );
    for (port, ca_file) in [
        (broker.ports[0], Some(ca.ca_file.as_path())),
        (broker.ports[1], Some(ca.ca_file.as_path())),
        (broker.ports[0], None),
    ] {
        let (connection, rx, config) = mqtt_device(port, ca_file, creds.clone());
        assert_no_secret("MqttConfig's Debug", &format!("{config:?}"), &password);
        match first_outcome(&rx) {
            Conn::Disconnected(kind, reason) => {
                assert!(
                    matches!(kind, ErrorKind::NotAuthorized | ErrorKind::Tls),
                    "{kind:?}: {reason}"
                );
                assert_no_secret("a Disconnected reason", &reason, &password);
            }
            Conn::Connected => panic!("connected with a login the broker does not know"),
        }
        connection.stop(Duration::from_secs(1));
    }

    // A secret that is not base64: the error names the problem, not the value.
    let bad = KeyAuth {
        secret_base64: "c2VjcmV0*not-base64",
        ..auth
    };
    let err = key_credentials(&bad).unwrap_err();
    assert!(!err.message().contains("c2VjcmV0"), "{err}");
    assert!(!format!("{err:?}").contains("c2VjcmV0"), "{err:?}");
    let _ = Instant::now();
}
