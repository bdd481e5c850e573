//! The object store: presigned PUT and GET over plain HTTP on loopback, with
//! the checks a real S3-style store makes (signature, expiry, Content-MD5,
//! Content-Length, ranges) and the same XML error bodies.
//!
//! Objects live in `DIR/store/<bucket>/<product>/<device>/<name>`; uploads
//! stream into `DIR/store/tmp/` and are renamed into place only once the
//! whole body arrived and its MD5 matched, so a reader never sees half an
//! object and a failed upload leaves the previous object untouched.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::http::{self, Handler, Request, Server};
use crate::util;

/// How long a refused request's body is still read, so the client sees the
/// error answer rather than a reset connection.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Which half of the store an object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Files devices upload (`create_upload_task`).
    Uploads,
    /// Files the platform pushes to devices (`download`).
    Downloads,
}

impl Bucket {
    /// The first path segment of the bucket's URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Uploads => "uploads",
            Bucket::Downloads => "downloads",
        }
    }

    fn parse(s: &str) -> Option<Bucket> {
        match s {
            "uploads" => Some(Bucket::Uploads),
            "downloads" => Some(Bucket::Downloads),
            _ => None,
        }
    }
}

/// The address of one object: bucket, product, device and resource name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey {
    /// Uploads or downloads.
    pub bucket: Bucket,
    /// Product id (`[A-Za-z0-9_-]`).
    pub product: String,
    /// Device name (`[A-Za-z0-9_-]`).
    pub device: String,
    /// Resource name (any UTF-8 without `/`, `..` or control characters).
    pub name: String,
}

impl ObjectKey {
    /// Validates the parts and builds a key.
    pub fn new(bucket: Bucket, product: &str, device: &str, name: &str) -> Result<Self, String> {
        util::validate_ident("product id", product)?;
        util::validate_ident("device name", device)?;
        util::validate_name(name)?;
        Ok(ObjectKey {
            bucket,
            product: product.to_string(),
            device: device.to_string(),
            name: name.to_string(),
        })
    }

    /// The decoded path the signature covers. Signing the decoded form makes
    /// the signature independent of how a client chooses to percent-encode.
    pub fn canonical_path(&self) -> String {
        format!(
            "/{}/{}/{}/{}",
            self.bucket.as_str(),
            self.product,
            self.device,
            self.name
        )
    }

    /// The percent-encoded URL path.
    pub fn url_path(&self) -> String {
        format!(
            "/{}/{}/{}/{}",
            self.bucket.as_str(),
            self.product,
            self.device,
            util::percent_encode(&self.name)
        )
    }

    /// Parses a raw (still encoded) URL path. Splitting before decoding
    /// keeps an encoded `%2F` inside the name, where validation rejects it.
    pub fn parse_url_path(raw: &str) -> Option<ObjectKey> {
        let mut segs = raw.strip_prefix('/')?.split('/');
        let (Some(b), Some(p), Some(d), Some(n), None) = (
            segs.next(),
            segs.next(),
            segs.next(),
            segs.next(),
            segs.next(),
        ) else {
            return None;
        };
        let bucket = Bucket::parse(&util::percent_decode(b)?)?;
        ObjectKey::new(
            bucket,
            &util::percent_decode(p)?,
            &util::percent_decode(d)?,
            &util::percent_decode(n)?,
        )
        .ok()
    }

    fn relative_file(&self) -> PathBuf {
        // Percent-encoding keeps odd names portable on disk; a leading dot is
        // escaped too so no object is a hidden file.
        let mut file = util::percent_encode(&self.name);
        if file.starts_with('.') {
            file.replace_range(0..1, "%2E");
        }
        [self.bucket.as_str(), &self.product, &self.device, &file]
            .iter()
            .collect()
    }
}

/// HMAC-SHA256 URL signer; the key lives only in memory, so URLs handed out
/// before a restart stop working after it (like a rotated credential).
pub struct Signer {
    key: Vec<u8>,
}

impl Signer {
    /// A signer with a caller-chosen key (tests).
    pub fn new(key: Vec<u8>) -> Signer {
        Signer { key }
    }

    /// A signer with 32 random bytes of key.
    pub fn random() -> io::Result<Signer> {
        Ok(Signer::new(util::random_bytes(32)?))
    }

    fn mac(&self, method: &str, canonical_path: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{method}\n{canonical_path}\n{expires}").as_bytes());
        mac
    }

