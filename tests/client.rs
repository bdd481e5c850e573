//! The sans-IO client as a specification: each test drives it through its
//! public Rust API with a recording transport and checks what it published
//! and which events it raised.

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use resmgr::client::TaskView;
use resmgr::progress::ProgressPolicy;
use resmgr::protocol::up::Report;
use resmgr::protocol::{Direction, ProgressState, Qos};
use resmgr::{Client, ClientIo, ErrorKind, Event, Md5Digest};
use serde_json::{json, Value};

const DOWN: &[u8] = b"$resource/down/service/PROD1/dev1";
const UP: &str = "$resource/up/service/PROD1/dev1";
const MD5: &str = "900150983cd24fb0d6963f7d28e17f72";
const URL: &str = "https://store.example/bucket/zxc?sig=1";

/// An owned copy of an event, to assert on after the fact.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    UploadUrl(String, u64, String, String),
    DownloadTask(String, u64, String, bool),
    UrlRefreshed(Direction, String, String),
    NoDownloadTask(i32, String),
    Ack(Direction, Option<String>),
    Rejected(Direction, Option<String>, i32),
    Dropped(Direction, String),
    UploadResult(Option<String>, i32),
    Unmatched(&'static str, Option<String>),
    Unknown(String),
    Refused(ErrorKind),
}

fn seen(e: &Event<'_>) -> Seen {
    let owned = |n: &Option<&str>| n.map(str::to_owned);
    match e {
        Event::UploadUrl(TaskView {
            name,
            size,
            md5,
            url,
        }) => Seen::UploadUrl(name.to_string(), *size, md5.to_hex(), url.to_string()),
        Event::DownloadTask { task, pushed } => {
            Seen::DownloadTask(task.name.into(), task.size, task.url.into(), *pushed)
        }
        Event::UrlRefreshed {
            direction, task, ..
        } => Seen::UrlRefreshed(*direction, task.name.into(), task.url.into()),
        Event::NoDownloadTask {
            result_code,
            result_msg,
        } => Seen::NoDownloadTask(*result_code, result_msg.to_string()),
        Event::ProgressAck {
            direction, name, ..
        } => Seen::Ack(*direction, owned(name)),
        Event::TaskRejected {
            direction,
            name,
            result_code,
            ..
        } => Seen::Rejected(*direction, owned(name), *result_code),
        Event::TaskDropped {
            direction, name, ..
        } => Seen::Dropped(*direction, name.to_string()),
        Event::UploadResult {
            name, result_code, ..
        } => Seen::UploadResult(owned(name), *result_code),
        Event::UnmatchedResponse {
            message_type, name, ..
        } => Seen::Unmatched(message_type, owned(name)),
        Event::UnknownMessage { error } => Seen::Unknown(error.message().to_owned()),
        Event::MessageRejected { error } => Seen::Refused(error.kind()),
        Event::Connected | Event::Disconnected { .. } => unreachable!("no connection here"),
    }
}

type Hook = Box<dyn Fn(&Client<Arc<Recorder>>, &Event<'_>) + Send>;

#[derive(Default)]
struct Recorder {
    published: Mutex<Vec<(Value, Qos)>>,
    events: Mutex<Vec<Seen>>,
    fail_publish: Mutex<bool>,
    /// Lets callbacks call back into the client.
    client: OnceLock<Weak<Client<Arc<Recorder>>>>,
    on_event: Mutex<Option<Hook>>,
}

impl ClientIo for Recorder {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), String> {
        assert_eq!(topic, UP);
        if *self.fail_publish.lock().unwrap() {
            return Err("broker gone".into());
        }
        self.published
            .lock()
            .unwrap()
            .push((serde_json::from_slice(payload).unwrap(), qos));
        Ok(())
    }

    fn event(&self, event: &Event<'_>) {
        self.events.lock().unwrap().push(seen(event));
        let hook = self.on_event.lock().unwrap().take();
        if let Some(hook) = hook {
            let client = self.client.get().and_then(Weak::upgrade).unwrap();
            hook(&client, event);
        }
    }
}

fn setup() -> (Arc<Client<Arc<Recorder>>>, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let client = Arc::new(Client::new("PROD1", "dev1", rec.clone()).unwrap());
    rec.client.set(Arc::downgrade(&client)).ok().unwrap();
    (client, rec)
}

fn md5() -> Md5Digest {
    Md5Digest::from_hex(MD5).unwrap()
}

fn feed(c: &Client<Arc<Recorder>>, v: Value) -> resmgr::Result<()> {
    c.handle_down_message(DOWN, v.to_string().as_bytes())
}

