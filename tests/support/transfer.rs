//! The steps the transfer tests repeat around one `upload` or `download`
//! call: making the task, running it (also from another thread, to be
//! cancelled), and checking what it left on disk and told the platform.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::upload;
use resmgr::transfer::{ProgressFn, TransferConfig};
use resmgr::{ErrorKind, Md5Digest, Result};

use super::fault::{serve, FaultServer, Response};
use super::{
    assert_fail_with_text, client, done_report, give_upload_url, listing, md5_of, push_download,
    upload_task, Recorder, TestClient,
};

/// How long a transfer that is to be cancelled may take to start, and to
/// return once cancelled.
const CANCEL_LIMIT: Duration = Duration::from_secs(60);

/// A server whose first answer is `object` cut after `n` bytes, and which
/// then serves it (and ranges of it) honestly: a download is interrupted
/// once, checkpointed, and resumed.
pub fn cut_once_server(object: &[u8], n: usize) -> FaultServer {
    let object = object.to_vec();
    FaultServer::start(move |i, r| match i {
        0 => Response::new(200, object.clone()).cut_after(n).into(),
        _ => serve(&object, r).into(),
    })
}

/// A server that sends all of `object`, `chunk` bytes every `every`.
pub fn slow_server(object: &[u8], chunk: usize, every: Duration) -> FaultServer {
    let object = object.to_vec();
    FaultServer::start(move |_, _| Response::new(200, object.clone()).slow(chunk, every).into())
}

/// Writes `content` to a file `name` in `dir` and makes a client whose
/// upload task for it has `url`. Returns the client and the file's path.
pub fn file_with_upload_task(
    dir: &Path,
    name: &str,
    content: &[u8],
    url: &str,
) -> (Arc<TestClient>, Arc<Recorder>, PathBuf) {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    let (client, rec) = client();
    upload_task(&client, name, content.len() as u64, md5_of(content), url);
    (client, rec, path)
}

/// Creates the upload task of the file at `path` the way a device does
/// (name, size and MD5 from the file), then gives it `url`. Returns the
/// task's name, size and MD5.
pub fn upload_task_from_file(
    client: &TestClient,
    path: &Path,
    url: &str,
) -> (String, u64, Md5Digest) {
    let (name, size, md5) =
        resmgr::device::create_upload_task_from_file(client, path, None).unwrap();
    give_upload_url(client, &name, size, md5, url);
    (name, size, md5)
}

/// Uploads the file at `path` as task `name`, without a progress callback.
pub fn upload_file(
    client: &TestClient,
    name: &str,
    path: &Path,
    config: &TransferConfig,
) -> Result<()> {
    upload(client, name, &mut File::open(path).unwrap(), config, None)
}

/// Downloads task `name` into `dir`, without a progress callback.
pub fn download_into(
    client: &TestClient,
    name: &str,
    dir: &Path,
    config: &TransferConfig,
) -> Result<()> {
    let mut sink = DirSink::new(dir, name).unwrap();
    download(client, name, &mut sink, config, None)
}

/// Pushes download `name` of `object` at `url` to a new client and runs
/// it into `dir`, recording the offsets the progress callback was given.
pub fn pushed_download(
    url: &str,
    dir: &Path,
    name: &str,
    object: &[u8],
    config: &TransferConfig,
) -> (Result<()>, Arc<Recorder>, Vec<u64>) {
    let (client, rec) = client();
    push_download(&client, name, object.len() as u64, md5_of(object), url);
    let (result, seen) = download_seen(&client, name, dir, config);
    (result, rec, seen)
}

/// Downloads task `name` into `dir`, recording the offsets the progress
/// callback was given.
pub fn download_seen(
    client: &TestClient,
    name: &str,
    dir: &Path,
    config: &TransferConfig,
) -> (Result<()>, Vec<u64>) {
    let mut seen = Vec::new();
    let mut progress = |done: u64, _: u64| seen.push(done);
    let mut sink = DirSink::new(dir, name).unwrap();
    let result = download(client, name, &mut sink, config, Some(&mut progress));
    (result, seen)
}

/// Runs `transfer` (given a progress callback) on another thread, cancels
/// task `name` from this one as soon as the first bytes moved, and returns
/// what the transfer returned. Fails the test if no byte moves, or the
/// transfer does not return, within a minute.
pub fn cancel_once_started(
    client: &TestClient,
    direction: Direction,
    name: &str,
    transfer: impl FnOnce(&mut ProgressFn<'_>) -> Result<()> + Send + 'static,
) -> Result<()> {
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut told = false;
        let mut progress = |done: u64, _: u64| {
            if done > 0 && !told {
                told = true;
                let _ = started_tx.send(());
            }
        };
        let _ = done_tx.send(transfer(&mut progress));
    });
    started_rx
        .recv_timeout(CANCEL_LIMIT)
        .unwrap_or_else(|_| panic!("the {direction:?} of {name} moved no byte"));
    client.cancel(direction, name).unwrap();
    let result = done_rx.recv_timeout(CANCEL_LIMIT).unwrap_or_else(|_| {
        panic!("the cancelled {direction:?} of {name} did not return: it moved its whole body")
    });
    worker.join().unwrap();
    result
}

/// Asserts that a transfer of task `name` was cancelled: the error says
/// so, and so does its one final report.
pub fn assert_cancelled(result: Result<()>, rec: &Recorder, direction: Direction, name: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    let report = rec.only_final_report(direction, name);
    assert_fail_with_text(&report, -1, "cancel");
}

/// Asserts that `dir` holds nothing but `name`, whose bytes are `object`.
pub fn assert_only_file(dir: &Path, name: &str, object: &[u8]) {
    assert_eq!(listing(dir), [name], "only the final file may be left");
    let got = std::fs::read(dir.join(name)).unwrap();
    assert_eq!(got.len(), object.len(), "file length");
    assert!(got == object, "file content differs from the object");
}

/// Asserts that download `name` of `object` is done: the file alone in
/// `dir`, and one final `done` report.
pub fn assert_downloaded(dir: &Path, name: &str, object: &[u8], rec: &Recorder) {
    assert_only_file(dir, name, object);
    rec.assert_final(Direction::Download, name, done_report());
}
