//! Downloads: GET into a sink, hashing as the bytes arrive, resuming with
//! `Range` after a broken connection (same run) or a crash (next run, from
//! the resume state), and putting the file in place only once its MD5 is
//! verified.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::hashing::{with_hash_thread, HashFeed};
use super::http::{self, Failure};
use super::pace::Pace;
use super::resume::{open_in_dir, sync_dir, ResumeState};
use super::retry::with_retries;
use super::sys::{effective_uid, start_writeback, try_lock_exclusive};
use super::{finish, ProgressFn, TransferConfig, CHUNK};
use crate::client::{Client, ClientIo, TaskInfo};
use crate::device::io_error;
use crate::digest::Md5Hasher;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::Direction;

/// Where downloaded bytes go.
pub trait DownloadSink {
    /// Prepares to receive the resource and returns how many of its bytes
    /// the sink already holds (to resume from), having fed those bytes to
    /// `hasher`.
    fn open(&mut self, name: &str, task: &TaskInfo, hasher: &mut Md5Hasher) -> Result<u64>;
    /// Stores `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;
    /// Forgets everything received: the next write is at offset 0.
    fn restart(&mut self) -> Result<()>;
    /// Makes the first `offset` bytes durable and resumable.
    fn checkpoint(&mut self, offset: u64) -> Result<()>;
    /// The resource is complete and verified: put it in place.
    fn commit(&mut self) -> Result<()>;
    /// The resource failed verification: remove what was received.
    fn discard(&mut self);
    /// The download is over, whatever its outcome: let go of what
    /// [`open`](Self::open) took.
    fn close(&mut self) {}
}

/// Longest name a directory sink stores: the longest file it makes,
/// `.<name>.resmgr-state.tmp`, must fit the usual 255-byte file name limit.
pub const MAX_FILE_NAME_LEN: usize = 255 - ".".len() - ".resmgr-state.tmp".len();

/// Checks that a resource name can be used as a file name in a directory:
/// not empty, no path separators, not `.`/`..`, not hidden (partial and
/// state files are hidden, so a task can never name one of them).
pub fn check_file_name(name: &str) -> Result<()> {
    let why = if name.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if name.len() > MAX_FILE_NAME_LEN {
        Some("is too long to be stored beside its partial file (at most 237 bytes)")
    } else if name == "." || name == ".." {
        Some("is a directory reference")
    } else if name.starts_with('.') {
        Some("starts with '.'")
    } else {
        None
    };
    match why {
        Some(why) => Err(Error::new(
            ErrorKind::UnsafeName,
            format!(
                "download name '{}' {why}; refusing to store it",
                name.escape_debug()
            ),
        )),
        None => crate::protocol::fields::check_name(name)
            .map_err(|e| Error::new(ErrorKind::UnsafeName, e.message())),
    }
}

/// Stores a download as `<dir>/<name>`, via `<dir>/.<name>.resmgr-part`
/// and its resume state `<dir>/.<name>.resmgr-state`. Symlinks at any of
/// these paths are replaced, never followed.
///
/// While a download runs (from [`DownloadSink::open`] to
/// [`DownloadSink::close`]), the sink holds `<dir>/.<name>.resmgr-lock`
/// (an exclusive `flock`), so two downloads of the same name into the same
/// directory — two processes, or two threads of one — never share the
/// partial and the state: the second one's `open` fails with
/// [`ErrorKind::InUse`]. `close` (or dropping the sink) removes the lock
/// file.
pub struct DirSink {
    dir: PathBuf,
    final_path: PathBuf,
    part_path: PathBuf,
    state_path: PathBuf,
    lock_path: PathBuf,
    /// The held lock file (released, and its name removed, on drop).
    lock: Option<File>,
    file: Option<File>,
    state: Option<ResumeState>,
    /// Where writeback was last started: bytes from here on are only in
    /// the page cache.
    written_back: u64,
}

/// How much a download writes before it asks the kernel to start writing
/// it to disk (see [`start_writeback`]).
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