    /// Lowercase hex signature over method, decoded path and expiry.
    pub fn sign(&self, method: &str, canonical_path: &str, expires: u64) -> String {
        util::hex(
            &self
                .mac(method, canonical_path, expires)
                .finalize()
                .into_bytes(),
        )
    }

    /// Constant-time check of a hex signature.
    pub fn verify(&self, method: &str, canonical_path: &str, expires: u64, sig_hex: &str) -> bool {
        match util::unhex(sig_hex) {
            Some(sig) => self
                .mac(method, canonical_path, expires)
                .verify_slice(&sig)
                .is_ok(),
            None => false,
        }
    }
}

/// The store's files and signing key; shared by the HTTP handler and the
/// protocol peer (which hands out URLs and imports pushed files).
pub struct Store {
    root: PathBuf,
    signer: Signer,
    base_url: String,
    tmp_seq: AtomicU64,
}

impl Store {
    /// Opens (creating) the store under `data_dir/store` for a server that
    /// listens on 127.0.0.1:`port`. Leftover partial uploads of a previous
    /// run are deleted.
    pub fn open(data_dir: &Path, signer: Signer, port: u16) -> io::Result<Store> {
        let root = data_dir.join("store");
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        Ok(Store {
            root,
            signer,
            base_url: format!("http://127.0.0.1:{port}"),
            tmp_seq: AtomicU64::new(0),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The signer (tests forge expired or foreign URLs with it).
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// A presigned URL for `method` on `key`, valid until Unix time `expires`.
    pub fn presign(&self, method: &str, key: &ObjectKey, expires: u64) -> String {
        let sig = self.signer.sign(method, &key.canonical_path(), expires);
        format!(
            "{}{}?expires={expires}&signature={sig}",
            self.base_url,
            key.url_path()
        )
    }

    /// Where `key`'s bytes live on disk.
    pub fn object_path(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.relative_file())
    }

    fn temp_path(&self) -> PathBuf {
        let seq = self.tmp_seq.fetch_add(1, Ordering::Relaxed);
        let rand = util::random_bytes(4)
            .map(|b| util::hex(&b))
            .unwrap_or_default();
        self.root
            .join("tmp")
            .join(format!("{}-{seq}-{rand}.part", std::process::id()))
    }

    fn commit(&self, tmp: &Path, key: &ObjectKey) -> io::Result<()> {
        let dest = self.object_path(key);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::rename(tmp, dest)
    }

    /// Copies a local file into the store as `key` (atomically) and returns
    /// its size and hex MD5.
    pub fn import(&self, key: &ObjectKey, src: &Path) -> io::Result<(u64, String)> {
        let mut input = File::open(src)?;
        if !input.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        let tmp = self.temp_path();
        let result = (|| {
            let mut out = File::create(&tmp)?;
            let mut hasher = Md5::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                let n = input.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])?;
                total += n as u64;
            }
            out.sync_all()?;
            self.commit(&tmp, key)?;
            Ok((total, util::hex(&hasher.finalize())))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Where `key`'s bytes live under a data directory (for readers that do
/// not open a [`Store`], like `list`).
pub fn object_file(data_dir: &Path, key: &ObjectKey) -> PathBuf {
    data_dir.join("store").join(key.relative_file())
}

/// Starts the store's HTTP server on `listener` (which should be bound to
/// 127.0.0.1 on the port given to [`Store::open`]).
pub fn serve(store: Arc<Store>, listener: TcpListener) -> io::Result<Server> {
    Server::start(listener, Arc::new(StoreHandler { store }))
}

struct StoreHandler {
    store: Arc<Store>,
}

/// An S3-style refusal.
struct Refusal {
    status: u16,
    code: &'static str,
    message: String,
}

fn refusal(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        code,
        message: message.into(),
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn error_body(code: &str, message: &str) -> String {
    format!(
        "<Error><Code>{}</Code><Message>{}</Message></Error>",
        xml_escape(code),
        xml_escape(message)
    )
}

fn send_refusal(w: &mut TcpStream, r: &Refusal, extra: &[(&str, String)], head_only: bool) {
    let body = error_body(r.code, &r.message);
    if head_only {
        let mut headers = vec![
            ("Content-Type", "application/xml".to_string()),
            ("Content-Length", body.len().to_string()),
        ];
        headers.extend(extra.iter().cloned());
        let _ = http::write_head(w, r.status, &headers);
    } else {
        let _ = http::write_response(w, r.status, "application/xml", extra, body.as_bytes());
    }
}

/// Outcome of parsing a `Range` header against an object of `total` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// No usable Range (absent or malformed): send the whole object.
    Whole,
    /// Inclusive byte range to send with 206.
    Part(u64, u64),
    /// Well-formed but outside the object: 416.
    Unsatisfiable,
}

/// Parses `bytes=N-`, `bytes=N-M` and `bytes=-S`. Multiple ranges are
/// treated as malformed (ignored), which RFC 9110 allows a server to do.
pub fn parse_range(header: Option<&str>, total: u64) -> RangeSpec {
    let Some(h) = header else {
        return RangeSpec::Whole;
    };
    let h = h.trim();
    let Some(spec) = h
        .get(..6)
        .filter(|u| u.eq_ignore_ascii_case("bytes="))
        .map(|_| h[6..].trim())
    else {
        return RangeSpec::Whole;
    };
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeSpec::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if first.is_empty() {
        // Suffix range: the last S bytes.
        let Some(n) = Some(last)
            .filter(|s| digits(s))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return RangeSpec::Whole;
        };
        if n == 0 || total == 0 {
            return RangeSpec::Unsatisfiable;
        }
        return RangeSpec::Part(total - n.min(total), total - 1);
    }
    let Some(start) = Some(first)
        .filter(|s| digits(s))
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return RangeSpec::Whole;
    };
    let end = if last.is_empty() {
        None
    } else {
        match Some(last)
            .filter(|s| digits(s))
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(e) if e >= start => Some(e),
            _ => return RangeSpec::Whole,
        }
    };
    if start >= total {
        return RangeSpec::Unsatisfiable;
    }
    let last_byte = total - 1;
    RangeSpec::Part(start, end.map_or(last_byte, |e| e.min(last_byte)))
}

