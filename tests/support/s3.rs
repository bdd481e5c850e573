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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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

/// What to presign.
pub struct Presign<'a> {
    pub method: &'a str,
    /// `host:port` as the client sends it in `Host`.
    pub authority: &'a str,
    /// The path, unencoded, starting with `/`.
    pub path: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub expires: Duration,
    pub at: SystemTime,
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the
/// rest is %XX (uppercase); `/` stays when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
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

/// `(YYYYMMDD, YYYYMMDDTHHMMSSZ)` of `t`, UTC.
pub fn amz_dates(t: SystemTime) -> (String, String) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
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
    let stamp = format!("{date}T{h:02}{m:02}{s:02}Z");
    (date, stamp)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An AWS SigV4 presigned URL (query-string authentication,
/// `X-Amz-SignedHeaders=host`, `UNSIGNED-PAYLOAD`).
pub fn presign(p: &Presign<'_>) -> String {
    let (date, stamp) = amz_dates(p.at);
    let scope = format!("{date}/{}/s3/aws4_request", p.region);
    let credential = format!("{}/{scope}", p.access_key);
    let mut query = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
        ("X-Amz-Credential", credential),
        ("X-Amz-Date", stamp.clone()),
        ("X-Amz-Expires", p.expires.as_secs().to_string()),
        ("X-Amz-SignedHeaders", "host".to_owned()),
    ];
    query.sort_by(|a, b| a.0.cmp(b.0));
    let canonical_query = query
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_path = uri_encode(p.path, true);
    let canonical_request = format!(
        "{}\n{canonical_path}\n{canonical_query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
        p.method, p.authority
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{}", p.secret_key).as_bytes(), date.as_bytes());
    for part in [p.region, "s3", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "http://{}{canonical_path}?{canonical_query}&X-Amz-Signature={signature}",
        p.authority
    )
}

#[test]
fn amz_dates_are_civil_utc() {
    let t = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
    assert_eq!(amz_dates(t), ("20130524".into(), "20130524T000000Z".into()));
    let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661); // 2000-02-29T01:01:01Z
    assert_eq!(amz_dates(t), ("20000229".into(), "20000229T010101Z".into()));
}

#[test]
fn presigning_matches_the_aws_example() {
    // The GET example of AWS's "Authenticating Requests: Using Query
    // Parameters" page.
    let url = presign(&Presign {
        method: "GET",
        authority: "examplebucket.s3.amazonaws.com",
        path: "/test.txt",
        access_key: "AKIAIOSFODNN7EXAMPLE",
        secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region: "us-east-1",
        expires: Duration::from_secs(86_400),
        at: UNIX_EPOCH + Duration::from_secs(1_369_353_600),
    });
    assert!(
        url.ends_with(
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        ),
        "{url}"
    );
}