impl DirSink {
    /// A sink for resource `name` in `dir`.
    pub fn new(dir: &Path, name: &str) -> Result<DirSink> {
        check_file_name(name)?;
        let meta = fs::metadata(dir).map_err(|e| io_error("use download directory", dir, &e))?;
        if !meta.is_dir() {
            return Err(Error::new(
                ErrorKind::Io,
                format!("download directory '{}' is not a directory", dir.display()),
            ));
        }
        Ok(DirSink {
            dir: dir.to_owned(),
            final_path: dir.join(name),
            part_path: dir.join(format!(".{name}.resmgr-part")),
            state_path: dir.join(format!(".{name}.resmgr-state")),
            lock_path: dir.join(format!(".{name}.resmgr-lock")),
            lock: None,
            file: None,
            state: None,
            written_back: 0,
        })
    }

    /// Path of the partial file.
    pub fn part_path(&self) -> &Path {
        &self.part_path
    }

    /// Path of the resume state.
    pub fn state_path(&self) -> &Path {
        &self.state_path
    }

    fn file(&mut self) -> Result<&mut File> {
        self.file
            .as_mut()
            .ok_or_else(|| Error::new(ErrorKind::Io, "download sink used before open"))
    }

    fn fresh(&mut self) -> Result<()> {
        let _ = fs::remove_file(&self.state_path);
        let _ = fs::remove_file(&self.part_path);
        let file = open_in_dir(
            OpenOptions::new().read(true).write(true).create_new(true),
            &self.part_path,
        )
        .map_err(|e| io_error("create", &self.part_path, &e))?;
        self.file = Some(file);
        self.written_back = 0;
        Ok(())
    }

    /// Reopens a partial file recorded in a matching state, trimmed to its
    /// durable length, and rehashes it. `None` when it cannot be resumed.
    ///
    /// Only a partial this process's user could have made is resumed: a
    /// regular file with one name, owned by that user. A hard link to
    /// another file, or another user's file, planted at the partial path
    /// with a forged state would otherwise be truncated and overwritten; it
    /// is left alone and a fresh partial replaces its name.
    fn reopen(&mut self, state: &ResumeState, hasher: &mut Md5Hasher) -> Option<u64> {
        use std::os::unix::fs::MetadataExt;
        let mut file =
            open_in_dir(OpenOptions::new().read(true).write(true), &self.part_path).ok()?;
        let meta = file.metadata().ok()?;
        if meta.nlink() != 1 || meta.uid() != effective_uid() || meta.len() < state.offset {
            return None;
        }
        // Bytes past the durable offset may be torn by a crash: drop them.
        file.set_len(state.offset).ok()?;
        let mut buf = vec![0u8; CHUNK];
        let mut left = state.offset;
        while left > 0 {
            let n = file
                .read(&mut buf[..left.min(CHUNK as u64) as usize])
                .ok()?;
            if n == 0 {
                return None;
            }
            hasher.update(&buf[..n]);
            left -= n as u64;
        }
        self.file = Some(file);
        self.written_back = state.offset;
        Some(state.offset)
    }

    /// [`DownloadSink::commit`], with the directory sync as a parameter so
    /// that the tests can make it fail.
    ///
    /// The partial path can be changed by anyone who can write to the
    /// directory, so the rename by path is proven afterwards: what arrived
    /// at the final path must be the very file written and verified through
    /// the descriptor (same device and inode), or it goes back. A sync of
    /// the directory that fails after the rename also puts the file back
    /// (as a complete, resumable partial), so that a failure always means
    /// that nothing is at the final path, and success that the verified
    /// file is.
    fn commit_with(&mut self, sync_dir: impl Fn(&Path) -> std::io::Result<()>) -> Result<()> {
        let path = self.part_path.clone();
        let file = self.file()?;
        file.sync_all().map_err(|e| io_error("sync", &path, &e))?;
        let ours = file.metadata().map_err(|e| io_error("stat", &path, &e))?;
        self.file = None;
        let replaced = || {
            Error::new(
                ErrorKind::Io,
                format!(
                    "the partial file '{}' was replaced by another file during the download; nothing was put in place",
                    path.display()
                ),
            )
        };
        // A swap noticed before the rename leaves the final path alone.
        if !fs::symlink_metadata(&self.part_path).is_ok_and(|m| same_file(&m, &ours)) {
            let _ = fs::remove_file(&self.state_path);
            return Err(replaced());
        }
        // rename() replaces whatever sits at the final path, a symlink
        // included, without following it.
        match rename_proven(&ours, &self.part_path, &self.final_path) {
            Ok(true) => {}
            Ok(false) => {
                let _ = fs::remove_file(&self.state_path);
                return Err(replaced());
            }
            Err(e) => return Err(io_error("rename into place", &self.final_path, &e)),
        }
        if let Err(e) = sync_dir(&self.dir) {
            if fs::rename(&self.final_path, &self.part_path).is_ok() {
                if let Some(state) = self.state.as_mut() {
                    state.offset = ours.len();
                    let _ = state.save(&self.state_path);
                }
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "the verified file could not be made durable (sync of '{}': {e}); it is kept as '{}' and the next run puts it in place without fetching it again",
                        self.dir.display(),
                        self.part_path.display()
                    ),
                ));
            }
            // It cannot be taken back: it is in place and verified, only
            // the directory entry may not survive a power cut.
        }
        let _ = fs::remove_file(&self.state_path);
        Ok(())
    }

    /// Lets go of the lock file: unlinked while still held, so that
    /// whoever opens the path next makes a new one (see `lock`).
    fn unlock(&mut self) {
        if let Some(lock) = self.lock.take() {
            if is_same_path(&lock, &self.lock_path) {
                let _ = fs::remove_file(&self.lock_path);
            }
        }
    }
}

