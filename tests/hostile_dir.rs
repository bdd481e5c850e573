//! A hostile co-user of the download directory (issue 10's audit): files
//! planted at the partial, state and lock paths — FIFOs, hard links to
//! other files, files of another user, a partial swapped mid-download —
//! and a second download of the same name at the same time. The download
//! never hangs on them, never writes through them, and never puts bytes it
//! did not verify at the final path.
#![cfg(feature = "http")]

mod support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::resume::ResumeState;
use resmgr::transfer::TransferConfig;
use resmgr::{ErrorKind, Result};
use support::fault::{FaultServer, Request};
use support::transfer::{assert_downloaded, slow_server};
use support::*;

const LIMIT: Duration = Duration::from_secs(60);

/// Makes a FIFO at `path` with mkfifo(1).
fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo")
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// A resume state claiming that the partial of `object` holds `offset`
/// bytes.
fn forge_state(dir: &Path, name: &str, object: &[u8], offset: u64) {
    ResumeState {
        name: name.into(),
        size: object.len() as u64,
        md5: md5_of(object),
        offset,
    }
    .save(&state_path(dir, name))
    .unwrap();
}

/// Pushes `name` of `object` served by `server` and downloads it into
/// `dir` on another thread (bounded by [`LIMIT`], so a hang fails the
/// test), with a total time limit of 2 s and a cancel after 3 s as the
/// audit had them. Returns the outcome, the reports and the progress seen.
fn download_bounded(
    server: &FaultServer,
    dir: &Path,
    name: &'static str,
    object: &[u8],
) -> (Result<()>, std::sync::Arc<Recorder>, Vec<u64>) {
    let (client, rec) = client();
    push_download(
        &client,
        name,
        object.len() as u64,
        md5_of(object),
        &server.url(&format!("/bucket/{name}?sig=1")),
    );
    let config = TransferConfig {
        total_timeout: Some(Duration::from_secs(2)),
        ..config()
    };
    let (ended, end) = std::sync::mpsc::channel::<()>();
    let canceller = {
        let client = client.clone();
        std::thread::spawn(move || {
            if end.recv_timeout(Duration::from_secs(3)).is_err() {
                let _ = client.cancel(Direction::Download, name);
            }
        })
    };
    let dir = dir.to_owned();
    let (result, seen) = bounded("a download into a hostile directory", LIMIT, move || {
        let mut seen = Vec::new();
        let mut progress = |done: u64, _: u64| seen.push(done);
        let result = DirSink::new(&dir, name)
            .and_then(|mut sink| download(&client, name, &mut sink, &config, Some(&mut progress)));
        (result, seen)
    });
    let _ = ended.send(());
    canceller.join().unwrap();
    (result, rec, seen)
}

fn ranges(requests: &[Request]) -> Vec<Option<u64>> {
    requests.iter().map(Request::range_start).collect()
}

fn assert_done_with(dir: &Path, name: &str, object: &[u8], rec: &Recorder) {
    let got = std::fs::read(dir.join(name)).unwrap();
    assert!(got == object, "the final file is the object");
    rec.assert_final(Direction::Download, name, done_report());
}

// ---------------------------------------------------------------------------
// Defect 6: a FIFO in the download directory
// ---------------------------------------------------------------------------

#[test]
fn a_fifo_at_the_state_path_is_not_opened_and_the_download_completes() {
    let object = data(100 * 1024, 90);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    mkfifo(&state_path(dir.path(), "fw.bin"));

    let (result, rec, _) = download_bounded(&server, dir.path(), "fw.bin", &object);

    result.unwrap();
    assert_downloaded(dir.path(), "fw.bin", &object, &rec);
}

#[test]
fn a_fifo_at_the_partial_path_with_a_matching_state_is_not_resumed() {
    let object = data(100 * 1024, 91);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    mkfifo(&part_path(dir.path(), "fw.bin"));
    forge_state(dir.path(), "fw.bin", &object, 4096);

    let (result, rec, seen) = download_bounded(&server, dir.path(), "fw.bin", &object);

    result.unwrap();
    assert_eq!(seen.first(), Some(&0), "nothing is resumed from a FIFO");
    assert_eq!(ranges(&server.requests()), [None]);
    assert_done_with(dir.path(), "fw.bin", &object, &rec);
    assert_eq!(listing(dir.path()), ["fw.bin"]);
}

// ---------------------------------------------------------------------------
// Defect 5: a partial that is another file (hard link, another owner)
// ---------------------------------------------------------------------------

