//! The HTTP(S) transfer engine (feature `http`): turns a task's presigned
//! URL into bytes moved correctly, in constant memory, with honest results.
//!
//! - [`upload`]: PUT with exact `Content-Length` and `Content-MD5`, the
//!   bytes hashed as they are sent;
//! - [`download`]: GET into a partial file, resumable across retries and
//!   restarts, verified before it is renamed into place;
//! - [`http`]: the HTTP agent (timeouts, TLS roots) and how store answers
//!   map onto result codes.
//!
//! Both directions publish throttled progress through the client while
//! they run and end the task with a `done` or `fail` report; [`run`] holds
//! the calls that run a task from a file, a directory or a callback and
//! the rule that says when a run ends its task.

pub mod download;
mod hashing;
pub mod http;
mod pace;
pub mod resume;
mod retry;
pub mod run;
mod socket;
mod sys;
pub mod upload;

use std::path::PathBuf;
use std::time::Duration;

pub use pace::MinSpeed;

use crate::client::{Client, ClientIo, TaskInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::up::Report;
use crate::protocol::{Direction, ProgressState};

/// Size of the buffers a transfer streams through. Memory use stays at a
/// few of these whatever the resource size.
pub const CHUNK: usize = 64 * 1024;

/// Task `name` as a transfer starts it: [`ErrorKind::NoTask`] when no
/// such task is in flight, [`ErrorKind::NoUrl`] while the platform has not
/// sent its URL.
pub(crate) fn ready_task<Io: ClientIo>(
    client: &Client<Io>,
    direction: Direction,
    name: &str,
) -> Result<TaskInfo> {
    let task = client
        .task(direction, name)
        .ok_or_else(|| crate::client::no_task(direction, name))?;
    if task.url.is_none() {
        return Err(Error::new(
            ErrorKind::NoUrl,
            format!(
                "{} task '{}' has no URL yet: run it once the platform sent one",
                direction.as_str(),
                name.escape_debug()
            ),
        ));
    }
    Ok(task)
}

/// The URL an attempt of `task` (named `name`) uses: the one the platform
/// sent last. A URL refreshed since the run started (the task answered or
/// pushed again) is used by the next attempt, in both directions.
pub(crate) fn current_url<Io: ClientIo>(
    client: &Client<Io>,
    direction: Direction,
    name: &str,
    task: &TaskInfo,
) -> String {
    client
        .task(direction, name)
        .filter(|t| t.id == task.id)
        .and_then(|t| t.url)
        .or_else(|| task.url.clone())
        .unwrap_or_default()
}

/// Timeouts, retries and TLS roots of transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferConfig {
    /// Limit for establishing a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Limit for any single read or write to stall.
    pub idle_timeout: Duration,
    /// Limit for the whole transfer including retries; `None` for none.
    pub total_timeout: Option<Duration>,
    /// The least each attempt must move ([`MinSpeed`]); `None` turns the
    /// rule off. On by default ([`MinSpeed::DEFAULT`], 1 KiB/s over 60 s),
    /// so that no transfer crawls on forever although every read returns
    /// within the idle timeout.
    pub min_speed: Option<MinSpeed>,
    /// Retries after the first attempt, for transient failures only.
    pub max_retries: u32,
    /// Delay before the first retry; doubles each time, with jitter.
    pub backoff_initial: Duration,
    /// Longest delay between retries.
    pub backoff_max: Duration,
    /// PEM file of CA certificates to trust. `None`: the built-in
    /// (Mozilla/webpki) roots with feature `bundled-roots` (on by default),
    /// else the system's CA bundle.
    pub ca_file: Option<PathBuf>,
    /// A download's progress is made durable (file synced, resume state
    /// saved) after at least this many new bytes...
    pub checkpoint_bytes: u64,
    /// ...or this much time, whichever comes first.
    pub checkpoint_interval: Duration,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            total_timeout: None,
            min_speed: Some(MinSpeed::DEFAULT),
            max_retries: 5,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            ca_file: None,
            checkpoint_bytes: 64 * 1024 * 1024,
            checkpoint_interval: Duration::from_secs(2),
        }
    }
}

/// Called with (bytes done, total) as a transfer moves.
pub type ProgressFn<'a> = dyn FnMut(u64, u64) + 'a;

/// Ends task `id` (the task the transfer started on) with the report its
/// outcome calls for, and returns the outcome. A report that cannot be
/// published turns a success into a [`ErrorKind::Publish`] error (the task
/// is kept, so it can be reported again); a failure stays the failure.
///
/// When the platform replaced the task (a new size or MD5 under the same
/// name), rejected it, or the application ended it while the transfer ran,
/// nothing is reported and nothing removed: a report names only the
/// resource, so the platform would take it for the task now under that
/// name. The outcome is then an [`ErrorKind::NoTask`] error saying so.
pub(crate) fn finish<Io: ClientIo>(
    client: &Client<Io>,
    direction: Direction,
    name: &str,
    id: u64,
    outcome: Result<()>,
) -> Result<()> {
    let report = match &outcome {
        Ok(()) => Report {
            state: ProgressState::Done,
            percent: 100,
            result_code: 0,
            result_msg: "",
        },
        // A failure that leaves the task open (run::ends_task): for an
        // expired URL the caller fetches a fresh one and resumes.
        Err(e) if !run::ends_task(e.kind()) => {
            if client.holds_task(direction, name, id) {
                return outcome;
            }
            return Err(crate::client::ended_elsewhere(direction, name));
        }
        Err(e) => {
            let (code, standard) = e.kind().platform_result();
            Report {
                state: ProgressState::Fail,
                percent: 0,
                result_code: code,
                result_msg: standard.unwrap_or_else(|| {
                    crate::protocol::fields::truncate(
                        e.message(),
                        crate::limits::MAX_RESULT_MSG_LEN,
                    )
                }),
            }
        }
    };
    match (client.end_task(direction, name, id, &report), outcome) {
        (Ok(()), outcome) => outcome,
        (Err(e), _) if e.kind() == ErrorKind::NoTask => Err(e),
        (Err(e), Ok(())) => Err(Error::new(
            ErrorKind::Publish,
            format!(
                "{} '{name}' succeeded but its done report was not published: {e}",
                direction.as_str()
            ),
        )),
        (Err(_), Err(e)) => Err(e),
    }
}

/// A transfer of the task now under `name` that could not even start:
/// ends the task with the `fail` report `error` calls for, as [`finish`]
/// does (a failure that leaves tasks open leaves it open), and returns the
/// error.
pub(crate) fn fail_task<Io: ClientIo>(
    client: &Client<Io>,
    direction: Direction,
    name: &str,
    error: Error,
) -> Error {
    match client.task(direction, name) {
        Some(task) => match finish(client, direction, name, task.id, Err(error)) {
            Err(e) => e,
            Ok(()) => unreachable!("finish passes a failure on"),
        },
        None => error,
    }
}
