//! Shared support of the transfer integration tests: a recording client
//! transport, task helpers, and (in submodules) the real services the tests
//! run against — an s3s-fs object store with a SigV4 presigner, a scripted
//! fault-injecting HTTP/1.1 server, and a private CA for TLS.
//!
//! Every test binary includes this module and uses a different part of it.
#![allow(dead_code)]

pub mod broker;
pub mod fault;
pub mod hostile_tls;
#[cfg(feature = "mqtt")]
pub mod mqtt_device;
pub mod s3;
pub mod sigv4;
pub mod tls;
pub mod transfer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use resmgr::progress::ProgressPolicy;
use resmgr::protocol::{Direction, Qos};
use resmgr::transfer::TransferConfig;
use resmgr::{Client, ClientIo, Event, Md5Digest, Md5Hasher};
use serde_json::{json, Value};

/// The device every test client plays.
pub const PRODUCT: &str = "PROD1";
/// See [`PRODUCT`].
pub const DEVICE: &str = "dev1";
const DOWN: &[u8] = b"$resource/down/service/PROD1/dev1";
const UP: &str = "$resource/up/service/PROD1/dev1";

/// What an event said, owned, to assert on after the fact.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    UploadUrl(String, String),
    DownloadTask(String, String, bool),
    UrlRefreshed(Direction, String, String),
    Other(String),
}

/// A [`ClientIo`] that records everything the client publishes (parsed
/// JSON and QoS) and every event it raises.
#[derive(Default)]
pub struct Recorder {
    published: Mutex<Vec<(Value, Qos)>>,
    events: Mutex<Vec<Seen>>,
}

impl ClientIo for Recorder {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), String> {
        assert_eq!(topic, UP, "published on the wrong topic");
        let value: Value = serde_json::from_slice(payload).expect("published payload is JSON");
        self.published.lock().unwrap().push((value, qos));
        Ok(())
    }

    fn event(&self, event: &Event<'_>) {
        let seen = match event {
            Event::UploadUrl(t) => Seen::UploadUrl(t.name.into(), t.url.into()),
            Event::DownloadTask { task, pushed } => {
                Seen::DownloadTask(task.name.into(), task.url.into(), *pushed)
            }
            Event::UrlRefreshed {
                direction, task, ..
            } => Seen::UrlRefreshed(*direction, task.name.into(), task.url.into()),
            other => Seen::Other(format!("{other:?}")),
        };
        self.events.lock().unwrap().push(seen);
    }
}

impl Recorder {
    /// Everything published so far, oldest first.
    pub fn published(&self) -> Vec<(Value, Qos)> {
        self.published.lock().unwrap().clone()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }

    /// The `progress` objects of the progress reports published for task
    /// `name` in `direction`, oldest first, with their QoS.
    pub fn reports(&self, direction: Direction, name: &str) -> Vec<(Value, Qos)> {
        let kind = match direction {
            Direction::Upload => "report_upload_progress",
            Direction::Download => "report_download_progress",
        };
        self.published()
            .into_iter()
            .filter(|(v, _)| v["type"] == kind && v["name"] == name)
            .map(|(v, q)| (v["progress"].clone(), q))
            .collect()
    }

    /// The reports that end a task (`done` or `fail`).
    pub fn final_reports(&self, direction: Direction, name: &str) -> Vec<Value> {
        self.reports(direction, name)
            .into_iter()
            .filter(|(p, _)| p["state"] == "done" || p["state"] == "fail")
            .map(|(p, _)| p)
            .collect()
    }

    /// Asserts that exactly one final report was published, that it is the
    /// last report of the task, has QoS 1, and returns it.
    pub fn only_final_report(&self, direction: Direction, name: &str) -> Value {
        let reports = self.reports(direction, name);
        let finals = self.final_reports(direction, name);
        assert_eq!(
            finals.len(),
            1,
            "expected exactly one final report, got {reports:?}"
        );
        let (last, qos) = reports.last().unwrap().clone();
        assert_eq!(
            last, finals[0],
            "the final report must be the last one: {reports:?}"
        );
        assert_eq!(qos, Qos::AtLeastOnce, "a final report goes out with QoS 1");
        last
    }

    /// Asserts that task `name` ended with exactly one final report, and
    /// that it is `expected` (see [`Recorder::only_final_report`]).
    pub fn assert_final(&self, direction: Direction, name: &str, expected: Value) {
        assert_eq!(self.only_final_report(direction, name), expected);
    }

