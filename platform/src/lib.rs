//! resmgr-platform: the cloud side of IoT resource management, on a
//! developer's desk. It answers devices over MQTT the way the real platform
//! does, registers devices and checks their logins inside the broker, and
//! hands out presigned URLs on an object store (its own, or any S3 store),
//! so the device library can be demonstrated and tested end to end without
//! the cloud.
//!
//! The binary (`resmgr-platform`) is the product; the library exists so the
//! integration tests can drive pieces (notably the store) in-process, and
//! its cdylib is the mosquitto plugin ([`plugin`]).

#![warn(missing_docs)]

pub mod admin;
pub mod broker;
pub mod cli;
pub mod devices;
pub mod http;
pub mod mqtt;
pub mod objects;
pub mod peer;
pub mod plugin;
pub mod presign;
pub mod s3;
pub mod serve;
pub mod state;
pub mod store;
pub mod tls;
pub mod util;
