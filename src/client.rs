//! The sans-IO client: the device's upload and download tasks, keyed by
//! name, driven by calls from the application and by down messages.
//!
//! It owns no socket, no thread and no clock, never blocks (but for the
//! moment its table's lock is held for a map operation) and never reads a
//! file: it builds without `std`. Messages to publish go out through
//! [`ClientIo::publish`]; everything the application must know comes out
//! through [`ClientIo::event`]; time comes in as milliseconds. All of
//! `ClientIo` is called with no internal lock held, so it may call back
//! into the client. What waits (for a URL) or reads files (to hash one) is
//! in the `std` layer, `crate::device`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;

use crate::cancel::CancelToken;
use crate::digest::Md5Digest;
use crate::error::{Error, ErrorKind, Escaped, Result};
use crate::limits::{MAX_PENDING_ACKS, MAX_TASKS};
use crate::port::{Mutex, MutexGuard};
use crate::prelude::*;
use crate::progress::{percent, ProgressPolicy, Throttle};
use crate::protocol::up::{self, Report};
use crate::protocol::{
    parse_down_message, Direction, DownMessage, Outcome, ProgressState, Qos, Resource, Topics,
    UpMessage,
};

/// The two ways out of the client: publishing and telling the application.
pub trait ClientIo: Send + Sync {
    /// Publishes `payload` on `topic` (always the device's up topic).
    /// An `Err` carries the reason, which becomes part of the error the
    /// operation returns.
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> core::result::Result<(), String>;

    /// Tells the application something happened. Called on the thread that
    /// made the call which caused it (usually the one feeding down messages).
    fn event(&self, event: &Event<'_>);

    /// A task may have got its URL or ended: whoever waits for one (the
    /// `std` layer's `device::TaskSignal`) looks again. Called after each
    /// down message and each report that ends a task. Nothing by default.
    fn task_changed(&self) {}
}

/// Lets one transport be shared, e.g. with the thread that owns the MQTT
/// connection.
impl<T: ClientIo + ?Sized> ClientIo for Arc<T> {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> core::result::Result<(), String> {
        (**self).publish(topic, payload, qos)
    }

    fn event(&self, event: &Event<'_>) {
        (**self).event(event)
    }

    fn task_changed(&self) {
        (**self).task_changed()
    }
}

/// What a resource looks like in an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskView<'a> {
    /// Resource name.
    pub name: &'a str,
    /// Size in bytes.
    pub size: u64,
    /// Expected MD5.
    pub md5: Md5Digest,
    /// Presigned URL.
    pub url: &'a str,
}

