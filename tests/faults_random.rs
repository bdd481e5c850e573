//! Repeatable randomized faults on real sockets and processes:
//!
//! - downloads whose connections are cut at random offsets, mixed with
//!   stores that ignore the range or fail with 5xx, every file verified;
//! - an upload to the s3s-fs object store killed with SIGKILL at random
//!   points, then rerun by a new process: the store never holds a wrong
//!   object, the rerun's object is exact;
//! - a disk that fills up during a download (a 1 MiB tmpfs);
//! - files the library does not own are never touched.
//!
//! Trial counts: `RESMGR_FAULT_TRIALS` (default 20; CI-sized); the seed:
//! `RESMGR_FAULT_SEED` (default: from the clock, printed so a failure can
//! be replayed).
#![cfg(feature = "http")]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::{upload, FnSource};
use resmgr::transfer::TransferConfig;
use resmgr::ErrorKind;
use serde_json::json;
use support::fault::{partial, serve, FaultServer, Reply, Request, Response};
use support::s3::S3Fs;
use support::transfer::{cut_once_server, upload_file};
use support::*;

fn trials() -> u64 {
    std::env::var("RESMGR_FAULT_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

fn seed(test: &str) -> u64 {
    let seed = std::env::var("RESMGR_FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!(
        "{test}: RESMGR_FAULT_SEED={seed} RESMGR_FAULT_TRIALS={}",
        trials()
    );
    seed
}

/// xorshift64*: small, seedable, good enough to pick offsets.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What the store does with request i of a trial.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// Cut the body after this many bytes.
    Cut(usize),
    /// Ignore the Range: 200 with the whole object, cut after N.
    IgnoreRange(usize),
    /// 503, to be retried.
    Unavailable,
    /// Answer honestly.
    Honest,
}

#[test]
fn downloads_cut_at_random_offsets_always_end_with_the_exact_file() {
    let seed = seed("random cuts");
    let mut rng = Rng::new(seed);
    let mut total_faults = 0;
    for trial in 0..trials() {
        let len = 1 + rng.below(400 * 1024) as usize;
        let object = Arc::new(data(len, seed ^ trial));
        let faults: Vec<Fault> = (0..1 + rng.below(6))
            .map(|_| match rng.below(10) {
                0 => Fault::Unavailable,
                1 => Fault::IgnoreRange(rng.below(len as u64) as usize),
                _ => Fault::Cut(rng.below(len as u64) as usize),
            })
            .collect();
        total_faults += faults.len();
        let script_faults = faults.clone();
        let obj = object.clone();
        let server = FaultServer::start(move |i, r: &Request| {
            let answer = match script_faults.get(i).copied().unwrap_or(Fault::Honest) {
                Fault::Honest => serve(&obj, r),
                Fault::Unavailable => Response::new(503, "<Error><Code>SlowDown</Code></Error>"),
                Fault::Cut(n) => serve(&obj, r).cut_after(n),
                Fault::IgnoreRange(n) => Response::new(200, obj.to_vec()).cut_after(n),
            };
            answer.into()
        });
        let dir = tempdir();
        let (client, rec) = client();
        push_download(
            &client,
            "fw.bin",
            len as u64,
            md5_of(&object),
            &server.url("/bucket/fw.bin?sig=1"),
        );
        let config = TransferConfig {
            max_retries: 20,
            checkpoint_bytes: 16 * 1024,
            ..config()
        };
        let mut sink = DirSink::new(dir.path(), "fw.bin").unwrap();
        let result = download(&client, "fw.bin", &mut sink, &config, None);
        let requests = server.requests();
        assert!(
            result.is_ok(),
            "trial {trial} (seed {seed}): {result:?} with faults {faults:?}, requests {requests:#?}"
        );
        let got = std::fs::read(dir.path().join("fw.bin")).unwrap();
        assert!(
            got[..] == object[..],
            "trial {trial} (seed {seed}): the file differs"
        );
        assert_eq!(listing(dir.path()), ["fw.bin"], "trial {trial}");
        rec.assert_final(Direction::Download, "fw.bin", done_report());
        // Every resume asked for exactly the bytes not yet held.
        let mut held = 0u64;
        for (i, r) in requests.iter().enumerate() {
            assert_eq!(
                r.range_start().unwrap_or(0),
                held,
                "trial {trial} request {i} (seed {seed}): {requests:#?}"
            );
            held = match faults.get(i).copied().unwrap_or(Fault::Honest) {
                Fault::Cut(n) => (held + n as u64).min(len as u64),
                Fault::IgnoreRange(n) => n as u64,
                Fault::Unavailable => held,
                Fault::Honest => len as u64,
            };
        }
    }
    eprintln!(
        "random cuts: {} trials, {total_faults} injected faults, every file verified",
        trials()
    );
}

// ---------------------------------------------------------------------------
// SIGKILL during an upload to a real object store, then a rerun
// ---------------------------------------------------------------------------

const CHILD_ENV: &str = "RESMGR_TEST_UPLOAD_KILL_CHILD";
const CHILD_TEST: &str = "upload_kill_child_uploads_slowly_until_killed";

/// The child's side: uploads the job's file slowly (a read callback that
/// sleeps), reporting how far it got. Ignored in a normal run (it would
/// test nothing): the parent runs it with `--ignored --exact` and the job
/// in [`CHILD_ENV`]; without a job it fails.
#[test]
#[ignore = "a child process of an_upload_killed_with_sigkill_at_random_points_leaves_the_store_clean_and_a_rerun_succeeds"]
fn upload_kill_child_uploads_slowly_until_killed() {
    let job = child_job(CHILD_ENV, CHILD_TEST);
    let path = PathBuf::from(job["file"].as_str().unwrap());
    let content = std::fs::read(&path).unwrap();
    let (size, url) = (content.len() as u64, job["url"].as_str().unwrap());
    let (client, _rec) = client();
    upload_task(&client, "log.bin", size, job_md5(&job), url);
    let sent = AtomicUsize::new(0);
    let mut source = FnSource(|offset: u64, buf: &mut [u8]| {
        std::thread::sleep(Duration::from_millis(15));
        let start = (offset as usize).min(content.len());
        let n = buf.len().min(content.len() - start).min(16 * 1024);
        buf[..n].copy_from_slice(&content[start..start + n]);
        sent.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    });
    let result = upload(&client, "log.bin", &mut source, &config(), None);
    panic!("the child upload was not killed; it ended with {result:?}");
}

#[test]
fn an_upload_killed_with_sigkill_at_random_points_leaves_the_store_clean_and_a_rerun_succeeds() {
    let seed = seed("upload kill");
    let mut rng = Rng::new(seed);
    let store = S3Fs::start();
    store.bucket("uploads");
    let n = trials().div_ceil(4).max(2);
    for trial in 0..n {
        let key = format!("log-{trial}.bin");
        let dir = tempdir();
        let path = dir.path().join("log.bin");
        // 1 MiB at ~16 KiB per 15 ms: about a second to upload.
        let content = data(1024 * 1024, seed ^ (trial + 100));
        std::fs::write(&path, &content).unwrap();
        let md5 = md5_of(&content);
        // An older, different object under the same key: a killed upload
        // must not replace it with anything but the complete new one.
        let old = data(1000, trial);
        store.seed("uploads", &key, &old);
        let url = store.presign("PUT", "uploads", &key, Duration::from_secs(3600));
        let job = json!({"file": path.to_str().unwrap(), "md5": md5.to_hex(), "url": url});
        let logs = tempdir();
        let log = logs.path().join("child.log");
        let mut child = spawn_child(CHILD_TEST, CHILD_ENV, &job, &log);
        let delay = Duration::from_millis(50 + rng.below(900));
        std::thread::sleep(delay);
        if let Some(status) = child.0.try_wait().unwrap() {
            panic!(
                "trial {trial}: the child ended ({status}) before it was killed:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        child.0.kill().unwrap();
        let status = child.0.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "trial {trial}");
        // Give the store a moment to notice the broken connection.
        std::thread::sleep(Duration::from_millis(200));
        let held = store.object("uploads", &key);
        assert!(
            held.as_deref() == Some(&old[..]) || held.as_deref() == Some(&content[..]),
            "trial {trial} (seed {seed}, killed after {delay:?}): the store holds {} bytes that are neither the old nor the new object",
            held.map_or(0, |h| h.len())
        );

        // The rerun: a new process would create a new task and get a URL.
        let (client, rec) = client();
        let url = store.presign("PUT", "uploads", &key, Duration::from_secs(3600));
        upload_task(&client, "log.bin", content.len() as u64, md5, &url);
        upload_file(&client, "log.bin", &path, &config())
            .unwrap_or_else(|e| panic!("trial {trial}: rerun failed: {e}"));
        assert_eq!(
            store.object("uploads", &key).as_deref(),
            Some(&content[..]),
            "trial {trial}: the rerun's object is exact"
        );
        rec.assert_final(Direction::Upload, "log.bin", done_report());
    }
    eprintln!("upload kill: {n} trials, store clean after every kill, every rerun exact");
}

// ---------------------------------------------------------------------------
// Disk full
// ---------------------------------------------------------------------------

/// A 1 MiB tmpfs, unmounted on drop; None when mounting is not allowed.
struct SmallFs {
    dir: tempfile::TempDir,
}

impl SmallFs {
    fn mount() -> Option<SmallFs> {
        let dir = tempdir();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(SmallFs { dir })
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

#[test]
fn a_disk_that_fills_up_fails_the_download_with_io_and_leaves_nothing_at_the_final_path() {
    // Without mount rights (not root): SKIPPED, or a failure under CI=true.
    // (tests/hostile/e2e_faults.py also covers disk full with RLIMIT_FSIZE.)
    let fs = SmallFs::mount();
    if !can_run("mounting a 1 MiB tmpfs (needs root)", fs.is_some()) {
        return;
    }
    let fs = fs.expect("mounted");
    let object = data(3 * 1024 * 1024, 80);
    let server = FaultServer::serving(object.clone());
    let (client, rec) =
        client_with_download("big.bin", &object, &server.url("/bucket/big.bin?sig=1"));
    let mut sink = DirSink::new(fs.dir.path(), "big.bin").unwrap();
    let err = download(&client, "big.bin", &mut sink, &config(), None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("No space left on device"), "{err}");
    assert_eq!(server.requests().len(), 1, "a full disk is not retried");
    let files = listing(fs.dir.path());
    assert!(!files.contains(&"big.bin".to_owned()), "{files:?}");
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "big.bin"),
        -1,
        "No space left on device",
    );
    let strays: Vec<_> = files
        .iter()
        .filter(|f| *f != ".big.bin.resmgr-part" && *f != ".big.bin.resmgr-state")
        .collect();
    assert!(
        strays.is_empty(),
        "only the partial and its state may stay: {files:?}"
    );
}

// ---------------------------------------------------------------------------
// Files the library does not own
// ---------------------------------------------------------------------------

#[test]
fn a_download_never_touches_files_it_does_not_own_in_its_directory() {
    let object = data(300 * 1024, 81);
    // A cut, so that the engine checkpoints its state and resumes.
    let server = cut_once_server(&object, 100_000);
    let dir = tempdir();
    // Files of the user's that merely look related.
    let mine = [
        ".fw.bin.tmp",
        ".fw.tmp",
        "fw.bin.tmp",
        ".fw.bin.resmgr-part.tmp",
        "fw.bin.resmgr-part",
    ];
    for f in mine {
        std::fs::write(dir.path().join(f), b"the user's own file\n").unwrap();
    }
    let (client, rec) =
        client_with_download("fw.bin", &object, &server.url("/bucket/fw.bin?sig=1"));
    let config = TransferConfig {
        checkpoint_bytes: 16 * 1024,
        ..config()
    };
    let mut sink = DirSink::new(dir.path(), "fw.bin").unwrap();
    download(&client, "fw.bin", &mut sink, &config, None).unwrap();
    rec.assert_final(Direction::Download, "fw.bin", done_report());
    for f in mine {
        assert_eq!(
            std::fs::read(dir.path().join(f)).ok().as_deref(),
            Some(&b"the user's own file\n"[..]),
            "the download deleted or changed {f}, which it does not own"
        );
    }
    let _ = (partial as fn(&[u8], usize) -> Response, Reply::ok(""));
}
