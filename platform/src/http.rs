//! A deliberately small HTTP/1.1 server: one thread per connection, one
//! request per connection (`Connection: close`), bounded request heads, read
//! timeouts, and a shutdown that closes every open socket and joins every
//! thread. Enough for an object store and an admin endpoint on loopback.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Largest request head accepted; presigned URLs are long but not this long.
const MAX_HEAD: usize = 32 * 1024;
const MAX_HEADERS: usize = 100;
/// Concurrent connections served at once; more are answered 503.
const MAX_CONNECTIONS: usize = 256;
/// Idle time after which a silent client is dropped, so a stalled upload
/// cannot pin a thread forever.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A parsed request head. The body is still unread on the connection.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method as sent, e.g. `PUT`.
    pub method: String,
    /// Path part of the request target, still percent-encoded.
    pub path: String,
    /// Query string without the `?` (empty when there was none).
    pub query: String,
    /// Header fields in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// How many headers are named `name` (case-insensitive).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }

    /// Query parameters, values percent-decoded (`+` is taken literally).
    pub fn query_params(&self) -> HashMap<String, String> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter_map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                Some((
                    crate::util::percent_decode(k)?,
                    crate::util::percent_decode(v)?,
                ))
            })
            .collect()
    }
}

/// Why a request head could not be read.
#[derive(Debug)]
pub enum HeadError {
    /// The peer closed before sending anything: not an error worth a reply.
    Closed,
    /// The head is not HTTP/1.x or exceeds the limits; answer 400.
    Malformed(&'static str),
    /// A socket error or timeout; nothing can be answered.
    Io(io::Error),
}

/// Reads one request head (request line and headers) from `r`.
pub fn read_head<R: BufRead>(r: &mut R) -> Result<Request, HeadError> {
    let mut used = 0usize;
    let mut line = Vec::new();
    let mut read_line = |r: &mut R, line: &mut Vec<u8>| -> Result<usize, HeadError> {
        line.clear();
        let budget = (MAX_HEAD - used) as u64;
        let n = r
            .by_ref()
            .take(budget)
            .read_until(b'\n', line)
            .map_err(HeadError::Io)?;
        used += n;
        if n > 0 && !line.ends_with(b"\n") {
            return Err(if used >= MAX_HEAD {
                HeadError::Malformed("request head too large")
            } else {
                HeadError::Io(io::ErrorKind::UnexpectedEof.into())
            });
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(n)
    };

    // RFC 9112 asks servers to ignore empty lines before the request line.
    loop {
        let n = read_line(r, &mut line)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        if !line.is_empty() {
            break;
        }
    }
    let request_line =
        String::from_utf8(line.clone()).map_err(|_| HeadError::Malformed("request line"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("request line"));
    };
    if !version.starts_with("HTTP/1.") || method.is_empty() || !target.starts_with('/') {
        return Err(HeadError::Malformed("request line"));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));

    let mut headers = Vec::new();
    loop {
        let n = read_line(r, &mut line)?;
        if n == 0 {
            return Err(HeadError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        if line.is_empty() {
            break;
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HeadError::Malformed("too many headers"));
        }
        let text = String::from_utf8(line.clone()).map_err(|_| HeadError::Malformed("header"))?;
        let (name, value) = text.split_once(':').ok_or(HeadError::Malformed("header"))?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err(HeadError::Malformed("header name"));
        }
        headers.push((name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
    })
}

/// Standard reason phrase for the statuses this crate sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes a status line and headers (plus `Connection: close`) and the blank
/// line; the caller writes exactly `Content-Length` body bytes afterwards.
pub fn write_head<W: Write>(w: &mut W, status: u16, headers: &[(&str, String)]) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    w.write_all(head.as_bytes())
}

/// Writes a complete response with an in-memory body.
pub fn write_response<W: Write>(
    w: &mut W,
    status: u16,
    content_type: &str,
    extra: &[(&str, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut headers: Vec<(&str, String)> = vec![
        ("Content-Type", content_type.to_string()),
        ("Content-Length", body.len().to_string()),
    ];
    headers.extend(extra.iter().cloned());
    write_head(w, status, &headers)?;
    w.write_all(body)?;
    w.flush()
}

/// Reads and discards up to `len` body bytes, for at most `limit`, so that a
/// client still sending a body it was refused reads our answer instead of a
/// connection reset.
pub fn drain<R: Read>(r: &mut R, len: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut left = len;
    let mut buf = [0u8; 16 * 1024];
    while left > 0 && Instant::now() < deadline {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match r.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return,
            Ok(n) => left -= n as u64,
        }
    }
}

/// Serves one request on an accepted connection. `reader` buffers the
/// socket (the head has been read from it; the body follows), `writer` is
/// the same socket for the answer.
pub trait Handler: Send + Sync + 'static {
    /// Answers `req`. The connection is closed when this returns.
    fn handle(&self, req: Request, reader: &mut BufReader<TcpStream>, writer: &mut TcpStream);
}

struct Shared {
    stop: AtomicBool,
    next_id: AtomicU64,
    /// Clones of open connections, so shutdown can unblock their threads.
    open: Mutex<HashMap<u64, TcpStream>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` with `handler` on a background thread.
    pub fn start(listener: TcpListener, handler: Arc<dyn Handler>) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            threads: Mutex::new(Vec::new()),
        });
        let sh = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("http-accept-{}", addr.port()))
            .spawn(move || accept_loop(listener, sh, handler))?;
        Ok(Server {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes open connections, joins every thread.
    pub fn shutdown(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::SeqCst);
        // accept() has no timeout: a connection of our own wakes it.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        let _ = accept.join();
        for s in lock(&self.shared.open).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        let threads = std::mem::take(&mut *lock(&self.shared.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking connection thread must not take the whole server down.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, handler: Arc<dyn Handler>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                eprintln!("resmgr-platform: accept failed: {e}");
                // EMFILE and friends persist; do not spin on them.
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if lock(&shared.open).len() >= MAX_CONNECTIONS {
            // One thread per connection needs a ceiling; a busy answer is
            // better than exhausting threads or file descriptors.
            let mut s = stream;
            let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = write_response(
                &mut s,
                503,
                "text/plain",
                &[("Retry-After", "1".into())],
                b"busy\n",
            );
            continue;
        }
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        match stream.try_clone() {
            Ok(clone) => {
                lock(&shared.open).insert(id, clone);
            }
            Err(e) => {
                eprintln!("resmgr-platform: cannot track connection: {e}");
                continue;
            }
        }
        let sh = Arc::clone(&shared);
        let h = Arc::clone(&handler);
        let spawned = thread::Builder::new()
            .name("http-conn".into())
            .spawn(move || {
                serve_connection(stream, &*h);
                lock(&sh.open).remove(&id);
            });
        let mut threads = lock(&shared.threads);
        threads.retain(|t| !t.is_finished());
        match spawned {
            Ok(t) => threads.push(t),
            Err(e) => {
                eprintln!("resmgr-platform: cannot spawn a connection thread: {e}");
                lock(&shared.open).remove(&id);
            }
        }
    }
}

fn serve_connection(stream: TcpStream, handler: &dyn Handler) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    match read_head(&mut reader) {
        Ok(req) => handler.handle(req, &mut reader, &mut writer),
        Err(HeadError::Malformed(what)) => {
            let body = format!("malformed request: {what}\n");
            let _ = write_response(&mut writer, 400, "text/plain", &[], body.as_bytes());
        }
        Err(HeadError::Closed) | Err(HeadError::Io(_)) => {}
    }
    let _ = writer.flush();
    let _ = writer.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_head() {
        let raw = b"\r\nPUT /a/b%20c?expires=1&signature=ab HTTP/1.1\r\nHost: x\r\nContent-Length:  5 \r\n\r\nhello";
        let mut r = io::BufReader::new(&raw[..]);
        let req = read_head(&mut r).unwrap();
        assert_eq!(req.method, "PUT");
        assert_eq!(req.path, "/a/b%20c");
        assert_eq!(req.header("content-length"), Some("5"));
        assert_eq!(req.query_params()["signature"], "ab");
        let mut body = String::new();
        r.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello");
    }

    #[test]
    fn rejects_garbage() {
        for raw in [
            &b"GET\r\n\r\n"[..],
            b"GET / SPDY/3\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad\r\n\r\n",
        ] {
            let mut r = io::BufReader::new(raw);
            assert!(matches!(read_head(&mut r), Err(HeadError::Malformed(_))));
        }
        let mut r = io::BufReader::new(&b""[..]);
        assert!(matches!(read_head(&mut r), Err(HeadError::Closed)));
    }
}
