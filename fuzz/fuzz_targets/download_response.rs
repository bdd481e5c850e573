//! The HTTP response handling of the download engine: the real
//! `transfer::download::download` (ureq, status mapping, Content-Range,
//! Content-Length, body lengths, retries, restarts, resume) against a tiny
//! loopback server inside this process that replays fuzzed responses byte
//! for byte, one per connection.
//!
//! Input (text, so seeds and regressions stay readable):
//!
//! ```text
//! size 1000          the task's size (clamped to 0..=4096)
//! resume 400         bytes the sink already holds (clamped to size)
//! retries 2          the engine's max_retries (clamped to 0..=4)
//! checkpoint 300     checkpoint_bytes
//! <<<                each "<<<" line starts one response, served as is
//! HTTP/1.1 206 Partial Content
//! Content-Range: bytes 400-999/1000
//! Content-Length: 600
//!
//! @@400-700@@@@|@@@@700-1000@@
//! ```
//!
//! `@@A-B@@` is replaced by bytes A..B of the object; `@@|@@` makes the
//! server pause there (2 ms, at most 8 times per response), so that the
//! engine sees a short read at that point.
//!
//! The line break before a `<<<` line is not part of the response before
//! it. Lines in a response's head end in CRLF on the wire (a bare LF in the input
//! becomes CRLF in the header part; the body is sent as written). Once the
//! responses run out, connections are closed at once (a network failure).
//! The object's bytes are a fixed function of the offset; the task's MD5 is
//! the object's real MD5, so a correct run can succeed.
//!
//! Checked beyond "no panic, no hang":
//! - the sink only ever receives contiguous writes within the task's size;
//! - a run that succeeds committed exactly the object, and one that fails
//!   committed nothing;
//! - every ranged request asks for `bytes=N-` with 0 < N < size.
#![no_main]

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use resmgr::client::{Client, ClientIo, Event, TaskInfo};
use resmgr::protocol::Qos;
use resmgr::transfer::download::{download, DownloadSink};
use resmgr::transfer::TransferConfig;
use resmgr::{Md5Hasher, Result as RmResult};

const MAX_SIZE: u64 = 4096;

struct NoIo;

impl ClientIo for NoIo {
    fn publish(&self, _: &str, payload: &[u8], _: Qos) -> Result<(), String> {
        serde_json::from_slice::<serde_json::Value>(payload).expect("up message is JSON");
        Ok(())
    }
    fn event(&self, _: &Event<'_>) {}
}

fn object_byte(i: u64) -> u8 {
    (i.wrapping_mul(131).wrapping_add(17) % 251) as u8
}

fn object(size: u64) -> Vec<u8> {
    (0..size).map(object_byte).collect()
}

/// One exec's plan for the server: the responses still to serve and the
/// requests seen.
#[derive(Default)]
struct Plan {
    responses: Vec<Response>,
    next: usize,
    requests: Vec<String>,
}

struct Server {
    port: u16,
    plan: Mutex<Plan>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<&'static Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let server: &'static Server = Box::leak(Box::new(Server {
            port: listener.local_addr().unwrap().port(),
            plan: Mutex::new(Plan::default()),
        }));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                serve(server, conn);
            }
        });
        server
    })
}