/// Something the application should know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// The platform gave an upload task its URL: PUT the data there.
    UploadUrl(TaskView<'a>),
    /// A download task arrived, answering `get_download_task` or pushed.
    /// One whose name is in flight with another size or MD5 replaces that
    /// task (whose transfer's cancel token fires).
    DownloadTask {
        /// What to download.
        task: TaskView<'a>,
        /// True when pushed unasked (`download`).
        pushed: bool,
    },
    /// A response or push for a task that already has its URL: the URL in
    /// it (possibly fresh) replaced the old one. Nothing else changed.
    UrlRefreshed {
        /// Upload or download.
        direction: Direction,
        /// The task, with the URL now stored.
        task: TaskView<'a>,
        /// True when it came as an unasked `download` push.
        pushed: bool,
    },
    /// The platform answered `get_download_task`: nothing to download.
    NoDownloadTask {
        /// The platform's code (0 when it sent none).
        result_code: i32,
        /// The platform's text.
        result_msg: &'a str,
    },
    /// The platform acknowledged a progress report.
    ProgressAck {
        /// Direction of the report.
        direction: Direction,
        /// The task the report was for, as far as it can be told.
        name: Option<&'a str>,
        /// The platform's text.
        result_msg: &'a str,
    },
    /// A task that had not started was forgotten to make room for a new
    /// one: the task table was full ([`crate::limits::MAX_TASKS`]) and it
    /// was the oldest for which no progress had been tracked or reported.
    /// The platform is not told; a `get_download_task` finds the task
    /// again if the platform still has it.
    TaskDropped {
        /// Upload or download.
        direction: Direction,
        /// The task forgotten.
        name: &'a str,
        /// Why, for a log.
        detail: &'a str,
    },
    /// The platform rejected a task (non-zero `result_code` in a response).
    /// The task, if known, has been removed and its transfer's cancel
    /// token fired: stop transferring it.
    TaskRejected {
        /// Upload or download.
        direction: Direction,
        /// The task, as far as it can be told.
        name: Option<&'a str>,
        /// The platform's code.
        result_code: i32,
        /// The platform's text.
        result_msg: &'a str,
    },
    /// The platform's final verdict on an upload.
    UploadResult {
        /// The upload's name, when the platform sent it.
        name: Option<&'a str>,
        /// 0 when the platform accepted the upload.
        result_code: i32,
        /// The platform's text.
        result_msg: &'a str,
    },
    /// A valid response that matches nothing this client asked for.
    /// It was ignored.
    UnmatchedResponse {
        /// The message's `type`.
        message_type: &'static str,
        /// The name it carried, if any.
        name: Option<&'a str>,
        /// Why it matches nothing.
        detail: &'a str,
    },
    /// The built-in MQTT connection is up and subscribed (feature `mqtt`).
    Connected,
    /// The built-in MQTT connection went down; it reconnects by itself
    /// until disconnected by the application (feature `mqtt`).
    Disconnected {
        /// Why.
        reason: &'a str,
        /// [`ErrorKind::NotAuthorized`] or [`ErrorKind::Tls`] when retrying
        /// cannot help (the broker refused the login, the certificate is
        /// not trusted); [`ErrorKind::Network`] otherwise.
        kind: ErrorKind,
    },
    /// A down message of a `type` this library does not know. Ignored.
    UnknownMessage {
        /// Says which type.
        error: &'a Error,
    },
    /// A down message that could not be accepted (wrong topic, not JSON,
    /// invalid field, task table full...). Ignored.
    MessageRejected {
        /// What was wrong.
        error: &'a Error,
    },
}

/// Where a task stands, as [`Client::task_state`] tells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// No task of that name is in flight: it never was, or a `done` or
    /// `fail` report ended it, or the platform rejected or dropped it.
    None,
    /// An upload task the platform has not yet given a URL.
    WaitingForUrl,
    /// The task has its URL; no progress was tracked or reported yet.
    Ready,
    /// Progress was tracked or reported: its transfer began. Only a `done`
    /// or `fail` report (or the platform) ends it.
    Started,
}

/// A task as the client currently knows it.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// The task's identity: unique within the client. A task the platform
    /// replaces (same name, new size or MD5) or a later task of the same
    /// name gets another one, so a transfer can tell its own task from a
    /// successor.
    pub id: u64,
    /// Size in bytes.
    pub size: u64,
    /// Expected MD5.
    pub md5: Md5Digest,
    /// The presigned URL, once the platform has sent it.
    pub url: Option<String>,
    /// Cancels the task's transfer.
    pub cancel: Arc<CancelToken>,
}

#[derive(Debug)]
struct Task {
    id: u64,
    size: u64,
    md5: Md5Digest,
    url: Option<String>,
    throttle: Throttle,
    cancel: Arc<CancelToken>,
    /// Progress was tracked or reported for it: its transfer has begun.
    /// A task that has not started may give way to a newer one when the
    /// table is full.
    started: bool,
}

impl Task {
    fn new(id: u64, size: u64, md5: Md5Digest, url: Option<&str>) -> Self {
        Task {
            id,
            size,
            md5,
            url: url.map(str::to_owned),
            throttle: Throttle::default(),
            cancel: Arc::new(CancelToken::new()),
            started: false,
        }
    }

    fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id,
            size: self.size,
            md5: self.md5,
            url: self.url.clone(),
            cancel: self.cancel.clone(),
        }
    }

    fn same_resource(&self, r: &Resource<'_>) -> bool {
        self.size == r.size && self.md5 == r.md5
    }

    /// Stores a URL, reusing the old string's buffer.
    fn set_url(&mut self, url: &str) {
        match &mut self.url {
            Some(s) => {
                s.clear();
                s.push_str(url);
            }
            None => self.url = Some(url.to_owned()),
        }
    }
}

#[derive(Default)]
struct Tasks {
    /// A B-tree rather than a hash map: at most 64 entries, and no random
    /// seed to find on a microcontroller.
    by_name: BTreeMap<String, Task>,
    /// Names of progress reports sent and not yet acknowledged, oldest
    /// first. Acks carry no name; they are matched to reports in order.
    pending_acks: VecDeque<String>,
}

#[derive(Default)]
struct State {
    uploads: Tasks,
    downloads: Tasks,
    /// `get_download_task` requests not yet answered.
    download_queries: u32,
    policy: ProgressPolicy,
    /// The id the next task gets.
    next_id: u64,
}

impl State {
    fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn tasks(&mut self, direction: Direction) -> &mut Tasks {
        match direction {
            Direction::Upload => &mut self.uploads,
            Direction::Download => &mut self.downloads,
        }
    }
}

/// The device's resource-management client.
///
/// Thread-safe: share it (e.g. in an `Arc`) between the thread feeding down
/// messages and application threads.
pub struct Client<Io> {
    topics: Topics,
    io: Io,
    state: Mutex<State>,
}

/// An event to emit once the lock is released, owning what it refers to.
enum Pending {
    None,
    Unmatched(&'static str, Option<String>, String),
    Event(OwnedEvent),
}

/// The variants of [`Event`] whose data comes from the task table rather
/// than from the message.
enum OwnedEvent {
    Rejected(Direction, Option<String>),
    Ack(Direction, Option<String>),
}

impl<Io: ClientIo> Client<Io> {
    /// A client for the device `product_id`/`device_name`.
    pub fn new(product_id: &str, device_name: &str, io: Io) -> Result<Self> {
        Ok(Client {
            topics: Topics::new(product_id, device_name)?,
            io,
            state: Mutex::new(State::default()),
        })
    }

    /// The device's topics.
    pub fn topics(&self) -> &Topics {
        &self.topics
    }

