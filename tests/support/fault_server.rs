//! `fault-server`: the fault-injecting HTTP server of the Rust tests
//! (tests/support/fault.rs) as a program, for the C tests and the Python
//! hostile tests. One server, one set of behaviours, for every language.
//! CMake builds it (`cargo build --example fault-server`) and hands its path
//! to those tests in the environment variable `RESMGR_FAULT_SERVER`.
//!
//! # Command line
//!
//! ```text
//! fault-server [--tls CERT_PEM KEY_PEM] [--ipv6] [--store DIR]
//! ```
//!
//! Listens on 127.0.0.1 on a free port (with `--ipv6` also on [::1], same
//! port, when the host has IPv6 loopback) and prints one line on stdout:
//! `{"port":N,"ipv6":true|false}`. Then it reads commands on stdin, one
//! JSON object a line, and answers each with exactly one JSON line on
//! stdout. At EOF on stdin, or `{"cmd":"quit"}`, it stops every connection
//! and exits 0. A bad command is answered `{"error":"text"}`. Bad arguments
//! or unreadable PEM files: a message on stderr and exit 2, before the
//! first line. Bodies that
//! `accept_put` stores go to files under `--store DIR` (default: a fresh
//! directory under the system's temporary directory, removed at exit).
//!
//! # Commands
//!
//! - `{"cmd":"route","path":"/p","replies":[R1,R2,...]}` -> `{"ok":true}`.
//!   Requests whose path (the target without `?query`) is `/p` are answered
//!   by the replies in turn: the first by R1, the second by R2...; the last
//!   one repeats. `"path":"*"` takes any path without a route of its own. A
//!   new route for a path replaces the old one and restarts its count. A
//!   request with no route gets 404 with an S3 `NoSuchKey` XML body.
//! - `{"cmd":"requests"}` -> `{"requests":[REQ,...]}`, in order of arrival,
//!   where REQ = `{"index":0,"method":"GET","target":"/p?x=1","path":"/p",
//!   "headers":{"range":"bytes=5-",...},"header_counts":{"range":1,...},
//!   "body_len":N,"body_md5":"hex32","body_complete":true,"sent":N}`.
//!   Header names are lowercased, repeated ones joined with ", ";
//!   `body_len` and `sent` (response body bytes written) grow while the
//!   request is under way; `body_md5` is final once `body_complete`;
//!   `"answered":N` is the status sent (0 while none was). A request is
//!   recorded as soon as its head arrives.
//! - `{"cmd":"request","index":i}` -> REQ, or an error: one at a time.
//! - `{"cmd":"count"}` -> `{"count":N}`.
//! - `{"cmd":"stored","path":"/p"}` -> `{"stored":true,"file":"DIR/..."}`
//!   once an `accept_put` reply stored a complete body whose MD5 matched
//!   its `Content-MD5`, else `{"stored":false}`.
//! - `{"cmd":"quit"}` -> `{"ok":true}`, then the program exits.
//!
//! # Replies
//!
//! A reply is a JSON object with a `"kind"`:
//!
//! - `{"kind":"serve","file":"PATH"}`, or with `"body_b64":"..."` or
//!   `"body":"text"`: a well-behaved GET: 206 and the matching
//!   `Content-Range` from a `Range: bytes=N-` offset, 416 past the end, 200
//!   without `Range`. `"ignore_range":true`: always 200 with the whole
//!   object. `"content_range":"bytes 0-9/10"`: send this `Content-Range`
//!   instead. `"claimed_size":N`: the object claims to be N bytes long: a
//!   Range request gets 206 with `Content-Range: bytes START-(N-1)/N` and the
//!   body as given (not cut at the offset). `"status":N`: this status code.
//! - `{"kind":"status","status":500,"body":"..."}` (or `"body_b64"`).
//! - `{"kind":"accept_put"}`: reads the body (`Content-Length` or chunked);
//!   when complete and its MD5 matches the `Content-MD5` header, stores it
//!   (see `stored`) and answers 200 with an `ETag` of its hex MD5 in quotes;
//!   complete with another MD5 (or none): 400 with
//!   `<Error><Code>BadDigest</Code></Error>`; incomplete: no answer.
//!   `"verify_md5":false`: stores and answers 200 whatever the MD5.
//!   Stored bodies are files `DIR/<request index>.body`.
//! - `{"kind":"endless","status":200,"cap":N}`: the status, then
//!   pseudo-random bytes without end (up to `cap`, default 8 GiB),
//!   close-delimited unless `"declared_length"` is given; generated while
//!   sent, never held in memory.
//! - `{"kind":"stall"}`: reads the request, then says nothing until the
//!   server stops.
//! - `{"kind":"hangup"}`: closes the connection without an answer.
//!
//! Options of `serve`, `status` and `endless` (how the answer is sent):
//! `"headers":[["Name","value"],...]`, `"cut_after":N` (close after N body
//! bytes), `"stall_after":N` (N body bytes, then silence until the server
//! stops), `"slow":[CHUNK,MS]` (the body in CHUNK-byte pieces every MS ms),
//! `"rate":BYTES_PER_S`, `"slow_head":[CHUNK,MS]`, `"declared_length":N`,
//! `"close_delimited":true`.
//!
//! A request with `Expect: 100-continue` gets `100 Continue` before its
//! body is read (not with `answer_after`).
//!
//! Options of any reply (how the request is read): `"answer_after":N`
//! (answer once the head and N body bytes arrived, never read the rest),
//! `"read_rate":BYTES_PER_S` (read the body at this pace).