impl Drop for DirSink {
    fn drop(&mut self) {
        self.unlock();
    }
}

/// Takes the lock file of a download of `name` at `path`, or fails with
/// [`ErrorKind::InUse`] when another download holds it.
///
/// The lock is on the file, not the name, so after taking it the name
/// must still lead to the locked file: a holder that just finished removed
/// it, and a new one may be there already (then the lock is taken again).
/// Anything at the path that is not a lock file this user could have made
/// (a symlink, a FIFO, a hard link to another file, another user's file
/// that nobody holds) is removed, never locked in place.
fn lock(path: &Path, name: &str) -> Result<File> {
    use std::os::unix::fs::MetadataExt;
    let fail = |e: &std::io::Error| io_error("lock", path, e);
    for _ in 0..8 {
        let file = match open_in_dir(OpenOptions::new().read(true).write(true).create(true), path) {
            Ok(file) => file,
            Err(e)
                if e.raw_os_error() == Some(libc::ELOOP)
                    || e.kind() == std::io::ErrorKind::InvalidInput =>
            {
                fs::remove_file(path).map_err(|e| fail(&e))?;
                continue;
            }
            // Another user's lock file: held by them, or stale.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                let theirs =
                    open_in_dir(OpenOptions::new().read(true), path).map_err(|e| fail(&e))?;
                if !try_lock_exclusive(&theirs).map_err(|e| fail(&e))? {
                    return Err(in_use(name, path));
                }
                fs::remove_file(path).map_err(|e| fail(&e))?;
                continue;
            }
            Err(e) => return Err(fail(&e)),
        };
        if !try_lock_exclusive(&file).map_err(|e| fail(&e))? {
            return Err(in_use(name, path));
        }
        if !is_same_path(&file, path) {
            continue;
        }
        let meta = file.metadata().map_err(|e| fail(&e))?;
        if meta.nlink() != 1 || meta.uid() != effective_uid() {
            fs::remove_file(path).map_err(|e| fail(&e))?;
            continue;
        }
        return Ok(file);
    }
    Err(in_use(name, path))
}

fn in_use(name: &str, path: &Path) -> Error {
    Error::new(
        ErrorKind::InUse,
        format!(
            "another download of '{}' into this directory is running (it holds '{}'); nothing was changed",
            name.escape_debug(),
            path.display()
        ),
    )
}

/// Whether `path` (not followed) is the open `file`.
fn is_same_path(file: &File, path: &Path) -> bool {
    match (file.metadata(), fs::symlink_metadata(path)) {
        (Ok(a), Ok(b)) => same_file(&a, &b),
        _ => false,
    }
}

/// Whether two stats are of the same file.
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Renames `from` to `to` and proves that the file now at `to` is the one
/// `ours` describes. If it is not (`from` was swapped just before the
/// rename), it is moved back (or, failing that, removed) and the answer is
/// false: nothing but `ours` is ever left at `to`.
fn rename_proven(ours: &fs::Metadata, from: &Path, to: &Path) -> std::io::Result<bool> {
    fs::rename(from, to)?;
    if fs::symlink_metadata(to).is_ok_and(|m| same_file(&m, ours)) {
        return Ok(true);
    }
    if fs::rename(to, from).is_err() {
        let _ = fs::remove_file(to);
    }
    Ok(false)
}