    /// The I/O this client was built with.
    pub fn io(&self) -> &Io {
        &self.io
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    fn publish(&self, what: &str, message: &UpMessage) -> Result<()> {
        self.io
            .publish(self.topics.up(), &message.payload, message.qos)
            .map_err(|reason| {
                Error::new(
                    ErrorKind::Publish,
                    format!("publishing {what} failed: {reason}"),
                )
            })
    }

    /// Sets when the throttled progress helpers publish.
    pub fn set_progress_policy(&self, policy: ProgressPolicy) {
        self.lock().policy = policy;
    }

    /// Creates an upload task and asks the platform for its URL
    /// (`create_upload_task`). The answer arrives as [`Event::UploadUrl`].
    ///
    /// Asking again for a task in flight with the same size and MD5 requests
    /// a fresh URL; with a different size or MD5 it is a
    /// [`ErrorKind::TaskConflict`].
    pub fn create_upload_task(&self, name: &str, size: u64, md5: Md5Digest) -> Result<()> {
        let message = up::create_upload_task(name, size, &md5)?;
        let inserted = {
            let mut state = self.lock();
            let id = state.new_id();
            let tasks = &mut state.uploads.by_name;
            let full = tasks.len() >= MAX_TASKS;
            match tasks.get_mut(name) {
                Some(t) if t.size != size || t.md5 != md5 => {
                    return Err(Error::new(
                        ErrorKind::TaskConflict,
                        format!(
                            "upload task '{name}' is in flight with size {} and md5 {}; finish it before creating one with size {size} and md5 {md5}",
                            t.size, t.md5
                        ),
                    ))
                }
                Some(t) => {
                    t.url = None;
                    false
                }
                None if full => {
                    return Err(Error::new(
                        ErrorKind::TooManyTasks,
                        format!("{MAX_TASKS} upload tasks are in flight; finish one first"),
                    ))
                }
                None => {
                    tasks.insert(name.to_owned(), Task::new(id, size, md5, None));
                    true
                }
            }
        };
        self.publish("create_upload_task", &message)
            .inspect_err(|_| {
                if inserted {
                    self.lock().uploads.by_name.remove(name);
                }
            })
    }

    /// Asks the platform for the device's download task
    /// (`get_download_task`). The answer arrives as [`Event::DownloadTask`]
    /// or [`Event::NoDownloadTask`].
    pub fn get_download_task(&self) -> Result<()> {
        {
            let mut state = self.lock();
            state.download_queries = state.download_queries.saturating_add(1);
        }
        self.publish("get_download_task", &up::get_download_task())
            .inspect_err(|_| {
                let mut state = self.lock();
                state.download_queries = state.download_queries.saturating_sub(1);
            })
    }

    /// What the client knows of a task in flight.
    pub fn task(&self, direction: Direction, name: &str) -> Option<TaskInfo> {
        let mut state = self.lock();
        state.tasks(direction).by_name.get(name).map(Task::info)
    }

    /// Where the task under `name` stands: whether it is in flight, and
    /// how far.
    pub fn task_state(&self, direction: Direction, name: &str) -> TaskState {
        let mut state = self.lock();
        match state.tasks(direction).by_name.get(name) {
            None => TaskState::None,
            Some(t) if t.started => TaskState::Started,
            Some(t) if t.url.is_some() => TaskState::Ready,
            Some(_) => TaskState::WaitingForUrl,
        }
    }

    /// Cancels the running transfer of a task, from any thread. The
    /// transfer stops, reports `fail` and returns [`ErrorKind::Cancelled`].
    pub fn cancel(&self, direction: Direction, name: &str) -> Result<()> {
        let token = {
            let mut state = self.lock();
            let task = state.tasks(direction).by_name.get(name);
            task.map(|t| t.cancel.clone())
                .ok_or_else(|| no_task(direction, name))?
        };
        // Outside the lock: the hook shuts connections down.
        token.cancel();
        Ok(())
    }

    /// Publishes one progress report as given (`report_upload_progress` or
    /// `report_download_progress`). A `done` or `fail` report ends the task
    /// and cancels its running transfer, if any (which then ends without a
    /// report of its own). No task needs to exist: this is the protocol's
    /// raw report.
    pub fn report_progress(
        &self,
        direction: Direction,
        name: &str,
        report: &Report<'_>,
    ) -> Result<()> {
        self.send_report(direction, name, None, report)
    }

    /// Ends task `id` with its final report (`done` or `fail`), as a
    /// transfer does when it ends. Nothing is published when the task is no
    /// longer in flight or the name now belongs to another task (the
    /// platform replaced or rejected it while the transfer ran): a report
    /// names only the resource, so the platform would take it for the
    /// successor's. That is an [`ErrorKind::NoTask`] error.
    pub fn end_task(
        &self,
        direction: Direction,
        name: &str,
        id: u64,
        report: &Report<'_>,
    ) -> Result<()> {
        debug_assert!(report.state != ProgressState::InProgress);
        self.send_report(direction, name, Some(id), report)
    }

    /// True while task `id` is the task in flight under `name`.
    pub fn holds_task(&self, direction: Direction, name: &str, id: u64) -> bool {
        let mut state = self.lock();
        own_task(state.tasks(direction), name, Some(id)).is_some()
    }

    /// Publishes a report for the task under `name`, which must be task
    /// `own` when that is given.
    fn send_report(
        &self,
        direction: Direction,
        name: &str,
        own: Option<u64>,
        report: &Report<'_>,
    ) -> Result<()> {
        let message = up::report_progress(direction, name, report)?;
        let final_report = report.state != ProgressState::InProgress;
        let removed = {
            let mut state = self.lock();
            let tasks = state.tasks(direction);
            if own.is_some() && own_task(tasks, name, own).is_none() {
                return Err(ended_elsewhere(direction, name));
            }
            push_pending(&mut tasks.pending_acks, name);
            if final_report {
                tasks.by_name.remove(name)
            } else {
                if let Some(task) = tasks.by_name.get_mut(name) {
                    task.started = true;
                }
                None
            }
        };
        if let Err(e) = self.publish(message_name(direction), &message) {
            let mut state = self.lock();
            let tasks = state.tasks(direction);
            forget_pending(&mut tasks.pending_acks, name);
            if let Some(task) = removed {
                tasks.by_name.entry(name.to_owned()).or_insert(task);
            }
            return Err(e);
        }
        if let Some(task) = removed {
            // The application ended the task: its transfer, if one runs,
            // must not go on (nor report) for it.
            if own.is_none() {
                task.cancel.cancel();
            }
            // Whoever waits for this task's URL learns it ended.
            self.io.task_changed();
        }
        Ok(())
    }

    /// Tells the client `bytes_done` of the task's bytes are transferred at
    /// `now_ms` (milliseconds of a monotonic clock: `crate::port::now_ms`);
    /// publishes an in-progress report when the progress policy says it is
    /// worth it. Returns whether a report was published.
    pub fn track_progress(
        &self,
        direction: Direction,
        name: &str,
        bytes_done: u64,
        now_ms: u64,
    ) -> Result<bool> {
        self.track(direction, name, None, bytes_done, now_ms)
    }

    /// As [`track_progress`](Self::track_progress), for task `id` only: a
    /// transfer's progress never goes out for a successor of its task.
    pub fn track_task_progress(
        &self,
        direction: Direction,
        name: &str,
        id: u64,
        bytes_done: u64,
        now_ms: u64,
    ) -> Result<bool> {
        self.track(direction, name, Some(id), bytes_done, now_ms)
    }

    fn track(
        &self,
        direction: Direction,
        name: &str,
        own: Option<u64>,
        bytes_done: u64,
        now_ms: u64,
    ) -> Result<bool> {
        let (pct, before) = {
            let mut state = self.lock();
            let policy = state.policy;
            let tasks = state.tasks(direction);
            let Some(task) = own_task(tasks, name, own) else {
                return Err(no_task(direction, name));
            };
            task.started = true;
            if bytes_done > task.size {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!(
                        "{bytes_done} bytes done is more than the {} bytes of {} '{name}'",
                        task.size,
                        direction.as_str()
                    ),
                ));
            }
            let pct = percent(bytes_done, task.size);
            let before = task.throttle;
            if !task.throttle.admit(pct, now_ms, &policy) {
                return Ok(false);
            }
            push_pending(&mut tasks.pending_acks, name);
            (pct, before)
        };
        let message = up::report_progress(direction, name, &Report::in_progress(pct))?;
        self.publish(message_name(direction), &message)
            .inspect_err(|_| {
                let mut state = self.lock();
                let tasks = state.tasks(direction);
                forget_pending(&mut tasks.pending_acks, name);
                if let Some(task) = own_task(tasks, name, own) {
                    if task.throttle.last_percent() == Some(pct) {
                        task.throttle.revert(before);
                    }
                }
            })
            .map(|()| true)
    }

