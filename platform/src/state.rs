//! What the platform remembers, as plain files under the data directory:
//!
//! - `state.json`: upload tasks and download tasks (pending and recently
//!   completed), rewritten atomically on every change by `serve`;
//! - `history.jsonl`: one progress report per line, appended.
//!
//! `list` and `history` only read these files, so they work whether or not
//! `serve` is running.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::util;

/// How many finished download tasks are remembered, so that a repeated
/// (QoS 1 redelivered) report about one is still acknowledged and
/// `task list` can show how recent ones ended.
const FINISHED_KEPT: usize = 200;

/// After this many `fail` reports a download task is given up, so a task a
/// device cannot take never blocks the ones pushed after it.
pub const MAX_DOWNLOAD_FAILURES: u32 = 5;

/// Where an upload task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// URL handed out, no report yet.
    Created,
    /// The device reported progress.
    Uploading,
    /// The device said done and the stored object matched size and MD5.
    Verified,
    /// The device reported a failure, or the object did not match.
    Failed,
}

/// What a task of either direction is about: one resource of one device.
/// (Its fields sit at the top level of the task's JSON in `state.json`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Product id of the device.
    pub product: String,
    /// Device name.
    pub device: String,
    /// Resource name.
    pub name: String,
    /// Size: as the device announced it (upload), of the object (download).
    pub size: u64,
    /// Lowercase hex MD5, likewise.
    pub md5sum: String,
    /// When the task was created or the file pushed (Unix ms).
    pub created_ms: u64,
}

impl Resource {
    /// Is it resource `name` of device `product`/`device`?
    pub fn is(&self, product: &str, device: &str, name: &str) -> bool {
        self.product == product && self.device == device && self.name == name
    }
}

/// One `create_upload_task` accepted from a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadTask {
    /// The device, the resource and when.
    #[serde(flatten)]
    pub resource: Resource,
    /// Where it stands.
    pub status: UploadStatus,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One file pushed to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadTask {
    /// Unique within this data directory.
    pub id: u64,
    /// The device, the pushed file and when.
    #[serde(flatten)]
    pub resource: Resource,
    /// `fail` reports so far.
    #[serde(default)]
    pub failures: u32,
    /// How it ended (finished tasks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<DownloadOutcome>,
}

/// How a download task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownloadOutcome {
    /// The device reported `done`.
    Done,
    /// `task cancel`.
    Cancelled,
    /// The device reported `fail` [`MAX_DOWNLOAD_FAILURES`] times.
    GaveUp,
}

impl DownloadOutcome {
    /// The word `task list` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            DownloadOutcome::Done => "done",
            DownloadOutcome::Cancelled => "cancelled",
            DownloadOutcome::GaveUp => "gave-up",
        }
    }
}

/// What a `fail` report did to a download task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Still pending, now behind the device's other tasks.
    Requeued(u32),
    /// Given up after too many failures.
    GaveUp,
    /// Not pending (already finished).
    NotPending,
}

/// The contents of `state.json`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Upload tasks, latest per (product, device, name).
    #[serde(default)]
    pub uploads: Vec<UploadTask>,
    /// Download tasks not yet finished, in the order they are handed out.
    #[serde(default)]
    pub pending_downloads: Vec<DownloadTask>,
    /// Finished download tasks (done, cancelled, given up), oldest first,
    /// bounded.
    #[serde(default, alias = "completed_downloads")]
    pub finished_downloads: Vec<DownloadTask>,
    /// Next download task id.
    #[serde(default)]
    pub next_id: u64,
}

/// One progress report as received, or the platform's verdict on an
/// upload, for `history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When it arrived (Unix ms).
    pub ts_ms: u64,
    /// `device` (a report) or `platform` (the verdict after `done`).
    #[serde(default = "device_source")]
    pub source: String,
    /// Product id.
    pub product: String,
    /// Device name.
    pub device: String,
    /// `upload` or `download`.
    pub direction: String,
    /// Resource name.
    pub name: String,
    /// `uploading`, `downloading`, `done` or `fail`.
    pub state: String,
    /// Percent, when the report had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<u64>,
    /// The device's result code.
    pub result_code: i64,
    /// The device's result message.
    pub result_msg: String,
}

fn device_source() -> String {
    "device".into()
}

/// The platform's memory: a snapshot kept in memory and mirrored to disk.
pub struct State {
    dir: PathBuf,
    snap: Snapshot,
}

