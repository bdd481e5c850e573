//! A fault-injecting HTTP/1.1 server on 127.0.0.1 (and optionally [::1]):
//! one request per connection (`Connection: close`), each answered as a
//! script says — normally, cut short, with too many bytes, slowly, without
//! end, or not at all. Every request is recorded when its head arrives and
//! kept up to date (the length and MD5 of the body received, the body
//! bytes sent back) so tests can check what the engine sent.
//!
//! A request that says `Expect: 100-continue` gets `100 Continue` before
//! its body is read, as from a real store (unless its `ReadPlan` says to
//! ignore it).
//!
//! Each connection runs on its own thread with short socket timeouts and
//! polls a stop flag, so dropping the server ends stalled connections too
//! and joins every thread. The same server runs as a program for the C and
//! Python tests: tests/support/fault_server.rs.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use resmgr::{Md5Digest, Md5Hasher};

/// How often blocked socket calls wake up to look at the stop flag.
const POLL: Duration = Duration::from_millis(20);
/// Largest request head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Request {
    /// Order of arrival, from 0.
    pub index: usize,
    /// `GET`, `PUT`...
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// Header lines in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// Body bytes received.
    pub body_len: u64,
    /// MD5 of the body bytes received.
    pub body_md5: Md5Digest,
    /// Whether the whole body (as framed by `Content-Length` or chunked
    /// encoding) arrived before the client closed the connection.
    pub body_complete: bool,
    /// Response body bytes written so far.
    pub sent: u64,
    /// The status of the answer once its head was sent (0: none yet).
    pub answered: u16,
}

impl Request {
    /// The value of header `name` (case-insensitive), if sent once or more
    /// (the first one).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many times header `name` was sent.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// The offset of a `Range: bytes=N-` header.
    pub fn range_start(&self) -> Option<u64> {
        let v = self.header("range")?;
        let n = v.strip_prefix("bytes=")?.strip_suffix('-')?;
        n.parse().ok()
    }
}

/// How the response body is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `Content-Length` of the body's true length.
    Exact,
    /// No `Content-Length`: the body ends when the connection closes.
    CloseDelimited,
    /// `Content-Length` of this value, whatever the body holds.
    Declared(u64),
}

/// How the response is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// All of it, then the connection closes.
    All,
    /// The head and the first N body bytes, then the connection closes.
    CutAfter(usize),
    /// The head and the first N body bytes, then nothing until the server
    /// is dropped.
    StallAfter(usize),
    /// The body in pieces of `chunk` bytes, one every `every`.
    Slow { chunk: usize, every: Duration },
    /// The body paced to this many bytes a second.
    Rate(u64),
}

/// A response to send.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// A body of this many pseudo-random bytes, made while sending (never
    /// held in memory) instead of `body`.
    pub generated: Option<u64>,
    pub length: Length,
    pub delivery: Delivery,
    /// The head in pieces of this many bytes, one every given pause
    /// (`None`: all at once).
    pub head_pace: Option<(usize, Duration)>,
}

impl Response {
    /// `status` with `body`, sent whole with an exact `Content-Length`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
            generated: None,
            length: Length::Exact,
            delivery: Delivery::All,
            head_pace: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Closes the connection after `n` body bytes.
    pub fn cut_after(mut self, n: usize) -> Self {
        self.delivery = Delivery::CutAfter(n);
        self
    }

    /// Sends the head and `n` body bytes, then stalls.
    pub fn stall_after(mut self, n: usize) -> Self {
        self.delivery = Delivery::StallAfter(n);
        self
    }

    /// Sends the body in `chunk`-byte pieces, one every `every`.
    pub fn slow(mut self, chunk: usize, every: Duration) -> Self {
        self.delivery = Delivery::Slow { chunk, every };
        self
    }

    /// Sends the body paced to `bytes_per_s`.
    pub fn rate(mut self, bytes_per_s: u64) -> Self {
        self.delivery = Delivery::Rate(bytes_per_s.max(1));
        self
    }

    /// Sends `n` pseudo-random bytes as the body instead of `body`.
    pub fn generated(mut self, n: u64) -> Self {
        self.generated = Some(n);
        self
    }

    /// The length of the body to send.
    pub fn body_len(&self) -> u64 {
        self.generated.unwrap_or(self.body.len() as u64)
    }

    /// Sends the status line and headers in `chunk`-byte pieces, one every
    /// `every`.
    pub fn slow_head(mut self, chunk: usize, every: Duration) -> Self {
        self.head_pace = Some((chunk, every));
        self
    }