fn events(rec: &Recorder) -> Vec<Seen> {
    std::mem::take(&mut *rec.events.lock().unwrap())
}

fn published(rec: &Recorder) -> Vec<(Value, Qos)> {
    std::mem::take(&mut *rec.published.lock().unwrap())
}

fn upload_rsp(name: &str, size: u64, url: &str) -> Value {
    json!({"type": "create_upload_task_rsp", "size": size, "name": name, "md5sum": MD5, "url": url})
}

fn download(kind: &str, name: &str, md5: &str, url: &str) -> Value {
    json!({"type": kind, "size": 3, "name": name, "md5sum": md5, "url": url})
}

/// The platform's answer to a download progress report: `result_code`
/// and, if any, `result_msg`.
fn download_ack(c: &Client<Arc<Recorder>>, result_code: i32, result_msg: Option<&str>) {
    let mut ack = json!({"type": "report_download_progress_rsp", "result_code": result_code});
    if let Some(msg) = result_msg {
        ack["result_msg"] = json!(msg);
    }
    feed(c, ack).unwrap();
}

/// The kind of error `track_progress` gives for `done` bytes of upload
/// task `name`.
fn track_error(c: &Client<Arc<Recorder>>, name: &str, done: u64, now: u64) -> ErrorKind {
    c.track_progress(Direction::Upload, name, done, now)
        .unwrap_err()
        .kind()
}

fn done() -> Report<'static> {
    Report {
        state: ProgressState::Done,
        percent: 100,
        result_code: 0,
        result_msg: "",
    }
}

#[test]
fn upload_task_is_requested_then_receives_its_url() {
    let (c, rec) = setup();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    assert_eq!(
        published(&rec),
        vec![(
            json!({"type": "create_upload_task", "size": 100, "name": "zxc", "md5sum": MD5}),
            Qos::AtLeastOnce
        )]
    );
    assert_eq!(c.task(Direction::Upload, "zxc").unwrap().url, None);
    feed(&c, upload_rsp("zxc", 100, URL)).unwrap();
    assert_eq!(
        events(&rec),
        vec![Seen::UploadUrl("zxc".into(), 100, MD5.into(), URL.into())]
    );
    assert_eq!(
        c.task(Direction::Upload, "zxc").unwrap().url.as_deref(),
        Some(URL)
    );
}

#[test]
fn a_second_url_for_the_same_upload_is_a_duplicate_that_refreshes_the_url() {
    let (c, rec) = setup();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    feed(&c, upload_rsp("zxc", 100, URL)).unwrap();
    feed(&c, upload_rsp("zxc", 100, "https://store.example/fresh")).unwrap();
    assert_eq!(
        events(&rec)[1],
        Seen::UrlRefreshed(
            Direction::Upload,
            "zxc".into(),
            "https://store.example/fresh".into()
        )
    );
    assert_eq!(
        c.task(Direction::Upload, "zxc").unwrap().url.as_deref(),
        Some("https://store.example/fresh")
    );
}

#[test]
fn upload_urls_nobody_asked_for_or_for_other_content_are_unmatched() {
    let (c, rec) = setup();
    feed(&c, upload_rsp("ghost", 100, URL)).unwrap();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    feed(&c, upload_rsp("zxc", 999, URL)).unwrap();
    assert_eq!(
        events(&rec),
        vec![
            Seen::Unmatched("create_upload_task_rsp", Some("ghost".into())),
            Seen::Unmatched("create_upload_task_rsp", Some("zxc".into())),
        ]
    );
    assert_eq!(
        c.task(Direction::Upload, "zxc").unwrap().url,
        None,
        "a mismatching URL is not taken"
    );
}

#[test]
fn recreating_an_upload_task_asks_again_but_other_content_conflicts() {
    let (c, rec) = setup();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    feed(&c, upload_rsp("zxc", 100, URL)).unwrap();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    assert_eq!(
        c.task(Direction::Upload, "zxc").unwrap().url,
        None,
        "waiting for a fresh URL"
    );
    assert_eq!(published(&rec).len(), 2);
    let other = Md5Digest::from_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap();
    assert_eq!(
        c.create_upload_task("zxc", 0, other).unwrap_err().kind(),
        ErrorKind::TaskConflict
    );
}

