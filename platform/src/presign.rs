//! AWS SigV4 query-string presigning (through rusty-s3), for both stores:
//! the built-in one signs and checks its own URLs with per-run temporary
//! credentials, an external S3 store gets URLs signed with the operator's
//! credentials. Either way devices see URLs of the real store's shape and
//! length (`X-Amz-Algorithm`, `-Credential`, `-Date`, `-Expires`,
//! `-SignedHeaders`, `-Security-Token`, `-Signature`).

use std::time::Duration;

use rusty_s3::actions::{GetObject, HeadBucket, HeadObject, PutObject, S3Action};
use rusty_s3::{Bucket as S3Bucket, Credentials, UrlStyle};

/// The HTTP methods URLs are signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Upload URLs.
    Put,
    /// Download URLs.
    Get,
    /// The platform's own checks of a stored object.
    Head,
}

/// Signs URLs for one bucket of one endpoint.
pub struct Presigner {
    bucket: S3Bucket,
    credentials: Credentials,
}

impl Presigner {
    /// A presigner for `bucket` (path-style) at `endpoint`
    /// (`scheme://host[:port][/prefix]`).
    pub fn new(
        endpoint: &url::Url,
        bucket: &str,
        region: &str,
        credentials: Credentials,
    ) -> Result<Presigner, String> {
        let bucket = S3Bucket::new(
            endpoint.clone(),
            UrlStyle::Path,
            bucket.to_string(),
            region.to_string(),
        )
        .map_err(|e| format!("{endpoint} cannot be an S3 endpoint: {e:?}"))?;
        Ok(Presigner {
            bucket,
            credentials,
        })
    }

    /// The bucket's base URL (`endpoint/bucket/`).
    pub fn bucket_url(&self) -> &url::Url {
        self.bucket.base_url()
    }

    /// The bucket's name.
    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    /// A URL for `method` on object `key`, valid for `ttl` from now.
    pub fn presign(&self, method: Method, key: &str, ttl: Duration) -> String {
        self.presign_at(method, key, ttl, &jiff::Timestamp::now())
    }

    /// A HEAD of the bucket itself (does it exist, are we let in?).
    pub fn presign_bucket_head(&self, ttl: Duration) -> String {
        HeadBucket::new(&self.bucket, Some(&self.credentials))
            .sign(ttl)
            .to_string()
    }

    /// The same as if signed at `at` (to check a URL, or to forge an
    /// expired one in a test).
    pub fn presign_at(
        &self,
        method: Method,
        key: &str,
        ttl: Duration,
        at: &jiff::Timestamp,
    ) -> String {
        let creds = Some(&self.credentials);
        match method {
            Method::Put => PutObject::new(&self.bucket, creds, key).sign_with_time(ttl, at),
            Method::Get => GetObject::new(&self.bucket, creds, key).sign_with_time(ttl, at),
            Method::Head => HeadObject::new(&self.bucket, creds, key).sign_with_time(ttl, at),
        }
        .to_string()
    }
}
