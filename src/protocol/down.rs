//! Parsing and validation of the messages the platform sends on the down
//! topic.
//!
//! Parsing is in two steps so that every failure names its field: serde
//! splits the object into raw, still-unparsed field values (borrowed from the
//! payload, unknown fields skipped), then each field the message type needs
//! is checked on its own. Strings without escapes stay borrowed, so the
//! common message costs no allocation here.

use alloc::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::{check_name, check_result_msg, check_url, truncate};
use super::Direction;
use crate::digest::Md5Digest;
use crate::error::{Error, ErrorKind, Escaped, Result};
use crate::limits::{MAX_JSON_DEPTH, MAX_PAYLOAD_LEN, MAX_TYPE_LEN};
use crate::prelude::*;

/// A resource the platform names: what to move, where, and how to check it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    /// The resource name (checked with [`check_name`]).
    pub name: Cow<'a, str>,
    /// Size in bytes.
    pub size: u64,
    /// Expected MD5 of the whole resource.
    pub md5: Md5Digest,
    /// Presigned URL (checked with [`check_url`]).
    pub url: Cow<'a, str>,
}

/// The platform's `result_code` / `result_msg` pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<'a> {
    /// 0 for success.
    pub code: i32,
    /// The platform's text; empty when absent.
    pub msg: Cow<'a, str>,
}

/// A validated down message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownMessage<'a> {
    /// `create_upload_task_rsp` with an upload URL.
    UploadUrl(Resource<'a>),
    /// `create_upload_task_rsp` with a non-zero `result_code`: the platform
    /// refused to create the task.
    UploadRefused {
        /// The task's name, when the platform included it.
        name: Option<Cow<'a, str>>,
        /// Why.
        outcome: Outcome<'a>,
    },
    /// `get_download_task_rsp` (`pushed == false`) or `download`
    /// (`pushed == true`) carrying a task.
    DownloadTask {
        /// What to download.
        resource: Resource<'a>,
        /// True for an unasked `download` push.
        pushed: bool,
    },
    /// A `get_download_task_rsp` (or `download`) that carries no task.
    NoDownloadTask {
        /// True for a `download` push.
        pushed: bool,
        /// The platform's code and text, when it gave them.
        outcome: Outcome<'a>,
    },
    /// `report_upload_progress_rsp` / `report_download_progress_rsp`.
    ProgressAck {
        /// Which report it acknowledges.
        direction: Direction,
        /// Non-zero means the platform rejected the task.
        outcome: Outcome<'a>,
    },
    /// `upload_result`: the platform's final verdict on an upload.
    UploadResult {
        /// The upload's name, when the platform included it.
        name: Option<Cow<'a, str>>,
        /// The verdict.
        outcome: Outcome<'a>,
    },
}

impl DownMessage<'_> {
    /// The wire `type` of the message.
    pub fn type_name(&self) -> &'static str {
        match self {
            DownMessage::UploadUrl(_) | DownMessage::UploadRefused { .. } => {
                "create_upload_task_rsp"
            }
            DownMessage::DownloadTask { pushed: true, .. }
            | DownMessage::NoDownloadTask { pushed: true, .. } => "download",
            DownMessage::DownloadTask { .. } | DownMessage::NoDownloadTask { .. } => {
                "get_download_task_rsp"
            }
            DownMessage::ProgressAck {
                direction: Direction::Upload,
                ..
            } => "report_upload_progress_rsp",
            DownMessage::ProgressAck {
                direction: Direction::Download,
                ..
            } => "report_download_progress_rsp",
            DownMessage::UploadResult { .. } => "upload_result",
        }
    }
}

/// The fields any down message may carry, still unparsed.
#[derive(Deserialize)]
struct RawFields<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    size: Option<&'a RawValue>,
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    md5sum: Option<&'a RawValue>,
    #[serde(borrow, default)]
    url: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result_code: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result_msg: Option<&'a RawValue>,
    #[serde(borrow, default)]
    report: Option<&'a RawValue>,
    #[serde(borrow, default)]
    progress: Option<&'a RawValue>,
}

fn err(kind: ErrorKind, msg: impl Into<String>) -> Error {
    Error::new(kind, msg)
}