/// Plants `victim` (outside the download directory) as the partial of
/// `fw.bin` with `plant`, forges a state claiming its first 10 bytes, and
/// runs a download that fails (`failing`: the store's bytes have the
/// wrong MD5) or succeeds. The victim must keep its content either way.
fn planted_partial(plant: fn(&Path, &Path), failing: bool) {
    let object = data(100 * 1024, 92);
    let served = if failing {
        data(100 * 1024, 93)
    } else {
        object.clone()
    };
    let server = FaultServer::serving(served);
    let (base, dir) = downloads_dir();
    let victim = base.path().join("victim.db");
    let precious = b"precious data of another file, not a download".to_vec();
    std::fs::write(&victim, &precious).unwrap();
    plant(&victim, &part_path(&dir, "fw.bin"));
    forge_state(&dir, "fw.bin", &object, 10);

    let (result, rec, seen) = download_bounded(&server, &dir, "fw.bin", &object);

    assert_eq!(
        std::fs::read(&victim).unwrap(),
        precious,
        "the planted partial's other name must keep its content"
    );
    assert_eq!(seen.first(), Some(&0), "the planted partial is not resumed");
    assert_eq!(ranges(&server.requests()), [None]);
    if failing {
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Md5Mismatch);
        assert!(!dir.join("fw.bin").exists());
    } else {
        result.unwrap();
        assert_done_with(&dir, "fw.bin", &object, &rec);
        assert_ne!(
            std::fs::metadata(dir.join("fw.bin")).unwrap().ino(),
            std::fs::metadata(&victim).unwrap().ino(),
            "the final file is not the victim"
        );
    }
}

fn hard_link(victim: &Path, part: &Path) {
    std::fs::hard_link(victim, part).unwrap();
    assert_eq!(std::fs::metadata(part).unwrap().nlink(), 2);
}

#[test]
fn a_hard_linked_partial_is_not_truncated_by_a_failing_download() {
    planted_partial(hard_link, true);
}

#[test]
fn a_hard_linked_partial_is_not_overwritten_by_a_successful_download() {
    planted_partial(hard_link, false);
}

#[test]
fn a_partial_owned_by_another_user_is_not_resumed() {
    if !can_run("chown a file to another user", broker::is_root()) {
        return;
    }
    // The victim is the foreign partial itself: it must be neither
    // truncated nor written; a fresh partial replaces its name.
    let object = data(100 * 1024, 94);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    let part = part_path(dir.path(), "fw.bin");
    let precious = b"another user's file, longer than ten bytes".to_vec();
    std::fs::write(&part, &precious).unwrap();
    std::os::unix::fs::chown(&part, Some(65534), Some(65534)).unwrap();
    // An open descriptor to look at that file afterwards, whatever
    // happens to its name.
    let mut foreign = std::fs::File::open(&part).unwrap();
    assert_eq!(foreign.metadata().unwrap().nlink(), 1);
    forge_state(dir.path(), "fw.bin", &object, 10);

    let (result, rec, seen) = download_bounded(&server, dir.path(), "fw.bin", &object);

    result.unwrap();
    assert_eq!(seen.first(), Some(&0), "the foreign partial is not resumed");
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut foreign, &mut content).unwrap();
    assert_eq!(content, precious, "the foreign file is untouched");
    assert_eq!(foreign.metadata().unwrap().uid(), 65534);
    assert_done_with(dir.path(), "fw.bin", &object, &rec);
}

// ---------------------------------------------------------------------------
// Defect 4: the partial swapped before commit
// ---------------------------------------------------------------------------

/// Another writer of the directory renames its own file over the partial
/// once `at` bytes arrived; the engine keeps writing (and hashing) through
/// its descriptor, so the MD5 verifies, but the file at the partial path is
/// no longer the one it wrote.
fn swapped_partial(at: u64) {
    let object = data(300 * 1024, 95);
    let server = FaultServer::serving(object.clone());
    let dir = tempdir();
    let evil = data(object.len(), 96);
    let (client, rec) =
        client_with_download("fw.bin", &object, &server.url("/bucket/fw.bin?sig=1"));
    let path = dir.path().to_owned();
    let planted = dir.path().join("evil.bin");
    let mut swapped = false;
    let mut progress = |done: u64, _: u64| {
        if done >= at && !swapped {
            swapped = true;
            std::fs::write(&planted, &evil).unwrap();
            std::fs::rename(&planted, part_path(&path, "fw.bin")).unwrap();
        }
    };
    let mut sink = DirSink::new(dir.path(), "fw.bin").unwrap();
    let result = download(&client, "fw.bin", &mut sink, &config(), Some(&mut progress));
    drop(sink);

    assert!(swapped, "the test swapped the partial");
    let err = result.expect_err("a swapped partial must not be committed");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.message().contains("replaced"), "{err}");
    assert!(
        !dir.path().join("fw.bin").exists(),
        "nothing unverified at the final path"
    );
    assert_fail_with_text(
        &rec.only_final_report(Direction::Download, "fw.bin"),
        -1,
        "replaced",
    );
}

#[test]
fn a_partial_swapped_mid_download_is_never_committed() {
    swapped_partial(100 * 1024);
}

#[test]
fn a_partial_swapped_after_the_last_byte_is_never_committed() {
    swapped_partial(300 * 1024);
}