#[allow(dead_code)]
#[path = "fault.rs"]
mod fault;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use fault::{FaultServer, Options, ReadPlan, Reply, Request, Response};
use serde_json::{json, Map, Value};

/// What a reply does; the options of [`Spec`] apply to it.
#[derive(Clone, Debug)]
enum Kind {
    Serve {
        object: Arc<Vec<u8>>,
        ignore_range: bool,
        content_range: Option<String>,
        claimed_size: Option<u64>,
        status: Option<u16>,
    },
    Status {
        status: u16,
        body: Vec<u8>,
    },
    AcceptPut {
        verify_md5: bool,
    },
    Endless {
        status: u16,
        cap: u64,
    },
    Stall,
    Hangup,
}

/// A parsed reply.
#[derive(Clone, Debug)]
struct Spec {
    kind: Kind,
    /// Applies the sending options to a response.
    shape: Shape,
    answer_after: Option<u64>,
    read_rate: Option<u64>,
}

/// The sending options of a reply.
#[derive(Clone, Debug, Default)]
struct Shape {
    headers: Vec<(String, String)>,
    cut_after: Option<usize>,
    stall_after: Option<usize>,
    slow: Option<(usize, u64)>,
    rate: Option<u64>,
    slow_head: Option<(usize, u64)>,
    declared_length: Option<u64>,
    close_delimited: bool,
}

impl Shape {
    fn apply(&self, mut r: Response) -> Response {
        for (n, v) in &self.headers {
            r = r.header(n, v.clone());
        }
        if let Some(n) = self.cut_after {
            r = r.cut_after(n);
        }
        if let Some(n) = self.stall_after {
            r = r.stall_after(n);
        }
        if let Some((chunk, ms)) = self.slow {
            r = r.slow(chunk, Duration::from_millis(ms));
        }
        if let Some(rate) = self.rate {
            r = r.rate(rate);
        }
        if let Some((chunk, ms)) = self.slow_head {
            r = r.slow_head(chunk, Duration::from_millis(ms));
        }
        if self.close_delimited {
            r = r.close_delimited();
        }
        if let Some(n) = self.declared_length {
            r = r.declared_length(n);
        }
        r
    }
}

type Fields<'a> = &'a Map<String, Value>;

/// Field `name` of `o` as `get` reads it; an error names `what` it must be.
fn field<'a, T>(
    o: &'a Map<String, Value>,
    name: &str,
    get: fn(&'a Value) -> Option<T>,
    what: &str,
) -> Result<Option<T>, String> {
    o.get(name)
        .map(|v| get(v).ok_or_else(|| format!("\"{name}\" must be {what}")))
        .transpose()
}

fn u64_field(o: Fields, name: &str) -> Result<Option<u64>, String> {
    field(o, name, Value::as_u64, "a non-negative integer")
}

fn str_field<'a>(o: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    field(o, name, Value::as_str, "a string")
}

fn status_field(o: Fields) -> Result<Option<u16>, String> {
    match u64_field(o, "status")? {
        None => Ok(None),
        Some(s) if (100..=999).contains(&s) => Ok(Some(s as u16)),
        Some(s) => Err(format!("bad status {s}")),
    }
}

