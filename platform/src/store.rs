//! The built-in object store: SigV4-presigned PUT and GET (with the checks
//! a real S3 store makes: signature, expiry, Content-MD5, Content-Length,
//! ranges) and the same XML error bodies, over HTTP or HTTPS.
//!
//! Objects live in `DIR/store/<bucket>/<product>/<device>/<name>`; uploads
//! stream into `DIR/store/tmp/` and are renamed into place only once the
//! whole body arrived and its MD5 matched, so a reader never sees half an
//! object and a failed upload leaves the previous object untouched.
//!
//! URLs are signed with temporary credentials made at each start (an
//! access key, a secret and a session token, as a real store's STS
//! credentials would be), so URLs handed out before a restart stop working
//! after it, like a rotated credential.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::Response;
use md5::{Digest, Md5};
use tokio::io::AsyncWriteExt;

use crate::http::{self, Body, ConnLog, Handler, Reply, Request, Transfer};
use crate::presign::{Method, Presigner};
use crate::util;

/// How long a refused request's body is still read, so the client sees the
/// error answer rather than a reset connection.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// The bucket name in the built-in store's URLs.
pub const LOCAL_BUCKET: &str = "resmgr";
/// The region the built-in store's URLs are signed for.
pub const LOCAL_REGION: &str = "resmgr-local";
/// Longest URL lifetime SigV4 allows (7 days).
pub const MAX_URL_TTL: u64 = 604_800;

/// Which half of the store an object belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Files devices upload (`create_upload_task`).
    Uploads,
    /// Files the platform pushes to devices (`download`).
    Downloads,
}

impl Bucket {
    /// The first segment of the object's key.
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