/// Parses and validates one down message payload.
///
/// Unknown fields are ignored. An unknown `type` is an
/// [`ErrorKind::UnknownMessage`] error whose message names the type, so the
/// caller can report it and carry on.
pub fn parse_down_message(payload: &[u8]) -> Result<DownMessage<'_>> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(err(
            ErrorKind::PayloadTooLarge,
            format!(
                "down message is {} bytes, the limit is {MAX_PAYLOAD_LEN}",
                payload.len()
            ),
        ));
    }
    let text = core::str::from_utf8(payload).map_err(|e| {
        err(
            ErrorKind::Utf8,
            format!(
                "down message is not valid UTF-8 (at byte {})",
                e.valid_up_to()
            ),
        )
    })?;
    let raw = parse_object(text)?;
    let kind = match raw.kind {
        None => return Err(err(ErrorKind::MessageType, "down message has no \"type\"")),
        Some(v) => json_str(v).ok_or_else(|| {
            err(
                ErrorKind::MessageType,
                "down message \"type\" is not a string",
            )
        })?,
    };
    match &*kind {
        "create_upload_task_rsp" => {
            let outcome = outcome_fields(raw.result_code, raw.result_msg)?;
            if outcome.code != 0 {
                let name = raw.name.map(|v| name_field(Some(v))).transpose()?;
                return Ok(DownMessage::UploadRefused { name, outcome });
            }
            Ok(DownMessage::UploadUrl(resource(&raw)?))
        }
        "get_download_task_rsp" | "download" => {
            let pushed = kind == "download";
            let outcome = outcome_fields(raw.result_code, raw.result_msg)?;
            // "No task" comes as a non-zero code, or as a message without
            // the task's fields (or with them empty).
            let empty = |v: Option<&RawValue>| {
                v.is_none_or(|v| matches!(v.get().trim_ascii(), "\"\"" | "null"))
            };
            if outcome.code != 0 || (empty(raw.name) && empty(raw.url)) {
                return Ok(DownMessage::NoDownloadTask { pushed, outcome });
            }
            Ok(DownMessage::DownloadTask {
                resource: resource(&raw)?,
                pushed,
            })
        }
        "report_upload_progress_rsp" => Ok(DownMessage::ProgressAck {
            direction: Direction::Upload,
            outcome: outcome_fields(raw.result_code, raw.result_msg)?,
        }),
        "report_download_progress_rsp" => Ok(DownMessage::ProgressAck {
            direction: Direction::Download,
            outcome: outcome_fields(raw.result_code, raw.result_msg)?,
        }),
        "upload_result" => upload_result(&raw),
        other => Err(err(
            ErrorKind::UnknownMessage,
            format!(
                "unknown down message type \"{}\"",
                Escaped(truncate(other, MAX_TYPE_LEN))
            ),
        )),
    }
}

/// Only a JSON object is a message. serde would also map an array onto the
/// struct positionally, so the shape is checked first.
fn parse_object(text: &str) -> Result<RawFields<'_>> {
    match text.trim_ascii_start().as_bytes().first() {
        Some(b'{') => {}
        None => return Err(err(ErrorKind::Json, "down message is empty")),
        Some(_) => {
            return Err(err(ErrorKind::Json, "down message is not a JSON object"));
        }
    }
    check_depth(text.as_bytes())?;
    serde_json::from_str::<RawFields<'_>>(text).map_err(|e| {
        err(
            ErrorKind::Json,
            format!("down message is not valid JSON: {e}"),
        )
    })
}