fn serve(server: &Server, mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    let _ = conn.set_nodelay(true);
    // Read the request head (a GET has no body) before answering, so the
    // close never resets a connection with unread data.
    let mut head = String::new();
    {
        let mut reader = BufReader::new(&mut conn);
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let end = line == "\r\n" || line == "\n";
                    head.push_str(&line);
                    if end || head.len() > 64 * 1024 {
                        break;
                    }
                }
            }
        }
    }
    let response = {
        let mut plan = server.plan.lock().unwrap();
        plan.requests.push(head);
        let i = plan.next;
        plan.next += 1;
        plan.responses.get(i).cloned()
    };
    if let Some(r) = response {
        // Split points become pauses, so the client reads the parts
        // separately (short reads at chosen places).
        let mut at = 0;
        for &split in r.splits.iter().chain([&r.bytes.len()]) {
            if conn.write_all(&r.bytes[at..split]).is_err() {
                break;
            }
            at = split;
            if split < r.bytes.len() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let _ = conn.shutdown(Shutdown::Write);
}

/// An in-memory sink that checks how the engine uses it.
struct MemSink {
    size: u64,
    resume: u64,
    data: Vec<u8>,
    committed: bool,
}

impl DownloadSink for MemSink {
    fn open(&mut self, _: &str, task: &TaskInfo, hasher: &mut Md5Hasher) -> RmResult<u64> {
        assert_eq!(task.size, self.size);
        self.data = object(self.resume);
        hasher.update(&self.data);
        Ok(self.resume)
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> RmResult<()> {
        assert!(!self.committed);
        assert_eq!(offset, self.data.len() as u64, "writes are contiguous");
        assert!(
            offset + data.len() as u64 <= self.size,
            "write past the task's size"
        );
        self.data.extend_from_slice(data);
        Ok(())
    }

    fn restart(&mut self) -> RmResult<()> {
        self.data.clear();
        Ok(())
    }

    fn checkpoint(&mut self, offset: u64) -> RmResult<()> {
        assert!(offset <= self.data.len() as u64, "checkpoint past the data");
        Ok(())
    }

    fn commit(&mut self) -> RmResult<()> {
        assert!(!self.committed);
        assert_eq!(
            self.data,
            object(self.size),
            "committed bytes are the object"
        );
        self.committed = true;
        Ok(())
    }

    fn discard(&mut self) {
        self.data.clear();
    }
}

struct Case {
    size: u64,
    resume: u64,
    retries: u32,
    checkpoint: u64,
    raw: Vec<Vec<u8>>,
}

/// One response as served: its bytes, and where the server pauses.
#[derive(Clone, Default)]
struct Response {
    bytes: Vec<u8>,
    splits: Vec<usize>,
}

fn number(s: &str) -> u64 {
    s.trim()
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0u64, |n, d| {
            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        })
}

/// Expands `@@A-B@@` into the object's bytes A..B (clamped to the object)
/// and turns `@@|@@` into a split point (at most 8 per response).
fn expand(body: &[u8], size: u64, out: &mut Response) {
    let mut rest = body;
    while let Some(i) = find(rest, b"@@") {
        out.bytes.extend_from_slice(&rest[..i]);
        let after = &rest[i + 2..];
        let Some(j) = find(after, b"@@") else {
            out.bytes.extend_from_slice(&rest[i..]);
            return;
        };
        let spec = String::from_utf8_lossy(&after[..j]);
        if spec == "|" {
            if out.splits.len() < 8 {
                out.splits.push(out.bytes.len());
            }
        } else {
            let (a, b) = spec.split_once('-').unwrap_or((&spec, &spec));
            let (a, b) = (number(a).min(size), number(b).min(size));
            out.bytes.extend((a..b.max(a)).map(object_byte));
        }
        rest = &after[j + 2..];
    }
    out.bytes.extend_from_slice(rest);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Header lines get CRLF endings; the body (after the first empty line)
/// is kept as written.
fn response(raw: &[u8], size: u64) -> Response {
    let mut out = Response::default();
    let mut rest = raw;
    loop {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            expand(rest, size, &mut out);
            return out;
        };
        let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
        expand(line, size, &mut out);
        out.bytes.extend_from_slice(b"\r\n");
        rest = &rest[nl + 1..];
        if line.is_empty() {
            expand(rest, size, &mut out);
            return out;
        }
    }
}

fn parse(data: &[u8]) -> Case {
    let mut parts = data.split_inclusive(|&b| b == b'\n');
    let mut case = Case {
        size: 16,
        resume: 0,
        retries: 1,
        checkpoint: 1 << 20,
        raw: Vec::new(),
    };
    let mut current: Option<Vec<u8>> = None;
    for line in &mut parts {
        if line.strip_suffix(b"\n").unwrap_or(line) == b"<<<" {
            if let Some(mut r) = current.take() {
                // The line break before "<<<" belongs to the separator.
                if r.last() == Some(&b'\n') {
                    r.pop();
                }
                case.raw.push(r);
            }
            current = Some(Vec::new());
            continue;
        }
        match &mut current {
            Some(r) => r.extend_from_slice(line),
            None => {
                let text = String::from_utf8_lossy(line);
                let (key, value) = text.split_once(' ').unwrap_or((&text, ""));
                match key.trim() {
                    "size" => case.size = number(value),
                    "resume" => case.resume = number(value),
                    "retries" => case.retries = number(value).min(4) as u32,
                    "checkpoint" => case.checkpoint = number(value).max(1),
                    _ => {}
                }
            }
        }
    }
    if let Some(r) = current {
        case.raw.push(r);
    }
    case.size = case.size.min(MAX_SIZE);
    case.resume = case.resume.min(case.size);
    case.raw.truncate(6);
    case
}

/// RESMGR_FUZZ_DEBUG=1: print what each input did (for reading seeds and
/// regressions, not for fuzzing).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("RESMGR_FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    let case = parse(data);
    let server = server();
    {
        let mut plan = server.plan.lock().unwrap();
        *plan = Plan {
            responses: case.raw.iter().map(|r| response(r, case.size)).collect(),
            next: 0,
            requests: Vec::new(),
        };
    }
    let object = object(case.size);
    let mut hasher = Md5Hasher::new();
    hasher.update(&object);
    let md5 = hasher.finish();

    let client = Client::new("PRODUCTID", "device1", NoIo).unwrap();
    let push = format!(
        r#"{{"type":"download","name":"fw.bin","size":{},"md5sum":"{md5}","url":"http://127.0.0.1:{}/obj?sign=x"}}"#,
        case.size, server.port
    );
    client
        .handle_down_message(b"$resource/down/service/PRODUCTID/device1", push.as_bytes())
        .unwrap();

    let config = TransferConfig {
        connect_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        // No overall limit: with one, ureq resolves every host (even an IP
        // literal) on a detached thread of its own, and LeakSanitizer, which
        // libFuzzer runs right after an input, can catch such a thread
        // exiting and report its TLS destructor list as a 32-byte leak
        // (fuzz/regressions/download_response/leak-39cd…). The per-read and
        // connect timeouts still bound every input.
        total_timeout: None,
        // No watchdog thread: the connect and per-read timeouts bound
        // every input, and the fuzzed pauses are short.
        min_speed: None,
        max_retries: case.retries,
        backoff_initial: Duration::ZERO,
        backoff_max: Duration::ZERO,
        ca_file: None,
        checkpoint_bytes: case.checkpoint,
        checkpoint_interval: Duration::from_secs(3600),
    };
    let mut sink = MemSink {
        size: case.size,
        resume: case.resume,
        data: Vec::new(),
        committed: false,
    };
    let result = download(&client, "fw.bin", &mut sink, &config, None);
    assert_eq!(result.is_ok(), sink.committed, "{result:?}");
    if debug() {
        let plan = server.plan.lock().unwrap();
        eprintln!(
            "size {} resume {}: {} of {} responses used, result {:?}",
            case.size,
            case.resume,
            plan.next.min(plan.responses.len()),
            plan.responses.len(),
            result.as_ref().map_err(|e| (e.kind(), e.message()))
        );
    }

    let plan = server.plan.lock().unwrap();
    for head in &plan.requests {
        for line in head.lines() {
            let Some(range) = line
                .strip_prefix("range: ")
                .or_else(|| line.strip_prefix("Range: "))
            else {
                continue;
            };
            let n = range
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("malformed Range {range:?}"));
            assert!(n > 0 && n < case.size, "Range {n} for size {}", case.size);
        }
    }
});