impl Handler for StoreHandler {
    fn handle(&self, req: Request, reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) {
        let head_only = req.method == "HEAD";
        let key = match self.authorize(&req) {
            Ok(key) => key,
            Err(r) => {
                eprintln!(
                    "resmgr-platform: store: {} {} -> {} {}",
                    req.method, req.path, r.status, r.code
                );
                send_refusal(writer, &r, &[], head_only);
                drain_body(&req, reader);
                return;
            }
        };
        match req.method.as_str() {
            "PUT" => self.put(&req, &key, reader, writer),
            "GET" | "HEAD" => self.get(&req, &key, writer, head_only),
            _ => {
                let r = refusal(
                    405,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                );
                send_refusal(writer, &r, &[("Allow", "GET, HEAD, PUT".into())], false);
                drain_body(&req, reader);
            }
        }
    }
}

fn drain_body(req: &Request, reader: &mut BufReader<TcpStream>) {
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
    {
        http::drain(reader, len, DRAIN_LIMIT);
    }
}

impl StoreHandler {
    fn authorize(&self, req: &Request) -> Result<ObjectKey, Refusal> {
        let params = req.query_params();
        let (Some(expires), Some(sig)) = (params.get("expires"), params.get("signature")) else {
            return Err(refusal(
                403,
                "AccessDenied",
                "Query-string authentication requires the expires and signature parameters",
            ));
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return Err(refusal(
                403,
                "AccessDenied",
                "Invalid expires (should be seconds since the epoch)",
            ));
        };
        let mismatch = || {
            refusal(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        };
        let key = ObjectKey::parse_url_path(&req.path).ok_or_else(mismatch)?;
        // A GET URL also allows HEAD, as S3's does.
        let method = if req.method == "HEAD" {
            "GET"
        } else {
            req.method.as_str()
        };
        if !self
            .store
            .signer
            .verify(method, &key.canonical_path(), expires, sig)
        {
            return Err(mismatch());
        }
        if util::now_unix() > expires {
            return Err(refusal(403, "AccessDenied", "Request has expired"));
        }
        Ok(key)
    }

    fn put(
        &self,
        req: &Request,
        key: &ObjectKey,
        reader: &mut BufReader<TcpStream>,
        writer: &mut TcpStream,
    ) {
        let log = |what: &str| {
            eprintln!(
                "resmgr-platform: store: PUT {} -> {what}",
                key.canonical_path()
            );
        };
        let refuse = |writer: &mut TcpStream, reader: &mut BufReader<TcpStream>, r: Refusal| {
            log(&format!("{} {}", r.status, r.code));
            send_refusal(writer, &r, &[], false);
            drain_body(req, reader);
        };
        if req.header("transfer-encoding").is_some() {
            // Presigned PUTs must say their length up front; the body's
            // framing is unknown, so the connection is closed unread.
            let r = refusal(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented: Transfer-Encoding",
            );
            log("501 NotImplemented (Transfer-Encoding)");
            send_refusal(writer, &r, &[], false);
            return;
        }
        let len = match req.header_count("content-length") {
            0 => {
                log("411 MissingContentLength");
                let r = refusal(
                    411,
                    "MissingContentLength",
                    "You must provide the Content-Length HTTP header.",
                );
                send_refusal(writer, &r, &[], false);
                return;
            }
            1 => match req.header("content-length").map(str::parse::<u64>) {
                Some(Ok(n)) => n,
                _ => {
                    log("400 InvalidArgument (Content-Length)");
                    let r = refusal(400, "InvalidArgument", "Content-Length is not a number.");
                    send_refusal(writer, &r, &[], false);
                    return;
                }
            },
            _ => {
                log("400 InvalidArgument (Content-Length repeated)");
                let r = refusal(400, "InvalidArgument", "Content-Length is given twice.");
                send_refusal(writer, &r, &[], false);
                return;
            }
        };
        let Some(md5_b64) = req.header("content-md5") else {
            return refuse(
                writer,
                reader,
                refusal(
                    400,
                    "InvalidRequest",
                    "Missing required header for this request: Content-MD5",
                ),
            );
        };
        let expected = match base64::engine::general_purpose::STANDARD.decode(md5_b64.trim()) {
            Ok(d) if d.len() == 16 => d,
            _ => {
                return refuse(
                    writer,
                    reader,
                    refusal(
                        400,
                        "InvalidDigest",
                        "The Content-MD5 you specified was invalid.",
                    ),
                )
            }
        };
        let wants_continue = req
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if wants_continue && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
            return;
        }

        let tmp = self.store.temp_path();
        let received = receive_body(reader, &tmp, len);
        let outcome = match received {
            Ok(digest) if digest[..] == expected[..] => {
                match fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .and_then(|()| self.store.commit(&tmp, key))
                {
                    Ok(()) => Ok(util::hex(&digest)),
                    Err(e) => Err((
                        refusal(500, "InternalError", format!("cannot store the object: {e}")),
                        false,
                    )),
                }
            }
            Ok(_) => Err((
                refusal(
                    400,
                    "BadDigest",
                    "The Content-MD5 you specified did not match what was received.",
                ),
                false,
            )),
            Err(BodyError::Short(got)) => Err((
                refusal(
                    400,
                    "IncompleteBody",
                    format!("You did not provide the number of bytes specified by the Content-Length HTTP header ({got} of {len})"),
                ),
                false,
            )),
            Err(BodyError::Disk(e)) => Err((
                refusal(500, "InternalError", format!("cannot store the object: {e}")),
                true,
            )),
        };
        match outcome {
            Ok(etag) => {
                log(&format!("200 ({len} bytes)"));
                let _ = http::write_response(
                    writer,
                    200,
                    "application/xml",
                    &[("ETag", format!("\"{etag}\""))],
                    b"",
                );
            }
            Err((r, unread_body)) => {
                let _ = fs::remove_file(&tmp);
                log(&format!("{} {}: nothing stored", r.status, r.code));
                send_refusal(writer, &r, &[], false);
                if unread_body {
                    drain_body(req, reader);
                }
            }
        }
    }