    /// Handles one message that arrived on `topic`.
    ///
    /// Valid messages update the tasks and produce events. Invalid ones are
    /// reported both as the returned error and as an
    /// [`Event::MessageRejected`] / [`Event::UnknownMessage`], so that a
    /// transport which ignores the return value still surfaces them.
    pub fn handle_down_message(&self, topic: &[u8], payload: &[u8]) -> Result<()> {
        let result = self
            .topics
            .check_down(topic)
            .and_then(|()| parse_down_message(payload));
        let message = match result {
            Ok(m) => m,
            Err(error) => {
                self.io
                    .event(&if error.kind() == ErrorKind::UnknownMessage {
                        Event::UnknownMessage { error: &error }
                    } else {
                        Event::MessageRejected { error: &error }
                    });
                return Err(error);
            }
        };
        let pending = match &message {
            DownMessage::UploadUrl(r) => self.on_upload_url(r),
            DownMessage::UploadRefused { name, outcome } => {
                self.on_upload_refused(name.as_deref(), outcome)
            }
            DownMessage::DownloadTask { resource, pushed } => {
                match self.on_download_task(resource, *pushed) {
                    Ok(p) => p,
                    Err(error) => {
                        self.io.event(&Event::MessageRejected { error: &error });
                        return Err(error);
                    }
                }
            }
            DownMessage::NoDownloadTask { pushed, outcome } => {
                if !*pushed && !self.take_download_query() {
                    Pending::Unmatched(
                        "get_download_task_rsp",
                        None,
                        "no get_download_task is waiting for an answer".into(),
                    )
                } else {
                    self.io.event(&Event::NoDownloadTask {
                        result_code: outcome.code,
                        result_msg: &outcome.msg,
                    });
                    Pending::None
                }
            }
            DownMessage::ProgressAck { direction, outcome } => {
                self.on_progress_ack(*direction, outcome)
            }
            DownMessage::UploadResult { name, outcome } => {
                self.io.event(&Event::UploadResult {
                    name: name.as_deref(),
                    result_code: outcome.code,
                    result_msg: &outcome.msg,
                });
                Pending::None
            }
        };
        self.io.task_changed();
        match pending {
            Pending::None => {}
            Pending::Unmatched(message_type, name, detail) => {
                self.io.event(&Event::UnmatchedResponse {
                    message_type,
                    name: name.as_deref(),
                    detail: &detail,
                })
            }
            Pending::Event(OwnedEvent::Rejected(direction, name)) => {
                let outcome = match &message {
                    DownMessage::UploadRefused { outcome, .. }
                    | DownMessage::ProgressAck { outcome, .. } => outcome,
                    _ => unreachable!("only refusals and acks reject tasks"),
                };
                self.io.event(&Event::TaskRejected {
                    direction,
                    name: name.as_deref(),
                    result_code: outcome.code,
                    result_msg: &outcome.msg,
                })
            }
            Pending::Event(OwnedEvent::Ack(direction, name)) => {
                let DownMessage::ProgressAck { outcome, .. } = &message else {
                    unreachable!("only acks are acks")
                };
                self.io.event(&Event::ProgressAck {
                    direction,
                    name: name.as_deref(),
                    result_msg: &outcome.msg,
                })
            }
        }
        Ok(())
    }

