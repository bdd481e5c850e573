//! The `fault-server` program (tests/support/fault_server.rs), which the C
//! and Python tests drive: started as they start it, driven through its
//! JSON-lines commands, and checked over plain HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

use serde_json::{json, Value};

/// The example, built once per run of these tests (a no-op when cargo
/// already built it; `cargo test --test fault_server` alone does not, and
/// a stale program must not be what is tested).
fn program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "--example",
            "fault-server",
            "--manifest-path",
        ]);
        build.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        assert!(
            build.status().expect("run cargo").success(),
            "cargo build --example fault-server"
        );
        // target/<profile>/deps/<this test> -> target/<profile>/examples/
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples/fault-server")
    })
}

/// The program, running; killed if a test fails before it quits.
struct Program {
    child: Child,
    /// `None` once closed.
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Program {
    /// Starts the program.
    fn start(args: &[&str]) -> Program {
        let mut child = Command::new(program())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start fault-server");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let hello = read_json(&mut stdout);
        let port = hello["port"].as_u64().expect("a port") as u16;
        assert!(hello["ipv6"].is_boolean(), "{hello}");
        Program {
            child,
            stdin: Some(stdin),
            stdout,
            port,
        }
    }

    /// Sends a command, returns its answer.
    fn cmd(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        read_json(&mut self.stdout)
    }

    /// One HTTP/1.1 request; the whole answer as text (head and body).
    fn http(&self, head: &str, body: &[u8]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "{head}Host: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
        s.write_all(body).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_json(r: &mut impl BufRead) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

#[test]
fn routes_serve_with_range_then_the_next_reply() {
    let mut p = Program::start(&[]);
    let route = json!({"cmd": "route", "path": "/obj", "replies": [
        {"kind": "serve", "body": "0123456789"},
        {"kind": "status", "status": 503, "body": "busy", "headers": [["Retry-After", "1"]]},
    ]});
    assert_eq!(p.cmd(route), json!({"ok": true}));
    let a = p.http("GET /obj?sig=1 HTTP/1.1\r\nRange: bytes=4-\r\n", b"");
    assert!(a.starts_with("HTTP/1.1 206 "), "{a}");
    assert!(a.contains("Content-Range: bytes 4-9/10\r\n"), "{a}");
    assert!(a.ends_with("\r\n\r\n456789"), "{a}");
    // The last reply repeats.
    for _ in 0..2 {
        let b = p.http("GET /obj HTTP/1.1\r\n", b"");
        assert!(b.starts_with("HTTP/1.1 503 "), "{b}");
        assert!(
            b.contains("Retry-After: 1\r\n") && b.ends_with("busy"),
            "{b}"
        );
    }
    let c = p.http("GET /nothing HTTP/1.1\r\n", b"");
    assert!(
        c.starts_with("HTTP/1.1 404 ") && c.contains("NoSuchKey"),
        "{c}"
    );

    let reqs = p.cmd(json!({"cmd": "requests"}));
    let reqs = reqs["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 4);
    let first = &reqs[0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["target"], "/obj?sig=1");
    assert_eq!(first["path"], "/obj");
    assert_eq!(first["headers"]["range"], "bytes=4-");
    assert_eq!(first["header_counts"]["range"], 1);
    assert_eq!(first["sent"], 6);
    assert_eq!(reqs[3]["path"], "/nothing");
    assert_eq!(p.cmd(json!({"cmd": "count"})), json!({"count": 4}));
    assert_eq!(p.cmd(json!({"cmd": "request", "index": 1}))["index"], 1);
    assert!(p.cmd(json!({"cmd": "request", "index": 9}))["error"].is_string());
    assert_eq!(p.cmd(json!({"cmd": "quit"})), json!({"ok": true}));
    assert!(p.child.wait().unwrap().success());
}

#[test]
fn accept_put_stores_only_a_body_with_its_md5() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let mut p = Program::start(&["--store", dir]);
    let route = json!({"cmd": "route", "path": "*", "replies": [{"kind": "accept_put"}]});
    assert_eq!(p.cmd(route), json!({"ok": true}));
    // MD5("abc"), base64.
    let md5 = "kAFQmDzST7DWlj99KOF/cg==";
    let good = p.http(
        &format!("PUT /up/a HTTP/1.1\r\nContent-Length: 3\r\nContent-MD5: {md5}\r\n"),
        b"abc",
    );
    assert!(good.starts_with("HTTP/1.1 200 "), "{good}");
    assert!(
        good.contains("ETag: \"900150983cd24fb0d6963f7d28e17f72\"\r\n"),
        "{good}"
    );
    let bad = p.http(
        &format!("PUT /up/b HTTP/1.1\r\nContent-Length: 3\r\nContent-MD5: {md5}\r\n"),
        b"abd",
    );
    assert!(
        bad.starts_with("HTTP/1.1 400 ") && bad.contains("BadDigest"),
        "{bad}"
    );

    // Without verify_md5, any complete body; 100 Continue when asked.
    let loose = json!({"cmd": "route", "path": "/loose", "replies": [
        {"kind": "accept_put", "verify_md5": false},
    ]});
    assert_eq!(p.cmd(loose), json!({"ok": true}));
    let any = p.http(
        "PUT /loose HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n",
        b"xyz",
    );
    assert!(
        any.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 "),
        "{any}"
    );
    assert_eq!(
        p.cmd(json!({"cmd": "stored", "path": "/loose"}))["stored"],
        true
    );

    let stored = p.cmd(json!({"cmd": "stored", "path": "/up/a"}));
    assert_eq!(stored["stored"], true, "{stored}");
    let file = stored["file"].as_str().unwrap();
    assert!(file.starts_with(dir), "{file}");
    assert_eq!(std::fs::read(file).unwrap(), b"abc");
    assert_eq!(
        p.cmd(json!({"cmd": "stored", "path": "/up/b"})),
        json!({"stored": false})
    );
    let put = p.cmd(json!({"cmd": "request", "index": 0}));
    assert_eq!(put["body_len"], 3);
    assert_eq!(put["body_md5"], "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(put["body_complete"], true);
    assert_eq!(put["answered"], 200);
    assert_eq!(
        p.cmd(json!({"cmd": "request", "index": 1}))["answered"],
        400
    );
    assert!(p.cmd(json!({"cmd": "route", "path": "/x"}))["error"].is_string());
    assert!(p.cmd(json!({"nonsense": 1}))["error"].is_string());
    // EOF on stdin stops it.
    p.stdin = None;
    assert!(p.child.wait().unwrap().success());
}
