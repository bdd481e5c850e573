//! The protocol peer: turns up messages into state changes and down
//! messages. No sockets here; [`crate::mqtt`] carries the bytes.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::objects::{Objects, Stored};
use crate::presign::Method;
use crate::state::{AfterFailure, HistoryEntry, Resource, State, UploadStatus, UploadTask};
use crate::store::{Bucket, ObjectKey};
use crate::util;

/// MQTT filter for every device's up topic.
pub const UP_FILTER: &str = "$resource/up/service/+/+";

/// Result code of a `*_rsp` whose request was malformed.
pub const RC_INVALID: i64 = 1;
/// Result code of a report naming no task the platform knows.
pub const RC_UNKNOWN_TASK: i64 = 2;

/// A message for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct Down {
    /// `$resource/down/service/{product}/{device}`.
    pub topic: String,
    /// The JSON object to publish.
    pub payload: Value,
}

/// The down topic of a device.
pub fn down_topic(product: &str, device: &str) -> String {
    format!("$resource/down/service/{product}/{device}")
}

/// Splits `$resource/up/service/{product}/{device}` into its identifiers.
pub fn parse_up_topic(topic: &str) -> Result<(String, String), String> {
    let rest = topic
        .strip_prefix("$resource/up/service/")
        .ok_or_else(|| format!("not an up topic: {topic:?}"))?;
    let (product, device) = rest
        .split_once('/')
        .ok_or_else(|| format!("not an up topic: {topic:?}"))?;
    util::validate_ident("product id", product)?;
    util::validate_ident("device name", device)?;
    Ok((product.to_string(), device.to_string()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Upload,
    Download,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
        }
    }
}

/// The platform's protocol logic, shared by the MQTT worker and the admin
/// endpoint.
pub struct Peer {
    state: Mutex<State>,
    objects: Objects,
    url_ttl: Duration,
}

fn log(product: &str, device: &str, what: impl AsRef<str>) {
    eprintln!("resmgr-platform: {product}/{device}: {}", what.as_ref());
}

/// A validated progress report.
struct Report {
    name: String,
    state: String,
    percent: Option<u64>,
    result_code: i64,
    result_msg: String,
}

fn parse_report(msg: &Map<String, Value>, dir: Direction) -> Result<Report, String> {
    let name = msg
        .get("name")
        .and_then(Value::as_str)
        .ok_or("name is missing or not a string")?;
    let progress = msg
        .get("progress")
        .and_then(Value::as_object)
        .ok_or("progress is missing or not an object")?;
    let state = progress
        .get("state")
        .and_then(Value::as_str)
        .ok_or("progress.state is missing or not a string")?;
    let moving = match dir {
        Direction::Upload => "uploading",
        Direction::Download => "downloading",
    };
    if ![moving, "done", "fail"].contains(&state) {
        return Err(format!(
            "progress.state {state:?} is not one of {moving}, done, fail"
        ));
    }
    let percent = match progress.get("percent") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            // Liberal: a fractional percent is truncated, not refused.
            Some(p) if (0.0..=100.0).contains(&p) => Some(p as u64),
            _ => return Err(format!("progress.percent {v} is not a number in 0..100")),
        },
    };
    let result_code = match progress.get("result_code") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| format!("progress.result_code {v} is not an integer"))?,
    };
    let result_msg = match progress.get("result_msg") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => return Err(format!("progress.result_msg {v} is not a string")),
    };
    Ok(Report {
        name: name.to_string(),
        state: state.to_string(),
        percent,
        result_code,
        result_msg,
    })
}

fn rsp(kind: &str, code: i64, msg: &str) -> Value {
    json!({"type": kind, "result_code": code, "result_msg": msg})
}

