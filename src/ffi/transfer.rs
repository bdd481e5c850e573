//! Transfers for C (feature `http`): blocking calls that run one task's
//! upload or download on the calling thread, and the one-call file upload.

use std::ffi::{c_char, c_void};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::boundary::{mut_arg, opt_str_arg, ref_arg, status_call, str_arg};
use super::client::resmgr_client;
use super::status::resmgr_status;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::download::FnSink;
use crate::transfer::run::{self, DownloadTo, UploadFrom};
use crate::transfer::upload::FnSource;
use crate::transfer::{MinSpeed, TransferConfig};

/// Timeouts, retries, the minimum speed and TLS roots of transfers.
/// Initialise with `resmgr_transfer_options_init`, change what you need,
/// then pass to `resmgr_client_set_transfer_options`.
///
/// No transfer hangs forever with the defaults: a silent store is ended by
/// the idle timeout, a store that trickles (a byte now and then, each read
/// in time) by the minimum speed, and retries are bounded by `max_retries`;
/// `total_timeout_ms` additionally bounds a whole transfer's duration.
///
/// ABI: `min_speed_bytes_per_s` and `min_speed_window_ms` were added at
/// the end before 1.0 (issue 10); code compiled against an older header
/// passes a shorter struct and must be rebuilt.
#[repr(C)]
pub struct resmgr_transfer_options {
    /// Limit for establishing a connection, TCP and TLS (default 10000).
    pub connect_timeout_ms: u32,
    /// Limit for any single read or write to stall (default 30000).
    pub idle_timeout_ms: u32,
    /// Limit for a whole transfer including retries; 0 for none (default).
    pub total_timeout_ms: u32,
    /// Retries after the first attempt, for transient failures: connection
    /// errors, timeouts, HTTP 408/429/5xx (default 5). Downloads retry by
    /// resuming where they stopped.
    pub max_retries: u32,
    /// Delay before the first retry, doubled each time with jitter
    /// (default 500).
    pub backoff_initial_ms: u32,
    /// Longest delay between retries (default 30000).
    pub backoff_max_ms: u32,
    /// PEM file of CA certificates to trust for https URLs. NULL: the
    /// built-in Mozilla roots (feature `bundled-roots`, on by default), else
    /// the system's CA bundle. Copied.
    pub ca_file: *const c_char,
    /// The least each attempt of a transfer must move, in bytes per second
    /// averaged over `min_speed_window_ms` (default 1024): in every such
    /// window (sliding) at least `min_speed_bytes_per_s × window` bytes of
    /// the body must be received (download) or sent (upload); waiting for
    /// the response headers counts as nothing moved. An attempt below it is
    /// ended as RESMGR_ERR_TIMEOUT and retried (a download resumes).
    ///
    /// The default is a safety net against stores that trickle, not a
    /// quality bar: 1 KiB/s is 100 times below a slow-but-alive 100 KB/s
    /// link (a 1 GiB transfer at that speed takes about three hours and is
    /// never ended by the rule) and below GPRS and NB-IoT's usual rates,
    /// while a store sending a byte a second is ended within about a
    /// minute per attempt. 0 turns the rule off: only when you set it so.
    pub min_speed_bytes_per_s: u32,
    /// The window of `min_speed_bytes_per_s`, in milliseconds (default
    /// 60000: a minute rides out a cell handover). It also bounds how long
    /// a store may take to answer an upload whose whole body it has. Must
    /// be above 0 while the rule is on.
    pub min_speed_window_ms: u32,
}

/// Receives a transfer's progress: `done` of `total` bytes of task `name`.
/// Called on the thread running the transfer, as often as data moves.
pub type resmgr_progress_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, name: *const c_char, done: u64, total: u64)>;

