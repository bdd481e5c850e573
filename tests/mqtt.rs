//! The built-in MQTT connection against a real mosquitto broker: subscribe
//! and feed, publish, reconnect and resubscribe after a broker restart,
//! and the platform's key authentication checked by the broker itself
//! against credentials computed by an independent implementation
//! (Python's hmac).
#![cfg(feature = "mqtt")]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use resmgr::mqtt::auth::{key_credentials, KeyAuth, SignMethod};
use resmgr::mqtt::{Credentials, MqttConfig, MqttConnection};
use resmgr::protocol::{Direction, Qos};
use resmgr::{Client, ErrorKind, Event};

#[path = "support/broker.rs"]
mod broker;
#[path = "support/mqtt_device.rs"]
mod mqtt_device;
use broker::Mosquitto;
use mqtt_device::{anonymous, mqtt_config, start_device, ChannelIo};

const WAIT: Duration = Duration::from_secs(20);

/// What the device side saw.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Connected,
    Disconnected,
    /// Disconnected for good: the broker refused the login.
    Refused,
    DownloadTask(String),
    Other(String),
}

fn seen(event: &Event<'_>) -> Option<Seen> {
    Some(match event {
        Event::Connected => Seen::Connected,
        Event::Disconnected {
            kind: ErrorKind::NotAuthorized,
            ..
        } => Seen::Refused,
        Event::Disconnected { .. } => Seen::Disconnected,
        Event::DownloadTask { task, .. } => Seen::DownloadTask(task.name.to_owned()),
        other => Seen::Other(format!("{other:?}")),
    })
}

type Device = (Arc<Client<ChannelIo<Seen>>>, MqttConnection, Receiver<Seen>);

fn device(port: u16, credentials: Credentials) -> Device {
    start_device(&mqtt_config(port, credentials), seen)
}

fn device_with(
    port: u16,
    credentials: Credentials,
    reconnect_min: Duration,
    reconnect_max: Duration,
) -> Device {
    let config = MqttConfig {
        reconnect_min,
        reconnect_max,
        ..mqtt_config(port, credentials)
    };
    start_device(&config, seen)
}

fn wait_for(rx: &Receiver<Seen>, want: &Seen) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(seen) if &seen == want => return,
            Ok(_) => {}
            Err(_) => panic!("no {want:?} within {WAIT:?}"),
        }
    }
}

/// A second MQTT client playing the platform with mosquitto's own tools.
fn platform_publish(port: u16, payload: &str) {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(["-t", "$resource/down/service/PROD1/dev1", "-m", payload])
        .status()
        .expect("mosquitto_pub (run scripts/setup.sh)");
    assert!(status.success());
}

fn download_push(name: &str) -> String {
    format!(
        r#"{{"type":"download","size":3,"name":"{name}","md5sum":"900150983cd24fb0d6963f7d28e17f72","url":"http://127.0.0.1:1/x"}}"#
    )
}

/// Resends the push until the device reports it: the subscription is made
/// just after the ConnAck, so the first message may come too early.
fn push_until_seen(port: u16, rx: &Receiver<Seen>, name: &str) {
    let deadline = Instant::now() + WAIT;
    let want = Seen::DownloadTask(name.to_owned());
    loop {
        platform_publish(port, &download_push(name));
        match rx.recv_timeout(Duration::from_millis(300)) {
            Ok(seen) if seen == want => return,
            Ok(_) | Err(_) => assert!(Instant::now() < deadline, "{name} never arrived"),
        }
    }
}

#[test]
fn down_messages_are_fed_to_the_client_and_up_messages_reach_the_broker() {
    let broker = Mosquitto::plain("allow_anonymous true", None);
    // A subscriber on the up topic, like the platform.
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port().to_string(),
            "-q",
            "1",
            "-C",
            "1",
        ])
        .args(["-t", "$resource/up/service/PROD1/dev1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    let (client, connection, rx) = device(broker.port(), anonymous());
    wait_for(&rx, &Seen::Connected);
    push_until_seen(broker.port(), &rx, "fw.bin");
    assert!(client.task(Direction::Download, "fw.bin").is_some());

    // mosquitto_sub may subscribe after our first publish: keep asking.
    let (line_tx, line_rx) = channel();
    let stdout = sub.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = line_tx.send(line);
    });
    let deadline = Instant::now() + WAIT;
    let line = loop {
        client.get_download_task().unwrap();
        if let Ok(line) = line_rx.recv_timeout(Duration::from_millis(300)) {
            break line;
        }
        assert!(
            Instant::now() < deadline,
            "get_download_task never reached the broker"
        );
    };
    assert_eq!(line.trim(), r#"{"type":"get_download_task"}"#);
    let _ = sub.kill();
    let _ = sub.wait();
    connection.stop(Duration::from_secs(2));
    wait_for(&rx, &Seen::Disconnected);
}