impl DownloadSink for DirSink {
    fn open(&mut self, name: &str, task: &TaskInfo, hasher: &mut Md5Hasher) -> Result<u64> {
        if self.lock.is_none() {
            self.lock = Some(lock(&self.lock_path, name)?);
        }
        let wanted = ResumeState {
            name: name.to_owned(),
            size: task.size,
            md5: task.md5,
            offset: 0,
        };
        if let Some(saved) = ResumeState::load(&self.state_path) {
            if (ResumeState {
                offset: 0,
                ..saved.clone()
            }) == wanted
            {
                if let Some(offset) = self.reopen(&saved, hasher) {
                    self.state = Some(saved);
                    return Ok(offset);
                }
                *hasher = Md5Hasher::new();
            }
        }
        self.fresh()?;
        self.state = Some(wanted);
        Ok(0)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let path = self.part_path.clone();
        let from = self.written_back;
        let file = self.file()?;
        file.write_all_at(data, offset)
            .map_err(|e| io_error("write", &path, &e))?;
        let end = offset + data.len() as u64;
        if end >= from + WRITEBACK_STEP {
            start_writeback(file, from, end - from);
            self.written_back = end;
        }
        Ok(())
    }

    fn restart(&mut self) -> Result<()> {
        self.written_back = 0;
        let path = self.part_path.clone();
        self.file()?
            .set_len(0)
            .map_err(|e| io_error("truncate", &path, &e))?;
        self.checkpoint(0)
    }

    fn checkpoint(&mut self, offset: u64) -> Result<()> {
        let path = self.part_path.clone();
        self.file()?
            .sync_data()
            .map_err(|e| io_error("sync", &path, &e))?;
        let Some(state) = self.state.as_mut() else {
            return Ok(());
        };
        state.offset = offset;
        state
            .save(&self.state_path)
            .map_err(|e| io_error("save resume state", &self.state_path, &e))
    }

    fn commit(&mut self) -> Result<()> {
        self.commit_with(sync_dir)
    }

    fn discard(&mut self) {
        self.file = None;
        let _ = fs::remove_file(&self.part_path);
        let _ = fs::remove_file(&self.state_path);
    }

    fn close(&mut self) {
        self.file = None;
        self.unlock();
    }
}

/// A sink that hands every chunk to a function (for C write callbacks).
/// It holds nothing between runs, so it always starts at offset 0; after a
/// restart the writes start again at 0, and a discard means the data
/// written so far must be thrown away by the owner.
pub struct FnSink<F: FnMut(u64, &[u8]) -> Result<()>> {
    write: F,
}

impl<F: FnMut(u64, &[u8]) -> Result<()>> FnSink<F> {
    /// A sink writing through `write(offset, data)`.
    pub fn new(write: F) -> Self {
        FnSink { write }
    }
}

impl<F: FnMut(u64, &[u8]) -> Result<()>> DownloadSink for FnSink<F> {
    fn open(&mut self, _: &str, _: &TaskInfo, _: &mut Md5Hasher) -> Result<u64> {
        Ok(0)
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        (self.write)(offset, data)
    }
    fn restart(&mut self) -> Result<()> {
        Ok(())
    }
    fn checkpoint(&mut self, _: u64) -> Result<()> {
        Ok(())
    }
    fn commit(&mut self) -> Result<()> {
        Ok(())
    }
    fn discard(&mut self) {}
}

/// Downloads task `name` (which must have its URL) into `sink`, reporting
/// progress and then `done` or `fail`. See [`ErrorKind::UrlExpired`] for
/// the one failure that leaves the task open.
pub fn download<Io: ClientIo>(
    client: &Client<Io>,
    name: &str,
    sink: &mut dyn DownloadSink,
    config: &TransferConfig,
    progress: Option<&mut ProgressFn<'_>>,
) -> Result<()> {
    let task = super::ready_task(client, Direction::Download, name)?;
    let mut run = Run {
        client,
        name,
        task: &task,
        config,
        progress,
        hasher: Md5Hasher::new(),
        offset: 0,
        last_checkpoint: (0, Instant::now()),
    };
    let outcome = run.run(sink);
    sink.close();
    if matches!(&outcome, Err(e) if e.kind() == ErrorKind::InUse) {
        // Another download of this name runs into the same place: the
        // task, its interrupt hook and its report are that one's.
        return outcome;
    }
    task.cancel.clear_interrupt();
    finish(client, Direction::Download, name, task.id, outcome)
}

