//! Where objects are: the built-in store (the zero-setup default) or an
//! external S3 store. The protocol peer only presigns, checks and imports
//! through this.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::presign::Method;
use crate::s3::S3Store;
use crate::store::{ObjectKey, Store};

/// The object store behind the platform.
#[derive(Clone)]
pub enum Objects {
    /// `DIR/store/`, served by the platform itself.
    Local(Arc<Store>),
    /// An S3-compatible store devices talk to directly.
    S3(Arc<S3Store>),
}

/// What the store holds under a key, as far as the platform can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Nothing.
    Missing,
    /// An object of this size and lowercase hex MD5.
    Object(u64, String),
}

impl Objects {
    /// A presigned URL for devices.
    pub fn presign(&self, method: Method, key: &ObjectKey, ttl: Duration) -> String {
        match self {
            Objects::Local(s) => s.presign(method, key, ttl),
            Objects::S3(s) => s.presign(method, key, ttl),
        }
    }

    /// Size and MD5 of what is stored under `key`: the file's for the
    /// built-in store; for S3 the HEAD's size and ETag (the MD5 of a single
    /// PUT), reading the object back only when the ETag is not an MD5.
    pub fn stored(&self, key: &ObjectKey) -> Result<Stored, String> {
        match self {
            Objects::Local(s) => match crate::util::md5_file(&s.object_path(key)) {
                Ok((size, md5)) => Ok(Stored::Object(size, md5)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::Missing),
                Err(e) => Err(format!("cannot read the object: {e}")),
            },
            Objects::S3(s) => match s.head(key)? {
                None => Ok(Stored::Missing),
                Some(info) if crate::util::is_md5_hex(&info.etag) => {
                    Ok(Stored::Object(info.size, info.etag.to_ascii_lowercase()))
                }
                Some(_) => {
                    let (size, md5) = s.md5_of(key)?;
                    Ok(Stored::Object(size, md5))
                }
            },
        }
    }

    /// Stores a local file under `key`; its size and MD5.
    pub fn import(&self, key: &ObjectKey, file: &Path) -> Result<(u64, String), String> {
        match self {
            Objects::Local(s) => s
                .import(key, file)
                .map_err(|e| format!("cannot read {}: {e}", file.display())),
            Objects::S3(s) => s.put_file(key, file),
        }
    }

    /// A line for the log: where objects go.
    pub fn describe(&self) -> String {
        match self {
            Objects::Local(s) => format!("object store {}", s.base_url()),
            Objects::S3(s) => format!("S3 store {}", s.describe()),
        }
    }
}