#[test]
fn after_a_broker_restart_the_client_reconnects_and_resubscribes() {
    let mut broker = Mosquitto::plain("allow_anonymous true", None);
    let port = broker.port();
    let (client, connection, rx) = device(port, anonymous());
    wait_for(&rx, &Seen::Connected);
    push_until_seen(port, &rx, "before.bin");

    broker.stop();
    wait_for(&rx, &Seen::Disconnected);
    let _broker2 = Mosquitto::plain("allow_anonymous true", Some(port));
    wait_for(&rx, &Seen::Connected);
    // Clean session: only a fresh subscription can deliver this.
    push_until_seen(port, &rx, "after.bin");
    assert!(client.task(Direction::Download, "after.bin").is_some());
    connection.stop(Duration::from_secs(2));
}

/// The credentials as an independent implementation computes them.
fn python_credentials(
    product: &str,
    device: &str,
    secret: &str,
    algo: &str,
    connid: &str,
    expiry: u64,
) -> (String, String) {
    let script = format!(
        "import base64,hmac,hashlib\n\
         u='{product}{device};12010126;{connid};{expiry}'\n\
         print(u)\n\
         print(hmac.new(base64.b64decode('{secret}'), u.encode(), hashlib.{algo}).hexdigest() + ';hmac{algo}')\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_owned(),
        lines.next().unwrap().to_owned(),
    )
}

#[test]
fn key_authentication_matches_an_independent_implementation() {
    let secret = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
    for (method, algo) in [
        (SignMethod::HmacSha1, "sha1"),
        (SignMethod::HmacSha256, "sha256"),
    ] {
        let ours = key_credentials(&KeyAuth {
            product_id: "PROD1",
            device_name: "dev1",
            secret_base64: secret,
            method,
            sdk_app_id: "12010126",
            connid: Some("Ab3dE"),
            expiry: Some(1_999_999_999),
            valid_for_s: 0,
        })
        .unwrap();
        let (username, password) =
            python_credentials("PROD1", "dev1", secret, algo, "Ab3dE", 1_999_999_999);
        assert_eq!(ours.username, username);
        assert_eq!(ours.password, password);
        assert_eq!(ours.client_id, "PROD1dev1");
    }
}

