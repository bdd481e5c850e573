//! resmgr-platform: the cloud side of IoT resource management, on a
//! developer's desk. It answers devices over MQTT the way the real platform
//! does and runs an S3-style object store with presigned URLs, so the
//! device library can be demonstrated and tested end to end without the
//! cloud.
//!
//! The binary (`resmgr-platform`) is the product; the library exists so the
//! integration tests can drive pieces (notably the store) in-process.

#![warn(missing_docs)]

pub mod admin;
pub mod broker;
pub mod cli;
pub mod http;
pub mod mqtt;
pub mod peer;
pub mod serve;
pub mod signals;
pub mod state;
pub mod store;
pub mod util;
