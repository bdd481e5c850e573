//! End to end: `resmgr-platform serve` with its private mosquitto, a test
//! MQTT client playing the device, raw HTTP for the transfers, and the
//! `push`, `list` and `history` commands.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The two kinds of progress report.
const UP: &str = "report_upload_progress";
const DOWN: &str = "report_download_progress";

/// A progress report of `kind` (UP or DOWN) for task `name`: `state`,
/// `percent` when given, result code 0 and no message.
fn progress(kind: &str, name: &str, state: &str, percent: Option<u64>) -> Value {
    let mut p = json!({"state": state, "result_code": 0, "result_msg": ""});
    if let Some(pc) = percent {
        p["percent"] = json!(pc);
    }
    json!({"type": kind, "name": name, "progress": p})
}

fn data_dir(tmp: &tempfile::TempDir) -> std::path::PathBuf {
    tmp.path().join("data")
}

fn push(
    data: &Path,
    product: &str,
    device: &str,
    file: &Path,
    name: Option<&str>,
) -> std::process::Output {
    let file = file.display().to_string();
    let mut extra = vec![file.as_str()];
    if let Some(n) = name {
        extra.extend(["--name", n]);
    }
    device_cli(&["push"], data, product, device, &extra)
}

#[test]
fn upload_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let serve = Serve::start(&data);
    let mut dev = serve.device("PROD1", "dev-a");

    let content = b"sensor log\n".repeat(1000);
    let name = "log 2024 ü.txt";
    dev.send(json!({"type":"create_upload_task","size":content.len(),"name":name,"md5sum":md5_hex(&content)}));
    let rsp = dev.expect("create_upload_task_rsp");
    assert_eq!(rsp["name"], name);
    assert_eq!(rsp["size"], content.len());
    assert_eq!(rsp["md5sum"], md5_hex(&content));
    let url = rsp["url"].as_str().unwrap();
    assert!(
        url.starts_with(serve.info["store_url"].as_str().unwrap()),
        "{url}"
    );

    dev.send(progress(UP, name, "uploading", Some(0)));
    let ack = dev.expect("report_upload_progress_rsp");
    assert_eq!(
        ack,
        json!({"type":"report_upload_progress_rsp","result_code":0,"result_msg":"ok"})
    );

    let r = put(url, &content);
    assert_eq!(r.status, 200, "{}", r.text());

    dev.send(progress(UP, name, "uploading", Some(100)));
    assert_eq!(dev.expect("report_upload_progress_rsp")["result_code"], 0);
    dev.send(progress(UP, name, "done", None));
    assert_eq!(dev.expect("report_upload_progress_rsp")["result_code"], 0);
    let verdict = dev.expect("upload_result");
    assert_eq!(
        verdict,
        json!({"type":"upload_result","report":{"name":name,"progress":{"state":"done","result_code":0,"result_msg":"success"}}})
    );

    let data_s = data.display().to_string();
    let list = cli(&["list", "--data", &data_s]);
    assert!(list.status.success(), "{}", stderr(&list));
    let out = stdout(&list);
    let row = out
        .lines()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.starts_with("PROD1"), "{row}");
    assert!(row.contains("dev-a"), "{row}");
    assert!(row.contains(&content.len().to_string()), "{row}");
    assert!(row.contains(&md5_hex(&content)), "{row}");
    assert!(row.trim_end().ends_with("verified"), "{row}");

    let hist = cli(&["history", "--data", &data_s]);
    assert!(hist.status.success());
    let out = stdout(&hist);
    let rows: Vec<&str> = out.lines().skip(1).collect();
    // Three reports from the device, then the platform's verdict.
    assert_eq!(rows.len(), 4, "{out}");
    assert!(rows[0].contains("upload") && rows[0].contains("uploading") && rows[0].contains(name));
    assert!(
        rows[2].contains("done") && rows[2].trim_end().ends_with("device"),
        "{out}"
    );
    assert!(
        rows[3].contains("done") && rows[3].contains(" platform ") && rows[3].ends_with("success"),
        "{out}"
    );
    let other = device_cli(&["history"], &data, "PROD1", "other", &[]);
    assert_eq!(stdout(&other).lines().count(), 1, "only the header");
}