/// Refuses nesting deeper than [`MAX_JSON_DEPTH`]. serde skips unknown
/// values without recursion, so depth cannot overflow the stack; the limit
/// keeps absurd documents from being accepted as messages. Counting the
/// opening brackets first (a vectorized pass) spares the exact scan for
/// every ordinary message.
fn check_depth(text: &[u8]) -> Result<()> {
    // `b | 0x20` maps '[' (0x5b) onto '{' (0x7b) and nothing else onto it;
    // u8 counters over 255-byte chunks keep the loop 16/32 bytes wide.
    let opening: usize = text
        .chunks(255)
        .map(|c| c.iter().fold(0u8, |n, &b| n + u8::from(b | 0x20 == b'{')) as usize)
        .sum();
    if opening <= MAX_JSON_DEPTH {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in text {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return Err(err(
                        ErrorKind::Json,
                        format!(
                            "down message is nested too deeply (more than {MAX_JSON_DEPTH} levels)"
                        ),
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The string a raw JSON value holds, borrowed when it has no escapes.
fn json_str(v: &RawValue) -> Option<Cow<'_, str>> {
    let t = v.get();
    let inner = t.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains('\\') {
        // RawValue is valid JSON, so an escape-free string is its own text.
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(t).ok().map(Cow::Owned)
}

fn string_field<'a>(field: &str, v: Option<&'a RawValue>) -> Result<Cow<'a, str>> {
    let v = v.ok_or_else(|| {
        err(
            ErrorKind::MissingField,
            format!("down message has no \"{field}\""),
        )
    })?;
    json_str(v).ok_or_else(|| {
        err(
            ErrorKind::InvalidField,
            format!("\"{field}\" is not a string"),
        )
    })
}

fn name_field(v: Option<&RawValue>) -> Result<Cow<'_, str>> {
    let name = string_field("name", v).map_err(|e| retag(e, ErrorKind::InvalidName))?;
    check_name(&name)?;
    Ok(name)
}

/// A wrongly typed field is reported with the field's own kind.
fn retag(e: Error, kind: ErrorKind) -> Error {
    if e.kind() == ErrorKind::InvalidField {
        Error::new(kind, e.message())
    } else {
        e
    }
}

/// A size: a JSON integer in 0..=2^64-1, nothing else.
fn size_field(v: Option<&RawValue>) -> Result<u64> {
    let v = v.ok_or_else(|| err(ErrorKind::MissingField, "down message has no \"size\""))?;
    let t = v.get();
    let why = match t.as_bytes()[0] {
        b'0'..=b'9' if t.bytes().all(|b| b.is_ascii_digit()) => {
            return t.parse::<u64>().map_err(|_| {
                err(
                    ErrorKind::InvalidSize,
                    format!("\"size\" {t} is above 2^64-1"),
                )
            });
        }
        b'0'..=b'9' => "not an integer",
        b'-' => "negative",
        b'"' => "a string, not a number",
        _ => "not a number",
    };
    Err(err(
        ErrorKind::InvalidSize,
        format!("\"size\" {} is {why}", truncate(t, 40)),
    ))
}

fn md5_field(v: Option<&RawValue>) -> Result<Md5Digest> {
    let s = string_field("md5sum", v).map_err(|e| retag(e, ErrorKind::InvalidMd5))?;
    Md5Digest::from_hex(&s).map_err(|e| {
        err(
            ErrorKind::InvalidMd5,
            format!("\"md5sum\": {}", e.message()),
        )
    })
}

fn url_field(v: Option<&RawValue>) -> Result<Cow<'_, str>> {
    let s = string_field("url", v).map_err(|e| retag(e, ErrorKind::InvalidUrl))?;
    check_url(&s)?;
    Ok(s)
}

fn resource<'a>(raw: &RawFields<'a>) -> Result<Resource<'a>> {
    Ok(Resource {
        name: name_field(raw.name)?,
        size: size_field(raw.size)?,
        md5: md5_field(raw.md5sum)?,
        url: url_field(raw.url)?,
    })
}

/// `result_code` (an integer in i32 range; 0 when absent) and `result_msg`
/// (a string; empty when absent).
fn outcome_fields<'a>(
    code: Option<&'a RawValue>,
    msg: Option<&'a RawValue>,
) -> Result<Outcome<'a>> {
    let code = match code {
        None => 0,
        Some(v) => v.get().parse::<i32>().map_err(|_| {
            err(
                ErrorKind::InvalidField,
                format!(
                    "\"result_code\" {} is not a 32-bit integer",
                    truncate(v.get(), 40)
                ),
            )
        })?,
    };
    let msg = match msg {
        None => Cow::Borrowed(""),
        Some(v) if v.get() == "null" => Cow::Borrowed(""),
        Some(v) => json_str(v)
            .ok_or_else(|| err(ErrorKind::InvalidField, "\"result_msg\" is not a string"))?,
    };
    check_result_msg(&msg)?;
    Ok(Outcome { code, msg })
}

