//! Every size limit the library enforces, in one place.
//!
//! Limits protect a device from hostile or broken peers: anything larger is
//! rejected with a clear error before it can cost memory or reach a file
//! system. They are generous enough for what the real platform sends
//! (presigned URLs of 1-2 KB, long object names).

/// Longest product id the platform issues (characters, all ASCII).
pub const MAX_PRODUCT_ID_LEN: usize = 10;

/// Longest device name the platform allows (characters, all ASCII).
pub const MAX_DEVICE_NAME_LEN: usize = 48;

/// Longest resource name, in bytes of UTF-8. Matches the usual file name
/// limit (255) of Linux file systems so a downloaded resource can be stored
/// under its own name.
pub const MAX_NAME_LEN: usize = 255;

/// Longest URL accepted from the platform, in bytes. Real presigned URLs are
/// 500-2000 bytes; 4 KiB leaves headroom for long object keys and tokens.
pub const MAX_URL_LEN: usize = 4096;

/// Longest `result_msg` accepted in a down message, in bytes.
pub const MAX_RESULT_MSG_LEN: usize = 1024;

/// Longest `type` value accepted in a down message, in bytes.
pub const MAX_TYPE_LEN: usize = 64;

/// Largest down message payload accepted, in bytes. A response carrying the
/// longest URL, name and result message fits with room to spare.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;

/// Deepest nesting of objects and arrays accepted in a down message. Real
/// messages are at most three levels deep.
pub const MAX_JSON_DEPTH: usize = 32;

/// Most upload tasks (and, separately, download tasks) in flight at once per
/// client. A flood of pushed downloads with distinct names stops here instead
/// of growing memory without bound. When the download table is full, a new
/// task takes the place of the oldest one that has not started (no progress
/// tracked or reported for it: the application may never run it), which is
/// dropped with an event; only a table of started tasks refuses new ones.
/// Upload tasks are created by the application, which hears
/// `TooManyTasks` at once and can end some.
pub const MAX_TASKS: usize = 64;

/// Most progress reports remembered while waiting for their acks, per
/// direction; the oldest is forgotten first.
pub const MAX_PENDING_ACKS: usize = 256;