#[test]
fn a_failed_publish_leaves_no_task_behind() {
    let (c, rec) = setup();
    *rec.fail_publish.lock().unwrap() = true;
    let e = c.create_upload_task("zxc", 100, md5()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Publish);
    assert!(e.message().contains("broker gone"), "{}", e.message());
    assert!(c.task(Direction::Upload, "zxc").is_none());
    assert_eq!(
        c.get_download_task().unwrap_err().kind(),
        ErrorKind::Publish
    );
    *rec.fail_publish.lock().unwrap() = false;
    feed(&c, download("get_download_task_rsp", "f", MD5, URL)).unwrap();
    assert_eq!(
        events(&rec),
        vec![Seen::Unmatched("get_download_task_rsp", Some("f".into()))],
        "the failed query is not pending"
    );
}

#[test]
fn refusal_of_an_upload_task_forgets_it() {
    let (c, rec) = setup();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    feed(
        &c,
        json!({"type": "create_upload_task_rsp", "result_code": -7, "result_msg": "quota"}),
    )
    .unwrap();
    assert_eq!(
        events(&rec),
        vec![Seen::Rejected(Direction::Upload, Some("zxc".into()), -7)]
    );
    assert!(c.task(Direction::Upload, "zxc").is_none());
}

#[test]
fn download_answers_need_a_question_but_pushes_do_not() {
    let (c, rec) = setup();
    feed(&c, download("get_download_task_rsp", "a", MD5, URL)).unwrap();
    c.get_download_task().unwrap();
    assert_eq!(
        published(&rec),
        vec![(json!({"type": "get_download_task"}), Qos::AtLeastOnce)]
    );
    feed(&c, download("get_download_task_rsp", "a", MD5, URL)).unwrap();
    feed(&c, download("download", "b", MD5, URL)).unwrap();
    feed(&c, json!({"type": "get_download_task_rsp"})).unwrap();
    assert_eq!(
        events(&rec),
        vec![
            Seen::Unmatched("get_download_task_rsp", Some("a".into())),
            Seen::DownloadTask("a".into(), 3, URL.into(), false),
            Seen::DownloadTask("b".into(), 3, URL.into(), true),
            Seen::Unmatched("get_download_task_rsp", None),
        ]
    );
    c.get_download_task().unwrap();
    feed(
        &c,
        json!({"type": "get_download_task_rsp", "result_code": 404, "result_msg": "no task"}),
    )
    .unwrap();
    assert_eq!(
        events(&rec),
        vec![Seen::NoDownloadTask(404, "no task".into())]
    );
}

#[test]
fn the_same_push_twice_is_a_duplicate_and_new_content_replaces_the_task() {
    let (c, rec) = setup();
    feed(&c, download("download", "fw", MD5, URL)).unwrap();
    feed(
        &c,
        download("download", "fw", MD5, "https://store.example/fresh"),
    )
    .unwrap();
    feed(
        &c,
        download("download", "fw", "d41d8cd98f00b204e9800998ecf8427e", URL),
    )
    .unwrap();
    assert_eq!(
        events(&rec),
        vec![
            Seen::DownloadTask("fw".into(), 3, URL.into(), true),
            Seen::UrlRefreshed(
                Direction::Download,
                "fw".into(),
                "https://store.example/fresh".into()
            ),
            Seen::DownloadTask("fw".into(), 3, URL.into(), true),
        ]
    );
    assert_eq!(
        c.task(Direction::Download, "fw").unwrap().md5.to_hex(),
        "d41d8cd98f00b204e9800998ecf8427e"
    );
}

/// Issue 10 (suspected, confirmed): 64 pushed tasks that the application
/// never ran filled the table for good, and every later push was refused.
/// Now the oldest task not started gives way, with an event; a table of
/// started tasks still refuses.
#[test]
fn a_full_table_drops_its_oldest_unstarted_task_for_a_new_push() {
    let (c, rec) = setup();
    for i in 0..resmgr::limits::MAX_TASKS {
        feed(&c, download("download", &format!("f{i}"), MD5, URL)).unwrap();
    }
    // f0 is being transferred (its progress is tracked), f1 only reported
    // on: both have started; f2 is the oldest that has not.
    c.track_progress(Direction::Download, "f0", 1, resmgr::port::now_ms())
        .unwrap();
    c.report_progress(Direction::Download, "f1", &Report::in_progress(0))
        .unwrap();
    let f2 = c.task(Direction::Download, "f2").unwrap();
    events(&rec);
    feed(&c, download("download", "new", MD5, URL)).unwrap();
    assert_eq!(
        events(&rec),
        [
            Seen::Dropped(Direction::Download, "f2".into()),
            Seen::DownloadTask("new".into(), 3, URL.into(), true),
        ]
    );
    assert!(c.task(Direction::Download, "f2").is_none());
    assert!(f2.cancel.is_cancelled(), "a dropped task's token fires");
    assert!(c.task(Direction::Download, "new").is_some());
    assert!(c.task(Direction::Download, "f0").is_some());
    assert!(c.task(Direction::Download, "f1").is_some());
    // Nothing is told to the platform about the dropped task.
    assert!(published(&rec)
        .iter()
        .all(|(v, _)| v["name"] != "f2" || v["progress"]["state"] == "downloading"));

    // Once every task has started, a new push is refused as before.
    for i in 3..resmgr::limits::MAX_TASKS {
        c.track_progress(
            Direction::Download,
            &format!("f{i}"),
            0,
            resmgr::port::now_ms(),
        )
        .unwrap();
    }
    c.track_progress(Direction::Download, "new", 0, resmgr::port::now_ms())
        .unwrap();
    events(&rec);
    let e = feed(&c, download("download", "one-too-many", MD5, URL)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooManyTasks);
    assert_eq!(events(&rec), [Seen::Refused(ErrorKind::TooManyTasks)]);
    assert!(c.task(Direction::Download, "one-too-many").is_none());
}

