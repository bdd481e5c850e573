//! `serve --s3-endpoint URL --s3-bucket NAME`: any S3-compatible store
//! behind the platform. Devices get SigV4 presigned URLs on that store and
//! talk to it directly; the platform itself only checks a finished upload
//! (HEAD: size and ETag, which is the MD5 of a single PUT) and stores
//! pushed files there (one PUT with `Content-MD5`). Credentials come from
//! `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, and are tried at start.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

use md5::{Digest, Md5};
use ureq::tls::{parse_pem, PemItem, RootCerts, TlsConfig};

use crate::presign::{Method, Presigner};
use crate::store::ObjectKey;
use crate::util;

/// How long the platform's own presigned requests live.
const OWN_TTL: Duration = Duration::from_secs(300);

/// Where the store is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// `http(s)://host[:port][/prefix]`.
    pub endpoint: url::Url,
    /// Bucket name (path-style addressing).
    pub bucket: String,
    /// Region the requests are signed for.
    pub region: String,
    /// Extra CA certificates (PEM) to trust for an `https` endpoint.
    pub ca_file: Option<std::path::PathBuf>,
}

/// A connected S3 store.
pub struct S3Store {
    presigner: Presigner,
    agent: ureq::Agent,
    describe: String,
}

/// What a HEAD says about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// `Content-Length`.
    pub size: u64,
    /// The ETag without quotes.
    pub etag: String,
}

fn roots(ca_file: Option<&Path>) -> Result<RootCerts, String> {
    let mut pem = Vec::new();
    for bundle in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ] {
        if let Ok(b) = std::fs::read(bundle) {
            pem.extend(b);
            break;
        }
    }
    if let Some(f) = ca_file {
        pem.extend(
            std::fs::read(f).map_err(|e| format!("cannot read --s3-ca {}: {e}", f.display()))?,
        );
    }
    let certs: Vec<_> = parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    Ok(RootCerts::new_with_certs(&certs))
}

fn store_error(body: &str) -> String {
    let field = |tag: &str| {
        let open = format!("<{tag}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{tag}>"))? + start;
        Some(body[start..end].to_string())
    };
    match (field("Code"), field("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => "no S3 error body".into(),
    }
}

impl S3Store {
    /// Connects to the store and checks the credentials and the bucket
    /// with one signed request, so a wrong setting is said at start.
    pub fn connect(opts: &S3Options) -> Result<S3Store, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(
                "--s3-endpoint needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
                    .into(),
            );
        };
        let credentials = match var("AWS_SESSION_TOKEN") {
            Some(t) => rusty_s3::Credentials::new_with_token(key, secret, t),
            None => rusty_s3::Credentials::new(key, secret),
        };
        let presigner = Presigner::new(&opts.endpoint, &opts.bucket, &opts.region, credentials)?;
        let tls = TlsConfig::builder()
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .root_certs(roots(opts.ca_file.as_deref())?)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_per_read(Some(Duration::from_secs(30)))
            .timeout_per_write(Some(Duration::from_secs(30)))
            .tls_config(tls)
            .build()
            .into();
        let store = S3Store {
            describe: presigner.bucket_url().to_string(),
            presigner,
            agent,
        };
        store.check()?;
        Ok(store)
    }

    /// `endpoint/bucket/`, for the log and `platform.json`.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    fn check(&self) -> Result<(), String> {
        // HEAD of the bucket: 200 means the store is there, the bucket
        // exists and the signature was accepted.
        let url = self.presigner.presign_bucket_head(OWN_TTL);
        let resp = self
            .agent
            .head(&url)
            .call()
            .map_err(|e| format!("cannot reach the S3 store at {}: {e}", self.describe))?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => Ok(()),
            404 => Err(format!(
                "the S3 store at {} has no bucket {:?} (HTTP 404)",
                self.describe,
                self.presigner.bucket_name()
            )),
            401 | 403 => Err(format!(
                "the S3 store at {} refused the credentials of AWS_ACCESS_KEY_ID ({})",
                self.describe,
                self.why_refused()
            )),
            _ => Err(format!(
                "the S3 store at {} answered HTTP {status} to a HEAD of the bucket",
                self.describe
            )),
        }
    }

    /// The store's own words for a refused request (a HEAD has no body):
    /// the error code of a GET of a key that is never stored.
    fn why_refused(&self) -> String {
        let url = self
            .presigner
            .presign(Method::Get, ".resmgr-platform-check", OWN_TTL);
        match self.agent.get(&url).call() {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(64 * 1024)
                    .read_to_string()
                    .unwrap_or_default();
                format!("HTTP {status} {}", store_error(&body))
            }
            Err(e) => e.to_string(),
        }
    }

    /// A URL for devices.
    pub fn presign(&self, method: Method, key: &ObjectKey, ttl: Duration) -> String {
        self.presigner.presign(method, &key.s3_key(), ttl)
    }

    /// HEAD of an object: `None` when there is none.
    pub fn head(&self, key: &ObjectKey) -> Result<Option<ObjectInfo>, String> {
        let url = self.presigner.presign(Method::Head, &key.s3_key(), OWN_TTL);
        let resp = self
            .agent
            .head(&url)
            .call()
            .map_err(|e| format!("HEAD at the S3 store failed: {e}"))?;
        match resp.status().as_u16() {
            200 => {
                let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok());
                let size = header("content-length")
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or("the S3 store's HEAD has no Content-Length")?;
                let etag = header("etag").unwrap_or("").trim_matches('"').to_string();
                Ok(Some(ObjectInfo { size, etag }))
            }
            404 => Ok(None),
            s => Err(format!("HEAD at the S3 store answered HTTP {s}")),
        }
    }

    /// Size and MD5 of a stored object, read back in full (for an ETag that
    /// is not a plain MD5, as after a multipart upload).
    pub fn md5_of(&self, key: &ObjectKey) -> Result<(u64, String), String> {
        let url = self.presigner.presign(Method::Get, &key.s3_key(), OWN_TTL);
        let mut resp = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("GET at the S3 store failed: {e}"))?;
        if resp.status().as_u16() != 200 {
            return Err(format!(
                "GET at the S3 store answered HTTP {}",
                resp.status()
            ));
        }
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut hasher = Md5::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| format!("reading from the S3 store: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Ok((total, util::hex(&hasher.finalize())))
    }

    /// Stores a local file as `key` (one PUT with `Content-MD5`, which the
    /// store checks); its size and MD5.
    pub fn put_file(&self, key: &ObjectKey, file: &Path) -> Result<(u64, String), String> {
        let (size, md5) =
            util::md5_file(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let digest = util::unhex(&md5).unwrap_or_default();
        use base64::Engine as _;
        let content_md5 = base64::engine::general_purpose::STANDARD.encode(digest);
        let url = self.presigner.presign(Method::Put, &key.s3_key(), OWN_TTL);
        let f = File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut resp = self
            .agent
            .put(&url)
            .header("Content-MD5", &content_md5)
            .header("Content-Length", &size.to_string())
            .send(ureq::SendBody::from_reader(&mut f.take(size)))
            .map_err(|e| format!("PUT to the S3 store failed: {e}"))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            return Err(format!(
                "the S3 store refused the PUT: HTTP {status} ({})",
                store_error(&body)
            ));
        }
        Ok((size, md5))
    }
}