fn pair_field(o: Fields, name: &str) -> Result<Option<(usize, u64)>, String> {
    match o.get(name) {
        None => Ok(None),
        Some(v) => match v.as_array().map(|a| a.as_slice()) {
            Some([a, b]) => match (a.as_u64(), b.as_u64()) {
                (Some(a), Some(b)) => Ok(Some((a as usize, b))),
                _ => Err(format!("\"{name}\" must be [CHUNK, MS]")),
            },
            _ => Err(format!("\"{name}\" must be [CHUNK, MS]")),
        },
    }
}

/// The body of a reply: `file`, `body_b64` or `body`.
fn body_field(o: Fields) -> Result<Option<Vec<u8>>, String> {
    if let Some(path) = str_field(o, "file")? {
        return std::fs::read(path)
            .map(Some)
            .map_err(|e| format!("cannot read {path}: {e}"));
    }
    if let Some(b64) = str_field(o, "body_b64")? {
        return base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Some)
            .map_err(|e| format!("bad body_b64: {e}"));
    }
    Ok(str_field(o, "body")?.map(|s| s.as_bytes().to_vec()))
}

fn headers_field(o: Fields) -> Result<Vec<(String, String)>, String> {
    let Some(v) = o.get("headers") else {
        return Ok(Vec::new());
    };
    let bad = || "\"headers\" must be [[\"Name\",\"value\"],...]".to_owned();
    let mut out = Vec::new();
    for pair in v.as_array().ok_or_else(bad)? {
        match pair.as_array().map(|a| a.as_slice()) {
            Some([Value::String(n), Value::String(v)]) => out.push((n.clone(), v.clone())),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn parse_reply(v: &Value) -> Result<Spec, String> {
    let o = v.as_object().ok_or("a reply must be an object")?;
    let kind = match str_field(o, "kind")?.ok_or("a reply needs a \"kind\"")? {
        "serve" => Kind::Serve {
            object: Arc::new(body_field(o)?.ok_or("serve needs file, body_b64 or body")?),
            ignore_range: o.get("ignore_range") == Some(&Value::Bool(true)),
            content_range: str_field(o, "content_range")?.map(str::to_owned),
            claimed_size: u64_field(o, "claimed_size")?,
            status: status_field(o)?,
        },
        "status" => Kind::Status {
            status: status_field(o)?.ok_or("status needs a \"status\"")?,
            body: body_field(o)?.unwrap_or_default(),
        },
        "accept_put" => Kind::AcceptPut {
            verify_md5: o.get("verify_md5") != Some(&Value::Bool(false)),
        },
        "endless" => Kind::Endless {
            status: status_field(o)?.unwrap_or(200),
            cap: u64_field(o, "cap")?.unwrap_or(8 << 30),
        },
        "stall" => Kind::Stall,
        "hangup" => Kind::Hangup,
        other => return Err(format!("unknown reply kind {other:?}")),
    };
    let shape = Shape {
        headers: headers_field(o)?,
        cut_after: u64_field(o, "cut_after")?.map(|n| n as usize),
        stall_after: u64_field(o, "stall_after")?.map(|n| n as usize),
        slow: pair_field(o, "slow")?,
        rate: u64_field(o, "rate")?,
        slow_head: pair_field(o, "slow_head")?,
        declared_length: u64_field(o, "declared_length")?,
        close_delimited: o.get("close_delimited") == Some(&Value::Bool(true)),
    };
    // An endless body is close-delimited unless a length is declared.
    let shape = match kind {
        Kind::Endless { .. } if shape.declared_length.is_none() => Shape {
            close_delimited: true,
            ..shape
        },
        _ => shape,
    };
    Ok(Spec {
        kind,
        shape,
        answer_after: u64_field(o, "answer_after")?,
        read_rate: u64_field(o, "read_rate")?,
    })
}

/// The replies of one path and how many requests they answered.
struct Route {
    replies: Vec<Spec>,
    used: usize,
}

/// The program's state, shared by the command loop and the server.
struct State {
    routes: Mutex<HashMap<String, Route>>,
    /// The reply chosen for each request (by index) when its head came.
    chosen: Mutex<HashMap<usize, Option<Spec>>>,
    /// Path -> file of each body `accept_put` stored.
    stored: Mutex<HashMap<String, PathBuf>>,
    store_dir: PathBuf,
}

/// The target without its query.
fn path_of(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}

impl State {
    /// Picks the reply of a request from its head: its path's next reply.
    fn plan(&self, request: &Request) -> ReadPlan {
        let spec = {
            let mut routes = self.routes.lock().unwrap();
            let path = path_of(&request.target);
            let key = if routes.contains_key(path) { path } else { "*" };
            routes.get_mut(key).map(|route| {
                let i = route.used.min(route.replies.len() - 1);
                route.used += 1;
                route.replies[i].clone()
            })
        };
        let plan = match &spec {
            None => ReadPlan::default(),
            Some(spec) => ReadPlan {
                answer_after: spec.answer_after,
                read_rate: spec.read_rate,
                save_to: matches!(spec.kind, Kind::AcceptPut { .. })
                    .then(|| self.body_file(request)),
                ..ReadPlan::default()
            },
        };
        self.chosen.lock().unwrap().insert(request.index, spec);
        plan
    }

    /// Answers a request with the reply chosen for it.
    fn reply(&self, request: &Request) -> Reply {
        let spec = self.chosen.lock().unwrap().remove(&request.index).flatten();
        let Some(spec) = spec else {
            return Reply::status(404, "<Error><Code>NoSuchKey</Code></Error>");
        };
        let response = match spec.kind {
            Kind::Stall => return Reply::StallBeforeResponse,
            Kind::Hangup => return Reply::Hangup,
            Kind::AcceptPut { verify_md5 } => return self.accept_put(request, verify_md5),
            Kind::Status { status, body } => Response::new(status, body),
            Kind::Endless { status, cap } => Response::new(status, Vec::new()).generated(cap),
            Kind::Serve {
                object,
                ignore_range,
                content_range,
                claimed_size,
                status,
            } => {
                let mut r = match (claimed_size, request.range_start()) {
                    _ if ignore_range => Response::new(200, object.to_vec()),
                    (Some(size), Some(start)) => Response::new(206, object.to_vec()).header(
                        "Content-Range",
                        format!("bytes {start}-{}/{size}", size.saturating_sub(1)),
                    ),
                    _ => fault::serve(&object, request),
                };
                if let Some(range) = content_range {
                    r.headers
                        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-range"));
                    r = r.header("Content-Range", range);
                }
                if let Some(status) = status {
                    r.status = status;
                }
                r
            }
        };
        spec.shape.apply(response).into()
    }

    /// Where an accept_put reply saves the body of `request`.
    fn body_file(&self, request: &Request) -> PathBuf {
        self.store_dir.join(format!("{}.body", request.index))
    }

    /// Stores a complete body whose MD5 matches its `Content-MD5` (any
    /// body without `verify_md5`).
    fn accept_put(&self, request: &Request, verify_md5: bool) -> Reply {
        let file = self.body_file(request);
        let md5 = request.body_md5.to_base64();
        if verify_md5 && request.header("content-md5") != Some(md5.as_str()) {
            let _ = std::fs::remove_file(&file);
            return Reply::status(400, "<Error><Code>BadDigest</Code></Error>");
        }
        let path = path_of(&request.target).to_owned();
        self.stored.lock().unwrap().insert(path, file);
        Response::new(200, Vec::new())
            .header("ETag", format!("\"{}\"", request.body_md5.to_hex()))
            .into()
    }
}

fn request_json(r: &Request) -> Value {
    let mut headers = Map::new();
    let mut counts = Map::new();
    for (name, value) in &r.headers {
        let name = name.to_ascii_lowercase();
        let joined = match headers.get(&name).and_then(Value::as_str) {
            Some(old) => format!("{old}, {value}"),
            None => value.clone(),
        };
        headers.insert(name.clone(), Value::String(joined));
        let n = counts.get(&name).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(name, json!(n + 1));
    }
    json!({
        "index": r.index,
        "method": r.method,
        "target": r.target,
        "path": path_of(&r.target),
        "headers": headers,
        "header_counts": counts,
        "body_len": r.body_len,
        "body_md5": r.body_md5.to_hex(),
        "body_complete": r.body_complete,
        "sent": r.sent,
        "answered": r.answered,
    })
}

/// Answers one command line; `None` for quit.
fn command(line: &str, server: &FaultServer, state: &State) -> Option<Value> {
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Some(json!({ "error": format!("bad JSON: {e}") })),
    };
    let result = (|| -> Result<Value, String> {
        let o = v.as_object().ok_or("a command must be an object")?;
        match str_field(o, "cmd")?.ok_or("a command needs a \"cmd\"")? {
            "route" => {
                let path = str_field(o, "path")?.ok_or("route needs a \"path\"")?;
                let replies = o
                    .get("replies")
                    .and_then(Value::as_array)
                    .filter(|a| !a.is_empty())
                    .ok_or("route needs a non-empty \"replies\" list")?
                    .iter()
                    .map(parse_reply)
                    .collect::<Result<Vec<_>, _>>()?;
                let route = Route { replies, used: 0 };
                state.routes.lock().unwrap().insert(path.to_owned(), route);
                Ok(json!({ "ok": true }))
            }
            "requests" => {
                let all: Vec<Value> = server.requests().iter().map(request_json).collect();
                Ok(json!({ "requests": all }))
            }
            "request" => {
                let i = u64_field(o, "index")?.ok_or("request needs an \"index\"")?;
                server
                    .requests()
                    .iter()
                    .find(|r| r.index as u64 == i)
                    .map(request_json)
                    .ok_or_else(|| format!("no request {i}"))
            }
            "count" => Ok(json!({ "count": server.requests().len() })),
            "stored" => {
                let path = str_field(o, "path")?.ok_or("stored needs a \"path\"")?;
                Ok(match state.stored.lock().unwrap().get(path) {
                    Some(file) => json!({ "stored": true, "file": file.to_string_lossy() }),
                    None => json!({ "stored": false }),
                })
            }
            "quit" => Err(String::new()),
            other => Err(format!("unknown command {other:?}")),
        }
    })();
    match result {
        Ok(v) => Some(v),
        Err(e) if e.is_empty() => None,
        Err(e) => Some(json!({ "error": e })),
    }
}

/// A TLS configuration from PEM files.
fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    fault::tls_server_config(certs, key).map_err(|e| e.to_string())
}

struct Args {
    tls: Option<(PathBuf, PathBuf)>,
    ipv6: bool,
    store: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tls: None,
        ipv6: false,
        store: None,
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("--tls") => match (it.next(), it.next()) {
                (Some(c), Some(k)) => args.tls = Some((c.into(), k.into())),
                _ => return Err("--tls needs CERT_PEM KEY_PEM".into()),
            },
            Some("--ipv6") => args.ipv6 = true,
            Some("--store") => args.store = Some(it.next().ok_or("--store needs DIR")?.into()),
            _ => return Err(format!("unknown argument {a:?}")),
        }
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args().map_err(|e| {
        format!("{e}\nusage: fault-server [--tls CERT_PEM KEY_PEM] [--ipv6] [--store DIR]")
    })?;
    let tls = match &args.tls {
        Some((cert, key)) => Some(tls_config(cert, key)?),
        None => None,
    };
    // Without --store, a temporary directory removed at exit.
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store_dir = args.store.clone().unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&store_dir).map_err(|e| format!("{}: {e}", store_dir.display()))?;
    let state = Arc::new(State {
        routes: Mutex::new(HashMap::new()),
        chosen: Mutex::new(HashMap::new()),
        stored: Mutex::new(HashMap::new()),
        store_dir,
    });
    let (planner, replier) = (state.clone(), state.clone());
    let options = Options {
        tls,
        ipv6: args.ipv6,
        plan: Box::new(move |r| planner.plan(r)),
    };
    let server = FaultServer::start_with(options, move |_, r| replier.reply(r));
    let mut out = std::io::stdout().lock();
    let say =
        |out: &mut std::io::StdoutLock, v: Value| writeln!(out, "{v}").and_then(|()| out.flush());
    let hello = json!({ "port": server.port(), "ipv6": server.ipv6() });
    say(&mut out, hello).map_err(|e| e.to_string())?;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        match command(&line, &server, &state) {
            Some(answer) => say(&mut out, answer).map_err(|e| e.to_string())?,
            None => {
                let _ = say(&mut out, json!({ "ok": true }));
                break;
            }
        }
    }
    drop(server);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("fault-server: {e}");
        std::process::exit(2);
    }
}