impl Peer {
    /// A peer over `state` and `objects`, handing out URLs valid for
    /// `url_ttl` seconds.
    pub fn new(state: State, objects: Objects, url_ttl: u64) -> Peer {
        Peer {
            state: Mutex::new(state),
            objects,
            url_ttl: Duration::from_secs(url_ttl),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `task cancel`: the pending download task `name` of a device is
    /// dropped (it is no longer handed out).
    pub fn cancel_download(&self, product: &str, device: &str, name: &str) -> Result<(), String> {
        if self.state().cancel_download(product, device, name) {
            log(product, device, format!("download task {name:?} cancelled"));
            Ok(())
        } else {
            Err(format!(
                "{product}/{device} has no pending download task named {name:?}"
            ))
        }
    }

    /// Handles one message that arrived on `topic`; returns what to send.
    /// Anything unparseable is logged and ignored.
    pub fn handle_up(&self, topic: &str, payload: &[u8]) -> Vec<Down> {
        let (product, device) = match parse_up_topic(topic) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("resmgr-platform: ignoring a message: {e}");
                return Vec::new();
            }
        };
        let msg = match serde_json::from_slice::<Value>(payload) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                log(
                    &product,
                    &device,
                    "ignoring a message that is not a JSON object",
                );
                return Vec::new();
            }
            Err(e) => {
                log(&product, &device, format!("ignoring invalid JSON: {e}"));
                return Vec::new();
            }
        };
        let kind = msg.get("type").and_then(Value::as_str).unwrap_or("");
        let payloads = match kind {
            "create_upload_task" => vec![self.create_upload(&product, &device, &msg)],
            "get_download_task" => vec![self.get_download(&product, &device)],
            "report_upload_progress" => self.report(&product, &device, &msg, Direction::Upload),
            "report_download_progress" => self.report(&product, &device, &msg, Direction::Download),
            _ => {
                log(
                    &product,
                    &device,
                    format!("ignoring a message of unknown type {kind:?}"),
                );
                Vec::new()
            }
        };
        let topic = down_topic(&product, &device);
        payloads
            .into_iter()
            .map(|payload| Down {
                topic: topic.clone(),
                payload,
            })
            .collect()
    }

    fn create_upload(&self, product: &str, device: &str, msg: &Map<String, Value>) -> Value {
        const KIND: &str = "create_upload_task_rsp";
        let name = msg.get("name").and_then(Value::as_str);
        let checked = (|| {
            let name = name.ok_or("name is missing or not a string")?;
            util::validate_name(name)?;
            let md5 = msg
                .get("md5sum")
                .and_then(Value::as_str)
                .filter(|s| util::is_md5_hex(s))
                .ok_or("md5sum must be 32 hex digits")?;
            let size = msg
                .get("size")
                .and_then(Value::as_u64)
                .ok_or("size must be a non-negative integer")?;
            let key = ObjectKey::new(Bucket::Uploads, product, device, name)?;
            Ok::<_, String>((key, md5.to_ascii_lowercase(), size))
        })();
        let (key, md5sum, size) = match checked {
            Ok(x) => x,
            Err(e) => {
                log(product, device, format!("create_upload_task refused: {e}"));
                let mut r = rsp(KIND, RC_INVALID, &format!("invalid upload task: {e}"));
                if let Some(n) = name {
                    r["name"] = json!(n);
                }
                return r;
            }
        };
        self.state().put_upload(UploadTask {
            resource: Resource {
                product: product.to_string(),
                device: device.to_string(),
                name: key.name.clone(),
                size,
                md5sum: md5sum.clone(),
                created_ms: util::now_ms(),
            },
            status: UploadStatus::Created,
            detail: None,
        });
        log(
            product,
            device,
            format!("upload task {:?} ({size} bytes, md5 {md5sum})", key.name),
        );
        json!({
            "type": KIND,
            "size": size,
            "name": key.name,
            "md5sum": md5sum,
            "url": self.objects.presign(Method::Put, &key, self.url_ttl),
        })
    }

    fn get_download(&self, product: &str, device: &str) -> Value {
        const KIND: &str = "get_download_task_rsp";
        let task = self.state().oldest_download(product, device).cloned();
        let Some(task) = task else {
            log(product, device, "get_download_task: no download task");
            return rsp(KIND, 1, "no download task");
        };
        log(
            product,
            device,
            format!("get_download_task: {:?}", task.resource.name),
        );
        self.download_message(
            KIND,
            &task.resource.product,
            &task.resource.device,
            &task.resource.name,
            task.resource.size,
            &task.resource.md5sum,
        )
    }

    fn download_message(
        &self,
        kind: &str,
        product: &str,
        device: &str,
        name: &str,
        size: u64,
        md5sum: &str,
    ) -> Value {
        let url = match ObjectKey::new(Bucket::Downloads, product, device, name) {
            Ok(key) => self.objects.presign(Method::Get, &key, self.url_ttl),
            // Only names that passed validation are ever stored.
            Err(e) => return rsp(kind, RC_INVALID, &e),
        };
        json!({"type": kind, "size": size, "name": name, "md5sum": md5sum, "url": url})
    }

    fn report(
        &self,
        product: &str,
        device: &str,
        msg: &Map<String, Value>,
        dir: Direction,
    ) -> Vec<Value> {
        let kind = match dir {
            Direction::Upload => "report_upload_progress_rsp",
            Direction::Download => "report_download_progress_rsp",
        };
        let report = match parse_report(msg, dir) {
            Ok(r) => r,
            Err(e) => {
                log(
                    product,
                    device,
                    format!("{} report refused: {e}", dir.as_str()),
                );
                return vec![rsp(kind, RC_INVALID, &format!("invalid report: {e}"))];
            }
        };
        let known = {
            let st = self.state();
            match dir {
                Direction::Upload => st.upload(product, device, &report.name).is_some(),
                Direction::Download => st.download_known(product, device, &report.name).0,
            }
        };
        if !known {
            log(
                product,
                device,
                format!("{} report for unknown task {:?}", dir.as_str(), report.name),
            );
            return vec![rsp(
                kind,
                RC_UNKNOWN_TASK,
                &format!("no {} task named {:?}", dir.as_str(), report.name),
            )];
        }
        log(
            product,
            device,
            format!(
                "{} {:?}: {}{} (result_code {}{})",
                dir.as_str(),
                report.name,
                report.state,
                report.percent.map(|p| format!(" {p}%")).unwrap_or_default(),
                report.result_code,
                if report.result_msg.is_empty() {
                    String::new()
                } else {
                    format!(", {:?}", report.result_msg)
                }
            ),
        );
        self.state().append_history(&HistoryEntry {
            ts_ms: util::now_ms(),
            source: "device".into(),
            product: product.to_string(),
            device: device.to_string(),
            direction: dir.as_str().to_string(),
            name: report.name.clone(),
            state: report.state.clone(),
            percent: report.percent,
            result_code: report.result_code,
            result_msg: report.result_msg.clone(),
        });
        let mut out = vec![rsp(kind, 0, "ok")];
        match (dir, report.state.as_str()) {
            (Direction::Upload, "uploading") => {
                let mut st = self.state();
                if st
                    .upload(product, device, &report.name)
                    .is_some_and(|t| t.status == UploadStatus::Created)
                {
                    st.set_upload_status(
                        product,
                        device,
                        &report.name,
                        UploadStatus::Uploading,
                        None,
                    );
                }
            }
            (Direction::Upload, "done") => {
                out.push(self.verify_upload(product, device, &report.name))
            }
            (Direction::Upload, _) => {
                let why = format!(
                    "device reported fail: {} {}",
                    report.result_code, report.result_msg
                );
                self.state().set_upload_status(
                    product,
                    device,
                    &report.name,
                    UploadStatus::Failed,
                    Some(why),
                );
            }
            (Direction::Download, "done") => {
                self.state()
                    .complete_download(product, device, &report.name);
            }
            (Direction::Download, "fail") => {
                match self.state().fail_download(product, device, &report.name) {
                    AfterFailure::Requeued(n) => log(
                        product,
                        device,
                        format!("download {:?} failed {n} time(s): handed out again after the device's other tasks", report.name),
                    ),
                    AfterFailure::GaveUp => log(
                        product,
                        device,
                        format!("download {:?} given up after {} failures", report.name, crate::state::MAX_DOWNLOAD_FAILURES),
                    ),
                    AfterFailure::NotPending => {}
                }
            }
            // An ongoing download stays pending for get_download_task.
            (Direction::Download, _) => {}
        }
        out
    }

    /// Checks the stored object against the task and builds `upload_result`.
    fn verify_upload(&self, product: &str, device: &str, name: &str) -> Value {
        let task = self.state().upload(product, device, name).cloned();
        let verdict = match (task, ObjectKey::new(Bucket::Uploads, product, device, name)) {
            // Hashing or asking the store may take a while: the state lock
            // is not held.
            (Some(task), Ok(key)) => match self.objects.stored(&key) {
                Ok(Stored::Object(size, md5))
                    if size == task.resource.size && md5 == task.resource.md5sum =>
                {
                    Ok(())
                }
                Ok(Stored::Object(size, _)) if size != task.resource.size => Err((
                    -4,
                    format!(
                        "md5sum not matched: stored object has {size} bytes, the task says {}",
                        task.resource.size
                    ),
                )),
                Ok(Stored::Object(_, md5)) => Err((
                    -4,
                    format!(
                        "md5sum not matched: stored object has md5 {md5}, the task says {}",
                        task.resource.md5sum
                    ),
                )),
                Ok(Stored::Missing) => {
                    Err((-2, "file_not_exist: nothing was uploaded".to_string()))
                }
                Err(e) => Err((-2, format!("file_not_exist: cannot check the object: {e}"))),
            },
            (None, _) | (_, Err(_)) => Err((-2, "file_not_exist: no such upload task".to_string())),
        };
        let (state, code, msg) = match &verdict {
            Ok(()) => ("done", 0, "success".to_string()),
            Err((code, msg)) => ("fail", *code, msg.clone()),
        };
        let status = if verdict.is_ok() {
            UploadStatus::Verified
        } else {
            UploadStatus::Failed
        };
        let detail = verdict.err().map(|(_, m)| m);
        let mut st = self.state();
        st.set_upload_status(product, device, name, status, detail);
        st.append_history(&HistoryEntry {
            ts_ms: util::now_ms(),
            source: "platform".into(),
            product: product.to_string(),
            device: device.to_string(),
            direction: Direction::Upload.as_str().to_string(),
            name: name.to_string(),
            state: state.to_string(),
            percent: None,
            result_code: code,
            result_msg: msg.clone(),
        });
        drop(st);
        log(
            product,
            device,
            format!("upload {name:?} verdict: {state} ({code}, {msg})"),
        );
        json!({
            "type": "upload_result",
            "report": {
                "name": name,
                "progress": {"state": state, "result_code": code, "result_msg": msg},
            },
        })
    }

    /// Copies `file` into the store as `name` for a device, records a
    /// pending download task and returns the `download` message to publish.
    pub fn push(
        &self,
        product: &str,
        device: &str,
        file: &Path,
        name: &str,
    ) -> Result<Down, String> {
        let key = ObjectKey::new(Bucket::Downloads, product, device, name)?;
        let (size, md5sum) = self.objects.import(&key, file)?;
        self.state()
            .add_download(product, device, name, size, &md5sum);
        log(
            product,
            device,
            format!("pushed {name:?} ({size} bytes, md5 {md5sum})"),
        );
        Ok(Down {
            topic: down_topic(product, device),
            payload: self.download_message("download", product, device, name, size, &md5sum),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{random_credentials, Store};
    use std::sync::Arc;

    fn peer(dir: &Path) -> Peer {
        let base = url::Url::parse("http://127.0.0.1:9").unwrap();
        let store = Arc::new(Store::open(dir, &base, random_credentials().unwrap()).unwrap());
        Peer::new(State::load(dir).unwrap(), Objects::Local(store), 60)
    }

    const T: &str = "$resource/up/service/P1/dev";

    fn one(p: &Peer, v: Value) -> Value {
        let out = p.handle_up(T, v.to_string().as_bytes());
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].topic, "$resource/down/service/P1/dev");
        out[0].payload.clone()
    }

    #[test]
    fn topics() {
        assert_eq!(parse_up_topic(T).unwrap(), ("P1".into(), "dev".into()));
        assert!(parse_up_topic("$resource/up/service/P1").is_err());
        assert!(parse_up_topic("$resource/up/service/P1/a/b").is_err());
        assert!(parse_up_topic("other/P1/dev").is_err());
    }

    #[test]
    fn upload_task_validation() {
        let dir = tempfile::tempdir().unwrap();
        let p = peer(dir.path());
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        let ok = one(
            &p,
            json!({"type":"create_upload_task","size":0,"name":"a b","md5sum":md5}),
        );
        assert_eq!(ok["md5sum"], md5.to_ascii_lowercase());
        assert!(ok["url"]
            .as_str()
            .unwrap()
            .contains("/resmgr/uploads/P1/dev/a%20b?X-Amz-"));
        assert!(ok.get("result_code").is_none());
        for bad in [
            json!({"type":"create_upload_task","size":0,"name":"../x","md5sum":md5}),
            json!({"type":"create_upload_task","size":0,"name":"","md5sum":md5}),
            json!({"type":"create_upload_task","size":-1,"name":"a","md5sum":md5}),
            json!({"type":"create_upload_task","size":1.5,"name":"a","md5sum":md5}),
            json!({"type":"create_upload_task","size":1,"name":"a","md5sum":"xyz"}),
            json!({"type":"create_upload_task","size":1,"name":"a\u{1}","md5sum":md5}),
        ] {
            let r = one(&p, bad.clone());
            assert_eq!(r["type"], "create_upload_task_rsp");
            assert_eq!(r["result_code"], RC_INVALID, "{bad}");
        }
    }

    #[test]
    fn garbage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = peer(dir.path());
        assert!(p.handle_up(T, b"{not json").is_empty());
        assert!(p.handle_up(T, b"[1]").is_empty());
        assert!(p.handle_up(T, br#"{"type":"bogus"}"#).is_empty());
        assert!(p
            .handle_up(
                "$resource/up/service/a+b/c",
                br#"{"type":"get_download_task"}"#
            )
            .is_empty());
    }

    #[test]
    fn reports() {
        let dir = tempfile::tempdir().unwrap();
        let p = peer(dir.path());
        let r = one(
            &p,
            json!({"type":"report_download_progress","name":"x","progress":{"state":"downloading","percent":5,"result_code":0,"result_msg":""}}),
        );
        assert_eq!(r["result_code"], RC_UNKNOWN_TASK);
        let r = one(
            &p,
            json!({"type":"report_upload_progress","name":"x","progress":{"state":"downloading"}}),
        );
        assert_eq!(r["result_code"], RC_INVALID);
        let r = one(&p, json!({"type":"get_download_task"}));
        assert_eq!(
            r,
            json!({"type":"get_download_task_rsp","result_code":1,"result_msg":"no download task"})
        );

        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        one(
            &p,
            json!({"type":"create_upload_task","size":0,"name":"e","md5sum":md5}),
        );
        let out = p.handle_up(T, json!({"type":"report_upload_progress","name":"e","progress":{"state":"done","result_code":0,"result_msg":""}}).to_string().as_bytes());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].payload, rsp("report_upload_progress_rsp", 0, "ok"));
        assert_eq!(out[1].payload["report"]["progress"]["result_code"], -2);
    }
}
