//! The s3s-fs object store on a loopback port, with URLs presigned by the
//! tests' SigV4 presigner (tests/support/sigv4.rs, included by path).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

#[path = "../../tests/support/sigv4.rs"]
mod sigv4;

const ACCESS_KEY: &str = "RESMGRBENCHACCESSKEY";
const SECRET_KEY: &str = "resmgr/bench+secret/key0123456789";
const REGION: &str = "us-east-1";

/// A running s3s-fs serving `root`; killed when dropped.
pub struct S3Fs {
    child: Child,
    addr: SocketAddr,
    pub root: PathBuf,
}

/// The s3s-fs binary: `$S3S_FS`, else `~/.cargo/bin/s3s-fs`, else PATH.
pub fn binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("S3S_FS") {
        return Some(p.into());
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let p = home.join(".cargo/bin/s3s-fs");
    if p.is_file() {
        return Some(p);
    }
    crate::util::which("s3s-fs")
}

impl S3Fs {
    pub fn start(root: &Path) -> Result<S3Fs, String> {
        let bin = binary().ok_or("s3s-fs is not installed (run scripts/setup.sh)")?;
        std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = std::fs::File::create(root.with_extension("log")).map_err(|e| e.to_string())?;
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .env_remove("RUST_LOG")
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
        let s3 = S3Fs {
            child,
            addr,
            root: root.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if Instant::now() > deadline {
                return Err("s3s-fs did not start within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(s3)
    }

    /// Where the store keeps `bucket/key`.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    pub fn bucket(&self, bucket: &str) {
        let _ = std::fs::create_dir_all(self.root.join(bucket));
    }

    /// A presigned URL for `method` on `bucket/key`, valid for an hour.
    pub fn presign(&self, method: &str, bucket: &str, key: &str) -> String {
        sigv4::presign(&sigv4::Presign {
            method,
            authority: &self.addr.to_string(),
            path: &format!("/{bucket}/{key}"),
            access_key: ACCESS_KEY,
            secret_key: SECRET_KEY,
            region: REGION,
            expires: Duration::from_secs(3600),
            at: SystemTime::now(),
        })
    }
}

impl Drop for S3Fs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
