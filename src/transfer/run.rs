//! Running one task's transfer to its end, and the rule that says when a
//! run ends its task: one place for Rust callers and the C API alike
//! (`src/ffi/transfer.rs` only converts arguments and calls these).

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use super::download::{download, DirSink, DownloadSink};
use super::upload::{upload, UploadSource};
use super::{fail_task, ProgressFn, TransferConfig};
use crate::client::{Client, ClientIo};
use crate::device::{create_upload_task_from_file, io_error, wait_for_url, TaskSignal};
use crate::error::{ErrorKind, Result};
use crate::protocol::Direction;

/// Where an upload's bytes come from.
pub enum UploadFrom<'a> {
    /// A file, opened for the run.
    File(&'a Path),
    /// Anything else with random access (data in flash, a C callback).
    Source(&'a mut dyn UploadSource),
}

/// Where a download's bytes go.
pub enum DownloadTo<'a> {
    /// `dir/<name>`, through a resumable partial file, renamed into place
    /// once verified.
    Dir(&'a Path),
    /// Anything else, always from offset 0.
    Sink(&'a mut dyn DownloadSink),
}

/// Whether a run that failed with `kind` ended its task with a `fail`
/// report. The rule, for every run call (`run_upload`, `run_download`,
/// `upload_file` and their C forms):
///
/// - success ends the task with a `done` report;
/// - a failure ends it with a `fail` report carrying the matching result
///   code, except for the kinds below, which leave the task as it was and
///   report nothing:
///   - a call the library could not take (`NullArgument`,
///     `InvalidArgument`, `Utf8`): nothing was looked at;
///   - `NoTask`: there is no task of that name to end, or it was replaced,
///     rejected or ended while the transfer ran (a report would be taken
///     for the task now under the name);
///   - `NoUrl`: the task waits for its URL; run it once it has one;
///   - `InUse`: another download of the name into the directory runs, and
///     the task is that run's;
///   - `UrlExpired`: the partial download is kept; ask for a fresh URL and
///     run again to resume;
///   - `Publish`: the data is in the store but the `done` report could not
///     be published: report it again.
///
/// One more case keeps a task open whatever the failure: when the `fail`
/// report itself cannot be published. The run then returns its failure
/// and [`Client::task_state`] still shows the task; report it again.
pub fn ends_task(kind: ErrorKind) -> bool {
    !matches!(
        kind,
        ErrorKind::NullArgument
            | ErrorKind::InvalidArgument
            | ErrorKind::Utf8
            | ErrorKind::NoTask
            | ErrorKind::NoUrl
            | ErrorKind::InUse
            | ErrorKind::UrlExpired
            | ErrorKind::Publish
    )
}

/// Runs the upload of task `name` (which must have its URL) to its end on
/// the calling thread, ending the task as [`ends_task`] says.
pub fn run_upload<Io: ClientIo>(
    client: &Client<Io>,
    name: &str,
    from: UploadFrom<'_>,
    config: &TransferConfig,
    progress: Option<&mut ProgressFn<'_>>,
) -> Result<()> {
    // Checked before anything is opened: a run of a task that is not
    // ready changes nothing.
    super::ready_task(client, Direction::Upload, name)?;
    match from {
        UploadFrom::File(path) => match File::open(path) {
            Ok(mut file) => upload(client, name, &mut file, config, progress),
            Err(e) => Err(fail_task(
                client,
                Direction::Upload,
                name,
                io_error("open", path, &e),
            )),
        },
        UploadFrom::Source(source) => upload(client, name, source, config, progress),
    }
}

/// Runs the download of task `name` to its end on the calling thread,
/// ending the task as [`ends_task`] says.
pub fn run_download<Io: ClientIo>(
    client: &Client<Io>,
    name: &str,
    to: DownloadTo<'_>,
    config: &TransferConfig,
    progress: Option<&mut ProgressFn<'_>>,
) -> Result<()> {
    // As in run_upload.
    super::ready_task(client, Direction::Download, name)?;
    match to {
        DownloadTo::Dir(dir) => match DirSink::new(dir, name) {
            Ok(mut sink) => download(client, name, &mut sink, config, progress),
            Err(e) => Err(fail_task(client, Direction::Download, name, e)),
        },
        DownloadTo::Sink(sink) => download(client, name, sink, config, progress),
    }
}

/// Called with (task name, bytes done, total) as [`upload_file`] moves.
pub type NamedProgressFn<'a> = dyn FnMut(&str, u64, u64) + 'a;

/// Uploads a file in one call: hashes it, creates its upload task (named
/// `name`, or after the file), waits up to `url_timeout` for the URL
/// (which another thread delivers by feeding down messages; `signal` is
/// the one the client's `ClientIo::task_changed` notifies), then runs the
/// upload. A file that cannot be hashed creates no task; a URL that does
/// not come in time ends the task with a `fail` report (`Timeout`); a
/// task the platform refused is gone (`NoTask`). `progress` is called
/// with the task's name, bytes done and total. Returns the task's name.
pub fn upload_file<Io: ClientIo>(
    client: &Client<Io>,
    signal: &TaskSignal,
    path: &Path,
    name: Option<&str>,
    url_timeout: Duration,
    config: &TransferConfig,
    progress: Option<&mut NamedProgressFn<'_>>,
) -> Result<String> {
    let (name, _, _) = create_upload_task_from_file(client, path, name)?;
    if let Err(e) = wait_for_url(client, signal, Direction::Upload, &name, url_timeout) {
        // A task the platform never answered (Timeout) is ended; a refused
        // one (NoTask) already is.
        return Err(fail_task(client, Direction::Upload, &name, e));
    }
    let task_name = name.as_str();
    let mut named = progress.map(|p| move |done: u64, total: u64| p(task_name, done, total));
    let progress = named.as_mut().map(|p| p as &mut ProgressFn<'_>);
    run_upload(client, task_name, UploadFrom::File(path), config, progress)?;
    Ok(name)
}