    /// Sends no `Content-Length`: the body ends with the connection.
    pub fn close_delimited(mut self) -> Self {
        self.length = Length::CloseDelimited;
        self
    }

    /// Announces `n` as the `Content-Length`.
    pub fn declared_length(mut self, n: u64) -> Self {
        self.length = Length::Declared(n);
        self
    }
}

/// What the server does with a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Sends a response.
    Send(Response),
    /// Sends nothing at all and keeps the connection open until the server
    /// is dropped.
    StallBeforeResponse,
    /// Closes the connection without a response.
    Hangup,
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Reply::Send(r)
    }
}

impl Reply {
    /// `200` with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Response::new(200, body).into()
    }

    /// `status` with `body`.
    pub fn status(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Response::new(status, body).into()
    }
}

/// `206` with the bytes of `object` from `offset`, and the matching
/// `Content-Range`.
pub fn partial(object: &[u8], offset: usize) -> Response {
    Response::new(206, object[offset..].to_vec()).header(
        "Content-Range",
        format!(
            "bytes {offset}-{}/{}",
            object.len().saturating_sub(1),
            object.len()
        ),
    )
}

/// Answers a GET of `object` as a well-behaved store does: `206` from the
/// offset of a `Range: bytes=N-` header, `200` without one.
pub fn serve(object: &[u8], request: &Request) -> Response {
    match request.range_start() {
        Some(n) if (n as usize) < object.len() => partial(object, n as usize),
        Some(_) => Response::new(416, Vec::new())
            .header("Content-Range", format!("bytes */{}", object.len())),
        None => Response::new(200, object.to_vec()),
    }
}

/// A script: what to do with request number `index`.
pub type Script = dyn Fn(usize, &Request) -> Reply + Send + Sync;

/// How a request's body is read, decided from its head.
#[derive(Clone, Debug, Default)]
pub struct ReadPlan {
    /// Answer as soon as the head and this many body bytes arrived, without
    /// reading the rest of the body; `None`: read the whole body first.
    pub answer_after: Option<u64>,
    /// Read the body at this many bytes a second; `None`: as fast as it
    /// comes.
    pub read_rate: Option<u64>,
    /// Write the body received to this file.
    pub save_to: Option<PathBuf>,
    /// Never answer `Expect: 100-continue` (a store that ignores it: the
    /// client sends the body once it has waited long enough).
    pub ignore_expect: bool,
}

/// Decides the [`ReadPlan`] of a request from its head.
pub type Planner = dyn Fn(&Request) -> ReadPlan + Send + Sync;

/// How to start a server: see [`FaultServer::start_with`].
pub struct Options {
    /// Serve HTTPS with this configuration.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Also listen on [::1] with the same port (when the host has IPv6
    /// loopback; [`FaultServer::ipv6`] says whether it does).
    pub ipv6: bool,
    /// How each request's body is read.
    pub plan: Box<Planner>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: None,
            ipv6: false,
            plan: Box::new(|_| ReadPlan::default()),
        }
    }
}

/// The server; stops and joins its threads when dropped.
pub struct FaultServer {
    addr: SocketAddr,
    scheme: &'static str,
    ipv6: bool,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    acceptor: Option<JoinHandle<()>>,
}

/// The TLS configuration of a server presenting `chain` with `key`: the
/// ring provider, rustls's safe protocol versions, no client certificates.
pub fn tls_server_config(
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map(Arc::new)
}

/// A connection the server can talk over: plain TCP or TLS.
trait Conn: Read + Write + Send {
    /// Ends the connection cleanly (TLS: close_notify).
    fn finish(&mut self) {}
}

impl Conn for TcpStream {}