    /// Asserts that the in-progress reports of a task all carry `active`
    /// (`uploading`/`downloading`), code 0, QoS 0 and non-decreasing
    /// percents, and that there is at least one.
    pub fn assert_in_progress_reports(&self, direction: Direction, name: &str) {
        let active = match direction {
            Direction::Upload => "uploading",
            Direction::Download => "downloading",
        };
        let reports = self.reports(direction, name);
        let progress: Vec<_> = reports
            .iter()
            .filter(|(p, _)| p["state"] != "done" && p["state"] != "fail")
            .collect();
        assert!(!progress.is_empty(), "no in-progress report: {reports:?}");
        let mut last = 0;
        for (p, qos) in progress {
            assert_eq!(p["state"], active, "{reports:?}");
            assert_eq!(p["result_code"], 0, "{reports:?}");
            assert_eq!(*qos, Qos::AtMostOnce, "{reports:?}");
            let pct = p["percent"]
                .as_u64()
                .expect("in-progress reports carry a percent");
            assert!(
                pct <= 100 && pct >= last,
                "percents must not go back: {reports:?}"
            );
            last = pct;
        }
    }
}

/// The client under test, as the transfer functions take it.
pub type TestClient = Client<Arc<Recorder>>;

/// A client for PROD1/dev1 that records what it does; progress reports are
/// not throttled by time so a test sees them all.
pub fn client() -> (Arc<TestClient>, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let client = Arc::new(Client::new(PRODUCT, DEVICE, rec.clone()).expect("client"));
    client.set_progress_policy(ProgressPolicy {
        min_interval: Duration::ZERO,
        min_step: 1,
    });
    (client, rec)
}

/// Feeds one down message.
pub fn feed(client: &TestClient, message: Value) -> resmgr::Result<()> {
    client.handle_down_message(DOWN, message.to_string().as_bytes())
}

/// Creates upload task `name` for `size` bytes with MD5 `md5`, then feeds
/// the platform's `create_upload_task_rsp` carrying `url`, so the task has
/// its URL.
pub fn upload_task(client: &TestClient, name: &str, size: u64, md5: Md5Digest, url: &str) {
    client
        .create_upload_task(name, size, md5)
        .expect("create_upload_task");
    give_upload_url(client, name, size, md5, url);
}

/// Feeds the `create_upload_task_rsp` that gives upload task `name` its
/// URL.
pub fn give_upload_url(client: &TestClient, name: &str, size: u64, md5: Md5Digest, url: &str) {
    feed(
        client,
        json!({"type": "create_upload_task_rsp", "size": size, "name": name, "md5sum": md5.to_hex(), "url": url}),
    )
    .expect("create_upload_task_rsp accepted");
    assert_eq!(
        client.task(Direction::Upload, name).unwrap().url.as_deref(),
        Some(url)
    );
}

/// Feeds a pushed `download` for `name` (`size` bytes, MD5 `md5`) at `url`.
/// Pushed again for the same resource, it refreshes the task's URL.
pub fn push_download(client: &TestClient, name: &str, size: u64, md5: Md5Digest, url: &str) {
    feed(
        client,
        json!({"type": "download", "size": size, "name": name, "md5sum": md5.to_hex(), "url": url}),
    )
    .expect("download push accepted");
    assert_eq!(
        client
            .task(Direction::Download, name)
            .unwrap()
            .url
            .as_deref(),
        Some(url)
    );
}

/// A client whose download task `name` for `object` was pushed with `url`.
pub fn client_with_download(
    name: &str,
    object: &[u8],
    url: &str,
) -> (Arc<TestClient>, Arc<Recorder>) {
    client_with_task(name, object.len() as u64, md5_of(object), url)
}

/// A client whose download task `name` (`size` bytes, MD5 `md5`) was
/// pushed with `url`, for a test whose store serves something else.
pub fn client_with_task(
    name: &str,
    size: u64,
    md5: Md5Digest,
    url: &str,
) -> (Arc<TestClient>, Arc<Recorder>) {
    let (client, rec) = client();
    push_download(&client, name, size, md5, url);
    (client, rec)
}

/// MD5 of `data`.
pub fn md5_of(data: &[u8]) -> Md5Digest {
    let mut h = Md5Hasher::new();
    h.update(data);
    h.finish()
}