/// Supplies upload data: copy up to `len` bytes starting at `offset` into
/// `buf` and return how many were copied; 0 means the data ends; a negative
/// value is an error. Offsets restart at 0 when an upload is retried. After
/// the task's size is reached the library asks once more, at offset ==
/// size, to make sure the data did not grow: return 0 there.
pub type resmgr_read_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, offset: u64, buf: *mut u8, len: usize) -> i64>;

/// Receives download data: store `len` bytes at `offset` and return 0, or
/// non-zero to fail the download. Offsets are contiguous; after a restart
/// (the store ignored a resume request) they start again at 0, overwriting.
pub type resmgr_write_fn =
    Option<unsafe extern "C" fn(user: *mut c_void, offset: u64, buf: *const u8, len: usize) -> i32>;

/// Fills `*options` with the defaults.
///
/// # Safety
/// `options` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn resmgr_transfer_options_init(
    options: *mut resmgr_transfer_options,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let o = unsafe { mut_arg(options, "options") }?;
        let d = TransferConfig::default();
        let ms = |t: Duration| u32::try_from(t.as_millis()).unwrap_or(u32::MAX);
        *o = resmgr_transfer_options {
            connect_timeout_ms: ms(d.connect_timeout),
            idle_timeout_ms: ms(d.idle_timeout),
            total_timeout_ms: 0,
            max_retries: d.max_retries,
            backoff_initial_ms: ms(d.backoff_initial),
            backoff_max_ms: ms(d.backoff_max),
            ca_file: std::ptr::null(),
            min_speed_bytes_per_s: d.min_speed.map_or(0, |m| m.bytes_per_second),
            min_speed_window_ms: d.min_speed.map_or(0, |m| ms(m.window)),
        };
        Ok(())
    })
}

/// Sets the transfer options of `client` for transfers started afterwards.
/// The CA file, if any, is read now so that a wrong path fails here.
///
/// Errors: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8, RESMGR_ERR_INVALID_ARG
/// (a zero connect or idle timeout, a zero `min_speed_window_ms` with a
/// minimum speed), RESMGR_ERR_TLS (CA file unreadable or without
/// certificates).
///
/// # Safety
/// `client` is NULL or a live client; `options` is NULL or readable, its
/// `ca_file` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_set_transfer_options(
    client: *const resmgr_client,
    options: *const resmgr_transfer_options,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ref_arg(client, "client") }?;
        // SAFETY: per this function's contract.
        let o = unsafe { ref_arg(options, "options") }?;
        // SAFETY: per this function's contract.
        let ca_file = unsafe { opt_str_arg(o.ca_file, "ca_file") }?.map(PathBuf::from);
        if o.connect_timeout_ms == 0 || o.idle_timeout_ms == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "connect_timeout_ms and idle_timeout_ms must be above 0",
            ));
        }
        if o.min_speed_bytes_per_s > 0 && o.min_speed_window_ms == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "min_speed_window_ms must be above 0 while min_speed_bytes_per_s is (0 turns the minimum speed off)",
            ));
        }
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let config = TransferConfig {
            connect_timeout: ms(o.connect_timeout_ms),
            idle_timeout: ms(o.idle_timeout_ms),
            total_timeout: (o.total_timeout_ms > 0).then(|| ms(o.total_timeout_ms)),
            min_speed: (o.min_speed_bytes_per_s > 0).then(|| MinSpeed {
                bytes_per_second: o.min_speed_bytes_per_s,
                window: ms(o.min_speed_window_ms),
            }),
            max_retries: o.max_retries,
            backoff_initial: ms(o.backoff_initial_ms),
            backoff_max: ms(o.backoff_max_ms),
            ca_file,
            ..TransferConfig::default()
        };
        crate::transfer::http::tls_config(&config)?;
        *c.transfer_config.lock().unwrap_or_else(|e| e.into_inner()) = config;
        Ok(())
    })
}

/// A progress callback as a Rust closure (no-op when NULL).
struct Progress {
    cb: resmgr_progress_fn,
    user: *mut c_void,
    name: std::ffi::CString,
}

