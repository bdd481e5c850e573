//! The resource-management protocol: topics, the JSON messages in both
//! directions, their validation and the platform's result codes.
//!
//! Nothing here touches a socket, a file or a clock.

pub mod down;
pub mod fields;
pub mod topic;
pub mod up;

pub use down::{parse_down_message, DownMessage, Outcome, Resource};
pub use topic::Topics;
pub use up::UpMessage;

/// MQTT quality of service of a message the device publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qos {
    /// Fire and forget: used for `uploading`/`downloading` reports, which
    /// are superseded by the next one.
    AtMostOnce = 0,
    /// Acknowledged by the broker: task requests and final reports.
    AtLeastOnce = 1,
}

/// Which way a resource moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Device to platform.
    Upload,
    /// Platform to device.
    Download,
}

impl Direction {
    /// "upload" or "download", for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

/// The `progress.state` of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    /// `uploading` or `downloading`, with a percent.
    InProgress,
    /// `done`: the transfer succeeded.
    Done,
    /// `fail`: the transfer ended without success.
    Fail,
}

/// Result codes the device sends in `progress.result_code`.
pub mod result_code {
    /// Success, or still in progress.
    pub const SUCCESS: i32 = 0;
    /// The transfer timed out (also any timeout-like network failure).
    pub const TIME_OUT: i32 = -1;
    /// The object or the local file does not exist (HTTP 404, ENOENT).
    pub const FILE_NOT_EXIST: i32 = -2;
    /// The URL's signature was rejected or has expired (HTTP 403).
    pub const SIGN_INVALID: i32 = -3;
    /// The data's MD5 does not match the announced one.
    pub const MD5_NOT_MATCHED: i32 = -4;

    /// The `result_msg` the platform expects for a known code, or `None`.
    pub fn standard_message(code: i32) -> Option<&'static str> {
        match code {
            SUCCESS => Some(""),
            TIME_OUT => Some("time_out"),
            FILE_NOT_EXIST => Some("file_not_exist"),
            SIGN_INVALID => Some("sign invalid"),
            MD5_NOT_MATCHED => Some("md5sum not matched"),
            _ => None,
        }
    }
}
