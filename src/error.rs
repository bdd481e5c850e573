//! The library's error type: a kind a program can branch on, and a message a
//! person can act on.

use core::fmt;

use crate::prelude::*;

/// What went wrong, coarsely enough to branch on. Each kind has a fixed
/// status number in the C API (see `ffi::status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required pointer argument was NULL (C API only).
    NullArgument,
    /// An argument had a value the operation cannot use.
    InvalidArgument,
    /// A string was not valid UTF-8.
    Utf8,
    /// A product id or device name breaks the platform's rules.
    InvalidId,
    /// A message arrived on a topic other than this device's down topic.
    WrongTopic,
    /// A down message is larger than [`crate::limits::MAX_PAYLOAD_LEN`].
    PayloadTooLarge,
    /// A down message is not a JSON object (syntax error, other JSON value,
    /// nested too deep, duplicate keys).
    Json,
    /// A down message has no `type`, or its `type` is not a string.
    MessageType,
    /// A down message has a `type` this library does not know.
    UnknownMessage,
    /// A down message lacks a field its type requires.
    MissingField,
    /// A resource name is empty, too long or has control characters.
    InvalidName,
    /// A size is not a non-negative integer below 2^64, or does not fit.
    InvalidSize,
    /// An MD5 is not 32 hex characters, or does not match.
    InvalidMd5,
    /// A URL is not an acceptable http(s) URL.
    InvalidUrl,
    /// Some other field of a down message has the wrong type or value.
    InvalidField,
    /// The publish callback reported a failure.
    Publish,
    /// No task with that name is in flight.
    NoTask,
    /// A task with that name is in flight with a different size or MD5.
    TaskConflict,
    /// The task table is full (see [`crate::limits::MAX_TASKS`]).
    TooManyTasks,
    /// Reading or writing a local file failed.
    Io,
    /// A transfer timed out (connect, idle, or overall limit).
    Timeout,
    /// The store answered 404: the object does not exist.
    NotFound,
    /// The store answered 403 to an upload: signature invalid or expired.
    SignInvalid,
    /// The store answered 403 to a download: the URL expired. The partial
    /// download is kept; fetch a fresh URL and run it again to resume.
    UrlExpired,
    /// The data's MD5 does not match the task's.
    Md5Mismatch,
    /// The store answered with another unexpected HTTP status.
    Http,
    /// The connection failed or broke, and retries did not help.
    Network,
    /// TLS failed: certificate not trusted, wrong host name, bad CA file...
    Tls,
    /// The transfer was cancelled.
    Cancelled,
    /// A download's name is not a plain file name that is safe to create.
    UnsafeName,
    /// The task has no URL yet.
    NoUrl,
    /// The store broke HTTP's rules (wrong `Content-Range`, more bytes than
    /// announced...).
    BadResponse,
    /// Another download of the same name into the same directory is
    /// running (in this process or another): its lock file is held.
    /// Nothing was changed and nothing was reported.
    InUse,
    /// The MQTT broker refused the login (bad credentials, not allowed).
    NotAuthorized,
    /// The call does not fit the object's state (connecting twice,
    /// connecting a client that publishes through a callback...).
    InvalidState,
    /// A panic was caught at the C boundary.
    Panic,
}

impl ErrorKind {
    /// The `result_code` a `fail` report carries for this failure, and the
    /// platform's standard `result_msg` when it has one.
    pub fn platform_result(self) -> (i32, Option<&'static str>) {
        use crate::protocol::result_code::*;
        let code = match self {
            ErrorKind::Timeout => TIME_OUT,
            ErrorKind::NotFound => FILE_NOT_EXIST,
            ErrorKind::SignInvalid | ErrorKind::UrlExpired => SIGN_INVALID,
            ErrorKind::Md5Mismatch => MD5_NOT_MATCHED,
            // Everything else is "timeout-like" for the platform; the
            // message says what really happened.
            _ => return (TIME_OUT, None),
        };
        (code, standard_message(code))
    }
}

/// An error with its kind and a message that names what failed and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Builds an error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind, to branch on.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, to show or log.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl core::error::Error for Error {}

/// Shows text from the network or the application inside an error
/// message: backslashes, quotes and control characters escaped as
/// `str::escape_debug` does, every other character as it is. Not
/// `escape_debug` itself: its Unicode tables cost about 4 KB of a
/// microcontroller's flash.
pub(crate) struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write as _;
        for c in self.0.chars() {
            match c {
                '\\' | '\'' | '"' => {
                    f.write_char('\\')?;
                    f.write_char(c)?;
                }
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\0' => f.write_str("\\0")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Result with the library's [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn escaped_text_matches_escape_debug_for_what_messages_quote() {
        for text in [
            "plain.bin",
            "a'b\"c\\d",
            "tab\there\nnl\r\0",
            "\u{1}\u{7f}x",
            "é中",
        ] {
            assert_eq!(
                Escaped(text).to_string(),
                text.escape_debug().to_string(),
                "{text:?}"
            );
        }
    }
}
