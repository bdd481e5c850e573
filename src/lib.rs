//! resmgr: the device side of IoT resource management.
//!
//! Layers, top to bottom (see README "Architecture"):
//! - [`ffi`]: the C ABI, the only module with `unsafe` (besides the port
//!   glue in [`port`] and a few small system calls in `transfer/sys.rs`);
//! - [`device`] (feature `std`): what waits, reads files and keeps the
//!   clock, for Rust and C callers alike; `transfer` (feature `http`) and
//!   `mqtt` (feature `mqtt`) sit beside it;
//! - the core, `no_std` + `alloc`: [`client`], a state machine of upload
//!   and download tasks that never blocks, reads a file or a clock, or
//!   starts a thread; [`protocol`]: topics and JSON messages, validated;
//!   [`digest`]: streaming MD5 in hex and base64 forms; [`progress`]:
//!   throttling of progress reports.
//!
//! Without the `std` feature the crate is that core. On a target without
//! an operating system (`target_os = "none"`: thumbv7em-none-eabihf...) it
//! is `no_std` + `alloc`, and the firmware supplies the porting layer of
//! `include/resmgr_port.h` (heap, mutex, clock, panic); on a target with
//! one, the standard library's runtime stands in for the port, so a host
//! build without `std` links and tests like any other.
#![cfg_attr(target_os = "none", no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

#[cfg(all(feature = "std", target_os = "none"))]
compile_error!("the `std` feature (and `http`, `mqtt`) needs a target with an operating system; build the core with --no-default-features");

/// cbindgen:ignore
#[cfg(feature = "std")]
pub mod backoff;
/// cbindgen:ignore
pub mod cancel;
/// cbindgen:ignore
pub mod client;
/// cbindgen:ignore
#[cfg(feature = "std")]
pub mod device;
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
#[allow(unsafe_code)]
pub mod port;
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

/// What every core module uses from `alloc`, which `no_std` does not
/// bring into scope by itself.
mod prelude {
    pub(crate) use alloc::borrow::ToOwned;
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::format;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
}

pub use client::{Client, ClientIo, Event, TaskState};
pub use digest::{Md5Digest, Md5Hasher};
pub use error::{Error, ErrorKind, Result};