impl Progress {
    fn new(cb: resmgr_progress_fn, user: *mut c_void, name: &str) -> Progress {
        Progress {
            cb,
            user,
            name: std::ffi::CString::new(name).expect("names come from NUL-terminated strings"),
        }
    }

    fn call(&self, done: u64, total: u64) {
        if let Some(cb) = self.cb {
            // SAFETY: the caller supplied the callback for this use; the name
            // lives as long as self.
            unsafe { cb(self.user, self.name.as_ptr(), done, total) }
        }
    }
}

/// Where a run call's data is: a file (or directory) path, or a callback.
enum Data<'a, F> {
    Path(&'a Path),
    Callback(F),
}

/// The arguments every run call starts with: the client, the task's name,
/// and exactly one of a path and a callback, each given with its
/// parameter's name for the error messages.
///
/// # Safety
/// `client` is NULL or a live client; `name` is NUL-terminated; the path
/// is NULL or NUL-terminated.
unsafe fn run_args<'a, F>(
    client: *const resmgr_client,
    name: *const c_char,
    (path, path_param): (*const c_char, &str),
    (callback, callback_param): (Option<F>, &str),
) -> Result<(&'a resmgr_client, &'a str, Data<'a, F>)> {
    // SAFETY: forwarded contract.
    let c = unsafe { ref_arg(client, "client") }?;
    // SAFETY: forwarded contract.
    let name = unsafe { str_arg(name, "name") }?;
    // SAFETY: forwarded contract.
    let path = unsafe { opt_str_arg(path, path_param) }?;
    let data = match (path, callback) {
        (Some(path), None) => Data::Path(Path::new(path)),
        (None, Some(callback)) => Data::Callback(callback),
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("give exactly one of {path_param} and {callback_param}"),
            ))
        }
    };
    Ok((c, name, data))
}

