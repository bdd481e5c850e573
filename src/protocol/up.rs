//! Messages the device publishes on its up topic, serialized by serde so that
//! every string is escaped and every number is exact.

use serde::Serialize;

use super::{Direction, ProgressState, Qos};
use crate::digest::{Md5Digest, MD5_HEX_LEN};
use crate::error::{Error, ErrorKind, Result};
use crate::prelude::*;
use crate::protocol::fields::{check_name, check_result_msg};

/// A serialized up message and the QoS it must be published with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpMessage {
    /// The JSON document, UTF-8, no trailing NUL.
    pub payload: Vec<u8>,
    /// QoS as the protocol's table says.
    pub qos: Qos,
}

#[derive(Serialize)]
struct CreateUploadTask<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    size: u64,
    name: &'a str,
    md5sum: &'a str,
}

#[derive(Serialize)]
struct GetDownloadTask {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ReportProgress<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
    progress: Progress<'a>,
}

#[derive(Serialize)]
struct Progress<'a> {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent: Option<u8>,
    result_code: i32,
    result_msg: &'a str,
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing these plain structs into a Vec cannot fail: no maps with
    // non-string keys, no I/O.
    serde_json::to_vec(value).unwrap_or_else(|_| unreachable!("up messages serialize"))
}

/// `create_upload_task`: asks the platform for an upload URL.
pub fn create_upload_task(name: &str, size: u64, md5: &Md5Digest) -> Result<UpMessage> {
    check_name(name)?;
    let mut hex = [0u8; MD5_HEX_LEN];
    md5.write_hex(&mut hex);
    let md5sum = core::str::from_utf8(&hex).unwrap_or_else(|_| unreachable!("hex is ASCII"));
    Ok(UpMessage {
        payload: to_json(&CreateUploadTask {
            kind: "create_upload_task",
            size,
            name,
            md5sum,
        }),
        qos: Qos::AtLeastOnce,
    })
}

/// `get_download_task`: asks whether a download is waiting for the device.
pub fn get_download_task() -> UpMessage {
    UpMessage {
        payload: to_json(&GetDownloadTask {
            kind: "get_download_task",
        }),
        qos: Qos::AtLeastOnce,
    }
}

/// One progress report, as the application or the throttle states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report<'a> {
    /// In progress, done or fail.
    pub state: ProgressState,
    /// 0-100; sent only while in progress.
    pub percent: u8,
    /// 0 for success/in progress, a negative platform code for failure.
    pub result_code: i32,
    /// Free text; the platform's standard text for known codes.
    pub result_msg: &'a str,
}

impl Report<'_> {
    /// An in-progress report at `percent`.
    pub fn in_progress(percent: u8) -> Report<'static> {
        Report {
            state: ProgressState::InProgress,
            percent,
            result_code: 0,
            result_msg: "",
        }
    }
}