impl Conn for rustls::StreamOwned<rustls::ServerConnection, TcpStream> {
    fn finish(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

struct Shared {
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Request>>>,
    next_index: AtomicUsize,
    script: Box<Script>,
    plan: Box<Planner>,
}

impl Shared {
    /// Updates the record of request `index`.
    fn record(&self, index: usize, update: impl FnOnce(&mut Request)) {
        let mut all = self.requests.lock().unwrap();
        if let Some(r) = all.iter_mut().rev().find(|r| r.index == index) {
            update(r);
        }
    }
}

impl FaultServer {
    /// A plain-HTTP server answering as `script` says.
    pub fn start(script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static) -> FaultServer {
        Self::start_with(Options::default(), script)
    }

    /// A plain-HTTP server that answers as `script` says as soon as it has
    /// a request's head, and never reads the body (as stores do when they
    /// refuse a request outright). The recorded requests have only the body
    /// bytes that came with the head.
    pub fn start_early(
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        Self::start_answering_after(0, script)
    }

    /// A plain-HTTP server that answers as `script` says once it has a
    /// request's head and `n` bytes of its body, and never reads the rest
    /// (a store that answers before the body is complete). The recorded
    /// requests have the body bytes read up to then (at least `n`, or
    /// all of a shorter body).
    pub fn start_answering_after(
        n: u64,
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        let plan = move |_: &Request| ReadPlan {
            answer_after: Some(n),
            ..ReadPlan::default()
        };
        let options = Options {
            plan: Box::new(plan),
            ..Options::default()
        };
        Self::start_with(options, script)
    }

    /// An HTTPS server with `tls` answering as `script` says.
    pub fn start_tls(
        tls: Arc<rustls::ServerConfig>,
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        let options = Options {
            tls: Some(tls),
            ..Options::default()
        };
        Self::start_with(options, script)
    }

    /// A server that serves `object` at any path, honouring `Range`.
    pub fn serving(object: Vec<u8>) -> FaultServer {
        Self::start(move |_, r| serve(&object, r).into())
    }

    /// A server started with `options`, answering as `script` says.
    pub fn start_with(
        options: Options,
        script: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let mut listeners = vec![listener];
        if options.ipv6 {
            if let Ok(l6) = TcpListener::bind(("::1", addr.port())) {
                listeners.push(l6);
            }
        }
        let ipv6 = listeners.len() > 1;
        for l in &listeners {
            l.set_nonblocking(true).expect("nonblocking listener");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::new(Shared {
            stop: stop.clone(),
            requests: requests.clone(),
            next_index: AtomicUsize::new(0),
            script: Box::new(script),
            plan: options.plan,
        });
        let tls = options.tls;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let acceptor = std::thread::Builder::new()
            .name(format!("fault-server-{}", addr.port()))
            .spawn(move || accept_loop(listeners, tls, shared))
            .expect("spawn acceptor");
        FaultServer {
            addr,
            scheme,
            ipv6,
            stop,
            requests,
            acceptor: Some(acceptor),
        }
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether the server also listens on [::1].
    pub fn ipv6(&self) -> bool {
        self.ipv6
    }

    /// A URL of `path` (with its leading `/`) on this server, by IP.
    pub fn url(&self, path: &str) -> String {
        self.url_with_host("127.0.0.1", path)
    }

    /// A URL of `path` on this server, naming it `host`.
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        format!("{}://{host}:{}{path}", self.scheme, self.addr.port())
    }

    /// The requests received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        let mut r = self.requests.lock().unwrap().clone();
        r.sort_by_key(|r| r.index);
        r
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listeners: Vec<TcpListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        let mut idle = true;
        for listener in &listeners {
            let Ok((stream, _)) = listener.accept() else {
                continue;
            };
            idle = false;
            let shared = shared.clone();
            let tls = tls.clone();
            let handle = std::thread::spawn(move || {
                if stream.set_nonblocking(false).is_err()
                    || stream.set_read_timeout(Some(POLL)).is_err()
                    || stream.set_write_timeout(Some(POLL)).is_err()
                {
                    return;
                }
                let _ = stream.set_nodelay(true);
                match tls {
                    None => handle(stream, &shared),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        handle(rustls::StreamOwned::new(conn, stream), &shared)
                    }
                }
            });
            connections.push(handle);
            connections.retain(|h| !h.is_finished());
        }
        if idle {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for c in connections {
        let _ = c.join();
    }
}

fn stopped(shared: &Shared) -> bool {
    shared.stop.load(Ordering::SeqCst)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// One read, retried across socket timeouts until data, EOF, an error or
/// the stop flag.
fn read_some(conn: &mut dyn Conn, buf: &mut [u8], shared: &Shared) -> io::Result<usize> {
    loop {
        match conn.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if is_timeout(&e) => {
                if stopped(shared) {
                    return Err(io::Error::other("server stopped"));
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes all of `data`, retrying across socket timeouts; false when the
/// peer went away or the server is stopping.
fn write_all(conn: &mut dyn Conn, mut data: &[u8], shared: &Shared) -> bool {
    while !data.is_empty() {
        match conn.write(data) {
            Ok(0) => return false,
            Ok(n) => data = &data[n..],
            Err(e) if is_timeout(&e) => {
                if stopped(shared) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
    loop {
        match conn.flush() {
            Ok(()) => return true,
            Err(e) if is_timeout(&e) => {
                if stopped(shared) {
                    return false;
                }
            }
            Err(_) => return false,
        }
    }
}

/// Sleeps `d` in short steps; false if the server is stopping.
fn pause(d: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stopped(shared) {
            return false;
        }
        std::thread::sleep(until.saturating_duration_since(Instant::now()).min(POLL));
    }
    !stopped(shared)
}

/// Holds the connection open, doing nothing, until the server stops.
fn stall(shared: &Shared) {
    while pause(POLL, shared) {}
}

/// Reads bytes for the request body out of what is buffered first, keeps
/// the request's record up to date, paces itself to the plan's read rate
/// and saves the body where the plan says.
struct BodyReader<'a> {
    conn: &'a mut dyn Conn,
    shared: &'a Shared,
    buffered: Vec<u8>,
    index: usize,
    rate: Option<u64>,
    save: Option<File>,
    started: Instant,
    taken: u64,
}

impl BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.buffered.is_empty() {
            let n = buf.len().min(self.buffered.len());
            buf[..n].copy_from_slice(&self.buffered[..n]);
            self.buffered.drain(..n);
            return Ok(n);
        }
        read_some(self.conn, buf, self.shared)
    }

    fn read_byte(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        match self.read(&mut b)? {
            0 => Ok(None),
            _ => Ok(Some(b[0])),
        }
    }

    /// A CRLF-terminated line (without the CRLF); `None` at EOF.
    fn line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        loop {
            match self.read_byte()? {
                None => return Ok(None),
                Some(b'\n') => {
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
                }
                Some(b) if line.len() < 4096 => line.push(b),
                Some(_) => return Err(io::Error::other("line too long")),
            }
        }
    }

    /// Reads exactly `n` body bytes into the hasher; false when the
    /// connection ended first.
    fn take(&mut self, mut n: u64, hasher: &mut Md5Hasher) -> io::Result<bool> {
        let size = if self.rate.is_some() { 16 } else { 64 } * 1024;
        let mut buf = vec![0u8; size];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            let got = self.read(&mut buf[..want])?;
            if got == 0 {
                return Ok(false);
            }
            hasher.update(&buf[..got]);
            if let Some(file) = &mut self.save {
                file.write_all(&buf[..got])?;
            }
            n -= got as u64;
            self.taken += got as u64;
            let taken = self.taken;
            self.shared.record(self.index, |r| r.body_len = taken);
            if let Some(rate) = self.rate {
                let due = Duration::from_secs_f64(taken as f64 / rate as f64);
                if !pause(due.saturating_sub(self.started.elapsed()), self.shared) {
                    return Err(io::Error::other("server stopped"));
                }
            }
        }
        Ok(true)
    }
}

/// A request's method, target and headers.
type Head = (String, String, Vec<(String, String)>);

/// Parses a request head: request line and headers.
fn parse_head(head: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Some((method, target, headers))
}

fn handle<C: Conn>(mut conn: C, shared: &Shared) {
    let conn: &mut dyn Conn = &mut conn;
    // The head, and whatever body bytes came with it.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return;
        }
        match read_some(conn, &mut chunk, shared) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let Some((method, target, headers)) = parse_head(&buf[..head_end]) else {
        return;
    };
    let index = shared.next_index.fetch_add(1, Ordering::SeqCst);
    let mut request = Request {
        index,
        method,
        target,
        headers,
        body_len: 0,
        body_md5: Md5Hasher::new().finish(),
        body_complete: false,
        sent: 0,
        answered: 0,
    };
    let announced = request
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    request.body_complete = !chunked && request.header("content-length").is_none();
    shared.requests.lock().unwrap().push(request.clone());
    let plan = (shared.plan)(&request);
    if let Some(n) = plan.answer_after {
        // Read up to `n` body bytes (fewer if the body is shorter), then
        // answer without reading the rest.
        let mut got = buf[head_end..].to_vec();
        let want = announced.map_or(n, |len| len.min(n));
        while (got.len() as u64) < want {
            match read_some(conn, &mut chunk, shared) {
                Ok(0) | Err(_) => break,
                Ok(k) => got.extend_from_slice(&chunk[..k]),
            }
        }
        let mut hasher = Md5Hasher::new();
        hasher.update(&got);
        request.body_len = hasher.len();
        request.body_md5 = hasher.finish();
        request.body_complete = announced.is_none_or(|len| len == request.body_len);
        shared.record(index, |r| *r = request.clone());
        answer(conn, &request, shared);
        return;
    }
    let save = match plan.save_to.map(File::create) {
        Some(Ok(file)) => Some(file),
        Some(Err(_)) => return,
        None => None,
    };
    let expects_continue = request
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue
        && !plan.ignore_expect
        && !write_all(conn, b"HTTP/1.1 100 Continue\r\n\r\n", shared)
    {
        return;
    }
    let mut body = BodyReader {
        conn,
        shared,
        buffered: buf[head_end..].to_vec(),
        index,
        rate: plan.read_rate.map(|r| r.max(1)),
        save,
        started: Instant::now(),
        taken: 0,
    };
    let mut hasher = Md5Hasher::new();
    let complete = if chunked {
        read_chunked(&mut body, &mut hasher)
    } else {
        match request.header("content-length").map(|v| v.parse::<u64>()) {
            Some(Ok(n)) => body.take(n, &mut hasher).unwrap_or(false),
            Some(Err(_)) => false,
            None => true,
        }
    };
    request.body_len = hasher.len();
    request.body_md5 = hasher.finish();
    request.body_complete = complete;
    shared.record(index, |r| *r = request.clone());
    if !complete || stopped(shared) {
        return;
    }
    answer(body.conn, &request, shared);
}

/// Answers `request` as the script says.
fn answer(conn: &mut dyn Conn, request: &Request, shared: &Shared) {
    match (shared.script)(request.index, request) {
        Reply::Hangup => {}
        Reply::StallBeforeResponse => stall(shared),
        Reply::Send(response) => send(conn, &response, request.index, shared),
    }
}

/// Decodes a chunked body into the hasher; true when its last chunk came.
fn read_chunked(body: &mut BodyReader<'_>, hasher: &mut Md5Hasher) -> bool {
    loop {
        let Ok(Some(line)) = body.line() else {
            return false;
        };
        let size = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = u64::from_str_radix(size, 16) else {
            return false;
        };
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                match body.line() {
                    Ok(Some(l)) if l.is_empty() => return true,
                    Ok(Some(_)) => {}
                    _ => return false,
                }
            }
        }
        if !body.take(size, hasher).unwrap_or(false) {
            return false;
        }
        if !matches!(body.line(), Ok(Some(l)) if l.is_empty()) {
            return false;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// Pseudo-random bytes for generated bodies (xorshift64*).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// At most `max` bytes of `r`'s body from offset `at`.
fn body_piece<'a>(r: &'a Response, noise: &'a [u8], at: u64, max: usize) -> &'a [u8] {
    let left = usize::try_from(r.body_len() - at).unwrap_or(usize::MAX);
    match r.generated {
        None => &r.body[at as usize..][..max.min(left)],
        Some(_) => {
            let from = (at % noise.len() as u64) as usize;
            &noise[from..][..max.min(left).min(noise.len() - from)]
        }
    }
}

fn send(conn: &mut dyn Conn, r: &Response, index: usize, shared: &Shared) {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (n, v) in &r.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    match r.length {
        Length::Exact => head.push_str(&format!("Content-Length: {}\r\n", r.body_len())),
        Length::Declared(n) => head.push_str(&format!("Content-Length: {n}\r\n")),
        Length::CloseDelimited => {}
    }
    head.push_str("Connection: close\r\n\r\n");
    let (piece, every) = r.head_pace.unwrap_or((head.len(), Duration::ZERO));
    for part in head.as_bytes().chunks(piece.max(1)) {
        if !write_all(conn, part, shared) || !pause(every, shared) {
            return;
        }
    }
    shared.record(index, |q| q.answered = r.status);
    let noise = match r.generated {
        Some(_) => noise(index as u64 ^ 0x9e37_79b9_7f4a_7c15, 64 * 1024),
        None => Vec::new(),
    };
    let (limit, then_stall) = match r.delivery {
        Delivery::CutAfter(n) => ((n as u64).min(r.body_len()), false),
        Delivery::StallAfter(n) => ((n as u64).min(r.body_len()), true),
        _ => (r.body_len(), false),
    };
    let (piece, every) = match r.delivery {
        Delivery::Slow { chunk, every } => (chunk.max(1), every),
        Delivery::Rate(_) => (16 * 1024, Duration::ZERO),
        _ => (256 * 1024, Duration::ZERO),
    };
    let started = Instant::now();
    let mut at = 0u64;
    while at < limit {
        let part = body_piece(r, &noise, at, piece.min((limit - at) as usize));
        if !write_all(conn, part, shared) {
            return;
        }
        at += part.len() as u64;
        shared.record(index, |q| q.sent = at);
        let pace = match r.delivery {
            Delivery::Rate(rate) => {
                Duration::from_secs_f64(at as f64 / rate as f64).saturating_sub(started.elapsed())
            }
            _ => every,
        };
        if !pause(pace, shared) {
            return;
        }
    }
    if then_stall {
        stall(shared);
    } else {
        conn.finish();
    }
}