/// Runs the upload of task `name` to its end on the calling thread: PUT
/// with Content-Length and Content-MD5, retries as configured, throttled
/// progress reports, and the final `done` or `fail` report (the task then
/// ends). The data comes from the file at `path` or, when `path` is NULL,
/// from `read` (exactly one of them). The task must have its URL
/// (RESMGR_EVENT_UPLOAD_URL). `progress` may be NULL.
///
/// The data is hashed while it is sent: if it is not what the task
/// announced (the file changed after it was hashed), the upload stops
/// before the store receives the last byte, with RESMGR_ERR_MD5_MISMATCH.
///
/// A 2xx answer counts only when the whole body went out, the hash
/// matched, and the store's side had acknowledged every byte when the
/// answer came (asked of the kernel, on Linux): a store that answers 2xx
/// early (instead of 100 Continue, or part-way and then stops reading) gets
/// RESMGR_ERR_BAD_RESPONSE, retried like a 5xx, never `done`.
///
/// How the call ends the task (the same rule for every run call):
///
/// - RESMGR_OK: the task ended with a `done` report.
/// - Ended with a `fail` report carrying the matching result code:
///   RESMGR_ERR_IO (also a file that cannot be opened),
///   RESMGR_ERR_MD5_MISMATCH (-4), RESMGR_ERR_SIGN_INVALID (-3),
///   RESMGR_ERR_NOT_FOUND (-2), RESMGR_ERR_TIMEOUT, RESMGR_ERR_NETWORK,
///   RESMGR_ERR_HTTP, RESMGR_ERR_BAD_RESPONSE (an early 2xx, above),
///   RESMGR_ERR_TLS, RESMGR_ERR_CANCELLED (others -1).
/// - Left as it was, nothing reported: RESMGR_ERR_NULL_ARG, RESMGR_ERR_UTF8,
///   RESMGR_ERR_INVALID_ARG (both or neither of path/read), RESMGR_ERR_NO_URL
///   (run it once RESMGR_EVENT_UPLOAD_URL came), RESMGR_ERR_NO_TASK (no task
///   of that name, see below), and RESMGR_ERR_PUBLISH: the data is in the
///   store but the `done` report could not be published (report it again).
/// - Whatever the failure, when its `fail` report cannot be published the
///   task stays open (resmgr_client_task_state shows it): report it again.
///
/// RESMGR_ERR_NO_TASK, also when the task was taken away while the
/// transfer ran: the platform replaced it (the same name pushed with
/// another size or MD5), rejected it (RESMGR_EVENT_TASK_REJECTED), or a
/// DONE/FAIL report ended it. The transfer is then cancelled and reports
/// nothing, since a report names only the resource and the platform would
/// take it for the task now under that name; a replacing task stays in
/// flight for its own run.
///
/// Blocks until the transfer ends: never call it on the thread that feeds
/// down messages, nor from a callback.
///
/// # Safety
/// `client` is a live client; strings are NUL-terminated (or NULL where
/// allowed); the callbacks and their user pointers are valid for the call.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_run_upload(
    client: *const resmgr_client,
    name: *const c_char,
    path: *const c_char,
    read: resmgr_read_fn,
    read_user: *mut c_void,
    progress: resmgr_progress_fn,
    progress_user: *mut c_void,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let (c, name, data) = unsafe { run_args(client, name, (path, "path"), (read, "read")) }?;
        let p = Progress::new(progress, progress_user, name);
        let config = c.transfer_config();
        let mut source;
        let from = match data {
            Data::Path(path) => UploadFrom::File(path),
            Data::Callback(read) => {
                source = FnSource(move |offset: u64, buf: &mut [u8]| {
                    // SAFETY: the callback was supplied for this use; buf is
                    // valid for buf.len() bytes during the call.
                    let n = unsafe { read(read_user, offset, buf.as_mut_ptr(), buf.len()) };
                    match usize::try_from(n) {
                        Ok(n) if n <= buf.len() => Ok(n),
                        Ok(n) => Err(std::io::Error::other(format!(
                            "read callback returned {n} for a {}-byte buffer",
                            buf.len()
                        ))),
                        Err(_) => Err(std::io::Error::other(format!("read callback returned {n}"))),
                    }
                });
                UploadFrom::Source(&mut source)
            }
        };
        run::run_upload(
            c.client(),
            name,
            from,
            &config,
            Some(&mut |d, t| p.call(d, t)),
        )
    })
}