#[test]
fn upload_verdicts_catch_missing_and_wrong_objects() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let serve = Serve::start(&data);
    let mut dev = serve.device("PROD1", "dev-b");

    // Done without any PUT: nothing stored.
    dev.send(json!({"type":"create_upload_task","size":3,"name":"never","md5sum":md5_hex(b"abc")}));
    dev.expect("create_upload_task_rsp");
    dev.send(progress(UP, "never", "done", None));
    assert_eq!(dev.expect("report_upload_progress_rsp")["result_code"], 0);
    let v = dev.expect("upload_result");
    assert_eq!(v["report"]["progress"]["state"], "fail");
    assert_eq!(v["report"]["progress"]["result_code"], -2);

    // The store accepts other bytes (their own Content-MD5 is right) but the
    // platform's verdict compares against the task.
    dev.send(json!({"type":"create_upload_task","size":3,"name":"wrong","md5sum":md5_hex(b"abc")}));
    let url = dev.expect("create_upload_task_rsp")["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(put(&url, b"abd").status, 200);
    dev.send(progress(UP, "wrong", "done", None));
    dev.expect("report_upload_progress_rsp");
    let v = dev.expect("upload_result");
    assert_eq!(v["report"]["name"], "wrong");
    assert_eq!(v["report"]["progress"]["state"], "fail");
    assert_eq!(v["report"]["progress"]["result_code"], -4);
    assert!(v["report"]["progress"]["result_msg"]
        .as_str()
        .unwrap()
        .contains("md5"));

    let list = stdout(&cli(&["list", "--data", &data.display().to_string()]));
    // Failed uploads are listed too, with the platform's reason.
    let row = list.lines().find(|l| l.contains("wrong")).unwrap();
    assert!(
        row.contains(" failed ") && row.contains("md5sum not matched"),
        "{row}"
    );
    let row = list.lines().find(|l| l.contains("never")).unwrap();
    assert!(
        row.contains(" failed ") && row.contains("file_not_exist: nothing was uploaded"),
        "{row}"
    );
}

#[test]
fn invalid_requests_get_non_zero_answers_and_garbage_is_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(&data_dir(&tmp));
    let mut dev = serve.device("PROD1", "dev-c");

    for bad in [
        json!({"type":"create_upload_task","size":3,"name":"../etc/passwd","md5sum":md5_hex(b"abc")}),
        json!({"type":"create_upload_task","size":3,"name":"a/b","md5sum":md5_hex(b"abc")}),
        json!({"type":"create_upload_task","size":3,"name":"","md5sum":md5_hex(b"abc")}),
        json!({"type":"create_upload_task","size":3,"name":"x".repeat(256),"md5sum":md5_hex(b"abc")}),
        json!({"type":"create_upload_task","size":3,"name":"ok","md5sum":"nothex"}),
        json!({"type":"create_upload_task","size":"3","name":"ok","md5sum":md5_hex(b"abc")}),
    ] {
        dev.send(bad.clone());
        let r = dev.expect("create_upload_task_rsp");
        assert_ne!(r["result_code"], 0, "{bad} -> {r}");
        assert!(r.get("url").is_none(), "{r}");
        assert!(!r["result_msg"].as_str().unwrap().is_empty());
    }

    // Garbage first, then a valid request: its answer is the next message.
    dev.send_raw(b"{not json".to_vec());
    dev.send_raw(b"\xff\xfe".to_vec());
    dev.send(json!({"type":"no_such_type","x":1}));
    dev.send(json!({"no_type":true}));
    dev.send(progress(UP, "unknown-task", "uploading", Some(5)));
    let r = dev.expect("report_upload_progress_rsp");
    assert_ne!(r["result_code"], 0, "{r}");
    dev.send(json!({"type":"report_download_progress","name":"x","progress":{"state":"sideways"}}));
    let r = dev.expect("report_download_progress_rsp");
    assert_ne!(r["result_code"], 0, "{r}");

    dev.send(json!({"type":"get_download_task"}));
    assert_eq!(
        dev.expect("get_download_task_rsp"),
        json!({"type":"get_download_task_rsp","result_code":1,"result_msg":"no download task"})
    );
}

