//! The C ABI: the only module with `unsafe`.
//!
//! Conventions (mirrored in `include/resmgr.h`):
//! - every exported function body runs inside [`boundary`]'s guards, which
//!   turn a panic into `RESMGR_ERR_PANIC` (or NULL / 0) and record the
//!   per-thread last error;
//! - pointers are NULL-checked, strings are NUL-terminated UTF-8 and only
//!   borrowed for the duration of the call;
//! - enums coming *from* C are taken as `int32_t` and checked, never
//!   transmuted into Rust enums.
//!
//! Its types carry their C names (`resmgr_client`), hence the allow below.

#![allow(non_camel_case_types)]

#[cfg(test)]
mod abi_tests;
pub mod boundary;
pub mod client;
pub mod event;
pub mod md5;
#[cfg(feature = "mqtt")]
pub mod mqtt;
pub mod status;
#[cfg(feature = "http")]
pub mod transfer;

pub use client::*;
pub use event::*;
pub use md5::*;
#[cfg(feature = "mqtt")]
pub use mqtt::*;
pub use status::*;
#[cfg(feature = "http")]
pub use transfer::*;
