//! A task the platform replaces or rejects while its transfer runs (issue
//! 10, defect 2): the running transfer is cancelled, and its end (report,
//! removal) only ever applies to its own task, never to a successor of the
//! same name. Real sockets: a scripted server sends the old version slowly,
//! so the replacement or rejection arrives mid-transfer.
#![cfg(feature = "http")]

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use resmgr::protocol::up::Report;
use resmgr::protocol::{Direction, ProgressState};
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::{upload, UploadSource};
use resmgr::{ErrorKind, Result};
use serde_json::json;
use support::fault::{serve, FaultServer, Reply, Response};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// 4 MiB at 16 KiB per 100 ms: about 25 s, far longer than any test waits
/// unless the transfer is stopped.
fn slowly(object: &[u8]) -> Reply {
    Response::new(200, object.to_vec())
        .slow(16 * 1024, Duration::from_millis(100))
        .into()
}

/// A transfer running on its own thread.
struct Running {
    /// Bytes moved so far, as the progress callback last said.
    moved: Arc<AtomicU64>,
    done: mpsc::Receiver<Result<()>>,
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    fn wait_started(&self) {
        wait_for("the transfer to move bytes", LIMIT, || {
            (self.moved.load(Ordering::SeqCst) > 0).then_some(())
        });
    }

    /// The transfer's result; it must come well before the slow body ends.
    fn result(self) -> Result<()> {
        let result = self.done.recv_timeout(LIMIT).expect("the transfer returns");
        self.thread.join().unwrap();
        result
    }
}

fn spawn(f: impl FnOnce(&mut dyn FnMut(u64, u64)) -> Result<()> + Send + 'static) -> Running {
    let moved = Arc::new(AtomicU64::new(0));
    let (done_tx, done) = mpsc::channel();
    let m = moved.clone();
    let thread = std::thread::spawn(move || {
        let _ = done_tx.send(f(&mut |n: u64, _: u64| m.store(n, Ordering::SeqCst)));
    });
    Running {
        moved,
        done,
        thread,
    }
}

/// A download of `fw.bin` (4 MiB, sent slowly) that has started moving
/// bytes into a fresh directory; the server answers other paths with
/// `other`.
struct SlowDownload {
    server: FaultServer,
    dir: tempfile::TempDir,
    client: Arc<TestClient>,
    rec: Arc<Recorder>,
    running: Running,
}

fn slow_download(seed: u64, other: Vec<u8>) -> SlowDownload {
    let v1 = data(4 * 1024 * 1024, seed);
    let slow = v1.clone();
    let server = FaultServer::start(move |_, request| {
        if request.target.starts_with("/v1/") {
            slowly(&slow)
        } else {
            serve(&other, request).into()
        }
    });
    let dir = tempdir();
    let (client, rec) = client();
    let url = server.url("/v1/fw.bin");
    push_download(&client, "fw.bin", v1.len() as u64, md5_of(&v1), &url);
    let running = spawn_download(&client, dir.path().to_owned());
    running.wait_started();
    SlowDownload {
        server,
        dir,
        client,
        rec,
        running,
    }
}

fn spawn_download(client: &Arc<TestClient>, dir: PathBuf) -> Running {
    let c = client.clone();
    spawn(move |progress| {
        let mut sink = DirSink::new(&dir, "fw.bin").unwrap();
        download(&c, "fw.bin", &mut sink, &config(), Some(progress))
    })
}

fn assert_ended_without_a_report(result: Result<()>, rec: &Recorder, direction: Direction) {
    let err = result.expect_err("a transfer whose task was taken away cannot succeed");
    assert_eq!(err.kind(), ErrorKind::NoTask, "{err}");
    assert!(err.message().contains("reported nothing"), "{err}");
    assert_eq!(
        rec.final_reports(direction, "fw.bin"),
        Vec::<serde_json::Value>::new(),
        "the stopped transfer must not report for the name"
    );
}

