//! The `std` layer over the core: what waits and what reads files, for
//! Rust callers and for the C layer alike. The core ([`crate::client`])
//! never does either, so that it builds for a microcontroller.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::client::{no_task, Client, ClientIo, TaskInfo};
use crate::digest::{Md5Digest, Md5Hasher};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::Direction;

/// Size of the buffer used to stream files through the hasher.
const FILE_CHUNK: usize = 64 * 1024;

/// Hashes a whole file in constant memory; returns its size and digest.
pub fn md5_file(path: &Path) -> Result<(u64, Md5Digest)> {
    let mut file = std::fs::File::open(path).map_err(|e| io_error("open", path, &e))?;
    let mut hasher = Md5Hasher::new();
    let mut buf = vec![0u8; FILE_CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error("read", path, &e)),
        };
        hasher.update(&buf[..n]);
    }
    Ok((hasher.len(), hasher.finish()))
}

/// An [`ErrorKind::Io`] error that names the action and the path.
pub(crate) fn io_error(action: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("cannot {action} '{}': {e}", path.display()),
    )
}

/// Hashes the file at `path` (streaming) and creates its upload task,
/// named `name` or, when `None`, after the file's base name. Returns the
/// name, size and MD5 used.
pub fn create_upload_task_from_file<Io: ClientIo>(
    client: &Client<Io>,
    path: &Path,
    name: Option<&str>,
) -> Result<(String, u64, Md5Digest)> {
    let name = match name {
        Some(n) => n.to_owned(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidName,
                    format!(
                        "'{}' has no UTF-8 file name to use as the resource name",
                        path.display()
                    ),
                )
            })?
            .to_owned(),
    };
    crate::protocol::fields::check_name(&name)?;
    let (size, md5) = md5_file(path)?;
    client.create_upload_task(&name, size, md5)?;
    Ok((name, size, md5))
}

/// Wakes whoever waits for a task's URL: a [`ClientIo`] that owns one
/// calls [`notify`](Self::notify) from [`ClientIo::task_changed`], and
/// [`wait_for_url`] waits on it.
#[derive(Default)]
pub struct TaskSignal {
    /// Bumped by every notification, so a waiter can tell that something
    /// changed between its look at the client and its wait.
    generation: Mutex<u64>,
    changed: Condvar,
    /// Threads waiting. Waking a condition variable is a system call even
    /// when nobody waits; this keeps it off the path of every down message.
    waiters: AtomicUsize,
}

impl TaskSignal {
    /// Tells the waiters to look again.
    pub fn notify(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            *self.generation.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            self.changed.notify_all();
        }
    }
}

/// Takes a waiter off the count however [`wait_for_url`] returns.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Blocks until the task has a URL (returns it), ends (rejected by the
/// platform: [`ErrorKind::NoTask`]) or `timeout` passes
/// ([`ErrorKind::Timeout`]). `signal` must be the one the client's
/// [`ClientIo::task_changed`] notifies. For applications that run a
/// transfer on the thread that asked for it; never call it on the thread
/// that feeds down messages (the URL could then never arrive).
pub fn wait_for_url<Io: ClientIo>(
    client: &Client<Io>,
    signal: &TaskSignal,
    direction: Direction,
    name: &str,
    timeout: Duration,
) -> Result<TaskInfo> {
    let deadline = Instant::now() + timeout;
    // Counted before the first look at the client: a change made after
    // that look bumps the generation this thread then waits on.
    signal.waiters.fetch_add(1, Ordering::SeqCst);
    let _waiting = Waiting(&signal.waiters);
    loop {
        let seen = *signal.generation.lock().unwrap_or_else(|e| e.into_inner());
        match client.task(direction, name) {
            None => return Err(no_task(direction, name)),
            Some(t) if t.url.is_some() => return Ok(t),
            Some(_) => {}
        }
        let generation = signal.generation.lock().unwrap_or_else(|e| e.into_inner());
        let left = deadline.saturating_duration_since(Instant::now());
        let (generation, waited) = signal
            .changed
            .wait_timeout_while(generation, left, |g| *g == seen)
            .unwrap_or_else(|e| e.into_inner());
        // The next look at the client happens without the signal's lock.
        drop(generation);
        if waited.timed_out() {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no URL for {} task '{}' within {} ms",
                    direction.as_str(),
                    name.escape_debug(),
                    timeout.as_millis()
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Event;
    use crate::protocol::Qos;
    use std::sync::Arc;

    const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";
    const DOWN: &[u8] = b"$resource/down/service/PROD1/dev1";

    #[derive(Default)]
    struct SignalIo(TaskSignal);

    impl ClientIo for SignalIo {
        fn publish(&self, _: &str, _: &[u8], _: Qos) -> core::result::Result<(), String> {
            Ok(())
        }
        fn event(&self, _: &Event<'_>) {}
        fn task_changed(&self) {
            self.0.notify();
        }
    }

    fn client_with_task() -> Arc<Client<SignalIo>> {
        let c = Arc::new(Client::new("PROD1", "dev1", SignalIo::default()).unwrap());
        c.create_upload_task("a.bin", 3, Md5Digest::from_hex(MD5).unwrap())
            .unwrap();
        c
    }

    fn wait(c: &Client<SignalIo>, ms: u64) -> Result<TaskInfo> {
        let limit = Duration::from_millis(ms);
        wait_for_url(c, &c.io().0, Direction::Upload, "a.bin", limit)
    }

    /// Feeds `message` on another thread once a waiter is counted, so
    /// the tests show a wake-up rather than a first look.
    fn feed_when_waited_for(
        c: &Arc<Client<SignalIo>>,
        message: String,
    ) -> std::thread::JoinHandle<()> {
        let c = c.clone();
        std::thread::spawn(move || {
            while c.io().0.waiters.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            c.handle_down_message(DOWN, message.as_bytes()).unwrap();
        })
    }

    #[test]
    fn wait_for_url_returns_the_url_fed_by_another_thread() {
        let c = client_with_task();
        let feeder = feed_when_waited_for(
            &c,
            format!(
                r#"{{"type":"create_upload_task_rsp","size":3,"name":"a.bin","md5sum":"{MD5}","url":"https://s.example/a"}}"#
            ),
        );
        let task = wait(&c, 60_000).unwrap();
        feeder.join().unwrap();
        assert_eq!(task.url.as_deref(), Some("https://s.example/a"));
    }

    #[test]
    fn wait_for_url_ends_with_no_task_when_the_platform_refuses() {
        let c = client_with_task();
        let feeder = feed_when_waited_for(
            &c,
            r#"{"type":"create_upload_task_rsp","result_code":-7,"result_msg":"quota"}"#.into(),
        );
        let e = wait(&c, 60_000).unwrap_err();
        feeder.join().unwrap();
        assert_eq!(e.kind(), ErrorKind::NoTask, "{}", e.message());
    }

    #[test]
    fn wait_for_url_times_out_when_nothing_comes() {
        let c = client_with_task();
        let e = wait(&c, 20).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.message().contains("a.bin"), "{}", e.message());
    }

    fn md5_of(data: &[u8]) -> Md5Digest {
        let mut h = Md5Hasher::new();
        h.update(data);
        h.finish()
    }

    #[test]
    fn md5_file_hashes_the_whole_file_and_names_missing_ones() {
        let dir = std::env::temp_dir().join(format!("resmgr-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("data.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(md5_file(&path).unwrap(), (data.len() as u64, md5_of(&data)));
        let missing = dir.join("missing.bin");
        let e = md5_file(&missing).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.message().contains("missing.bin"), "{}", e.message());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