    /// The object's key in a bucket, decoded:
    /// `uploads/<product>/<device>/<name>`.
    pub fn s3_key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.bucket.as_str(),
            self.product,
            self.device,
            self.name
        )
    }

    /// Parses the segments of a key as they appear in a URL path (still
    /// percent-encoded). Splitting before decoding keeps an encoded `%2F`
    /// inside the name, where validation rejects it.
    pub fn parse_segments<'a>(mut segs: impl Iterator<Item = &'a str>) -> Option<ObjectKey> {
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

/// Temporary credentials for the built-in store, new at every start: an
/// access key, a secret and a session token of the lengths a real store's
/// STS credentials have (so URLs are as long as the real ones).
pub fn random_credentials() -> io::Result<rusty_s3::Credentials> {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let key: String = util::random_bytes(16)?
        .iter()
        .map(|b| ALNUM[usize::from(*b) % ALNUM.len()] as char)
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD;
    let secret = b64.encode(util::random_bytes(30)?);
    let token = b64.encode(util::random_bytes(270)?);
    Ok(rusty_s3::Credentials::new_with_token(
        format!("ASIA{key}"),
        secret,
        token,
    ))
}

/// The store's files and signer; shared by the HTTP handler and the
/// protocol peer (which hands out URLs and imports pushed files).
pub struct Store {
    root: PathBuf,
    presigner: Presigner,
    /// The path of the public URL, without a trailing `/` (may be empty).
    prefix: String,
    tmp_seq: AtomicU64,
}

impl Store {
    /// Opens (creating) the store under `data_dir/store`, with URLs based
    /// at `public_url` and signed with `credentials`. Leftover partial
    /// uploads of a previous run are deleted.
    pub fn open(
        data_dir: &Path,
        public_url: &url::Url,
        credentials: rusty_s3::Credentials,
    ) -> io::Result<Store> {
        let root = data_dir.join("store");
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        let presigner = Presigner::new(public_url, LOCAL_BUCKET, LOCAL_REGION, credentials)
            .map_err(io::Error::other)?;
        Ok(Store {
            root,
            presigner,
            prefix: public_url.path().trim_end_matches('/').to_string(),
            tmp_seq: AtomicU64::new(0),
        })
    }

    /// The base devices see: the public URL.
    pub fn base_url(&self) -> String {
        let mut u = self.presigner.bucket_url().clone();
        u.set_path(if self.prefix.is_empty() {
            "/"
        } else {
            &self.prefix
        });
        u.to_string().trim_end_matches('/').to_string()
    }

    /// The signer (tests forge expired URLs with it).
    pub fn presigner(&self) -> &Presigner {
        &self.presigner
    }

    /// A presigned URL for `method` on `key`, valid for `ttl` from now.
    pub fn presign(&self, method: Method, key: &ObjectKey, ttl: Duration) -> String {
        self.presigner.presign(method, &key.s3_key(), ttl)
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

    /// The object key a request path names: `[prefix]/resmgr/<key>`. The
    /// public prefix is optional, so a proxy may strip it or pass it on.
    fn key_of_path(&self, raw: &str) -> Option<ObjectKey> {
        let rest = raw.strip_prefix(self.prefix.as_str()).unwrap_or(raw);
        let rest = rest.strip_prefix('/')?;
        let mut segs = rest.split('/');
        if util::percent_decode(segs.next()?)? != LOCAL_BUCKET {
            return None;
        }
        ObjectKey::parse_segments(segs)
    }
}

/// Where `key`'s bytes live under a data directory (for readers that do
/// not open a [`Store`]).
pub fn object_file(data_dir: &Path, key: &ObjectKey) -> PathBuf {
    data_dir.join("store").join(key.relative_file())
}

/// Starts the store's HTTP(S) server on `listener`.
pub fn serve(
    store: Arc<Store>,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<http::Server> {
    http::Server::start(listener, tls, Arc::new(StoreHandler { store }))
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

fn refusal_response(r: &Refusal, head_only: bool) -> Response<Body> {
    let body = format!(
        "<Error><Code>{}</Code><Message>{}</Message></Error>",
        xml_escape(r.code),
        xml_escape(&r.message)
    );
    let len = body.len();
    let mut resp = http::response(
        r.status,
        "application/xml",
        if head_only { String::new() } else { body },
    );
    // A HEAD answer says how long the GET's body would be.
    resp.headers_mut()
        .insert(hyper::header::CONTENT_LENGTH, len.into());
    resp
}

/// Reads and discards what is left of a refused request's body (bounded in
/// time), so a client still sending it reads our answer instead of a reset.
async fn drain(mut body: Incoming) {
    let _ = tokio::time::timeout(DRAIN_LIMIT, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}

/// Query parameters, values percent-decoded (`+` is taken literally).
fn query_params(query: &str) -> std::collections::HashMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((util::percent_decode(k)?, util::percent_decode(v)?))
        })
        .collect()
}

fn signature_of(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query_params(query).remove("X-Amz-Signature")
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time for equal lengths: a forged signature learns nothing
    // from how long the comparison took.
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Handler for StoreHandler {
    fn handle(self: Arc<Self>, req: Request, conn: ConnLog) -> Reply {
        Box::pin(async move { self.answer(req, conn).await })
    }
}

fn log_line(what: &str) {
    eprintln!("resmgr-platform: store: {what}");
}

impl StoreHandler {
    async fn answer(&self, req: Request, conn: ConnLog) -> Response<Body> {
        let method = req.method().as_str().to_string();
        let head_only = method == "HEAD";
        let path = req.uri().path().to_string();
        let key = match self.authorize(&req) {
            Ok(key) => key,
            Err(r) => {
                log_line(&format!("{method} {path} -> {} {}", r.status, r.code));
                drain(req.into_body()).await;
                return refusal_response(&r, head_only);
            }
        };
        match method.as_str() {
            "PUT" => self.put(req, &key).await,
            "GET" | "HEAD" => self.get(&req, &key, head_only, &conn),
            _ => {
                drain(req.into_body()).await;
                let r = refusal(
                    405,
                    "MethodNotAllowed",
                    "The specified method is not allowed against this resource.",
                );
                http::with_header(refusal_response(&r, false), "Allow", "GET, HEAD, PUT")
            }
        }
    }

    fn authorize(&self, req: &Request) -> Result<ObjectKey, Refusal> {
        let params = query_params(req.uri().query().unwrap_or(""));
        let (Some(algorithm), Some(date), Some(expires), Some(sig)) = (
            params.get("X-Amz-Algorithm"),
            params.get("X-Amz-Date"),
            params.get("X-Amz-Expires"),
            params.get("X-Amz-Signature"),
        ) else {
            return Err(refusal(
                403,
                "AccessDenied",
                "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, \
                 X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            ));
        };
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(refusal(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
            ));
        }
        let signed_at = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", date)
            .ok()
            .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
            .map(|z| z.timestamp());
        let (Some(signed_at), Some(expires)) = (
            signed_at,
            expires
                .parse::<u64>()
                .ok()
                .filter(|e| (1..=MAX_URL_TTL).contains(e)),
        ) else {
            return Err(refusal(
                400,
                "AuthorizationQueryParametersError",
                "X-Amz-Date must be YYYYMMDDTHHMMSSZ and X-Amz-Expires between 1 and 604800 seconds",
            ));
        };
        let mismatch = || {
            refusal(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        };
        let key = self
            .store
            .key_of_path(req.uri().path())
            .ok_or_else(mismatch)?;
        // A GET URL also allows HEAD (a client checking the size first).
        let method = match req.method().as_str() {
            "PUT" => Method::Put,
            "GET" | "HEAD" => Method::Get,
            _ => return Err(mismatch()),
        };
        let expected = self.store.presigner.presign_at(
            method,
            &key.s3_key(),
            Duration::from_secs(expires),
            &signed_at,
        );
        match signature_of(&expected) {
            Some(e) if same(e.as_bytes(), sig.as_bytes()) => {}
            _ => return Err(mismatch()),
        }
        let until = signed_at.as_second().saturating_add(expires as i64);
        if jiff::Timestamp::now().as_second() > until {
            return Err(refusal(403, "AccessDenied", "Request has expired"));
        }
        Ok(key)
    }

    async fn put(&self, req: Request, key: &ObjectKey) -> Response<Body> {
        let what = format!("PUT {}", key.s3_key());
        let refuse = |r: Refusal| {
            log_line(&format!("{what} -> {} {}", r.status, r.code));
            refusal_response(&r, false)
        };
        let headers = req.headers().clone();
        if headers.contains_key(hyper::header::TRANSFER_ENCODING) {
            // Presigned PUTs must say their length up front.
            return refuse(refusal(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented: Transfer-Encoding",
            ));
        }
        let Some(len) = headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return refuse(refusal(
                411,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            ));
        };
        let body = req.into_body();
        let Some(md5_b64) = headers.get("content-md5").and_then(|v| v.to_str().ok()) else {
            drain(body).await;
            return refuse(refusal(
                400,
                "InvalidRequest",
                "Missing required header for this request: Content-MD5",
            ));
        };
        let expected = match base64::engine::general_purpose::STANDARD.decode(md5_b64.trim()) {
            Ok(d) if d.len() == 16 => d,
            _ => {
                drain(body).await;
                return refuse(refusal(
                    400,
                    "InvalidDigest",
                    "The Content-MD5 you specified was invalid.",
                ));
            }
        };

        let tmp = self.store.temp_path();
        let outcome = match receive_body(body, &tmp, len).await {
            Ok(digest) if digest[..] == expected[..] => {
                let committed = fs::File::open(&tmp)
                    .and_then(|f| f.sync_all())
                    .and_then(|()| self.store.commit(&tmp, key));
                match committed {
                    Ok(()) => Ok(util::hex(&digest)),
                    Err(e) => Err(refusal(
                        500,
                        "InternalError",
                        format!("cannot store the object: {e}"),
                    )),
                }
            }
            Ok(_) => Err(refusal(
                400,
                "BadDigest",
                "The Content-MD5 you specified did not match what was received.",
            )),
            Err(BodyError::Short(got)) => Err(refusal(
                400,
                "IncompleteBody",
                format!(
                    "You did not provide the number of bytes specified by the Content-Length HTTP header ({got} of {len})"
                ),
            )),
            Err(BodyError::Disk(e)) => Err(refusal(
                500,
                "InternalError",
                format!("cannot store the object: {e}"),
            )),
        };
        match outcome {
            Ok(etag) => {
                log_line(&format!("{what} -> 200 ({len} bytes received and stored)"));
                http::with_header(
                    http::response(200, "application/xml", ""),
                    "ETag",
                    &format!("\"{etag}\""),
                )
            }
            Err(r) => {
                let _ = fs::remove_file(&tmp);
                log_line(&format!(
                    "{what} -> {} {}: nothing stored",
                    r.status, r.code
                ));
                refusal_response(&r, false)
            }
        }
    }

    fn get(
        &self,
        req: &Request,
        key: &ObjectKey,
        head_only: bool,
        conn: &ConnLog,
    ) -> Response<Body> {
        let method = req.method().as_str();
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
                log_line(&format!(
                    "{method} {} -> {} {}",
                    key.s3_key(),
                    r.status,
                    r.code
                ));
                return refusal_response(&r, head_only);
            }
        };
        let range = req
            .headers()
            .get(hyper::header::RANGE)
            .and_then(|v| v.to_str().ok());
        let (status, start, len, content_range) = match parse_range(range, total) {
            RangeSpec::Whole => (200, 0, total, None),
            RangeSpec::Part(s, e) => (206, s, e - s + 1, Some(format!("bytes {s}-{e}/{total}"))),
            RangeSpec::Unsatisfiable => {
                log_line(&format!("{method} {} -> 416 InvalidRange", key.s3_key()));
                let r = refusal(
                    416,
                    "InvalidRange",
                    "The requested range is not satisfiable",
                );
                return http::with_header(
                    refusal_response(&r, head_only),
                    "Content-Range",
                    &format!("bytes */{total}"),
                );
            }
        };
        let what = format!(
            "{method} {} -> {status}{}",
            key.s3_key(),
            content_range
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        );
        let body: Body = if head_only {
            log_line(&what);
            http_body_util::Empty::new()
                .map_err(|never| match never {})
                .boxed()
        } else {
            if let Err(e) = file.seek(SeekFrom::Start(start)) {
                let r = refusal(500, "InternalError", format!("cannot read the object: {e}"));
                return refusal_response(&r, false);
            }
            let sent = Arc::new(AtomicU64::new(0));
            conn.transfer(Transfer {
                what,
                total: len,
                sent: Arc::clone(&sent),
            });
            let file = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), len);
            let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024).map_ok(
                move |chunk: Bytes| {
                    sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    Frame::data(chunk)
                },
            );
            BodyExt::boxed(StreamBody::new(stream))
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        let h = resp.headers_mut();
        h.insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/octet-stream"),
        );
        h.insert(hyper::header::CONTENT_LENGTH, len.into());
        h.insert(
            hyper::header::ACCEPT_RANGES,
            hyper::header::HeaderValue::from_static("bytes"),
        );
        let mut resp = resp;
        if let Some(c) = content_range {
            resp = http::with_header(resp, "Content-Range", &c);
        }
        resp
    }
}