    fn take_download_query(&self) -> bool {
        let mut state = self.lock();
        if state.download_queries == 0 {
            return false;
        }
        state.download_queries -= 1;
        true
    }

    fn on_upload_url(&self, r: &Resource<'_>) -> Pending {
        let duplicate = {
            let mut state = self.lock();
            match state.uploads.by_name.get_mut(&*r.name) {
                None => {
                    return Pending::Unmatched(
                        "create_upload_task_rsp",
                        Some(r.name.to_string()),
                        format!("no upload task named '{}' is waiting for a URL", Escaped(&r.name)),
                    )
                }
                Some(t) if !t.same_resource(r) => {
                    return Pending::Unmatched(
                        "create_upload_task_rsp",
                        Some(r.name.to_string()),
                        format!(
                            "upload task '{}' has size {} and md5 {}, the response says size {} and md5 {}",
                            Escaped(&r.name),
                            t.size,
                            t.md5,
                            r.size,
                            r.md5
                        ),
                    )
                }
                Some(t) => {
                    let duplicate = t.url.is_some();
                    t.set_url(&r.url);
                    duplicate
                }
            }
        };
        let task = view(r);
        self.io.event(&if duplicate {
            Event::UrlRefreshed {
                direction: Direction::Upload,
                task,
                pushed: false,
            }
        } else {
            Event::UploadUrl(task)
        });
        Pending::None
    }