struct Run<'a, 'p, Io: ClientIo> {
    client: &'a Client<Io>,
    name: &'a str,
    task: &'a TaskInfo,
    config: &'a TransferConfig,
    progress: Option<&'a mut ProgressFn<'p>>,
    hasher: Md5Hasher,
    offset: u64,
    last_checkpoint: (u64, Instant),
}

impl<Io: ClientIo> Run<'_, '_, Io> {
    fn run(&mut self, sink: &mut dyn DownloadSink) -> Result<()> {
        let tls = http::tls_config(self.config)?;
        let deadline = self.config.total_timeout.map(|t| Instant::now() + t);
        self.offset = sink.open(self.name, self.task, &mut self.hasher)?;
        self.last_checkpoint = (self.offset, Instant::now());
        self.note_progress();
        let (config, task) = (self.config, self.task);
        let outcome = with_retries(config, &task.cancel, deadline, || {
            self.attempt(sink, &tls, deadline)
        });
        if let Err(stop) = outcome {
            return Err(self.give_up(sink, stop.error, stop.cancelled, stop.out_of_time));
        }
        let got = self.hasher.clone().finish();
        if got != self.task.md5 {
            sink.discard();
            return Err(Error::new(
                ErrorKind::Md5Mismatch,
                format!(
                    "download '{}': received data has MD5 {got}, the task says {}",
                    self.name.escape_debug(),
                    self.task.md5
                ),
            ));
        }
        sink.commit()
    }

    /// Ends a failed run: what was received is kept resumable, except data
    /// that can no longer be trusted.
    fn give_up(
        &mut self,
        sink: &mut dyn DownloadSink,
        error: Error,
        cancelled: bool,
        out_of_time: bool,
    ) -> Error {
        let error = if cancelled {
            Error::new(
                ErrorKind::Cancelled,
                format!("download '{}' cancelled", self.name.escape_debug()),
            )
        } else if out_of_time && error.kind() != ErrorKind::Timeout {
            Error::new(
                ErrorKind::Timeout,
                format!("{} (overall time limit reached)", error.message()),
            )
        } else {
            error
        };
        match error.kind() {
            ErrorKind::Md5Mismatch | ErrorKind::BadResponse | ErrorKind::NotFound => sink.discard(),
            _ => {
                let _ = sink.checkpoint(self.offset);
            }
        }
        error
    }

    fn note_progress(&mut self) {
        // A report that cannot be published now is retried by the next call.
        let _ = self.client.track_task_progress(
            Direction::Download,
            self.name,
            self.task.id,
            self.offset,
            crate::port::now_ms(),
        );
        if let Some(p) = self.progress.as_mut() {
            p(self.offset, self.task.size);
        }
    }

    fn restart(&mut self, sink: &mut dyn DownloadSink) -> Result<()> {
        sink.restart()?;
        self.offset = 0;
        self.hasher = Md5Hasher::new();
        // restart() made offset 0 durable.
        self.last_checkpoint = (0, Instant::now());
        Ok(())
    }

