//! A real object store for the tests: the `s3s-fs` binary (an S3 server
//! over a directory) on a free port of 127.0.0.1, and a SigV4 query-string
//! presigner for its PUT and GET URLs.
//!
//! s3s-fs stores object `KEY` of bucket `BUCKET` as the plain file
//! `ROOT/BUCKET/KEY` (metadata, when any, lives in hidden files of ROOT), so
//! tests seed objects and inspect uploads through the file system.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::sigv4::{presign, Presign};

/// Credentials s3s-fs is started with.
pub const ACCESS_KEY: &str = "RESMGRTESTACCESSKEY";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "resmgr/test+secret/key0123456789";
/// The region presigned URLs are signed for.
pub const REGION: &str = "us-east-1";

/// The s3s-fs binary: `$S3S_FS` when set, else `~/.cargo/bin/s3s-fs`
/// (where scripts/setup.sh installs it), else the first in `PATH`. Panics
/// with instructions when there is none: the store tests must fail, not
/// skip, on a machine without it.
pub fn s3s_fs_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "S3S_FS names {}, which is not a file",
            p.display()
        );
        return p;
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let installed = home.join(".cargo/bin/s3s-fs");
    if installed.is_file() {
        return installed;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("s3s-fs");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "the s3s-fs object store is not installed (looked for {} and in PATH); these tests need it: \
         run scripts/setup.sh or `cargo install --locked s3s-fs --version 0.14.1`",
        installed.display()
    );
}

/// A running s3s-fs; killed and reaped when dropped.
pub struct S3Fs {
    child: Child,
    addr: SocketAddr,
    /// The directory s3s-fs serves.
    pub root: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl S3Fs {
    /// Starts s3s-fs on a free port and waits (bounded) until it accepts
    /// connections.
    pub fn start() -> S3Fs {
        let binary = s3s_fs_binary();
        let dir = super::tempdir();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let mut failures = Vec::new();
        // A port found free may be taken before s3s-fs binds it: try again.
        for attempt in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log = dir.path().join(format!("s3s-fs-{attempt}.log"));
            let out = std::fs::File::create(&log).unwrap();
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .env_remove("RUST_LOG")
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            match wait_ready(&mut child, addr, &log, Duration::from_secs(30)) {
                Ok(()) => {
                    return S3Fs {
                        child,
                        addr,
                        root,
                        log,
                        _dir: dir,
                    }
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let retry = why.contains("in use");
                    failures.push(why);
                    if !retry {
                        break;
                    }
                }
            }
        }
        panic!("s3s-fs ({}) did not start: {failures:#?}", binary.display());
    }

    /// What s3s-fs logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `host:port` of the store.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Creates bucket `name` (a directory under the root).
    pub fn bucket(&self, name: &str) -> PathBuf {
        let p = self.root.join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Where the store keeps object `key` of `bucket`.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    /// Stores object `key` in `bucket` with `data`.
    pub fn seed(&self, bucket: &str, key: &str, data: &[u8]) {
        self.bucket(bucket);
        std::fs::write(self.object_path(bucket, key), data).unwrap();
    }

    /// The object's bytes, if the store holds it.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.object_path(bucket, key)).ok()
    }

    /// A presigned URL for `method` on `bucket/key`, valid for `expires`
    /// from now.
    pub fn presign(&self, method: &str, bucket: &str, key: &str, expires: Duration) -> String {
        self.presign_at(method, bucket, key, expires, SystemTime::now())
    }

    /// A presigned URL as if signed at `at` (in the past: possibly expired
    /// already).
    pub fn presign_at(
        &self,
        method: &str,
        bucket: &str,
        key: &str,
        expires: Duration,
        at: SystemTime,
    ) -> String {
        presign(&Presign {
            method,
            authority: &self.authority(),
            path: &format!("/{bucket}/{key}"),
            access_key: ACCESS_KEY,
            secret_key: SECRET_KEY,
            region: REGION,
            expires,
            at,
        })
    }
}

/// Waits until `child` accepts connections at `addr`; the reason (with
/// its log) when it exits or does not within `limit`.
fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    log: &Path,
    limit: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("s3s-fs exited with {status}: {log}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!(
                "s3s-fs did not accept connections on {addr} within {limit:?}: {log}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for S3Fs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