    fn get(&self, req: &Request, key: &ObjectKey, writer: &mut TcpStream, head_only: bool) {
        let path = self.store.object_path(key);
        let opened = File::open(&path).and_then(|f| {
            let meta = f.metadata()?;
            if meta.is_file() {
                Ok((f, meta.len()))
            } else {
                Err(io::ErrorKind::NotFound.into())
            }
        });
        let (mut file, total) = match opened {
            Ok(x) => x,
            Err(e) => {
                let r = if e.kind() == io::ErrorKind::NotFound {
                    refusal(404, "NoSuchKey", "The specified key does not exist.")
                } else {
                    refusal(500, "InternalError", format!("cannot read the object: {e}"))
                };
                eprintln!(
                    "resmgr-platform: store: {} {} -> {} {}",
                    req.method,
                    key.canonical_path(),
                    r.status,
                    r.code
                );
                send_refusal(writer, &r, &[], head_only);
                return;
            }
        };
        let (status, start, len, mut headers) = match parse_range(req.header("range"), total) {
            RangeSpec::Whole => (200, 0, total, vec![]),
            RangeSpec::Part(s, e) => (
                206,
                s,
                e - s + 1,
                vec![("Content-Range", format!("bytes {s}-{e}/{total}"))],
            ),
            RangeSpec::Unsatisfiable => {
                let r = refusal(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                );
                eprintln!(
                    "resmgr-platform: store: {} {} -> 416 InvalidRange",
                    req.method,
                    key.canonical_path()
                );
                send_refusal(
                    writer,
                    &r,
                    &[("Content-Range", format!("bytes */{total}"))],
                    head_only,
                );
                return;
            }
        };
        headers.push(("Content-Type", "application/octet-stream".into()));
        headers.push(("Content-Length", len.to_string()));
        headers.push(("Accept-Ranges", "bytes".into()));
        if http::write_head(writer, status, &headers).is_err() || head_only {
            return;
        }
        let sent = file
            .seek(SeekFrom::Start(start))
            .and_then(|_| io::copy(&mut (&mut file).take(len), writer));
        match sent {
            Ok(n) if n == len => eprintln!(
                "resmgr-platform: store: GET {} -> {status} ({len} bytes)",
                key.canonical_path()
            ),
            Ok(n) => eprintln!(
                "resmgr-platform: store: GET {} -> {status}, object shrank: sent {n} of {len} bytes",
                key.canonical_path()
            ),
            Err(e) => eprintln!(
                "resmgr-platform: store: GET {} -> {status}, client went away: {e}",
                key.canonical_path()
            ),
        }
    }
}