#[test]
fn push_download_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let serve = Serve::start(&data);
    let mut dev = serve.device("PROD1", "dev-d");

    dev.send(json!({"type":"get_download_task"}));
    assert_eq!(dev.expect("get_download_task_rsp")["result_code"], 1);

    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let file = tmp.path().join("firmware.bin");
    std::fs::write(&file, &content).unwrap();
    let out = push(&data, "PROD1", "dev-d", &file, Some("fw v2.bin"));
    assert!(out.status.success(), "{}", stderr(&out));

    let msg = dev.expect("download");
    assert_eq!(msg["name"], "fw v2.bin");
    assert_eq!(msg["size"], content.len());
    assert_eq!(msg["md5sum"], md5_hex(&content));
    let url = msg["url"].as_str().unwrap();
    let r = get(url);
    assert_eq!(r.status, 200);
    assert_eq!(md5_hex(&r.body), md5_hex(&content));
    let r = raw(url, "GET", &[("Range", "bytes=150000-".into())], b"");
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("Content-Range"),
        Some("bytes 150000-199999/200000")
    );
    assert_eq!(r.body, &content[150_000..]);

    // Still pending: get_download_task hands it out again with a fresh URL.
    dev.send(json!({"type":"get_download_task"}));
    let again = dev.expect("get_download_task_rsp");
    assert_eq!(again["name"], "fw v2.bin");
    assert_eq!(again["md5sum"], md5_hex(&content));
    assert_eq!(
        get(again["url"].as_str().unwrap()).body.len(),
        content.len()
    );

    dev.send(progress(DOWN, "fw v2.bin", "downloading", Some(50)));
    assert_eq!(
        dev.expect("report_download_progress_rsp"),
        json!({"type":"report_download_progress_rsp","result_code":0,"result_msg":"ok"})
    );
    // A failure leaves the task pending.
    let mut fail = progress(DOWN, "fw v2.bin", "fail", None);
    fail["progress"]["result_code"] = json!(-1);
    fail["progress"]["result_msg"] = json!("time_out");
    dev.send(fail);
    assert_eq!(dev.expect("report_download_progress_rsp")["result_code"], 0);
    dev.send(json!({"type":"get_download_task"}));
    assert_eq!(dev.expect("get_download_task_rsp")["name"], "fw v2.bin");

    dev.send(progress(DOWN, "fw v2.bin", "done", None));
    assert_eq!(dev.expect("report_download_progress_rsp")["result_code"], 0);
    dev.send(json!({"type":"get_download_task"}));
    assert_eq!(dev.expect("get_download_task_rsp")["result_code"], 1);

    let hist = stdout(&cli(&[
        "history",
        "--data",
        &data.display().to_string(),
        "--device",
        "dev-d",
    ]));
    let rows: Vec<&str> = hist.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{hist}");
    assert!(
        rows[0].contains("download") && rows[0].contains("downloading") && rows[0].contains("50")
    );
    assert!(rows[1].contains("fail") && rows[1].contains("-1") && rows[1].contains("time_out"));
    assert!(rows[2].contains("done"));
}

#[test]
fn tasks_are_handed_out_oldest_first_per_device() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let serve = Serve::start(&data);
    let mut a = serve.device("PROD1", "dev-e");
    let mut b = serve.device("PROD1", "dev-f");
    let f1 = tmp.path().join("one");
    let f2 = tmp.path().join("two");
    std::fs::write(&f1, b"1").unwrap();
    std::fs::write(&f2, b"22").unwrap();
    assert!(push(&data, "PROD1", "dev-e", &f1, None).status.success());
    assert!(push(&data, "PROD1", "dev-e", &f2, None).status.success());
    assert_eq!(a.expect("download")["name"], "one");
    assert_eq!(a.expect("download")["name"], "two");

    a.send(json!({"type":"get_download_task"}));
    assert_eq!(a.expect("get_download_task_rsp")["name"], "one");
    b.send(json!({"type":"get_download_task"}));
    assert_eq!(b.expect("get_download_task_rsp")["result_code"], 1);
    a.send(progress(DOWN, "one", "done", None));
    a.expect("report_download_progress_rsp");
    a.send(json!({"type":"get_download_task"}));
    assert_eq!(a.expect("get_download_task_rsp")["name"], "two");
}