#[test]
fn acks_are_matched_to_reports_in_order_and_a_rejection_stops_the_task() {
    let (c, rec) = setup();
    feed(&c, download("download", "a", MD5, URL)).unwrap();
    feed(&c, download("download", "b", MD5, URL)).unwrap();
    events(&rec);
    c.report_progress(Direction::Download, "a", &Report::in_progress(10))
        .unwrap();
    c.report_progress(Direction::Download, "b", &Report::in_progress(20))
        .unwrap();
    download_ack(&c, 0, Some("ok"));
    download_ack(&c, -3, Some("expired"));
    download_ack(&c, 0, None);
    assert_eq!(
        events(&rec),
        vec![
            Seen::Ack(Direction::Download, Some("a".into())),
            Seen::Rejected(Direction::Download, Some("b".into()), -3),
            Seen::Unmatched("report_download_progress_rsp", None),
        ]
    );
    assert!(c.task(Direction::Download, "a").is_some());
    assert!(c.task(Direction::Download, "b").is_none());
}

#[test]
fn a_final_report_ends_the_task_unless_it_could_not_be_sent() {
    let (c, rec) = setup();
    feed(&c, download("download", "a", MD5, URL)).unwrap();
    *rec.fail_publish.lock().unwrap() = true;
    assert_eq!(
        c.report_progress(Direction::Download, "a", &done())
            .unwrap_err()
            .kind(),
        ErrorKind::Publish
    );
    assert!(
        c.task(Direction::Download, "a").is_some(),
        "kept for a retry"
    );
    *rec.fail_publish.lock().unwrap() = false;
    c.report_progress(Direction::Download, "a", &done())
        .unwrap();
    assert!(c.task(Direction::Download, "a").is_none());
    let (msg, qos) = published(&rec).pop().unwrap();
    assert_eq!(qos, Qos::AtLeastOnce);
    assert_eq!(
        msg["progress"],
        json!({"state": "done", "result_code": 0, "result_msg": ""})
    );
    events(&rec);
    download_ack(&c, 0, None);
    download_ack(&c, 0, None);
    assert_eq!(
        events(&rec),
        vec![
            Seen::Ack(Direction::Download, Some("a".into())),
            Seen::Unmatched("report_download_progress_rsp", None),
        ],
        "only the report that went out awaits an ack"
    );
}

#[test]
fn tracked_progress_is_throttled_by_step_and_interval() {
    let (c, rec) = setup();
    c.set_progress_policy(ProgressPolicy {
        min_interval: Duration::from_secs(1),
        min_step: 5,
    });
    c.create_upload_task("zxc", 1000, md5()).unwrap();
    published(&rec);
    let t0 = resmgr::port::now_ms();
    let s = 1000;
    let steps = [
        (0, t0, true),
        (100, t0, false),         // too soon
        (40, t0 + 2 * s, false),  // 4 %: too small a step
        (50, t0 + 2 * s, true),   // 5 %
        (500, t0 + 2 * s, false), // too soon after the last one
        (500, t0 + 4 * s, true),
        (500, t0 + 9 * s, false),  // same percent
        (1000, t0 + 4 * s, true),  // 100 % at once
        (1000, t0 + 9 * s, false), // never twice
    ];
    for (i, (done, at, expect)) in steps.into_iter().enumerate() {
        assert_eq!(
            c.track_progress(Direction::Upload, "zxc", done, at)
                .unwrap(),
            expect,
            "step {i}"
        );
    }
    let percents: Vec<Value> = published(&rec)
        .into_iter()
        .map(|(m, q)| {
            assert_eq!(q, Qos::AtMostOnce);
            m["progress"]["percent"].clone()
        })
        .collect();
    assert_eq!(percents, vec![json!(0), json!(5), json!(50), json!(100)]);
}

