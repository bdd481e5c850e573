//! The TCP connections under the transfers' HTTP: ureq's protocol code
//! (and its TLS) over sockets this module opens, so that the engine can
//! ask the kernel about the socket an answer came on. An upload needs one
//! such answer: whether the store acknowledged every byte of the body
//! before its `2xx` arrived ([`SocketProbe::unacknowledged`]). Without it a
//! store that answers early and stops reading gets a `done` for a body the
//! kernel merely buffered.
//!
//! The rest is what ureq's own TCP transport does: connect within the
//! connect timeout (trying each resolved address), per-read and per-write
//! timeouts, and registering the socket so that `Agent::shutdown` (a
//! cancel, or the minimum-speed watchdog) interrupts blocked I/O.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, ShutdownHandle,
    Transport,
};
use ureq::{Error, Timeout};

/// Connects plain TCP sockets and keeps the latest one for its
/// [`SocketProbe`] — open until connector and probe are dropped (one
/// transfer attempt), even after ureq is done with it, so that the probe
/// can still ask about it when ureq has closed its side (`Connection:
/// close`). A connection a connector earlier in the chain made (a proxy's)
/// is passed on untouched, and then there is nothing to probe.
#[derive(Debug, Default)]
pub(crate) struct SocketConnector {
    latest: Arc<Mutex<Option<Arc<TcpStream>>>>,
}

/// Asks the kernel about the socket of the latest connection of one
/// [`SocketConnector`].
#[derive(Clone, Debug)]
pub(crate) struct SocketProbe {
    latest: Arc<Mutex<Option<Arc<TcpStream>>>>,
}

impl SocketConnector {
    /// The probe of this connector's connections.
    pub(crate) fn probe(&self) -> SocketProbe {
        SocketProbe {
            latest: self.latest.clone(),
        }
    }
}

impl SocketProbe {
    /// Bytes written to the latest connection that its peer has not
    /// acknowledged yet; `None` when that cannot be known (no connection,
    /// a proxy in between, not Linux).
    ///
    /// Read right after an answer came, this is exact: the segment that
    /// carried the answer acknowledged everything the peer had received,
    /// so anything still counted here never reached the peer before it
    /// answered.
    pub(crate) fn unacknowledged(&self) -> Option<u64> {
        let latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        super::sys::unacknowledged_bytes(latest.as_ref()?)
    }
}

impl<In: Transport> Connector<In> for SocketConnector {
    type Out = Either<In, Socket>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        if let Some(transport) = chained {
            return Ok(Some(Either::A(transport)));
        }
        let budget = details.timeout.not_zero().map(|t| *t);
        let stream = Arc::new(connect_any(&details.addrs, budget, details.timeout.reason)?);
        if details.config.no_delay() {
            stream.set_nodelay(true)?;
        }
        (details.register_shutdown)(Arc::downgrade(&stream) as Weak<dyn ShutdownHandle>)?;
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream.clone());
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(Socket {
            stream,
            buffers,
            read_timeout: None,
            write_timeout: None,
        })))
    }
}

/// Tries the resolved addresses in order, each with an equal share of what
/// is left of `budget` (at least 10 ms), until one connects.
fn connect_any(
    addrs: &[SocketAddr],
    budget: Option<Duration>,
    reason: Timeout,
) -> Result<TcpStream, Error> {
    let start = Instant::now();
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        let attempt = match budget {
            Some(total) => {
                let left = total.saturating_sub(start.elapsed());
                if left.is_zero() {
                    return Err(Error::Timeout(reason));
                }
                let share = left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
                TcpStream::connect_timeout(addr, share.max(Duration::from_millis(10)))
            }
            None => TcpStream::connect(addr),
        };
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) if is_timeout(&e) => Error::Timeout(Timeout::Connect),
        Some(e) => Error::Io(e),
        None => Error::Io(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the host name resolved to no address",
        )),
    })
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
    )
}

/// One TCP connection as a ureq transport.
#[derive(Debug)]
pub(crate) struct Socket {
    stream: Arc<TcpStream>,
    buffers: LazyBuffers,
    /// The socket timeouts last set, to set them only when they change.
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// The timeout for the next read or write, or the timeout error when the
/// time is up already.
fn next(timeout: NextTimeout) -> Result<Option<Duration>, Error> {
    if timeout.after.is_zero() {
        return Err(Error::Timeout(timeout.reason));
    }
    Ok(timeout.not_zero().map(|t| *t))
}

impl Transport for Socket {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        let timeout = timeout.for_write();
        let limit = next(timeout)?;
        if limit != self.write_timeout {
            self.stream.set_write_timeout(limit)?;
            self.write_timeout = limit;
        }
        let output = &self.buffers.output()[..amount];
        (&*self.stream).write_all(output).map_err(|e| {
            if is_timeout(&e) {
                Error::Timeout(timeout.reason)
            } else {
                Error::Io(e)
            }
        })
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        let timeout = timeout.for_read();
        let limit = next(timeout)?;
        if limit != self.read_timeout {
            self.stream.set_read_timeout(limit)?;
            self.read_timeout = limit;
        }
        let input = self.buffers.input_append_buf();
        let amount = loop {
            match (&*self.stream).read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) => return Err(Error::Timeout(timeout.reason)),
                Err(e) => return Err(Error::Io(e)),
                Ok(n) => break n,
            }
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        // Open means: nothing to read and not closed (a pooled connection
        // the server sent anything on, or closed, is not reused).
        let stream = &*self.stream;
        if stream.set_nonblocking(true).is_err() {
            return false;
        }
        let open =
            matches!(stream.peek(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock);
        stream.set_nonblocking(false).is_ok() && open
    }
}