enum BodyError {
    /// The client stopped sending after this many bytes.
    Short(u64),
    /// Writing the temporary file failed.
    Disk(io::Error),
}

/// Streams exactly `len` bytes into `tmp`, returning their MD5.
fn receive_body(
    reader: &mut BufReader<TcpStream>,
    tmp: &Path,
    len: u64,
) -> Result<[u8; 16], BodyError> {
    let mut out = File::create(tmp).map_err(BodyError::Disk)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    while got < len {
        let want = buf
            .len()
            .min(usize::try_from(len - got).unwrap_or(usize::MAX));
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return Err(BodyError::Short(got)),
            Ok(n) => n,
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(BodyError::Disk)?;
        got += n as u64;
    }
    Ok(hasher.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeSpec::*;
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(parse_range(Some("bytes=2-"), 10), Part(2, 9));
        assert_eq!(parse_range(Some("bytes=2-4"), 10), Part(2, 4));
        assert_eq!(parse_range(Some("bytes=2-400"), 10), Part(2, 9));
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part(7, 9));
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part(0, 9));
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        for bad in [
            "bytes=4-2",
            "bytes=a-",
            "items=0-",
            "bytes=0-1,3-4",
            "bytes=-",
            "bytes=+1-",
        ] {
            assert_eq!(parse_range(Some(bad), 10), Whole, "{bad}");
        }
    }

    #[test]
    fn keys() {
        let k = ObjectKey::new(Bucket::Uploads, "P1", "dev-1", "a b ü.bin").unwrap();
        assert_eq!(k.url_path(), "/uploads/P1/dev-1/a%20b%20%C3%BC.bin");
        assert_eq!(ObjectKey::parse_url_path(&k.url_path()), Some(k.clone()));
        assert_eq!(k.canonical_path(), "/uploads/P1/dev-1/a b ü.bin");
        assert_eq!(ObjectKey::parse_url_path("/uploads/P1/dev-1/a%2Fb"), None);
        assert_eq!(ObjectKey::parse_url_path("/uploads/P1/dev-1/.."), None);
        assert_eq!(ObjectKey::parse_url_path("/other/P1/dev-1/x"), None);
        assert_eq!(ObjectKey::parse_url_path("/uploads/P1/x"), None);
        let dot = ObjectKey::new(Bucket::Downloads, "P", "d", ".hidden").unwrap();
        assert_eq!(dot.relative_file(), Path::new("downloads/P/d/%2Ehidden"));
    }

    #[test]
    fn signatures() {
        let s = Signer::new(b"k".to_vec());
        let sig = s.sign("PUT", "/uploads/p/d/n", 100);
        assert!(s.verify("PUT", "/uploads/p/d/n", 100, &sig));
        assert!(!s.verify("GET", "/uploads/p/d/n", 100, &sig));
        assert!(!s.verify("PUT", "/uploads/p/d/n", 101, &sig));
        assert!(!s.verify("PUT", "/uploads/p/d/n", 100, "zz"));
    }
}