    fn on_upload_refused(&self, name: Option<&str>, outcome: &Outcome<'_>) -> Pending {
        let (pending, removed) = self.remove_refused_upload(name, outcome);
        stop_transfer(removed);
        pending
    }

    fn remove_refused_upload(
        &self,
        name: Option<&str>,
        outcome: &Outcome<'_>,
    ) -> (Pending, Option<Task>) {
        let mut state = self.lock();
        let tasks = &mut state.uploads.by_name;
        let (name, removed) = match name {
            Some(n) if tasks.contains_key(n) => (Some(n.to_owned()), tasks.remove(n)),
            Some(n) => {
                let pending = Pending::Unmatched(
                    "create_upload_task_rsp",
                    Some(n.to_owned()),
                    format!(
                        "refusal (code {}) for '{}', which has no upload task",
                        outcome.code,
                        Escaped(n)
                    ),
                );
                return (pending, None);
            }
            None => {
                // Without a name the refusal can be pinned on a task only if
                // exactly one is waiting for its URL.
                let mut waiting = tasks
                    .iter()
                    .filter(|(_, t)| t.url.is_none())
                    .map(|(n, _)| n);
                match (waiting.next(), waiting.next()) {
                    (Some(only), None) => {
                        let only = only.clone();
                        let removed = tasks.remove(&only);
                        (Some(only), removed)
                    }
                    _ => (None, None),
                }
            }
        };
        (
            Pending::Event(OwnedEvent::Rejected(Direction::Upload, name)),
            removed,
        )
    }

    fn on_download_task(&self, r: &Resource<'_>, pushed: bool) -> Result<Pending> {
        let mut dropped = None;
        let (duplicate, replaced) = {
            let mut state = self.lock();
            let id = state.new_id();
            if !pushed {
                if state.download_queries == 0 {
                    return Ok(Pending::Unmatched(
                        "get_download_task_rsp",
                        Some(r.name.to_string()),
                        "no get_download_task is waiting for an answer".into(),
                    ));
                }
                state.download_queries -= 1;
            }
            let tasks = &mut state.downloads.by_name;
            let full = tasks.len() >= MAX_TASKS;
            match tasks.get_mut(&*r.name) {
                Some(t) if t.same_resource(r) => {
                    t.set_url(&r.url);
                    (true, None)
                }
                Some(t) => {
                    // Same name, new content: the platform replaced the
                    // resource. The new task supersedes the old one, whose
                    // transfer (if one runs) is cancelled.
                    let old = core::mem::replace(t, Task::new(id, r.size, r.md5, Some(&r.url)));
                    (false, Some(old))
                }
                None => {
                    if full {
                        // The oldest task not started gives way; a table
                        // of started tasks refuses.
                        let Some(oldest) = oldest_unstarted(tasks) else {
                            return Err(Error::new(
                                ErrorKind::TooManyTasks,
                                format!(
                                    "download task '{}' refused: {MAX_TASKS} download tasks are in flight, all started",
                                    Escaped(&r.name)
                                ),
                            ));
                        };
                        dropped = tasks.remove_entry(&oldest);
                    }
                    let task = Task::new(id, r.size, r.md5, Some(&r.url));
                    tasks.insert(r.name.to_string(), task);
                    (false, None)
                }
            }
        };
        stop_transfer(replaced);
        if let Some((name, task)) = dropped {
            let detail = format!(
                "download task '{}' dropped to make room for '{}': {MAX_TASKS} download tasks were in flight and it was the oldest not started",
                Escaped(&name),
                Escaped(&r.name)
            );
            stop_transfer(Some(task));
            self.io.event(&Event::TaskDropped {
                direction: Direction::Download,
                name: &name,
                detail: &detail,
            });
        }
        let task = view(r);
        self.io.event(&if duplicate {
            Event::UrlRefreshed {
                direction: Direction::Download,
                task,
                pushed,
            }
        } else {
            Event::DownloadTask { task, pushed }
        });
        Ok(Pending::None)
    }

