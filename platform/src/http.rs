//! The HTTP(S) servers of the object store and the admin endpoint, on
//! hyper: HTTP/1.1, one request per connection (`Connection: close`, which
//! the incumbent SDK's client expects), TLS through rustls when given a
//! server configuration, a bounded number of connections, read timeouts,
//! and a shutdown that closes every open socket.
//!
//! Each server runs on a small tokio runtime of its own; handlers are
//! async functions from a request to a response.

use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Concurrent connections served at once; more are answered 503.
const MAX_CONNECTIONS: usize = 256;
/// How long a client may take to send its request head, or the next piece
/// of a body, or a TLS handshake, before it is dropped.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// A response body: in memory or streamed from a file.
pub type Body = BoxBody<Bytes, io::Error>;
/// A request as handlers get it (the body still unread).
pub type Request = hyper::Request<Incoming>;
/// What a handler's future resolves to.
pub type Reply = Pin<Box<dyn Future<Output = Response<Body>> + Send>>;

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers `req`. `conn` is where the handler may leave a line to log
    /// once the connection has ended (when it is known whether the client
    /// took the whole answer).
    fn handle(self: Arc<Self>, req: Request, conn: ConnLog) -> Reply;
}

/// A line logged when the connection ends, completed with whether the
/// answer reached the network in full.
#[derive(Clone, Default)]
pub struct ConnLog(Arc<Mutex<Option<Transfer>>>);

/// A streamed answer whose fate is logged when its connection ends.
pub struct Transfer {
    /// What was asked, e.g. `GET /uploads/P/d/x -> 206 bytes 0-9/10`.
    pub what: String,
    /// Body bytes the answer promised.
    pub total: u64,
    /// Body bytes handed to the connection so far.
    pub sent: Arc<std::sync::atomic::AtomicU64>,
}

impl ConnLog {
    /// Registers the streamed answer of this connection.
    pub fn transfer(&self, t: Transfer) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }

    fn has_transfer(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Logs the transfer's fate. `outcome` is how the connection ended:
    /// `Ok` when the client closed it cleanly after the answer, so every
    /// byte sent reached it.
    fn finish(&self, outcome: Result<(), String>) {
        let Some(t) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return;
        };
        let sent = t.sent.load(std::sync::atomic::Ordering::SeqCst);
        match outcome {
            Ok(()) if sent == t.total => {
                eprintln!("resmgr-platform: store: {} ({sent} bytes sent)", t.what)
            }
            Ok(()) => eprintln!(
                "resmgr-platform: store: {}: cut after {sent} of {} bytes",
                t.what, t.total
            ),
            Err(e) => eprintln!(
                "resmgr-platform: store: {}: the client cut the transfer: at most {sent} of {} bytes reached it ({e})",
                t.what, t.total
            ),
        }
    }
}

/// A complete response with an in-memory body.
pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let body: Bytes = body.into();
    let mut r = Response::new(
        Full::new(body.clone())
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(CONTENT_TYPE, v);
    }
    r.headers_mut().insert(CONTENT_LENGTH, body.len().into());
    r
}

/// Adds a header to a response (values that are not valid header text are
/// left out).
pub fn with_header(mut r: Response<Body>, name: &'static str, value: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().append(name, v);
    }
    r
}

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Serves `listener` with `handler` (over TLS when `tls` is given) on a
    /// runtime of its own.
    pub fn start(
        listener: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: Arc<dyn Handler>,
    ) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("http-{}", addr.port()))
            .enable_all()
            .build()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        runtime.spawn(accept_loop(listener, acceptor, handler));
        Ok(Server {
            addr,
            runtime: Some(runtime),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and closes every open connection (their tasks are
    /// dropped with the runtime).
    pub fn shutdown(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<dyn Handler>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (mut stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("resmgr-platform: accept failed: {e}");
                // EMFILE and friends persist; do not spin on them.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // A ceiling on connections: a busy answer beats exhausting
            // file descriptors.
            tokio::spawn(async move {
                let busy = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nbusy\n";
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(busy)).await;
            });
            continue;
        };
        let handler = Arc::clone(&handler);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, handler).await,
                Some(acceptor) => {
                    match tokio::time::timeout(IO_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => serve_connection(s, handler).await,
                        Ok(Err(e)) => eprintln!("resmgr-platform: TLS handshake failed: {e}"),
                        Err(_) => eprintln!("resmgr-platform: TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
}

async fn serve_connection<S>(stream: S, handler: Arc<dyn Handler>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let log = ConnLog::default();
    let service = {
        let log = log.clone();
        service_fn(move |req| {
            let reply = Arc::clone(&handler).handle(req, log.clone());
            async move { Ok::<_, std::convert::Infallible>(reply.await) }
        })
    };
    let outcome = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(IO_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .without_shutdown()
        .await;
    let mut io = match outcome {
        Ok(parts) => parts.io.into_inner(),
        Err(e) => return log.finish(Err(e.to_string())),
    };
    let _ = io.shutdown().await;
    if !log.has_transfer() {
        return;
    }
    // Every byte was handed to the network, which does not mean the client
    // took them: a client that closes with data still unread resets the
    // connection, one that read everything closes it cleanly. Wait for
    // which (bounded).
    let closed = tokio::time::timeout(IO_TIMEOUT, async {
        let mut buf = [0u8; 4096];
        loop {
            match io.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                // A TLS client that closes without close_notify took the
                // whole answer all the same (it ended before the close).
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err("it kept the connection open without a word".into()));
    log.finish(closed);
}

/// Reads a whole (small) request body, at most `limit` bytes.
pub async fn read_small_body(body: Incoming, limit: usize) -> Result<Bytes, String> {
    match tokio::time::timeout(
        IO_TIMEOUT,
        http_body_util::Limited::new(body, limit).collect(),
    )
    .await
    {
        Ok(Ok(b)) => Ok(b.to_bytes()),
        Ok(Err(e)) => Err(format!("cannot read the request body: {e}")),
        Err(_) => Err("the request body did not arrive in time".into()),
    }
}
