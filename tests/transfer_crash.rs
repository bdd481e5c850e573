//! A download killed with SIGKILL resumes, in the next process, from its
//! last checkpoint. The test runs its own test binary again as a child
//! process (selected by an environment variable), lets it download slowly,
//! kills it once a checkpoint is on disk, then finishes the download here.
#![cfg(feature = "http")]

mod support;

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::time::Duration;

use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::resume::ResumeState;
use resmgr::transfer::TransferConfig;
use serde_json::json;
use support::fault::FaultServer;
use support::transfer::*;
use support::*;

/// Set (to a JSON job) in the child process only.
const CHILD_ENV: &str = "RESMGR_TEST_CRASH_CHILD";
/// The child test's exact name.
const CHILD_TEST: &str = "crash_child_downloads_until_killed";
const NAME: &str = "image.bin";

/// The child's side: downloads the job's resource with frequent
/// checkpoints. Ignored in an ordinary test run (it would test nothing):
/// the parent runs it with `--ignored --exact` and the job in
/// [`CHILD_ENV`]; without a job it fails.
#[test]
#[ignore = "a child process of a_download_killed_with_sigkill_resumes_from_its_last_checkpoint"]
fn crash_child_downloads_until_killed() {
    let job = child_job(CHILD_ENV, CHILD_TEST);
    let dir = PathBuf::from(job["dir"].as_str().unwrap());
    let (size, url) = (job["size"].as_u64().unwrap(), job["url"].as_str().unwrap());
    let (client, _rec) = client_with_task(NAME, size, job_md5(&job), url);
    let config = TransferConfig {
        checkpoint_bytes: 32 * 1024,
        checkpoint_interval: Duration::from_millis(20),
        ..config()
    };
    let mut sink = DirSink::new(&dir, NAME).unwrap();
    let result = download(&client, NAME, &mut sink, &config, None);
    // Reaching this line means the parent did not kill us in time.
    panic!("the child download was not killed; it ended with {result:?}");
}

#[test]
fn a_download_killed_with_sigkill_resumes_from_its_last_checkpoint() {
    // 4 MiB at 8 KiB every 50 ms: over 20 s, far longer than the test
    // waits for the first checkpoint.
    let object = data(4 * 1024 * 1024 + 5, 60);
    let size = object.len() as u64;
    let md5 = md5_of(&object);
    let slow = slow_server(&object, 8192, Duration::from_millis(50));
    let dir = tempdir();
    let logs = tempdir();
    let log = logs.path().join("child.log");
    let job = json!({
        "dir": dir.path().to_str().unwrap(),
        "url": slow.url(&format!("/bucket/{NAME}?sig=child")),
        "size": size,
        "md5": md5.to_hex(),
    });
    let mut child = spawn_child(CHILD_TEST, CHILD_ENV, &job, &log);

    let state_file = state_path(dir.path(), NAME);
    wait_for(
        "the child's first checkpoint",
        Duration::from_secs(60),
        || {
            if let Some(status) = child.0.try_wait().unwrap() {
                panic!(
                    "the child exited ({status}) before it was killed:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            ResumeState::load(&state_file).filter(|s| s.offset > 0)
        },
    );
    child.0.kill().unwrap();
    let status = child.0.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child died of SIGKILL: {status}"
    );
    assert_eq!(slow.requests().len(), 1, "the child made one request");
    drop(slow);

    assert!(
        !dir.path().join(NAME).exists(),
        "nothing at the final path after a crash"
    );
    let state = ResumeState::load(&state_file).expect("the resume state survives the crash");
    assert_eq!(
        (state.name.as_str(), state.size, state.md5),
        (NAME, size, md5)
    );
    let offset = state.offset;
    assert!(offset > 0 && offset < size, "offset {offset}");
    assert!(
        std::fs::metadata(part_path(dir.path(), NAME))
            .unwrap()
            .len()
            >= offset,
        "the partial file holds at least the checkpointed bytes"
    );

    // The next run of the device: a new client, the same task pushed with a
    // URL on a fast server.
    let fast = FaultServer::serving(object.clone());
    let url = fast.url(&format!("/bucket/{NAME}?sig=next"));
    let (client, rec) = client_with_task(NAME, size, md5, &url);
    let (result, seen) = download_seen(&client, NAME, dir.path(), &config());
    result.unwrap();

    let requests = fast.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(
        requests[0].header("range"),
        Some(format!("bytes={offset}-").as_str())
    );
    assert_eq!(seen.first(), Some(&offset));
    // The resumed file verifies, and is all that is left.
    assert_downloaded(dir.path(), NAME, &object, &rec);
}
