//! resmgr: the device side of IoT resource management.
//!
//! Layers, top to bottom (see README "Architecture"):
//! - [`ffi`]: the C ABI, the only module with `unsafe` (besides a few
//!   small system calls in `transfer/sys.rs`);
//! - [`client`]: a sans-IO state machine of upload and download tasks;
//! - [`protocol`]: topics and JSON messages, validated;
//! - [`digest`]: streaming MD5 in hex and base64 forms.
#![deny(unsafe_code)]
#![warn(missing_docs)]

/// cbindgen:ignore
pub mod backoff;
/// cbindgen:ignore
pub mod cancel;
/// cbindgen:ignore
pub mod client;
/// cbindgen:ignore
pub mod digest;
/// cbindgen:ignore
pub mod error;
/// cbindgen:ignore
pub mod limits;
/// cbindgen:ignore
#[cfg(feature = "mqtt")]
pub mod mqtt;
/// cbindgen:ignore
pub mod progress;
/// cbindgen:ignore
pub mod protocol;
/// cbindgen:ignore
#[cfg(any(feature = "http", feature = "mqtt"))]
mod tls;
/// cbindgen:ignore
#[cfg(feature = "http")]
pub mod transfer;

#[allow(unsafe_code)]
pub mod ffi;

pub use client::{Client, ClientIo, Event};
pub use digest::{Md5Digest, Md5Hasher};
pub use error::{Error, ErrorKind, Result};
