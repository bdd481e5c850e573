//! Shared test helpers: a raw HTTP/1.1 client (so tests can send exactly
//! the malformed or cut-short requests they need), a `serve` process
//! wrapper that always stops what it started, and an MQTT test device.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(15);

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits `http://127.0.0.1:PORT/path?query` into address and target.
pub fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, target) = rest.split_once('/').expect("URL with a path");
    (
        authority.parse().expect("IP:PORT authority"),
        format!("/{target}"),
    )
}

/// Connects to `url`'s server (reads and writes bounded by [`WAIT`]) and
/// sends the head of a `method` request with `headers`; the body, if any,
/// is the caller's to send.
pub fn send_head(url: &str, method: &str, headers: &[(&str, String)]) -> TcpStream {
    let (addr, target) = split_url(url);
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s
}

/// Sends a request with `headers` and `body` to `url`, reads the whole
/// answer (the server closes after each request).
pub fn raw(url: &str, method: &str, headers: &[(&str, String)], body: &[u8]) -> Resp {
    let mut s = send_head(url, method, headers);
    // The server may refuse before reading the body and close: ignore.
    let _ = s.write_all(body);
    read_response(&mut s, method == "HEAD")
}

/// Reads one complete response from `s`.
pub fn read_response(s: &mut TcpStream, head_only: bool) -> Resp {
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let mut text_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let mut head = String::from_utf8_lossy(&buf[..text_end]).into_owned();
    // Skip interim 1xx answers.
    while head.starts_with("HTTP/1.1 100") {
        let rest_start = text_end + 4;
        let next = buf[rest_start..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a final response after 100 Continue");
        text_end = rest_start + next;
        head = String::from_utf8_lossy(&buf[rest_start..text_end]).into_owned();
    }
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = buf[text_end + 4..].to_vec();
    let resp = Resp {
        status,
        headers,
        body,
    };
    if !head_only {
        if let Some(len) = resp.header("content-length") {
            assert_eq!(
                resp.body.len(),
                len.parse::<usize>().unwrap(),
                "body length must equal Content-Length"
            );
        }
    }
    resp
}

pub fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn md5_b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// A well-formed presigned PUT of `data`.
pub fn put(url: &str, data: &[u8]) -> Resp {
    raw(
        url,
        "PUT",
        &[
            ("Content-Length", data.len().to_string()),
            ("Content-MD5", md5_b64(data)),
        ],
        data,
    )
}

pub fn get(url: &str) -> Resp {
    raw(url, "GET", &[], b"")
}

/// Starts a PUT announcing `len` bytes, sends only `sent`, then closes.
pub fn put_cut_short(url: &str, len: usize, sent: &[u8], md5_of_full: &str) {
    let headers = [
        ("Content-Length", len.to_string()),
        ("Content-MD5", md5_of_full.to_string()),
    ];
    let mut s = send_head(url, "PUT", &headers);
    s.write_all(sent).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    // Whatever the server says (if anything), it must close the connection.
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

/// Polls `cond` until it holds or [`WAIT`] passes.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_resmgr-platform")
}

/// Runs the CLI to completion (bounded) and returns its output.
pub fn cli(args: &[&str]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run resmgr-platform");
    let deadline = Instant::now() + WAIT;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("resmgr-platform {args:?} did not finish within {WAIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The tests exercise a real mosquitto: its absence is a failure, not a skip.
/// Runs the CLI's `command` (such as `["push"]`) for one device:
/// `command --data DATA --product PRODUCT --device DEVICE extra...`.
pub fn device_cli(
    command: &[&str],
    data: &Path,
    product: &str,
    device: &str,
    extra: &[&str],
) -> Output {
    let data = data.display().to_string();
    let mut args = command.to_vec();
    args.extend(["--data", &data, "--product", product, "--device", device]);
    args.extend(extra);
    cli(&args)
}

/// The mosquitto the platform itself would start (`$RESMGR_MOSQUITTO`,
/// then `PATH`, then Debian's sbin); the test fails without one.
pub fn mosquitto() -> PathBuf {
    resmgr_platform::broker::find_mosquitto().expect(
        "mosquitto is not installed: run scripts/setup.sh (apt-get install -y mosquitto) \
         or point RESMGR_MOSQUITTO at it",
    )
}

/// `resmgr-platform serve` with a private mosquitto, stopped on drop.
pub struct Serve {
    pub child: Option<Child>,
    pub data: PathBuf,
    pub info: Value,
    pub log: PathBuf,
}

impl Serve {
    pub fn start(data: &Path) -> Serve {
        Self::start_with(data, &[])
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Serve {
        mosquitto();
        static N: AtomicU32 = AtomicU32::new(0);
        let ready = data.with_file_name(format!(
            "ready-{}-{}.json",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&ready);
        let mut args = vec![
            "serve".to_string(),
            "--data".into(),
            data.display().to_string(),
            "--ready-file".into(),
            ready.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        // Its log goes to a file, shown only when a test fails.
        let log = ready.with_extension("log");
        let mut cmd = Command::new(bin());
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("serve log file"));
        // If the test process itself is killed (a CI timeout), serve goes
        // too, and takes its mosquitto with it.
        {
            use std::os::unix::process::CommandExt;
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().expect("start serve");
        let mut serve = Serve {
            child: Some(child),
            data: data.to_path_buf(),
            info: Value::Null,
            log,
        };
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(bytes) = std::fs::read(&ready) {
                serve.info = serde_json::from_slice(&bytes).expect("ready file is JSON");
                break;
            }
            if let Some(status) = serve.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "serve exited before it was ready ({status}): {}",
                    std::fs::read_to_string(&serve.log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "serve not ready within {WAIT:?}");
            thread::sleep(Duration::from_millis(20));
        }
        serve
    }

    pub fn broker_port(&self) -> u16 {
        self.info["broker_port"].as_u64().unwrap() as u16
    }

    /// Registers `product`/`device` (`device add`) and returns its secret.
    pub fn register(&self, product: &str, device: &str) -> String {
        let out = device_cli(&["device", "add"], &self.data, product, device, &[]);
        assert!(
            out.status.success(),
            "device add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let secret = String::from_utf8(out.stdout).unwrap();
        assert_eq!(secret.lines().count(), 1, "one line: {secret:?}");
        secret.trim().to_string()
    }

    /// A registered device, logged in with its key and subscribed.
    pub fn device(&self, product: &str, device: &str) -> Device {
        let registry = std::fs::read(self.data.join("devices.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        let known = registry.as_ref().and_then(|r| {
            r["devices"].as_array()?.iter().find_map(|d| {
                (d["product"] == product && d["device"] == device)
                    .then(|| d["secret"].as_str().unwrap().to_string())
            })
        });
        let secret = known.unwrap_or_else(|| self.register(product, device));
        let login = key_login(
            product,
            device,
            &secret,
            resmgr_platform::util::now_unix() + 600,
            false,
        );
        Device::try_connect(self.broker_port(), product, device, &login)
            .unwrap_or_else(|e| panic!("{product}/{device} logs in with its secret: {e:?}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// SIGTERM, then wait (bounded); SIGKILL if it hangs. Returns whether it
    /// exited by itself with status 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
        if thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("--- serve log ({}) ---\n{log}", self.log.display());
        }
    }
}

/// A test MQTT client playing one device.
pub struct Device {
    pub product: String,
    pub device: String,
    client: Client,
    rx: Receiver<Value>,
    buffered: VecDeque<Value>,
    thread: Option<JoinHandle<()>>,
}

/// A device's key-authenticated login (../shared/protocol.md), computed
/// here independently of the platform: client id, username with the given
/// expiry, HMAC-SHA256 (or SHA1) password.
pub fn key_login(product: &str, device: &str, secret_b64: &str, expiry: u64, sha1: bool) -> Login {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret_b64.trim())
        .expect("a base64 secret");
    let client_id = format!("{product}{device}");
    let username = format!("{client_id};12010126;Tst01;{expiry}");
    let (digest, suffix) = if sha1 {
        let mut m = Hmac::<sha1::Sha1>::new_from_slice(&key).unwrap();
        m.update(username.as_bytes());
        (m.finalize().into_bytes().to_vec(), "hmacsha1")
    } else {
        let mut m = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        m.update(username.as_bytes());
        (m.finalize().into_bytes().to_vec(), "hmacsha256")
    };
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Login {
        client_id,
        credentials: Some((username, format!("{hex};{suffix}"))),
    }
}

/// How a test client logs in.
#[derive(Clone, Debug)]
pub struct Login {
    pub client_id: String,
    pub credentials: Option<(String, String)>,
}

impl Login {
    /// No credentials, a unique client id.
    pub fn anonymous(product: &str, device: &str) -> Login {
        static N: AtomicU32 = AtomicU32::new(0);
        Login {
            client_id: format!(
                "test-{product}-{device}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ),
            credentials: None,
        }
    }
}

/// Why a test client could not get going.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The broker refused the login (ConnAck with this code).
    Login(String),
    /// The subscription to the down topic was refused (SubAck failure).
    Subscription,
    /// No answer in time, or the connection broke.
    Other(String),
}

impl Device {
    /// Connects anonymously, subscribes to the down topic and waits for the
    /// SubAck.
    pub fn connect(port: u16, product: &str, device: &str) -> Device {
        Self::try_connect(port, product, device, &Login::anonymous(product, device))
            .expect("the device connects and subscribes")
    }

    /// Connects with `login` and subscribes to `product`/`device`'s down
    /// topic (which need not be the login's own).
    pub fn try_connect(
        port: u16,
        product: &str,
        device: &str,
        login: &Login,
    ) -> Result<Device, Refusal> {
        let mut opts = MqttOptions::new(login.client_id.clone(), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(10));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((u, p)) = &login.credentials {
            opts.set_credentials(u.clone(), p.clone());
        }
        let (client, mut conn) = Client::new(opts, 64);
        let down = format!("$resource/down/service/{product}/{device}");
        client.subscribe(down, QoS::AtLeastOnce).unwrap();
        let (tx, rx) = mpsc::channel();
        let (sub_tx, sub_rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let ok = ack
                            .return_codes
                            .iter()
                            .all(|c| !matches!(c, rumqttc::SubscribeReasonCode::Failure));
                        let _ = sub_tx.send(if ok {
                            Ok(())
                        } else {
                            Err(Refusal::Subscription)
                        });
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let v: Value =
                            serde_json::from_slice(&p.payload).expect("down message is JSON");
                        if tx.send(v).is_err() {
                            break;
                        }
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                        let _ = sub_tx.send(Err(Refusal::Login(format!("{code:?}"))));
                        break;
                    }
                    Err(e) => {
                        let _ = sub_tx.send(Err(Refusal::Other(e.to_string())));
                        break;
                    }
                }
            }
        });
        let outcome = sub_rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| Err(Refusal::Other("no SubAck in time".into())));
        let dev = Device {
            product: product.into(),
            device: device.into(),
            client,
            rx,
            buffered: VecDeque::new(),
            thread: Some(thread),
        };
        outcome.map(|()| dev)
    }

    /// The next down message, whatever its type (ordered).
    pub fn next(&mut self, within: Duration) -> Option<Value> {
        if let Some(m) = self.buffered.pop_front() {
            return Some(m);
        }
        self.rx.recv_timeout(within).ok()
    }

    pub fn send(&self, msg: Value) {
        self.send_raw(msg.to_string().into_bytes());
    }

    pub fn send_raw(&self, payload: Vec<u8>) {
        let up = format!("$resource/up/service/{}/{}", self.product, self.device);
        self.client
            .publish(up, QoS::AtLeastOnce, false, payload)
            .unwrap();
    }

    /// The next down message of `kind` within `within`, if any.
    pub fn try_expect(&mut self, kind: &str, within: Duration) -> Option<Value> {
        if let Some(i) = self.buffered.iter().position(|m| m["type"] == kind) {
            return self.buffered.remove(i);
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if m["type"] == kind => return Some(m),
                Ok(m) => self.buffered.push_back(m),
                Err(_) => return None,
            }
        }
    }

    /// The next down message of `kind` (others are kept for later calls).
    pub fn expect(&mut self, kind: &str) -> Value {
        if let Some(i) = self.buffered.iter().position(|m| m["type"] == kind) {
            return self.buffered.remove(i).unwrap();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) if m["type"] == kind => return m,
                Ok(m) => self.buffered.push_back(m),
                Err(_) => panic!("no {kind} message within {WAIT:?}; got {:?}", self.buffered),
            }
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.client.disconnect();
        if let Some(t) = self.thread.take() {
            // The connection thread ends on the DISCONNECT or on an error;
            // bound the wait anyway.
            let deadline = Instant::now() + WAIT;
            while !t.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}