/// `upload_result`: `{"report": {"progress": {"result_code", "result_msg"}}}`.
/// The verdict is also accepted one level up (`report.result_code`) or at
/// the top, since field captures of the platform differ.
fn upload_result<'a>(top: &RawFields<'a>) -> Result<DownMessage<'a>> {
    let report = match top.report {
        Some(v) => Some(nested(v, "report")?),
        None => None,
    };
    let progress = match report.as_ref().and_then(|r| r.progress).or(top.progress) {
        Some(v) => Some(nested(v, "progress")?),
        None => None,
    };
    let layers = [progress.as_ref(), report.as_ref(), Some(top)];
    let holder = layers
        .iter()
        .flatten()
        .find(|l| l.result_code.is_some())
        .ok_or_else(|| {
            err(
                ErrorKind::MissingField,
                "upload_result has no \"result_code\"",
            )
        })?;
    let outcome = outcome_fields(holder.result_code, holder.result_msg)?;
    let name = layers.iter().flatten().find_map(|l| l.name);
    let name = name.map(|v| name_field(Some(v))).transpose()?;
    Ok(DownMessage::UploadResult { name, outcome })
}

fn nested<'a>(v: &'a RawValue, field: &str) -> Result<RawFields<'a>> {
    if !v.get().starts_with('{') {
        return Err(err(
            ErrorKind::InvalidField,
            format!("\"{field}\" is not an object"),
        ));
    }
    serde_json::from_str(v.get()).map_err(|e| err(ErrorKind::Json, format!("\"{field}\": {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{MAX_NAME_LEN, MAX_URL_LEN};

    const MD5: &str = "a567907174aaaaa3bb9a2bb20716fd97";
    const URL: &str = "https://iothub.cos.ap-guangzhou.myqcloud.com/x?sign=1";

    fn kind_of(payload: &str) -> ErrorKind {
        parse_down_message(payload.as_bytes()).unwrap_err().kind()
    }

    fn resource(name: &str, size: u64) -> Resource<'static> {
        Resource {
            name: Cow::Owned(name.to_string()),
            size,
            md5: Md5Digest::from_hex(MD5).unwrap(),
            url: Cow::Borrowed(URL),
        }
    }

    #[test]
    fn create_upload_task_rsp_yields_the_upload_url() {
        let p = format!(
            r#"{{"type":"create_upload_task_rsp","size":100,"name":"zxc","md5sum":"{MD5}","url":"{URL}"}}"#
        );
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::UploadUrl(resource("zxc", 100))
        );
    }

    #[test]
    fn escaped_urls_are_unescaped() {
        let p = format!(
            r#"{{"type":"create_upload_task_rsp","size":1,"name":"a","md5sum":"{MD5}","url":"https:\/\/h\/k?a=1\u0026b=2"}}"#
        );
        match parse_down_message(p.as_bytes()).unwrap() {
            DownMessage::UploadUrl(r) => assert_eq!(r.url, "https://h/k?a=1&b=2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_upload_task_rsp_with_nonzero_code_is_a_refusal() {
        let p = r#"{"type":"create_upload_task_rsp","name":"zxc","result_code":-5,"result_msg":"quota"}"#;
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::UploadRefused {
                name: Some("zxc".into()),
                outcome: Outcome {
                    code: -5,
                    msg: "quota".into()
                }
            }
        );
    }

    #[test]
    fn download_task_from_answer_and_from_push() {
        let body = format!(r#""size":372338,"name":"AAAA","md5sum":"{MD5}","url":"{URL}"}}"#);
        let rsp = format!(r#"{{"type":"get_download_task_rsp",{body}"#);
        assert_eq!(
            parse_down_message(rsp.as_bytes()).unwrap(),
            DownMessage::DownloadTask {
                resource: resource("AAAA", 372338),
                pushed: false
            }
        );
        let push = format!(r#"{{"type":"download",{body}"#);
        assert_eq!(
            parse_down_message(push.as_bytes()).unwrap(),
            DownMessage::DownloadTask {
                resource: resource("AAAA", 372338),
                pushed: true
            }
        );
    }

    #[test]
    fn get_download_task_rsp_without_a_task() {
        for p in [
            r#"{"type":"get_download_task_rsp"}"#,
            r#"{"type":"get_download_task_rsp","name":"","url":"","size":0,"md5sum":""}"#,
            r#"{"type":"get_download_task_rsp","result_code":1,"result_msg":"no task"}"#,
            r#"{"type":"get_download_task_rsp","name":null,"url":null}"#,
        ] {
            match parse_down_message(p.as_bytes()).unwrap() {
                DownMessage::NoDownloadTask { pushed: false, .. } => {}
                other => panic!("{p}: {other:?}"),
            }
        }
        let p = r#"{"type":"get_download_task_rsp","result_code":1,"result_msg":"no task"}"#;
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::NoDownloadTask {
                pushed: false,
                outcome: Outcome {
                    code: 1,
                    msg: "no task".into()
                }
            }
        );
    }

    #[test]
    fn progress_acks_in_both_directions() {
        let p = r#"{"type":"report_upload_progress_rsp","result_code":0,"result_msg":"ok"}"#;
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::ProgressAck {
                direction: Direction::Upload,
                outcome: Outcome {
                    code: 0,
                    msg: "ok".into()
                }
            }
        );
        let p =
            r#"{"type":"report_download_progress_rsp","result_code":-3,"result_msg":"expired"}"#;
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::ProgressAck {
                direction: Direction::Download,
                outcome: Outcome {
                    code: -3,
                    msg: "expired".into()
                }
            }
        );
    }

    #[test]
    fn upload_result_verdict_is_read_from_report_progress() {
        let p = r#"{"type":"upload_result","report":{"name":"zxc","progress":{"state":"done","result_code":0,"result_msg":"success"}}}"#;
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::UploadResult {
                name: Some("zxc".into()),
                outcome: Outcome {
                    code: 0,
                    msg: "success".into()
                }
            }
        );
        let p = r#"{"type":"upload_result","report":{"progress":{"result_code":-4}}}"#;
        assert_eq!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::UploadResult {
                name: None,
                outcome: Outcome {
                    code: -4,
                    msg: "".into()
                }
            }
        );
        assert_eq!(
            kind_of(r#"{"type":"upload_result","report":{}}"#),
            ErrorKind::MissingField
        );
        assert_eq!(
            kind_of(r#"{"type":"upload_result","report":[1]}"#),
            ErrorKind::InvalidField
        );
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let p = format!(
            r#"{{"extra":{{"deep":[1,2,{{"x":null}}]}},"type":"download","size":5,"name":"n","md5sum":"{MD5}","url":"{URL}","ts":1.5}}"#
        );
        assert!(matches!(
            parse_down_message(p.as_bytes()).unwrap(),
            DownMessage::DownloadTask { .. }
        ));
    }

    #[test]
    fn not_json_not_an_object_or_too_deep_is_a_json_error() {
        assert_eq!(kind_of("hello"), ErrorKind::Json);
        assert_eq!(kind_of(""), ErrorKind::Json);
        assert_eq!(kind_of("[1,2,3]"), ErrorKind::Json);
        assert_eq!(kind_of(r#""type""#), ErrorKind::Json);
        assert_eq!(kind_of(r#"{"type":"download""#), ErrorKind::Json);
        assert_eq!(
            kind_of(r#"{"type":"download","type":"download"}"#),
            ErrorKind::Json
        );
        let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(5000), "]".repeat(5000));
        let e = parse_down_message(deep.as_bytes()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Json);
        assert!(e.message().contains("nested too deeply"), "{}", e.message());
        // Brackets inside strings do not count; many siblings are not depth.
        let wide = format!(
            r#"{{"type":"report_upload_progress_rsp","x":[{}],"s":"{}"}}"#,
            vec!["[]"; 100].join(","),
            "[".repeat(100)
        );
        assert!(parse_down_message(wide.as_bytes()).is_ok());
        let tricky = format!(
            r#"{{"type":"report_upload_progress_rsp","s":"\"{}"}}"#,
            "{".repeat(100)
        );
        assert!(parse_down_message(tricky.as_bytes()).is_ok());
    }

    #[test]
    fn type_must_be_present_and_a_string_and_known() {
        assert_eq!(kind_of(r#"{"name":"x"}"#), ErrorKind::MessageType);
        assert_eq!(kind_of(r#"{"type":5}"#), ErrorKind::MessageType);
        assert_eq!(kind_of(r#"{"type":null}"#), ErrorKind::MessageType);
        let e = parse_down_message(br#"{"type":"firmware_update"}"#).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnknownMessage);
        assert!(e.message().contains("firmware_update"));
    }

    #[test]
    fn every_missing_field_is_named() {
        let full = [
            ("size", "5"),
            ("name", "\"n\""),
            ("md5sum", &format!("\"{MD5}\"")),
            ("url", &format!("\"{URL}\"")),
        ];
        for skip in 0..full.len() {
            let fields: Vec<String> = full
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .map(|(_, (k, v))| format!("\"{k}\":{v}"))
                .collect();
            let p = format!(
                r#"{{"type":"create_upload_task_rsp",{}}}"#,
                fields.join(",")
            );
            let e = parse_down_message(p.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MissingField, "{p}");
            assert!(e.message().contains(full[skip].0), "{}", e.message());
        }
    }

    fn with_size(size: &str) -> String {
        format!(r#"{{"type":"download","size":{size},"name":"n","md5sum":"{MD5}","url":"{URL}"}}"#)
    }

    #[test]
    fn sizes_must_be_integers_in_u64_range() {
        for (size, why) in [
            ("\"100\"", "string"),
            ("-1", "negative"),
            ("1.5", "not an integer"),
            ("1e3", "not an integer"),
            ("18446744073709551616", "above"),
            ("true", "not a number"),
            ("{}", "not a number"),
        ] {
            let e = parse_down_message(with_size(size).as_bytes()).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSize, "{size}");
            assert!(e.message().contains(why), "{size}: {}", e.message());
        }
        for ok in [0u64, 1, 1 << 32, 1 << 63, u64::MAX] {
            match parse_down_message(with_size(&ok.to_string()).as_bytes()).unwrap() {
                DownMessage::DownloadTask { resource, .. } => assert_eq!(resource.size, ok),
                other => panic!("{other:?}"),
            }
        }
    }

    fn with(field: &str, value: &str) -> String {
        let mut m = serde_json::json!({"type": "download", "size": 5, "name": "n", "md5sum": MD5, "url": URL});
        m[field] = serde_json::from_str(value).unwrap();
        m.to_string()
    }

    #[test]
    fn md5_must_be_32_hex_characters() {
        for bad in [
            "\"abc\"",
            &format!("\"{MD5}0\""),
            "\"z567907174aaaaa3bb9a2bb20716fd97\"",
            "5",
            "\"\"",
        ] {
            assert_eq!(
                kind_of(&with("md5sum", bad)),
                ErrorKind::InvalidMd5,
                "{bad}"
            );
        }
        assert!(parse_down_message(
            with("md5sum", &format!("\"{}\"", MD5.to_uppercase())).as_bytes()
        )
        .is_ok());
    }

    #[test]
    fn urls_are_checked() {
        for bad in [
            "\"ftp://h/x\"".to_string(),
            "\"http://h/a b\"".to_string(),
            "\"http://h/a\\u0001\"".to_string(),
            format!("\"http://h/{}\"", "a".repeat(MAX_URL_LEN)),
            "7".to_string(),
        ] {
            assert_eq!(kind_of(&with("url", &bad)), ErrorKind::InvalidUrl, "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        for bad in [
            "\"a\\nb\"".to_string(),
            "\"a\\u0000b\"".to_string(),
            format!("\"{}\"", "n".repeat(MAX_NAME_LEN + 1)),
            "[]".to_string(),
        ] {
            assert_eq!(
                kind_of(&with("name", &bad)),
                ErrorKind::InvalidName,
                "{bad}"
            );
        }
    }

    #[test]
    fn result_fields_are_checked() {
        for bad in ["\"0\"", "1.5", "4294967296"] {
            let p = format!(r#"{{"type":"report_upload_progress_rsp","result_code":{bad}}}"#);
            assert_eq!(kind_of(&p), ErrorKind::InvalidField, "{bad}");
        }
        let p = r#"{"type":"report_upload_progress_rsp","result_code":0,"result_msg":5}"#;
        assert_eq!(kind_of(p), ErrorKind::InvalidField);
    }

    #[test]
    fn payload_over_the_limit_and_invalid_utf8_are_refused() {
        let big = format!(
            r#"{{"type":"download","pad":"{}"}}"#,
            "x".repeat(MAX_PAYLOAD_LEN)
        );
        assert_eq!(kind_of(&big), ErrorKind::PayloadTooLarge);
        assert_eq!(
            parse_down_message(b"{\"type\":\"down\xffload\"}")
                .unwrap_err()
                .kind(),
            ErrorKind::Utf8
        );
    }

    #[test]
    fn escape_free_strings_are_borrowed_from_the_payload() {
        let p =
            format!(r#"{{"type":"download","size":5,"name":"n","md5sum":"{MD5}","url":"{URL}"}}"#);
        match parse_down_message(p.as_bytes()).unwrap() {
            DownMessage::DownloadTask { resource, .. } => {
                assert!(matches!(resource.name, Cow::Borrowed(_)));
                assert!(matches!(resource.url, Cow::Borrowed(_)));
            }
            other => panic!("{other:?}"),
        }
    }
}