    fn on_progress_ack(&self, direction: Direction, outcome: &Outcome<'_>) -> Pending {
        let (pending, removed) = self.match_progress_ack(direction, outcome);
        stop_transfer(removed);
        pending
    }

    /// Matches an ack to the oldest report waiting for one; a rejecting ack
    /// removes that report's task.
    fn match_progress_ack(
        &self,
        direction: Direction,
        outcome: &Outcome<'_>,
    ) -> (Pending, Option<Task>) {
        let mut state = self.lock();
        let tasks = state.tasks(direction);
        let Some(name) = tasks.pending_acks.pop_front() else {
            let pending = Pending::Unmatched(
                match direction {
                    Direction::Upload => "report_upload_progress_rsp",
                    Direction::Download => "report_download_progress_rsp",
                },
                None,
                format!(
                    "no {} progress report is waiting for an ack",
                    direction.as_str()
                ),
            );
            return (pending, None);
        };
        if outcome.code == 0 {
            return (Pending::Event(OwnedEvent::Ack(direction, Some(name))), None);
        }
        let removed = tasks.by_name.remove(&name);
        (
            Pending::Event(OwnedEvent::Rejected(direction, Some(name))),
            removed,
        )
    }
}

/// The name of the oldest task for which no progress was tracked or
/// reported.
fn oldest_unstarted(tasks: &BTreeMap<String, Task>) -> Option<String> {
    tasks
        .iter()
        .filter(|(_, t)| !t.started)
        .min_by_key(|(_, t)| t.id)
        .map(|(n, _)| n.clone())
}

/// Cancels the running transfer, if any, of a task the platform replaced or
/// removed. Called with no lock held: the cancel hook shuts connections
/// down.
fn stop_transfer(task: Option<Task>) {
    if let Some(task) = task {
        task.cancel.cancel();
    }
}

fn view<'a>(r: &'a Resource<'_>) -> TaskView<'a> {
    TaskView {
        name: &r.name,
        size: r.size,
        md5: r.md5,
        url: &r.url,
    }
}

fn message_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Upload => "report_upload_progress",
        Direction::Download => "report_download_progress",
    }
}

pub(crate) fn no_task(direction: Direction, name: &str) -> Error {
    Error::new(
        ErrorKind::NoTask,
        format!(
            "no {} task named '{}' is in flight",
            direction.as_str(),
            Escaped(name)
        ),
    )
}

/// The task under `name`, if it is task `own` (any task when `own` is
/// `None`).
fn own_task<'a>(tasks: &'a mut Tasks, name: &str, own: Option<u64>) -> Option<&'a mut Task> {
    tasks
        .by_name
        .get_mut(name)
        .filter(|t| own.is_none_or(|id| t.id == id))
}

/// A transfer's end for a task that is gone or was replaced.
pub(crate) fn ended_elsewhere(direction: Direction, name: &str) -> Error {
    Error::new(
        ErrorKind::NoTask,
        format!(
            "{} task '{}' was replaced, rejected or ended while its transfer ran; \
             its transfer stopped and reported nothing (a report would be taken \
             for the task now under that name)",
            direction.as_str(),
            Escaped(name)
        ),
    )
}

fn push_pending(queue: &mut VecDeque<String>, name: &str) {
    if queue.len() >= MAX_PENDING_ACKS {
        queue.pop_front();
    }
    queue.push_back(name.to_owned());
}

fn forget_pending(queue: &mut VecDeque<String>, name: &str) {
    if let Some(i) = queue.iter().rposition(|n| n == name) {
        queue.remove(i);
    }
}