#[test]
fn push_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let file = tmp.path().join("f");
    std::fs::write(&file, b"x").unwrap();

    // No serve for this directory.
    let out = push(&data, "PROD1", "dev", &file, None);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("serve"), "{err}");

    let serve = Serve::start(&data);
    let out = push(&data, "PROD1", "dev", &tmp.path().join("missing"), None);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    let out = push(&data, "PROD1", "dev", &file, Some("../x"));
    assert!(!out.status.success());
    let out = push(&data, "a+b", "dev", &file, None);
    assert!(!out.status.success());
    drop(serve);

    // A stale platform.json (serve killed) is "cannot reach", not a hang.
    let info = std::fs::read(data.join("platform.json"));
    assert!(info.is_err(), "serve removes platform.json when it stops");
    std::fs::write(
        data.join("platform.json"),
        r#"{"broker_host":"127.0.0.1","broker_port":1,"private_broker":true,"http_port":1,
            "store_url":"http://127.0.0.1:1","admin_url":"http://127.0.0.1:1/admin/x","pid":1,
            "data_dir":"/nonexistent","url_ttl":1}"#,
    )
    .unwrap();
    let out = push(&data, "PROD1", "dev", &file, None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot reach"), "{}", stderr(&out));
}

#[test]
fn state_survives_a_restart_and_serve_stops_its_broker() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let file = tmp.path().join("cfg.json");
    std::fs::write(&file, b"{\"a\":1}").unwrap();

    let mut serve = Serve::start(&data);
    let mosquitto_pid = serve.info["mosquitto_pid"].as_u64().unwrap();
    let old_url;
    {
        let mut dev = serve.device("PROD1", "dev-g");
        assert!(push(&data, "PROD1", "dev-g", &file, None).status.success());
        old_url = dev.expect("download")["url"].as_str().unwrap().to_string();
        dev.send(json!({"type":"create_upload_task","size":2,"name":"up","md5sum":md5_hex(b"hi")}));
        let url = dev.expect("create_upload_task_rsp")["url"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(put(&url, b"hi").status, 200);
        dev.send(progress(UP, "up", "done", None));
        dev.expect("upload_result");
    }
    assert!(serve.stop(), "serve exits 0 on SIGTERM");
    wait_until("the private mosquitto to be gone", || {
        !Path::new(&format!("/proc/{mosquitto_pid}")).exists()
    });
    assert!(!data.join("platform.json").exists());

    // list and history work without serve.
    let data_s = data.display().to_string();
    let list = cli(&["list", "--data", &data_s]);
    assert!(list.status.success());
    assert!(stdout(&list)
        .lines()
        .any(|l| l.contains("up") && l.trim_end().ends_with("verified")));
    assert_eq!(
        stdout(&cli(&["history", "--data", &data_s]))
            .lines()
            .count(),
        3,
        "header, the device's done, the platform's verdict"
    );

    let serve = Serve::start(&data);
    let mut dev = serve.device("PROD1", "dev-g");
    dev.send(json!({"type":"get_download_task"}));
    let task = dev.expect("get_download_task_rsp");
    assert_eq!(task["name"], "cfg.json");
    assert_eq!(get(task["url"].as_str().unwrap()).body, b"{\"a\":1}");
    // URLs are signed with a per-run key: old ones no longer work.
    let (_, old_target) = split_url(&old_url);
    let old_on_new_port = format!("{}{old_target}", serve.info["store_url"].as_str().unwrap());
    assert_eq!(get(&old_on_new_port).status, 403);
}