/// `report_upload_progress` or `report_download_progress`.
///
/// QoS 0 while in progress (the next report supersedes it), QoS 1 for the
/// final `done`/`fail`. A `done` must carry result code 0 and a `fail` a
/// non-zero one, so the platform never sees a contradiction.
pub fn report_progress(direction: Direction, name: &str, report: &Report<'_>) -> Result<UpMessage> {
    check_name(name)?;
    check_result_msg(report.result_msg)
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.message()))?;
    let (kind, active) = match direction {
        Direction::Upload => ("report_upload_progress", "uploading"),
        Direction::Download => ("report_download_progress", "downloading"),
    };
    let (state, percent, qos) = match report.state {
        ProgressState::InProgress => {
            if report.percent > 100 {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    format!("percent {} is above 100", report.percent),
                ));
            }
            (active, Some(report.percent), Qos::AtMostOnce)
        }
        ProgressState::Done => ("done", None, Qos::AtLeastOnce),
        ProgressState::Fail => ("fail", None, Qos::AtLeastOnce),
    };
    let code_ok = match report.state {
        ProgressState::Fail => report.result_code != 0,
        _ => report.result_code == 0,
    };
    if !code_ok {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "result code {} does not fit state '{state}' (fail needs a non-zero code, the others 0)",
                report.result_code
            ),
        ));
    }
    Ok(UpMessage {
        payload: to_json(&ReportProgress {
            kind,
            name,
            progress: Progress {
                state,
                percent,
                result_code: report.result_code,
                result_msg: report.result_msg,
            },
        }),
        qos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parsed(m: &UpMessage) -> Value {
        serde_json::from_slice(&m.payload).unwrap()
    }

    fn md5(hex: &str) -> Md5Digest {
        Md5Digest::from_hex(hex).unwrap()
    }

    #[test]
    fn create_upload_task_has_exact_fields_and_qos_1() {
        let m = create_upload_task("zxc", 100, &md5("900150983CD24FB0D6963F7D28E17F72")).unwrap();
        assert_eq!(m.qos, Qos::AtLeastOnce);
        assert_eq!(
            parsed(&m),
            json!({"type": "create_upload_task", "size": 100, "name": "zxc",
                   "md5sum": "900150983cd24fb0d6963f7d28e17f72"})
        );
        // Field order as in the platform's documentation.
        assert!(std::str::from_utf8(&m.payload)
            .unwrap()
            .starts_with(r#"{"type":"create_upload_task","size":100,"name":"zxc","md5sum":""#));
    }

    #[test]
    fn sizes_above_4_gib_and_up_to_u64_max_are_exact() {
        for size in [1u64 << 32, (1 << 53) + 1, u64::MAX] {
            let m =
                create_upload_task("big", size, &md5("d41d8cd98f00b204e9800998ecf8427e")).unwrap();
            assert_eq!(parsed(&m)["size"].as_u64(), Some(size));
        }
    }

    #[test]
    fn names_are_escaped_not_pasted() {
        let name = r#"a"b\c},"x":1 日本"#;
        let m = create_upload_task(name, 1, &md5("d41d8cd98f00b204e9800998ecf8427e")).unwrap();
        let v = parsed(&m);
        assert_eq!(v["name"], name);
        assert_eq!(v.as_object().unwrap().len(), 4);
    }

    #[test]
    fn invalid_names_are_refused_before_anything_is_built() {
        let d = md5("d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            create_upload_task("", 1, &d).unwrap_err().kind(),
            ErrorKind::InvalidName
        );
        assert_eq!(
            create_upload_task("a\nb", 1, &d).unwrap_err().kind(),
            ErrorKind::InvalidName
        );
        let r = Report::in_progress(1);
        assert_eq!(
            report_progress(Direction::Upload, "", &r)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidName
        );
    }

    #[test]
    fn get_download_task_is_type_only_qos_1() {
        let m = get_download_task();
        assert_eq!(m.qos, Qos::AtLeastOnce);
        assert_eq!(parsed(&m), json!({"type": "get_download_task"}));
    }

    #[test]
    fn in_progress_reports_carry_percent_and_go_at_qos_0() {
        let m = report_progress(Direction::Upload, "zxc", &Report::in_progress(89)).unwrap();
        assert_eq!(m.qos, Qos::AtMostOnce);
        assert_eq!(
            parsed(&m),
            json!({"type": "report_upload_progress", "name": "zxc",
                   "progress": {"state": "uploading", "percent": 89, "result_code": 0, "result_msg": ""}})
        );
        let m = report_progress(Direction::Download, "AAAA", &Report::in_progress(0)).unwrap();
        assert_eq!(
            parsed(&m),
            json!({"type": "report_download_progress", "name": "AAAA",
                   "progress": {"state": "downloading", "percent": 0, "result_code": 0, "result_msg": ""}})
        );
    }

    #[test]
    fn final_reports_have_no_percent_and_go_at_qos_1() {
        let done = Report {
            state: ProgressState::Done,
            percent: 100,
            result_code: 0,
            result_msg: "",
        };
        let m = report_progress(Direction::Download, "f", &done).unwrap();
        assert_eq!(m.qos, Qos::AtLeastOnce);
        assert_eq!(
            parsed(&m)["progress"],
            json!({"state": "done", "result_code": 0, "result_msg": ""})
        );
        let fail = Report {
            state: ProgressState::Fail,
            percent: 0,
            result_code: -4,
            result_msg: "md5sum not matched",
        };
        let m = report_progress(Direction::Upload, "f", &fail).unwrap();
        assert_eq!(
            parsed(&m)["progress"],
            json!({"state": "fail", "result_code": -4, "result_msg": "md5sum not matched"})
        );
    }

    #[test]
    fn contradictory_or_out_of_range_reports_are_refused() {
        let bad = [
            Report {
                state: ProgressState::InProgress,
                percent: 101,
                result_code: 0,
                result_msg: "",
            },
            Report {
                state: ProgressState::InProgress,
                percent: 5,
                result_code: -1,
                result_msg: "",
            },
            Report {
                state: ProgressState::Done,
                percent: 100,
                result_code: -1,
                result_msg: "",
            },
            Report {
                state: ProgressState::Fail,
                percent: 0,
                result_code: 0,
                result_msg: "",
            },
        ];
        for r in bad {
            assert_eq!(
                report_progress(Direction::Upload, "f", &r)
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidArgument,
                "{r:?}"
            );
        }
        let nul = Report {
            state: ProgressState::Fail,
            percent: 0,
            result_code: -1,
            result_msg: "a\0",
        };
        assert_eq!(
            report_progress(Direction::Upload, "f", &nul)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidArgument
        );
    }
}
