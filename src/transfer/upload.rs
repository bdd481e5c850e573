//! Uploads: PUT with an exact `Content-Length` and `Content-MD5`, streaming
//! from a source in fixed-size chunks. The bytes are hashed as they go out
//! (on a second thread, beside the socket writes: hashing.rs); if they are
//! not the bytes the task announced (the file changed after it was
//! hashed), the last chunk is held back so the store never receives a
//! wrong object, and the upload fails with an MD5 mismatch.

use std::fs::File;
use std::io::Read;
use std::time::Instant;

use ureq::SendBody;

use super::hashing::{with_hash_thread, HashFeed};
use super::http::{self, Failure};
use super::pace::Pace;
use super::retry::with_retries;
use super::{finish, ProgressFn, TransferConfig, CHUNK};
use crate::client::{Client, ClientIo, TaskInfo};
use crate::digest::Md5Hasher;
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::Direction;

/// Where upload data comes from: random access, so a retry can start over.
pub trait UploadSource {
    /// Reads up to `buf.len()` bytes at `offset`; 0 means the data ends.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize>;
}

impl UploadSource for File {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        FileExt::read_at(self, buf, offset)
    }
}

/// A source reading through a function (for C read callbacks).
pub struct FnSource<F: FnMut(u64, &mut [u8]) -> std::io::Result<usize>>(pub F);

impl<F: FnMut(u64, &mut [u8]) -> std::io::Result<usize>> UploadSource for FnSource<F> {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        (self.0)(offset, buf)
    }
}

/// Uploads task `name` (which must have its URL) from `source`, reporting
/// progress and then `done` or `fail`.
pub fn upload<Io: ClientIo>(
    client: &Client<Io>,
    name: &str,
    source: &mut dyn UploadSource,
    config: &TransferConfig,
    progress: Option<&mut ProgressFn<'_>>,
) -> Result<()> {
    let task = super::ready_task(client, Direction::Upload, name)?;
    let mut quiet = |_: u64, _: u64| {};
    let progress: &mut ProgressFn<'_> = match progress {
        Some(p) => p,
        None => &mut quiet,
    };
    let job = Job {
        client,
        name,
        task: &task,
        config,
    };
    let outcome = job.run(source, progress);
    task.cancel.clear_interrupt();
    finish(client, Direction::Upload, name, task.id, outcome)
}

/// One upload: what every attempt sends, where, and how.
struct Job<'a, Io: ClientIo> {
    client: &'a Client<Io>,
    name: &'a str,
    task: &'a TaskInfo,
    config: &'a TransferConfig,
}

impl<Io: ClientIo> Job<'_, Io> {
    /// Attempts the PUT until it succeeds or the retry rules give up.
    fn run(&self, source: &mut dyn UploadSource, progress: &mut ProgressFn<'_>) -> Result<()> {
        let tls = http::tls_config(self.config)?;
        let deadline = self.config.total_timeout.map(|t| Instant::now() + t);
        with_retries(self.config, &self.task.cancel, deadline, || {
            self.attempt(source, progress, &tls, deadline)
        })
        .map_err(|stop| {
            if stop.cancelled {
                Error::new(
                    ErrorKind::Cancelled,
                    format!("upload '{}' cancelled", self.name.escape_debug()),
                )
            } else {
                stop.error
            }
        })
    }

    /// One PUT on a fresh agent, watched by the minimum-speed rule.
    fn attempt(
        &self,
        source: &mut dyn UploadSource,
        progress: &mut ProgressFn<'_>,
        tls: &ureq::tls::TlsConfig,
        deadline: Option<Instant>,
    ) -> std::result::Result<(), Failure> {
        let what = format!("upload '{}'", self.name.escape_debug());
        let url = super::current_url(self.client, Direction::Upload, self.name, self.task);
        let (agent, probe) = http::agent(self.config, tls, deadline);
        let pace = {
            let agent = agent.clone();
            Pace::watch(self.config.min_speed, move || agent.clone().shutdown())
        };
        let exchange = Exchange {
            client: self.client,
            name: self.name,
            task: self.task,
            url: &url,
            agent: &agent,
            probe: &probe,
            pace: &pace,
            what: &what,
        };
        match (exchange.run(source, progress), pace.tripped(&what)) {
            // The watchdog shut the connection down: that is why it failed.
            (Err(_), Some(too_slow)) => Err(Failure::transient(too_slow)),
            (result, _) => result,
        }
    }
}

/// The request body: reads the source, hashes, reports progress, and
/// refuses to hand over the final chunk unless size and MD5 are right.
struct Body<'a, 'p, Io: ClientIo> {
    progress: &'a mut ProgressFn<'p>,
    client: &'a Client<Io>,
    name: &'a str,
    task: &'a TaskInfo,
    source: &'a mut dyn UploadSource,
    /// Every byte handed to the request, in order.
    hashing: &'a HashFeed<'a>,
    /// The minimum-speed rule, told of every byte handed over.
    pace: &'a Pace,
    offset: u64,
    /// Every byte was handed over and was what the task announced.
    verified: bool,
    /// Why this body stopped the request, when it did.
    failure: Option<Error>,
}

impl<Io: ClientIo> Body<'_, '_, Io> {
    fn fail(&mut self, e: Error) -> std::io::Error {
        let io = std::io::Error::other(e.message().to_owned());
        self.failure = Some(e);
        io
    }