#[test]
fn cli_usage_errors() {
    let out = cli(&["--help"]);
    assert!(out.status.success());
    for cmd in ["serve", "push", "list", "history", "device", "task"] {
        assert!(stdout(&out).contains(cmd), "{cmd} in {}", stdout(&out));
    }
    for bad in [
        &["serve"][..],
        &["frobnicate"],
        &["list", "--data", "/x", "--bogus", "1"],
        &["serve", "--data", "/x", "--public-url", "ftp://h/"],
        &["serve", "--data", "/x", "--public-url", "127.0.0.1:80"],
        &["serve", "--data", "/x", "--url-ttl", "0"],
        &[
            "serve",
            "--data",
            "/x",
            "--s3-endpoint",
            "http://127.0.0.1:1",
        ],
        &[
            "device",
            "add",
            "--data",
            "/x",
            "--product",
            "a/b",
            "--device",
            "d",
        ],
    ] {
        let out = cli(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{bad:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("resmgr-platform: "),
            "{}",
            stderr(&out)
        );
    }
    let out = cli(&["serve"]);
    assert!(stderr(&out).contains("--data"), "{}", stderr(&out));
}

#[test]
fn a_second_serve_on_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let _serve = Serve::start(&data);
    let out = cli(&["serve", "--data", &data.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("another resmgr-platform serve"),
        "{}",
        stderr(&out)
    );
}

/// A broker the test runs itself, as a developer's shared mosquitto would be.
struct OwnBroker {
    child: std::process::Child,
    port: u16,
}

impl OwnBroker {
    fn start(dir: &Path) -> OwnBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(dir, port)
    }

    fn start_on(dir: &Path, port: u16) -> OwnBroker {
        let exe = mosquitto();
        let conf = dir.join("own-mosquitto.conf");
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{user}"),
        )
        .unwrap();
        let child = std::process::Command::new(exe)
            .arg("-c")
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let b = OwnBroker { child, port };
        wait_until("the test's own mosquitto to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        b
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_uses_a_given_broker_and_leaves_it_running() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = OwnBroker::start(tmp.path());
    let data = data_dir(&tmp);
    let addr = format!("127.0.0.1:{}", broker.port);
    let mut serve = Serve::start_with(&data, &["--broker", &addr, "--url-ttl", "60"]);
    assert_eq!(serve.info["private_broker"], false);
    assert_eq!(serve.broker_port(), broker.port);
    assert!(!data.join("mosquitto").exists());

    let mut dev = Device::connect(broker.port, "PROD1", "dev-h");
    dev.send(json!({"type":"get_download_task"}));
    assert_eq!(dev.expect("get_download_task_rsp")["result_code"], 1);
    dev.send(json!({"type":"create_upload_task","size":1,"name":"n","md5sum":md5_hex(b"1")}));
    let url = dev.expect("create_upload_task_rsp")["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.contains("&X-Amz-Expires=60&"),
        "--url-ttl 60 bounds the expiry: {url}"
    );
    drop(dev);

    // The broker restarts (clean sessions: subscriptions forgotten); serve
    // reconnects and subscribes again without help.
    drop(broker);
    let mut broker = OwnBroker::start_on(tmp.path(), serve.broker_port());
    let mut dev = Device::connect(broker.port, "PROD1", "dev-h");
    let mut answered = None;
    for _ in 0..30 {
        dev.send(json!({"type":"get_download_task"}));
        answered = dev.try_expect(
            "get_download_task_rsp",
            std::time::Duration::from_millis(500),
        );
        if answered.is_some() {
            break;
        }
    }
    let answered = answered.expect("serve answers after the broker restarted");
    assert_eq!(answered["result_code"], 1);
    drop(dev);

    assert!(serve.stop());
    assert!(
        broker.child.try_wait().unwrap().is_none(),
        "a given broker is not serve's to stop"
    );
}

#[test]
fn after_done_the_rsp_comes_before_the_verdict() {
    // The incumbent SDK keeps the last of the two answers it reads after a
    // `done`: the verdict must come second for it to see a rejection.
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(&data_dir(&tmp));
    let mut dev = serve.device("PROD1", "dev-order");
    let wait = std::time::Duration::from_secs(15);
    for (name, body) in [
        ("good", &b"abc"[..]),
        ("wrong", &b"abd"[..]),
        ("never", &b""[..]),
    ] {
        dev.send(
            json!({"type":"create_upload_task","size":3,"name":name,"md5sum":md5_hex(b"abc")}),
        );
        let rsp = dev.next(wait).expect("create_upload_task_rsp");
        assert_eq!(rsp["type"], "create_upload_task_rsp", "{rsp}");
        if !body.is_empty() {
            assert_eq!(put(rsp["url"].as_str().unwrap(), body).status, 200);
        }
        dev.send(progress(UP, name, "done", None));
        let first = dev.next(wait).expect("an answer to done");
        let second = dev.next(wait).expect("a second answer to done");
        assert_eq!(
            first["type"], "report_upload_progress_rsp",
            "{name}: {first}"
        );
        assert_eq!(second["type"], "upload_result", "{name}: {second}");
        assert_eq!(second["report"]["name"], name);
        let code = second["report"]["progress"]["result_code"]
            .as_i64()
            .unwrap();
        assert_eq!(
            code,
            [0, -4, -2][["good", "wrong", "never"]
                .iter()
                .position(|n| *n == name)
                .unwrap()]
        );
    }
}

#[test]
fn the_store_log_does_not_claim_a_transfer_the_client_cut() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let data = data_dir(&tmp);
    let serve = Serve::start(&data);
    let mut dev = serve.device("PROD1", "dev-cut");
    // Small enough to fit in the socket buffers: every byte is written
    // before the client goes, so only the client's way of closing tells.
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = tmp.path().join("fw.bin");
    std::fs::write(&file, &content).unwrap();
    assert!(push(&data, "PROD1", "dev-cut", &file, None)
        .status
        .success());
    let url = dev.expect("download")["url"].as_str().unwrap().to_string();

    let mut s = send_head(&url, "GET", &[]);
    let mut first = [0u8; 4096];
    assert!(s.read(&mut first).unwrap() > 0);
    // Time for the server to write the rest (it fits in the buffers); the
    // verdict must not depend on it.
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(s); // with most of the body unread

    let log = || std::fs::read_to_string(&serve.log).unwrap_or_default();
    wait_until("the store to log the cut GET", || {
        log().contains("GET downloads/PROD1/dev-cut/fw.bin -> 200: the client cut the transfer")
    });
    assert!(!log().contains("(200000 bytes sent)"), "{}", log());

    // A client that reads everything is logged as served in full.
    assert_eq!(get(&url).body.len(), content.len());
    wait_until("the store to log the whole GET", || {
        log().contains("GET downloads/PROD1/dev-cut/fw.bin -> 200 (200000 bytes sent)")
    });
}