    fn attempt(
        &mut self,
        sink: &mut dyn DownloadSink,
        tls: &ureq::tls::TlsConfig,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Failure> {
        let size = self.task.size;
        if self.offset == size && size > 0 {
            return Ok(()); // everything arrived before a crash; verify it
        }
        let what = format!("download '{}'", self.name.escape_debug());
        let url = super::current_url(self.client, Direction::Download, self.name, self.task);
        let (agent, _) = http::agent(self.config, tls, deadline);
        let interrupt = agent.clone();
        self.task.cancel.set_interrupt(move || interrupt.shutdown());
        if self.task.cancel.is_cancelled() {
            return Err(Failure::fatal(Error::new(
                ErrorKind::Cancelled,
                "cancelled",
            )));
        }
        let pace = {
            let agent = agent.clone();
            Pace::watch(self.config.min_speed, move || agent.clone().shutdown())
        };
        match (
            self.exchange(sink, &agent, &pace, &url, &what),
            pace.tripped(&what),
        ) {
            // The watchdog shut the connection down: that is why it failed.
            (Err(_), Some(too_slow)) => Err(Failure::transient(too_slow)),
            (result, _) => result,
        }
    }

    /// One request and its response, received into `sink`.
    fn exchange(
        &mut self,
        sink: &mut dyn DownloadSink,
        agent: &ureq::Agent,
        pace: &Pace,
        url: &str,
        what: &str,
    ) -> std::result::Result<(), Failure> {
        let size = self.task.size;
        let mut request = agent.get(url);
        if self.offset > 0 {
            request = request.header("Range", format!("bytes={}-", self.offset));
        }
        let mut response = request.call().map_err(|e| http::request_failure(what, e))?;
        let status = response.status().as_u16();
        match status {
            206 => {
                let range = response
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if !content_range_matches(range, self.offset, size) {
                    // Not the bytes we asked for: start over without Range.
                    self.restart(sink)?;
                    return Err(Failure::transient(Error::new(
                        ErrorKind::BadResponse,
                        format!(
                            "{what}: 206 with Content-Range '{}' for offset {} of {size}",
                            range.escape_debug(),
                            self.offset
                        ),
                    )));
                }
            }
            200 => {
                if self.offset > 0 {
                    // The store ignored the range: the body starts at 0.
                    self.restart(sink)?;
                }
                if let Some(len) = response.body().content_length() {
                    if len != size {
                        return Err(Failure::fatal(Error::new(
                            ErrorKind::BadResponse,
                            format!(
                                "{what}: the store announces {len} bytes, the task says {size}"
                            ),
                        )));
                    }
                }
            }
            416 => {
                self.restart(sink)?;
                return Err(Failure::transient(Error::new(
                    ErrorKind::BadResponse,
                    format!("{what}: range not satisfiable (416); starting over"),
                )));
            }
            _ => {
                let body = http::error_body(&mut response);
                return Err(http::status_failure(
                    Direction::Download,
                    self.name,
                    status,
                    &body,
                ));
            }
        }
        let mut reader = response.body_mut().as_reader();
        // The hash runs on its own thread, a few chunks behind the socket
        // and the disk (hashing.rs).
        let hasher = std::mem::take(&mut self.hasher);
        let (hasher, result) = with_hash_thread(hasher, |feed| {
            self.receive(sink, &mut reader, what, size, feed, pace)
        });
        self.hasher = hasher;
        result
    }

    fn receive(
        &mut self,
        sink: &mut dyn DownloadSink,
        reader: &mut dyn Read,
        what: &str,
        size: u64,
        feed: &HashFeed<'_>,
        pace: &Pace,
    ) -> std::result::Result<(), Failure> {
        loop {
            if self.task.cancel.is_cancelled() {
                return Err(Failure::fatal(Error::new(
                    ErrorKind::Cancelled,
                    "cancelled",
                )));
            }
            let mut buf = feed.buffer();
            // One byte more than is left, to notice a body that is too long.
            let want = (size - self.offset).saturating_add(1).min(buf.len() as u64) as usize;
            let n = match reader.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(_) if self.task.cancel.is_cancelled() => {
                    return Err(Failure::fatal(Error::new(
                        ErrorKind::Cancelled,
                        "cancelled",
                    )))
                }
                Err(e) => return Err(http::io_failure(what, &e)),
            };
            if n == 0 {
                if self.offset < size {
                    return Err(Failure::transient(Error::new(
                        ErrorKind::Network,
                        format!(
                            "{what}: connection ended after {} of {size} bytes",
                            self.offset
                        ),
                    )));
                }
                return Ok(());
            }
            if self.offset + n as u64 > size {
                return Err(Failure::fatal(Error::new(
                    ErrorKind::BadResponse,
                    format!("{what}: the store sent more than the task's {size} bytes"),
                )));
            }
            sink.write_at(self.offset, &buf[..n])?;
            feed.hash(buf, n);
            self.offset += n as u64;
            pace.moved(n as u64);
            self.note_progress();
            let (at, when) = self.last_checkpoint;
            if self.offset.saturating_sub(at) >= self.config.checkpoint_bytes
                || when.elapsed() >= self.config.checkpoint_interval
            {
                sink.checkpoint(self.offset)?;
                self.last_checkpoint = (self.offset, Instant::now());
            }
        }
    }
}