/// `len` bytes of deterministic, non-repeating-looking data.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Timeouts and retries small enough for a suite that runs in seconds.
pub fn config() -> TransferConfig {
    TransferConfig {
        connect_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(10),
        total_timeout: None,
        // The library's default: the suite runs with it on.
        min_speed: Some(resmgr::transfer::MinSpeed::DEFAULT),
        max_retries: 3,
        backoff_initial: Duration::from_millis(2),
        backoff_max: Duration::from_millis(10),
        ca_file: None,
        checkpoint_bytes: 64 * 1024,
        checkpoint_interval: Duration::from_millis(50),
    }
}

/// A temporary directory, removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("resmgr-test-")
        .tempdir()
        .expect("tempdir")
}

/// A temporary directory holding an empty directory `downloads`, for a
/// test that must see what a download does beside its own directory.
pub fn downloads_dir() -> (tempfile::TempDir, PathBuf) {
    let base = tempdir();
    let dir = base.path().join("downloads");
    std::fs::create_dir(&dir).unwrap();
    (base, dir)
}

/// The names in `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The partial file of download `name` in `dir`.
pub fn part_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.resmgr-part"))
}

/// The resume state of download `name` in `dir`.
pub fn state_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.resmgr-state"))
}

/// Polls `f` every few milliseconds until it returns `Some`, for at most
/// `limit`; panics with `what` after that.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "gave up after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `f` on a thread and waits at most `limit` for its result, so a
/// test whose code under test hangs fails instead of hanging the suite.
/// A panic in `f` is passed on.
pub fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let v = f();
        let _ = tx.send(());
        v
    });
    match rx.recv_timeout(limit) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what} did not finish within {limit:?}")
        }
    }
}

/// The final report of a successful transfer.
pub fn done_report() -> Value {
    json!({"state": "done", "result_code": 0, "result_msg": ""})
}

/// The final report of a failure the platform has a standard text for.
pub fn fail_report(code: i32, msg: &str) -> Value {
    json!({"state": "fail", "result_code": code, "result_msg": msg})
}

/// Asserts `report` is a `fail` with `code` and a non-empty, free-text
/// `result_msg` containing `needle`.
pub fn assert_fail_with_text(report: &Value, code: i32, needle: &str) {
    assert_eq!(report["state"], "fail", "{report}");
    assert_eq!(report["result_code"], code, "{report}");
    assert!(
        report.get("percent").is_none(),
        "a final report carries no percent: {report}"
    );
    let msg = report["result_msg"]
        .as_str()
        .expect("result_msg is a string");
    assert!(
        msg.contains(needle),
        "result_msg {msg:?} should mention {needle:?}"
    );
}

/// Whether a test that needs `what` can run (`ok`). When it cannot: under
/// `CI=true` the test fails (a test that cannot run must not pass there);
/// elsewhere it says SKIPPED on stderr and the caller returns.
pub fn can_run(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "this test cannot run here ({what} is not possible) and CI=true: failing instead of skipping"
    );
    eprintln!("SKIPPED: {what} is not possible here (the test fails instead under CI=true)");
    false
}

/// A command that runs this test binary's `#[ignore]`d test `name`, alone:
/// the child-process side of a test that kills or crashes a child. The
/// child is ignored in ordinary runs, where it would test nothing.
pub fn child_test(name: &str) -> std::process::Command {
    let mut command =
        std::process::Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    command
}

/// The job a parent test handed its child (see [`child_test`]) in the
/// environment variable `env`, as JSON; the child test `test` fails
/// without one.
pub fn child_job(env: &str, test: &str) -> Value {
    let job = std::env::var(env)
        .unwrap_or_else(|_| panic!("{test} is run by its parent test, with {env} set"));
    serde_json::from_str(&job).unwrap()
}

/// The MD5 digest in field `md5` of a child's job (see [`child_job`]).
pub fn job_md5(job: &Value) -> Md5Digest {
    Md5Digest::from_hex(job["md5"].as_str().unwrap()).unwrap()
}

/// Starts this test binary's child test `test` (see [`child_test`]) with
/// `job` in the environment variable `env`, writing its output to `log`.
/// The child is killed when the returned guard is dropped.
pub fn spawn_child(test: &str, env: &str, job: &Value, log: &Path) -> KillOnDrop {
    let out = std::fs::File::create(log).unwrap();
    let child = child_test(test)
        .env(env, job.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("re-run the test binary as the child");
    KillOnDrop(child)
}

/// Kills and reaps a child process if the test fails before it does.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