#[test]
fn a_broker_with_a_password_file_admits_the_signed_device_and_refuses_a_wrong_secret() {
    let secret = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";
    let (username, password) =
        python_credentials("PROD1", "dev1", secret, "sha256", "Zz9yY", 1_999_999_999);
    let dir = std::env::temp_dir().join(format!("resmgr-pw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pwfile = dir.join("passwords");
    std::fs::write(&pwfile, "").unwrap();
    let status = Command::new("mosquitto_passwd")
        .arg("-b")
        .arg(&pwfile)
        .args([&username, &password])
        .status()
        .expect("mosquitto_passwd");
    assert!(status.success());
    let broker = Mosquitto::plain(
        &format!("allow_anonymous false\npassword_file {}", pwfile.display()),
        None,
    );

    let signed = |secret: &str| {
        key_credentials(&KeyAuth {
            product_id: "PROD1",
            device_name: "dev1",
            secret_base64: secret,
            method: SignMethod::HmacSha256,
            sdk_app_id: "12010126",
            connid: Some("Zz9yY"),
            expiry: Some(1_999_999_999),
            valid_for_s: 0,
        })
        .unwrap()
    };
    let (_client, connection, rx) = device(broker.port(), signed(secret));
    wait_for(&rx, &Seen::Connected);
    connection.stop(Duration::from_secs(2));

    let (_client, connection, rx) = device(broker.port(), signed("b3RoZXItc2VjcmV0"));
    wait_for(&rx, &Seen::Refused);
    assert!(
        rx.recv_timeout(Duration::from_millis(500))
            .map_or(true, |s| s != Seen::Connected),
        "a wrong secret must not connect"
    );
    connection.stop(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A peer that speaks just enough MQTT 3.1.1 to be a broker that kicks the
/// device right after letting it in (what a broker does to a client whose
/// id another connection takes over): CONNACK, SUBACK, then close. It
/// records when each connection arrived.
struct KickingBroker {
    port: u16,
    arrivals: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl KickingBroker {
    fn start() -> KickingBroker {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (a, s) = (arrivals.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        a.lock().unwrap().push(Instant::now());
                        let _ = Self::admit_then_kick(stream);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        KickingBroker {
            port,
            arrivals,
            stop,
            thread: Some(thread),
        }
    }

    /// Reads one MQTT packet: (first byte, body).
    fn packet(stream: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
        use std::io::Read;
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        let kind = byte[0];
        let (mut len, mut shift) = (0usize, 0);
        loop {
            stream.read_exact(&mut byte)?;
            len |= usize::from(byte[0] & 0x7f) << shift;
            shift += 7;
            if byte[0] & 0x80 == 0 || shift > 21 {
                break;
            }
        }
        let mut body = vec![0; len];
        stream.read_exact(&mut body)?;
        Ok((kind, body))
    }

    fn admit_then_kick(mut stream: TcpStream) -> std::io::Result<()> {
        use std::io::Write;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let (kind, _) = Self::packet(&mut stream)?;
        assert_eq!(kind >> 4, 1, "the first packet is CONNECT");
        stream.write_all(&[0x20, 0x02, 0x00, 0x00])?; // CONNACK, accepted
        loop {
            let (kind, body) = Self::packet(&mut stream)?;
            if kind >> 4 == 8 {
                // SUBSCRIBE: grant QoS 1 to its packet id, then hang up.
                stream.write_all(&[0x90, 0x03, body[0], body[1], 0x01])?;
                return Ok(());
            }
        }
    }

    /// Arrival times of the connections so far.
    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

impl Drop for KickingBroker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Issue 10, defect 7: the backoff was reset on every ConnAck, so a broker
/// that lets the device in and drops it at once got about 2.5 connections
/// a second, forever. With the default options (500 ms doubling to 30 s,
/// as `resmgr_mqtt_options_init` sets them) the delays must keep growing:
/// at most 6 connections in 10 s (the shortest possible delays, the lower
/// half of each step, add up to 7.75 s before the 6th attempt and 15.75 s
/// before the 7th).
#[test]
fn a_broker_that_drops_every_connection_after_the_suback_gets_growing_delays() {
    let broker = KickingBroker::start();
    let (_client, connection, rx) = device_with(
        broker.port,
        anonymous(),
        Duration::from_millis(500),
        Duration::from_secs(30),
    );
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let attempts = broker
        .arrivals()
        .iter()
        .filter(|t| t.duration_since(start) <= Duration::from_secs(10))
        .count();
    connection.stop(Duration::ZERO);
    let connected = rx.try_iter().filter(|s| *s == Seen::Connected).count();
    assert!(
        connected >= 2,
        "the peer must let the device in (and it must come back): {connected} CONNECTED events"
    );
    assert!(
        attempts <= 6,
        "{attempts} connections in 10 s: the backoff was reset by each short-lived connection"
    );
}

/// The same broker with short delays (100 ms doubling to 400 ms): every
/// gap between two connections is at least the lower half of its backoff
/// step, so the steps grow (sleeps never end early, so this lower bound
/// holds however loaded the machine is).
#[test]
fn reconnect_delays_against_a_kicking_broker_grow_step_by_step() {
    let broker = KickingBroker::start();
    let (min, max) = (Duration::from_millis(100), Duration::from_millis(400));
    let (_client, connection, _rx) = device_with(broker.port, anonymous(), min, max);
    let deadline = Instant::now() + Duration::from_secs(60);
    while broker.arrivals().len() < 10 {
        assert!(
            Instant::now() < deadline,
            "only {} connections within 60 s",
            broker.arrivals().len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    connection.stop(Duration::ZERO);
    let arrivals = broker.arrivals();
    let gaps: Vec<Duration> = arrivals.windows(2).map(|w| w[1] - w[0]).collect();
    for (retry, gap) in gaps.iter().enumerate() {
        let step = (min * (1 << retry.min(16))).min(max);
        assert!(
            *gap >= step / 2,
            "gap {retry} was {gap:?}, below half its backoff step {step:?}: {gaps:?}"
        );
    }
    // That the steps stop growing at the maximum is the pure function's
    // (backoff.rs, delays_double_within_the_upper_half_and_stop_at_the_cap):
    // an upper bound here would be a wall-clock assertion on a shared machine.
}

/// Every QoS 1 message the broker acknowledged is off the count, however
/// fast its PUBACK comes: a count made after queueing could miss an
/// acknowledgement that beat it, and never come back to 0 (a disconnect
/// then waited its whole timeout). Many messages make the race likely.
#[test]
fn every_acknowledged_qos1_message_leaves_the_unacknowledged_count() {
    let broker = Mosquitto::plain("allow_anonymous true", None);
    let (client, connection, rx) = device(broker.port(), anonymous());
    let publisher = &client.io().publisher;
    wait_for(&rx, &Seen::Connected);
    // Busy threads on every core: the publishing thread is preempted now
    // and then between queueing a message and returning, which is when
    // the connection thread can take the PUBACK first.
    let spin = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let spin = spin.clone();
            std::thread::spawn(move || {
                while spin.load(std::sync::atomic::Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let up = "$resource/up/service/PROD1/dev1";
    for round in 0..40 {
        for i in 0..50 {
            // The queue holds 256: 50 at a time never overflows it.
            publisher
                .publish(up, format!("{round}-{i}").as_bytes(), Qos::AtLeastOnce)
                .unwrap();
        }
        let deadline = Instant::now() + WAIT;
        while publisher.unacked() > 0 {
            assert!(
                Instant::now() < deadline,
                "round {round}: {} messages stay unacknowledged",
                publisher.unacked()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    spin.store(false, std::sync::atomic::Ordering::Relaxed);
    for s in spinners {
        s.join().unwrap();
    }
    connection.stop(Duration::from_secs(2));
}