fn state_file(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

fn history_file(dir: &Path) -> PathBuf {
    dir.join("history.jsonl")
}

/// Reads `state.json` (an empty snapshot when there is none yet).
pub fn read_snapshot(dir: &Path) -> io::Result<Snapshot> {
    match fs::read(state_file(dir)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", state_file(dir).display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Snapshot::default()),
        Err(e) => Err(e),
    }
}

/// Reads `history.jsonl`, skipping lines that do not parse (a line cut by
/// a crash must not hide the rest).
pub fn read_history(dir: &Path) -> io::Result<Vec<HistoryEntry>> {
    match fs::read_to_string(history_file(dir)) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

impl State {
    /// Loads the state of `dir` (creating nothing until the first change).
    pub fn load(dir: &Path) -> io::Result<State> {
        Ok(State {
            dir: dir.to_path_buf(),
            snap: read_snapshot(dir)?,
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snap
    }

    fn save(&self) {
        let result = serde_json::to_vec_pretty(&self.snap)
            .map_err(io::Error::other)
            .and_then(|bytes| util::write_atomic(&state_file(&self.dir), &bytes));
        if let Err(e) = result {
            eprintln!("resmgr-platform: cannot save state: {e}");
        }
    }

    /// Records a new upload task, replacing any earlier one of the same name
    /// for the same device.
    pub fn put_upload(&mut self, task: UploadTask) {
        let r = &task.resource;
        self.snap
            .uploads
            .retain(|t| !t.resource.is(&r.product, &r.device, &r.name));
        self.snap.uploads.push(task);
        self.save();
    }

    /// The upload task named `name` of a device.
    pub fn upload(&self, product: &str, device: &str, name: &str) -> Option<&UploadTask> {
        self.snap
            .uploads
            .iter()
            .find(|t| t.resource.is(product, device, name))
    }

    /// Updates the status of an upload task; false when there is none.
    pub fn set_upload_status(
        &mut self,
        product: &str,
        device: &str,
        name: &str,
        status: UploadStatus,
        detail: Option<String>,
    ) -> bool {
        let Some(t) = self
            .snap
            .uploads
            .iter_mut()
            .find(|t| t.resource.is(product, device, name))
        else {
            return false;
        };
        if t.status != status || t.detail != detail {
            t.status = status;
            t.detail = detail;
            self.save();
        }
        true
    }

    /// Records a pushed file; an older pending task of the same name for the
    /// same device is superseded (the object under that name was replaced).
    pub fn add_download(
        &mut self,
        product: &str,
        device: &str,
        name: &str,
        size: u64,
        md5sum: &str,
    ) -> DownloadTask {
        let task = DownloadTask {
            id: self.snap.next_id,
            resource: Resource {
                product: product.to_string(),
                device: device.to_string(),
                name: name.to_string(),
                size,
                md5sum: md5sum.to_string(),
                created_ms: util::now_ms(),
            },
            failures: 0,
            outcome: None,
        };
        self.snap.next_id += 1;
        self.snap
            .pending_downloads
            .retain(|t| !t.resource.is(product, device, name));
        self.snap.pending_downloads.push(task.clone());
        self.save();
        task
    }

    /// The oldest pending download task of a device.
    pub fn oldest_download(&self, product: &str, device: &str) -> Option<&DownloadTask> {
        self.snap
            .pending_downloads
            .iter()
            .find(|t| t.resource.product == product && t.resource.device == device)
    }

    /// Is `name` a pending (true, true) or recently finished (true, false)
    /// download task of the device?
    pub fn download_known(&self, product: &str, device: &str, name: &str) -> (bool, bool) {
        let matches = |t: &&DownloadTask| t.resource.is(product, device, name);
        let pending = self.snap.pending_downloads.iter().any(|t| matches(&t));
        let finished = self.snap.finished_downloads.iter().any(|t| matches(&t));
        (pending || finished, pending)
    }

    fn pending_index(&self, product: &str, device: &str, name: &str) -> Option<usize> {
        self.snap
            .pending_downloads
            .iter()
            .position(|t| t.resource.is(product, device, name))
    }

    fn finish_download(
        &mut self,
        product: &str,
        device: &str,
        name: &str,
        outcome: DownloadOutcome,
    ) -> bool {
        let Some(i) = self.pending_index(product, device, name) else {
            return false;
        };
        let mut task = self.snap.pending_downloads.remove(i);
        task.outcome = Some(outcome);
        self.snap.finished_downloads.push(task);
        let excess = self
            .snap
            .finished_downloads
            .len()
            .saturating_sub(FINISHED_KEPT);
        self.snap.finished_downloads.drain(..excess);
        self.save();
        true
    }

    /// The device reported `done`: the task is finished.
    pub fn complete_download(&mut self, product: &str, device: &str, name: &str) {
        self.finish_download(product, device, name, DownloadOutcome::Done);
    }

    /// `task cancel`: false when no such task is pending.
    pub fn cancel_download(&mut self, product: &str, device: &str, name: &str) -> bool {
        self.finish_download(product, device, name, DownloadOutcome::Cancelled)
    }

    /// The device reported `fail`: the task goes behind the device's other
    /// pending tasks, or is given up after [`MAX_DOWNLOAD_FAILURES`].
    pub fn fail_download(&mut self, product: &str, device: &str, name: &str) -> AfterFailure {
        let Some(i) = self.pending_index(product, device, name) else {
            return AfterFailure::NotPending;
        };
        let mut task = self.snap.pending_downloads.remove(i);
        task.failures += 1;
        let failures = task.failures;
        self.snap.pending_downloads.push(task);
        if failures >= MAX_DOWNLOAD_FAILURES {
            self.finish_download(product, device, name, DownloadOutcome::GaveUp);
            return AfterFailure::GaveUp;
        }
        self.save();
        AfterFailure::Requeued(failures)
    }

    /// Appends one progress report to `history.jsonl`.
    pub fn append_history(&self, entry: &HistoryEntry) {
        let result = serde_json::to_string(entry)
            .map_err(io::Error::other)
            .and_then(|line| {
                let mut f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(history_file(&self.dir))?;
                // One write per line: a concurrent reader sees whole lines.
                f.write_all(format!("{line}\n").as_bytes())
            });
        if let Err(e) = result {
            eprintln!("resmgr-platform: cannot append to the history: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path()).unwrap();
        s.put_upload(UploadTask {
            resource: Resource {
                product: "P".into(),
                device: "d".into(),
                name: "a".into(),
                size: 1,
                md5sum: "0".repeat(32),
                created_ms: 1,
            },
            status: UploadStatus::Created,
            detail: None,
        });
        s.add_download("P", "d", "x", 3, &"1".repeat(32));
        s.add_download("P", "d", "y", 3, &"1".repeat(32));
        s.complete_download("P", "d", "x");
        s.append_history(&HistoryEntry {
            ts_ms: 5,
            source: "device".into(),
            product: "P".into(),
            device: "d".into(),
            direction: "upload".into(),
            name: "a".into(),
            state: "done".into(),
            percent: None,
            result_code: 0,
            result_msg: String::new(),
        });

        // A task's resource fields stay at the top level of its JSON.
        let file: serde_json::Value =
            serde_json::from_slice(&fs::read(state_file(dir.path())).unwrap()).unwrap();
        assert_eq!(file["uploads"][0]["product"], "P");
        assert_eq!(file["uploads"][0]["md5sum"], "0".repeat(32));
        assert_eq!(file["pending_downloads"][0]["name"], "y");

        let again = State::load(dir.path()).unwrap();
        assert_eq!(again.snapshot().uploads.len(), 1);
        assert_eq!(again.oldest_download("P", "d").unwrap().resource.name, "y");
        assert_eq!(again.download_known("P", "d", "x"), (true, false));
        assert_eq!(again.download_known("P", "d", "y"), (true, true));
        assert_eq!(again.download_known("P", "d", "z"), (false, false));
        assert_eq!(read_history(dir.path()).unwrap().len(), 1);
    }

    #[test]
    fn failing_tasks_go_to_the_back_and_are_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::load(dir.path()).unwrap();
        s.add_download("P", "d", "bad", 1, &"1".repeat(32));
        s.add_download("P", "d", "good", 1, &"1".repeat(32));
        assert_eq!(s.fail_download("P", "d", "bad"), AfterFailure::Requeued(1));
        assert_eq!(s.oldest_download("P", "d").unwrap().resource.name, "good");
        s.complete_download("P", "d", "good");
        for n in 2..MAX_DOWNLOAD_FAILURES {
            assert_eq!(s.fail_download("P", "d", "bad"), AfterFailure::Requeued(n));
        }
        assert_eq!(s.fail_download("P", "d", "bad"), AfterFailure::GaveUp);
        assert!(s.oldest_download("P", "d").is_none());
        assert_eq!(s.download_known("P", "d", "bad"), (true, false));
        assert_eq!(s.fail_download("P", "d", "bad"), AfterFailure::NotPending);
        s.add_download("P", "d", "c", 1, &"1".repeat(32));
        assert!(s.cancel_download("P", "d", "c"));
        assert!(!s.cancel_download("P", "d", "c"));
        let outcomes: Vec<_> = s
            .snapshot()
            .finished_downloads
            .iter()
            .map(|t| t.outcome.unwrap())
            .collect();
        assert_eq!(
            outcomes,
            [
                DownloadOutcome::Done,
                DownloadOutcome::GaveUp,
                DownloadOutcome::Cancelled
            ]
        );
    }
}