// ---------------------------------------------------------------------------
// Suspected: two downloads of the same name into the same directory
// ---------------------------------------------------------------------------

fn lock_path(dir: &Path, name: &str) -> std::path::PathBuf {
    dir.join(format!(".{name}.resmgr-lock"))
}

#[test]
fn a_second_download_of_the_same_name_into_the_same_directory_is_refused_while_one_runs() {
    let object = data(512 * 1024, 97);
    // Slow enough that the second one surely comes while the first runs.
    let slow = slow_server(&object, 16 * 1024, Duration::from_millis(20));
    let dir = tempdir();
    let (client, rec) = client_with_download("fw.bin", &object, &slow.url("/bucket/fw.bin?sig=1"));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let first = {
        let client = client.clone();
        let dir = dir.path().to_owned();
        std::thread::spawn(move || {
            let mut sink = DirSink::new(&dir, "fw.bin").unwrap();
            let mut told = false;
            let mut progress = |done: u64, _: u64| {
                if done > 0 && !told {
                    told = true;
                    let _ = started_tx.send(());
                }
            };
            download(&client, "fw.bin", &mut sink, &config(), Some(&mut progress))
        })
    };
    started_rx
        .recv_timeout(LIMIT)
        .expect("the first download receives bytes");

    // The second, on this thread (the same task, another sink): refused at
    // once, nothing fetched, nothing reported.
    let mut second = DirSink::new(dir.path(), "fw.bin").unwrap();
    let err = download(&client, "fw.bin", &mut second, &config(), None)
        .expect_err("a second download of the same name and directory is refused");
    assert_eq!(err.kind(), ErrorKind::InUse, "{err}");
    assert!(err.message().contains("another download"), "{err}");
    assert!(rec.final_reports(Direction::Download, "fw.bin").is_empty());
    assert!(
        client.task(Direction::Download, "fw.bin").is_some(),
        "the task stays the first one's"
    );

    first.join().unwrap().unwrap();
    assert_done_with(dir.path(), "fw.bin", &object, &rec);
    assert_eq!(
        listing(dir.path()),
        ["fw.bin"],
        "the lock file goes with the download"
    );
    assert_eq!(slow.requests().len(), 1, "only the first one fetched");
}

#[test]
fn a_download_whose_lock_another_process_holds_is_refused() {
    let dir = tempdir();
    let lock = lock_path(dir.path(), "fw.bin");
    let marker = dir.path().join("locked");
    // flock(1) takes the lock the way the library does (flock on the file);
    // --no-fork: the process that holds it is the one killed below.
    let mut holder = Command::new("flock")
        .arg("--no-fork")
        .arg(&lock)
        .args(["sh", "-c"])
        .arg(format!("touch '{}'; exec sleep 60", marker.display()))
        .spawn()
        .expect("run flock(1)");
    wait_for("the other process to hold the lock", LIMIT, || {
        marker.exists().then_some(())
    });

    let object = data(10_000, 98);
    let server = FaultServer::serving(object.clone());
    let (first, rec, _) = download_bounded(&server, dir.path(), "fw.bin", &object);
    let _ = holder.kill();
    let _ = holder.wait();

    let err = first.expect_err("the lock is held by another process");
    assert_eq!(err.kind(), ErrorKind::InUse, "{err}");
    assert!(server.requests().is_empty(), "nothing fetched");
    assert!(rec.final_reports(Direction::Download, "fw.bin").is_empty());
    // The holder died without removing its lock file: a stale one is
    // taken over, and removed at the end.
    let (again, rec, _) = download_bounded(&server, dir.path(), "fw.bin", &object);
    again.expect("the lock is free once the holder died");
    assert_done_with(dir.path(), "fw.bin", &object, &rec);
    assert_eq!(listing(dir.path()), ["fw.bin", "locked"]);
}

#[test]
fn a_symlink_or_fifo_at_the_lock_path_is_replaced_not_followed() {
    let (base, dir) = downloads_dir();
    let target = base.path().join("target");
    std::fs::write(&target, b"not a lock").unwrap();
    std::os::unix::fs::symlink(&target, lock_path(&dir, "a.bin")).unwrap();
    mkfifo(&lock_path(&dir, "b.bin"));
    std::fs::hard_link(&target, lock_path(&dir, "c.bin")).unwrap();

    let object = data(10_000, 99);
    let server = FaultServer::serving(object.clone());
    for name in ["a.bin", "b.bin", "c.bin"] {
        let (result, rec, _) = download_bounded(&server, &dir, name, &object);
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_done_with(&dir, name, &object, &rec);
    }
    assert_eq!(listing(&dir), ["a.bin", "b.bin", "c.bin"]);
    assert_eq!(std::fs::read(&target).unwrap(), b"not a lock");
    assert_eq!(std::fs::metadata(&target).unwrap().nlink(), 1);
}