    /// Checks what was read against the task once all of it was read.
    fn verify_complete(&mut self) -> Result<()> {
        let mut probe = [0u8; 1];
        let more = self.source.read_at(self.task.size, &mut probe).unwrap_or(0);
        let got = self.hashing.digest();
        if more > 0 || got != self.task.md5 {
            return Err(Error::new(
                ErrorKind::Md5Mismatch,
                format!(
                    "upload '{}': the data is not what was announced ({}); it changed after it was hashed",
                    self.name.escape_debug(),
                    if more > 0 { "it is longer than the task's size".to_owned() } else { format!("MD5 {got}, the task says {}", self.task.md5) }
                ),
            ));
        }
        Ok(())
    }
}

impl<Io: ClientIo> Read for Body<'_, '_, Io> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.task.cancel.is_cancelled() {
            return Err(self.fail(Error::new(ErrorKind::Cancelled, "cancelled")));
        }
        let size = self.task.size;
        let want = (size - self.offset).min(buf.len().min(CHUNK) as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = match self.source.read_at(self.offset, &mut buf[..want]) {
            Ok(n) => n,
            Err(e) => {
                let msg = format!(
                    "upload '{}': reading the data failed at offset {}: {e}",
                    self.name.escape_debug(),
                    self.offset
                );
                return Err(self.fail(Error::new(ErrorKind::Io, msg)));
            }
        };
        if n == 0 {
            let msg = format!(
                "upload '{}': the data ends after {} of {size} bytes; it changed after it was hashed",
                self.name.escape_debug(),
                self.offset
            );
            return Err(self.fail(Error::new(ErrorKind::Md5Mismatch, msg)));
        }
        let mut copy = self.hashing.buffer();
        copy[..n].copy_from_slice(&buf[..n]);
        self.hashing.hash(copy, n);
        self.offset += n as u64;
        if self.offset == size {
            if let Err(e) = self.verify_complete() {
                return Err(self.fail(e));
            }
            self.verified = true;
            self.pace.sent_all();
        }
        self.pace.moved(n as u64);
        let _ = self.client.track_task_progress(
            Direction::Upload,
            self.name,
            self.task.id,
            self.offset,
            crate::port::now_ms(),
        );
        (self.progress)(self.offset, size);
        Ok(n)
    }
}

/// One PUT of an attempt, with what it runs on.
struct Exchange<'a, Io: ClientIo> {
    client: &'a Client<Io>,
    name: &'a str,
    task: &'a TaskInfo,
    url: &'a str,
    agent: &'a ureq::Agent,
    probe: &'a http::SocketProbe,
    pace: &'a Pace,
    what: &'a str,
}

impl<Io: ClientIo> Exchange<'_, Io> {
    fn run(
        &self,
        source: &mut dyn UploadSource,
        progress: &mut ProgressFn<'_>,
    ) -> std::result::Result<(), Failure> {
        let Exchange {
            client,
            name,
            task,
            url,
            agent,
            probe,
            pace,
            what,
        } = *self;
        let (_, outcome) = with_hash_thread(Md5Hasher::new(), |hashing| {
            let mut body = Body {
                client,
                name,
                task,
                source,
                progress,
                hashing,
                pace,
                offset: 0,
                verified: false,
                failure: None,
            };
            if task.size == 0 {
                // Nothing is read during the request: check the source up front.
                body.verify_complete()?;
                body.verified = true;
                pace.sent_all();
            }
            let _ = client.track_task_progress(
                Direction::Upload,
                name,
                task.id,
                0,
                crate::port::now_ms(),
            );
            let interrupt = agent.clone();
            task.cancel.set_interrupt(move || interrupt.shutdown());
            if task.cancel.is_cancelled() {
                return Err(Failure::fatal(Error::new(
                    ErrorKind::Cancelled,
                    "cancelled",
                )));
            }
            let result = agent
                .put(url)
                .header("Content-Length", task.size.to_string())
                .header("Content-MD5", task.md5.to_base64())
                .header("Content-Type", "application/octet-stream")
                // A store that refuses the request (expired signature) answers
                // before the body; without this, a large body fills the socket,
                // the write fails with EPIPE, and the 403 is never read.
                .header("Expect", "100-continue")
                .send(SendBody::from_reader(&mut body));
            match body.failure.take() {
                Some(e) => Err(Failure::fatal(e)),
                // Asked now, while the connection the answer came on is open.
                None => Ok((result, body.verified, body.offset, probe.unacknowledged())),
            }
        });
        let (result, verified, sent, unacknowledged) = outcome?;
        let mut response = result.map_err(|e| http::request_failure(what, e))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return early_answer(what, status, task.size, verified, sent, unacknowledged)
                .map_or(Ok(()), |e| Err(Failure::transient(e)));
        }
        let text = http::error_body(&mut response);
        Err(http::status_failure(Direction::Upload, name, status, &text))
    }
}

/// Why a `2xx` does not mean the store has the object, if it does not: the
/// store answered before the whole body was handed over (e.g. instead of
/// `100 Continue`), or before its side had received all of it (bytes still
/// unacknowledged when the answer came: it stopped reading). A `2xx` counts
/// only when every byte went out, the guarding hash matched, and the store
/// had them all.
fn early_answer(
    what: &str,
    status: u16,
    size: u64,
    verified: bool,
    sent: u64,
    unacknowledged: Option<u64>,
) -> Option<Error> {
    let why = if !verified {
        format!("after only {sent} of {size} bytes were sent")
    } else {
        match unacknowledged {
            Some(n) if n > 0 => {
                format!("before it had received the whole {size}-byte body ({n} bytes of the request were never acknowledged)")
            }
            _ => return None,
        }
    };
    Some(Error::new(
        ErrorKind::BadResponse,
        format!("{what}: the store answered HTTP {status} {why}; that is not counted as done"),
    ))
}