enum BodyError {
    /// The client stopped sending after this many bytes.
    Short(u64),
    /// Writing the temporary file failed.
    Disk(io::Error),
}

/// Streams exactly `len` bytes of `body` into `tmp`, returning their MD5.
async fn receive_body(mut body: Incoming, tmp: &Path, len: u64) -> Result<[u8; 16], BodyError> {
    let mut out = tokio::fs::File::create(tmp)
        .await
        .map_err(BodyError::Disk)?;
    let mut hasher = Md5::new();
    let mut got = 0u64;
    while got < len {
        let frame = match tokio::time::timeout(http::IO_TIMEOUT, body.frame()).await {
            Ok(Some(Ok(f))) => f,
            // Cut, reset, or silent for too long.
            _ => return Err(BodyError::Short(got)),
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        hasher.update(&data);
        out.write_all(&data).await.map_err(BodyError::Disk)?;
        got += data.len() as u64;
    }
    out.flush().await.map_err(BodyError::Disk)?;
    Ok(hasher.finalize().into())
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
        assert_eq!(k.s3_key(), "uploads/P1/dev-1/a b ü.bin");
        let segs = "uploads/P1/dev-1/a%20b%20%C3%BC.bin";
        assert_eq!(ObjectKey::parse_segments(segs.split('/')), Some(k));
        for bad in [
            "uploads/P1/dev-1/a%2Fb",
            "uploads/P1/dev-1/..",
            "other/P1/dev-1/x",
            "uploads/P1/x",
            "uploads/P1/d/x/y",
        ] {
            assert_eq!(ObjectKey::parse_segments(bad.split('/')), None, "{bad}");
        }
        let dot = ObjectKey::new(Bucket::Downloads, "P", "d", ".hidden").unwrap();
        assert_eq!(dot.relative_file(), Path::new("downloads/P/d/%2Ehidden"));
    }

    #[test]
    fn urls_have_the_real_stores_shape() {
        let dir = tempfile::tempdir().unwrap();
        for (base, expect) in [
            (
                "http://127.0.0.1:80",
                "http://127.0.0.1/resmgr/uploads/P1/d/a%20b?",
            ),
            (
                "https://store.example:443/",
                "https://store.example/resmgr/uploads/P1/d/a%20b?",
            ),
            (
                "http://h:8080/s3/",
                "http://h:8080/s3/resmgr/uploads/P1/d/a%20b?",
            ),
        ] {
            let store = Store::open(
                dir.path(),
                &url::Url::parse(base).unwrap(),
                random_credentials().unwrap(),
            )
            .unwrap();
            let key = ObjectKey::new(Bucket::Uploads, "P1", "d", "a b").unwrap();
            let url = store.presign(Method::Put, &key, Duration::from_secs(900));
            assert!(url.starts_with(expect), "{url}");
            assert!(url.len() > 500, "{} chars: {url}", url.len());
            for p in [
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Credential=ASIA",
                "X-Amz-Date=",
                "X-Amz-Expires=900",
                "X-Amz-SignedHeaders=host",
                "X-Amz-Security-Token=",
                "X-Amz-Signature=",
            ] {
                assert!(url.contains(p), "{p} missing: {url}");
            }
        }
    }
}
