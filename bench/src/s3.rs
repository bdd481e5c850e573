//! The s3s-fs object store on a loopback port and a SigV4 query-string
//! presigner for it (written after tests/support/s3.rs, which the bench
//! cannot import).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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
        presign(
            method,
            &self.addr.to_string(),
            &format!("/{bucket}/{key}"),
            Duration::from_secs(3600),
            SystemTime::now(),
        )
    }
}

impl Drop for S3Fs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` in UTC.
fn amz_dates(t: SystemTime) -> (String, String) {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = format!("{year:04}{month:02}{day:02}");
    let stamp = format!(
        "{date}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    (date, stamp)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SigV4 query-string presigning (`X-Amz-SignedHeaders=host`).
fn presign(method: &str, authority: &str, path: &str, expires: Duration, at: SystemTime) -> String {
    let (date, stamp) = amz_dates(at);
    let scope = format!("{date}/{REGION}/s3/aws4_request");
    let mut query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("X-Amz-Credential", format!("{ACCESS_KEY}/{scope}")),
        ("X-Amz-Date", stamp.clone()),
        ("X-Amz-Expires", expires.as_secs().to_string()),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ];
    query.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_path = uri_encode(path, true);
    let request = format!(
        "{method}\n{canonical_path}\n{canonical_query}\nhost:{authority}\n\nhost\nUNSIGNED-PAYLOAD"
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{SECRET_KEY}").as_bytes(), date.as_bytes());
    for part in [REGION, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, to_sign.as_bytes()));
    format!("http://{authority}{canonical_path}?{canonical_query}&X-Amz-Signature={signature}")
}