/// `bytes <offset>-<size-1>/<size>`, exactly.
fn content_range_matches(header: &str, offset: u64, size: u64) -> bool {
    let Some(rest) = header.trim().strip_prefix("bytes ") else {
        return false;
    };
    let Some((range, total)) = rest.split_once('/') else {
        return false;
    };
    let Some((first, last)) = range.split_once('-') else {
        return false;
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    matches!((num(first), num(last), num(total)), (Some(f), Some(l), Some(t))
        if f == offset && t == size && l.checked_add(1) == Some(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_must_match_offset_and_total_exactly() {
        assert!(content_range_matches("bytes 100-999/1000", 100, 1000));
        assert!(content_range_matches("bytes 0-0/1", 0, 1));
        for bad in [
            "bytes 101-999/1000",
            "bytes 100-998/1000",
            "bytes 100-999/1001",
            "bytes 100-999/*",
            "bytes */1000",
            "bytes 100-999",
            "items 100-999/1000",
            "bytes +100-999/1000",
            "",
        ] {
            assert!(!content_range_matches(bad, 100, 1000), "{bad}");
        }
    }

    #[test]
    fn only_plain_file_names_can_be_stored() {
        for ok in ["fw.bin", "a b", "日本.txt", "x..y"] {
            assert!(check_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "../x", "/etc/x", "a/b", "a\\b", ".hidden", ".", "..", "", "a\nb", "a\0b",
        ] {
            assert_eq!(
                check_file_name(bad).unwrap_err().kind(),
                ErrorKind::UnsafeName,
                "{bad:?}"
            );
        }
        assert_eq!(
            check_file_name(&"n".repeat(300)).unwrap_err().kind(),
            ErrorKind::UnsafeName
        );
        // Room for ".<name>.resmgr-state.tmp" within 255 bytes.
        assert!(check_file_name(&"n".repeat(MAX_FILE_NAME_LEN)).is_ok());
        assert!(check_file_name(&"n".repeat(MAX_FILE_NAME_LEN + 1)).is_err());
        assert_eq!(MAX_FILE_NAME_LEN, 237);
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("resmgr-commit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_rename_that_brought_another_file_is_taken_back() {
        let dir = temp_dir("swap");
        let (ours, other) = (dir.join("ours"), dir.join(".x.resmgr-part"));
        fs::write(&ours, b"verified").unwrap();
        fs::write(&other, b"planted").unwrap();
        let ours_meta = fs::metadata(&ours).unwrap();
        let to = dir.join("x");

        // As if `other` had been renamed over the partial just before.
        assert!(!rename_proven(&ours_meta, &other, &to).unwrap());

        assert!(!to.exists(), "nothing unverified is left at the final path");
        assert_eq!(fs::read(&other).unwrap(), b"planted", "moved back");
        assert!(rename_proven(&ours_meta, &ours, &to).unwrap());
        assert_eq!(fs::read(&to).unwrap(), b"verified");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Suspected in issue 10: the rename succeeded, the directory sync
    /// failed, and `fail` was reported with the verified file in place.
    #[test]
    fn a_failed_directory_sync_puts_the_verified_file_back_as_a_complete_partial() {
        let dir = temp_dir("dirsync");
        let mut sink = DirSink::new(&dir, "fw.bin").unwrap();
        let bytes = b"the whole verified resource";
        let mut hasher = Md5Hasher::new();
        hasher.update(bytes);
        sink.fresh().unwrap();
        sink.state = Some(ResumeState {
            name: "fw.bin".into(),
            size: bytes.len() as u64,
            md5: hasher.finish(),
            offset: 0,
        });
        sink.write_at(0, bytes).unwrap();
        sink.checkpoint(4).unwrap();

        let err = sink
            .commit_with(|_| Err(std::io::Error::other("injected EIO")))
            .unwrap_err();

        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(err.message().contains("injected EIO"), "{err}");
        assert!(
            !dir.join("fw.bin").exists(),
            "a failure leaves nothing in place"
        );
        assert_eq!(fs::read(sink.part_path()).unwrap(), bytes);
        let state = ResumeState::load(sink.state_path()).unwrap();
        assert_eq!(state.offset, bytes.len() as u64, "resumable as complete");
        drop(sink);
        fs::remove_dir_all(&dir).unwrap();
    }
}