/// Runs the download of task `name` to its end on the calling thread: GET
/// (resuming with Range where possible), MD5 verification, throttled
/// progress reports, and the final `done` or `fail` report.
///
/// With `dir`, the file is written as `dir/<name>` via a hidden partial
/// file and resume state beside it (`.<name>.resmgr-part`,
/// `.<name>.resmgr-state`), and renamed into place only once verified; a
/// later run for the same resource (same name, size and MD5, any URL)
/// continues where an interrupted one stopped, even after a crash. The name
/// must be a plain file name (RESMGR_ERR_UNSAFE_NAME otherwise). With
/// `dir` NULL, data goes to `write` instead (exactly one of them), always
/// from offset 0; on a failure the data written must be discarded.
///
/// While it runs, a download into `dir` holds `dir/.<name>.resmgr-lock`
/// (an exclusive flock(2), removed at the end): a second download of the
/// same name into the same directory, from this process or another, gets
/// RESMGR_ERR_IN_USE at once and changes nothing. Files planted in `dir`
/// by others are never followed, waited on or written through: a partial
/// is resumed only when it is a regular file with one link owned by this
/// process's user, and the file renamed into place is proven (device and
/// inode) to be the one written and verified.
///
/// How the call ends the task: as `resmgr_client_run_upload` says, with
/// these statuses besides:
///
/// - Ended with a `fail` report: RESMGR_ERR_UNSAFE_NAME (nothing is
///   fetched: no directory can hold that name), RESMGR_ERR_IO (also a
///   directory that does not exist or cannot be used, and a partial file
///   replaced by another file during the download: nothing is put in
///   place), RESMGR_ERR_BAD_RESPONSE.
/// - Left open, nothing reported: RESMGR_ERR_IN_USE (another download of
///   that name into `dir` is running; the task is that run's), and
///   RESMGR_ERR_URL_EXPIRED: the partial file is kept; call
///   resmgr_client_get_download_task for a fresh URL and run again.
///
/// # Safety
/// As for `resmgr_client_run_upload`.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_run_download(
    client: *const resmgr_client,
    name: *const c_char,
    dir: *const c_char,
    write: resmgr_write_fn,
    write_user: *mut c_void,
    progress: resmgr_progress_fn,
    progress_user: *mut c_void,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let (c, name, data) = unsafe { run_args(client, name, (dir, "dir"), (write, "write")) }?;
        let p = Progress::new(progress, progress_user, name);
        let config = c.transfer_config();
        let mut sink;
        let to = match data {
            Data::Path(dir) => DownloadTo::Dir(dir),
            Data::Callback(write) => {
                sink = FnSink::new(move |offset: u64, data: &[u8]| {
                    // SAFETY: the callback was supplied for this use; data is
                    // valid for data.len() bytes during the call.
                    match unsafe { write(write_user, offset, data.as_ptr(), data.len()) } {
                        0 => Ok(()),
                        rc => Err(Error::new(
                            ErrorKind::Io,
                            format!("write callback returned {rc} at offset {offset}"),
                        )),
                    }
                });
                DownloadTo::Sink(&mut sink)
            }
        };
        run::run_download(
            c.client(),
            name,
            to,
            &config,
            Some(&mut |d, t| p.call(d, t)),
        )
    })
}

/// Uploads a file in one call, for threaded applications: hashes it,
/// creates its upload task (named `name`, or the file's base name when
/// NULL), waits up to `url_timeout_ms` for the platform's URL — which
/// another thread must deliver by feeding down messages — then runs the
/// upload as `resmgr_client_run_upload` does.
///
/// How the call ends the task: a file that cannot be hashed
/// (RESMGR_ERR_IO) or a task that cannot be created (the errors of
/// `resmgr_client_create_upload_task`) leaves no task; RESMGR_ERR_TIMEOUT
/// when no URL came in time ends the task with a `fail` report;
/// RESMGR_ERR_NO_TASK when the platform refused the task (it is gone);
/// after the URL came, as `resmgr_client_run_upload` says.
///
/// # Safety
/// As for `resmgr_client_run_upload`.
#[no_mangle]
pub unsafe extern "C" fn resmgr_client_upload_file(
    client: *const resmgr_client,
    path: *const c_char,
    name: *const c_char,
    url_timeout_ms: u32,
    progress: resmgr_progress_fn,
    progress_user: *mut c_void,
) -> resmgr_status {
    status_call(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ref_arg(client, "client") }?;
        // SAFETY: per this function's contract.
        let path = unsafe { str_arg(path, "path") }?;
        // SAFETY: per this function's contract.
        let name = unsafe { opt_str_arg(name, "name") }?;
        let config = c.transfer_config();
        let timeout = Duration::from_millis(u64::from(url_timeout_ms));
        let signal = &c.client().io().task_signal;
        // The task's name is known once the file is hashed: the C
        // progress callback's copy of it is made at the first call.
        let mut named: Option<Progress> = None;
        let mut on_progress = |name: &str, done: u64, total: u64| {
            named
                .get_or_insert_with(|| Progress::new(progress, progress_user, name))
                .call(done, total)
        };
        run::upload_file(
            c.client(),
            signal,
            Path::new(path),
            name,
            timeout,
            &config,
            Some(&mut on_progress),
        )
        .map(drop)
    })
}