#[test]
fn the_broker_admits_registered_devices_on_their_own_topics_only() {
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start(&data_dir(&tmp));
    let port = serve.broker_port();
    let secret_a = serve.register("PROD1", "dev-a");
    serve.register("PROD1", "dev-b");
    let now = resmgr_platform::util::now_unix();
    let a = |expiry, sha1| key_login("PROD1", "dev-a", &secret_a, expiry, sha1);

    for sha1 in [false, true] {
        assert!(Device::try_connect(port, "PROD1", "dev-a", &a(now + 60, sha1)).is_ok());
    }
    let refused = |r: Result<Device, Refusal>| matches!(r, Err(Refusal::Login(_)));
    assert!(
        refused(Device::try_connect(
            port,
            "PROD1",
            "dev-a",
            &a(now - 1, false)
        )),
        "expired"
    );
    let wrong = key_login("PROD1", "dev-a", "AAAAAAAAAAAAAAAA", now + 60, false);
    assert!(
        refused(Device::try_connect(port, "PROD1", "dev-a", &wrong)),
        "wrong secret"
    );
    let unknown = key_login("PROD1", "dev-z", &secret_a, now + 60, false);
    assert!(
        refused(Device::try_connect(port, "PROD1", "dev-z", &unknown)),
        "unknown device"
    );
    let anonymous = Login::anonymous("PROD1", "dev-a");
    assert!(
        refused(Device::try_connect(port, "PROD1", "dev-a", &anonymous)),
        "anonymous"
    );

    // A's login, B's down topic: the subscription is refused.
    assert_eq!(
        Device::try_connect(port, "PROD1", "dev-b", &a(now + 60, false)).err(),
        Some(Refusal::Subscription)
    );
}