#[test]
fn a_download_replaced_by_a_new_push_is_cancelled_and_the_new_version_is_fetched() {
    let v2 = data(300 * 1024, 2);
    let t = slow_download(1, v2.clone());

    // The platform pushes a new version under the same name.
    let v2_url = t.server.url("/v2/fw.bin");
    push_download(&t.client, "fw.bin", v2.len() as u64, md5_of(&v2), &v2_url);
    assert_ended_without_a_report(t.running.result(), &t.rec, Direction::Download);
    let task = t
        .client
        .task(Direction::Download, "fw.bin")
        .expect("the new task stays in flight");
    assert_eq!(task.size, v2.len() as u64);
    assert_eq!(task.md5, md5_of(&v2));
    assert!(
        !t.dir.path().join("fw.bin").exists(),
        "the old version never reaches the final path"
    );

    // The new version downloads and is reported once.
    let new = spawn_download(&t.client, t.dir.path().to_owned());
    new.result().expect("the new version downloads");
    assert!(std::fs::read(t.dir.path().join("fw.bin")).unwrap() == v2);
    assert_eq!(
        t.rec.only_final_report(Direction::Download, "fw.bin"),
        done_report()
    );
    assert!(t.client.task(Direction::Download, "fw.bin").is_none());
    let v1_requests = t
        .server
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/v1/"))
        .count();
    assert_eq!(v1_requests, 1, "the old version is not fetched again");
}

#[test]
fn a_progress_ack_rejecting_a_running_download_cancels_it_without_a_report() {
    let t = slow_download(3, Vec::new());
    wait_for("an in-progress report", LIMIT, || {
        (!t.rec.reports(Direction::Download, "fw.bin").is_empty()).then_some(())
    });
    feed(
        &t.client,
        json!({"type": "report_download_progress_rsp", "result_code": -5, "result_msg": "task revoked"}),
    )
    .unwrap();
    assert!(t.client.task(Direction::Download, "fw.bin").is_none());
    assert_ended_without_a_report(t.running.result(), &t.rec, Direction::Download);
    assert!(!t.dir.path().join("fw.bin").exists());
}

/// Upload data that takes 100 ms per read.
struct Trickle(Vec<u8>);

impl UploadSource for Trickle {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        std::thread::sleep(Duration::from_millis(100));
        let rest = self.0.get(offset as usize..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

#[test]
fn a_progress_ack_rejecting_a_running_upload_cancels_it_without_a_report() {
    let server = FaultServer::start(|_, _| Reply::ok(""));
    // 16 MiB read 64 KiB at a time, 100 ms per read: minutes unless stopped.
    let content = data(16 * 1024 * 1024, 4);
    let (client, rec) = client();
    let (size, md5) = (content.len() as u64, md5_of(&content));
    upload_task(&client, "fw.bin", size, md5, &server.url("/b/fw.bin"));
    let c = client.clone();
    let running = spawn(move |progress| {
        let mut source = Trickle(content);
        upload(&c, "fw.bin", &mut source, &config(), Some(progress))
    });
    running.wait_started();
    wait_for("an in-progress report", LIMIT, || {
        (!rec.reports(Direction::Upload, "fw.bin").is_empty()).then_some(())
    });
    feed(
        &client,
        json!({"type": "report_upload_progress_rsp", "result_code": -5, "result_msg": "quota exceeded"}),
    )
    .unwrap();
    assert_ended_without_a_report(running.result(), &rec, Direction::Upload);
    for r in server.requests() {
        assert!(!r.body_complete, "the upload stopped before its last byte");
    }
}

#[test]
fn a_final_report_from_the_application_ends_the_running_transfer_too() {
    let t = slow_download(5, Vec::new());
    let fail = Report {
        state: ProgressState::Fail,
        percent: 0,
        result_code: -1,
        result_msg: "given up by the application",
    };
    t.client
        .report_progress(Direction::Download, "fw.bin", &fail)
        .unwrap();
    let err = t.running.result().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoTask, "{err}");
    // Only the application's report: the transfer adds none of its own.
    assert_eq!(
        t.rec.only_final_report(Direction::Download, "fw.bin"),
        fail_report(-1, "given up by the application")
    );
}