#[test]
fn tracked_progress_checks_the_task_and_its_size() {
    let (c, _rec) = setup();
    let now = resmgr::port::now_ms();
    assert_eq!(track_error(&c, "none", 0, now), ErrorKind::NoTask);
    c.create_upload_task(
        "empty",
        0,
        Md5Digest::from_hex("d41d8cd98f00b204e9800998ecf8427e").unwrap(),
    )
    .unwrap();
    assert!(c
        .track_progress(Direction::Upload, "empty", 0, now)
        .unwrap());
    c.create_upload_task("zxc", 10, md5()).unwrap();
    assert_eq!(track_error(&c, "zxc", 11, now), ErrorKind::InvalidArgument);
}

#[test]
fn a_report_that_could_not_be_published_is_retried_by_the_next_call() {
    let (c, rec) = setup();
    c.create_upload_task("zxc", 100, md5()).unwrap();
    let now = resmgr::port::now_ms();
    *rec.fail_publish.lock().unwrap() = true;
    assert_eq!(track_error(&c, "zxc", 30, now), ErrorKind::Publish);
    *rec.fail_publish.lock().unwrap() = false;
    assert!(c.track_progress(Direction::Upload, "zxc", 30, now).unwrap());
}

#[test]
fn messages_on_other_topics_or_of_unknown_type_are_reported_and_ignored() {
    let (c, rec) = setup();
    let msg = download("download", "a", MD5, URL).to_string();
    let e = c
        .handle_down_message(b"$resource/down/service/PROD1/dev2", msg.as_bytes())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WrongTopic);
    let e = feed(&c, json!({"type": "ota_update"})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownMessage);
    assert_eq!(
        events(&rec),
        vec![
            Seen::Refused(ErrorKind::WrongTopic),
            Seen::Unknown("unknown down message type \"ota_update\"".into())
        ]
    );
    assert!(c.task(Direction::Download, "a").is_none());
}

#[test]
fn upload_results_are_passed_on() {
    let (c, rec) = setup();
    feed(&c, json!({"type": "upload_result", "report": {"progress": {"state": "done", "result_code": 0, "result_msg": "ok"}}})).unwrap();
    assert_eq!(events(&rec), vec![Seen::UploadResult(None, 0)]);
}

#[test]
fn callbacks_may_call_back_into_the_client() {
    let (c, rec) = setup();
    // Report progress from inside the UploadUrl event, as an application
    // starting its transfer would.
    *rec.on_event.lock().unwrap() = Some(Box::new(|client, event| {
        if let Event::UploadUrl(t) = event {
            assert!(client
                .track_progress(Direction::Upload, t.name, 0, resmgr::port::now_ms())
                .unwrap());
        }
    }));
    c.create_upload_task("zxc", 100, md5()).unwrap();
    feed(&c, upload_rsp("zxc", 100, URL)).unwrap();
    let sent = published(&rec);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0["progress"]["state"], "uploading");
}

#[test]
fn many_threads_share_one_client() {
    let (c, rec) = setup();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut created = 0;
                for i in 0..500 {
                    let name = format!("t{t}-{}", i % 8);
                    if c.create_upload_task(&name, 100, md5()).is_ok() {
                        created += 1;
                    }
                    let _ = c.track_progress(
                        Direction::Upload,
                        &name,
                        (i % 101) as u64,
                        resmgr::port::now_ms(),
                    );
                    let _ = feed(&c, upload_rsp(&name, 100, URL));
                    let _ = feed(
                        &c,
                        json!({"type": "report_upload_progress_rsp", "result_code": 0}),
                    );
                    if i % 8 == 7 {
                        c.report_progress(Direction::Upload, &name, &done())
                            .unwrap();
                    }
                }
                created
            })
        })
        .collect();
    let created: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        created,
        4 * 500,
        "each thread owns its names, so nothing conflicts"
    );
    let creates = published(&rec)
        .iter()
        .filter(|(m, _)| m["type"] == "create_upload_task")
        .count();
    assert_eq!(creates, created);
    assert!(events(&rec).iter().all(|e| !matches!(e, Seen::Refused(_))));
}
