//! The built-in MQTT connection (feature `mqtt`): for gateways that have no
//! MQTT client of their own.
//!
//! A background thread owns the connection. It subscribes to the device's
//! down topic at QoS 1 on every ConnAck (a clean session forgets the
//! subscription on each reconnect), feeds every message to the client, and
//! reconnects with backoff after any drop. Publishing only queues the
//! message for that thread, so no application call blocks on the network.

pub mod auth;
pub mod link;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{
    Event as MqttEvent, Outgoing, Packet, QoS, Request, Subscribe, TlsConfiguration, Transport,
};

use crate::backoff::{delay, Jitter};
use crate::client::{Client, ClientIo, Event};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::Qos;

pub use auth::{key_credentials, Credentials, KeyAuth, SignMethod};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT over TLS (certificate and host name verified).
    pub tls: bool,
    /// PEM CA bundle for TLS; `None`: the built-in Mozilla roots (feature
    /// `bundled-roots`, on by default), else the system's CA bundle.
    pub ca_file: Option<PathBuf>,
    /// Client id, username and password.
    pub credentials: Credentials,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// Limit for one connection attempt (TCP, TLS, CONNECT/CONNACK).
    pub connect_timeout: Duration,
    /// First delay before reconnecting; doubles after each failed or
    /// short-lived connection up to `reconnect_max`, and starts again from
    /// here once a connection has stayed up for 10 s (or `reconnect_max`,
    /// if longer).
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts.
    pub reconnect_max: Duration,
}

/// Largest message accepted from the broker. Larger than the protocol's
/// payload limit, so that an oversized message is refused by the client
/// with an event instead of breaking the connection.
const MAX_INCOMING: usize = 256 * 1024;
/// Largest message sent.
const MAX_OUTGOING: usize = 64 * 1024;
/// Messages queued for the connection thread before publishing fails.
const QUEUE: usize = 256;
/// How often the connection thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(200);
/// A connection counts as stable, and the reconnect backoff starts again
/// from `reconnect_min`, once it has stayed up this long (or
/// `reconnect_max`, if longer). A broker that drops the device right after
/// letting it in (a duplicate client id being kicked) thus sees the delays
/// grow to `reconnect_max`, never a reconnection storm.
const STABLE_AFTER: Duration = Duration::from_secs(10);

/// The publishing half of a connection: usable from any thread, before and
/// after the connection is up (messages wait in the queue).
#[derive(Default)]
pub struct MqttPublisher {
    client: Mutex<Option<rumqttc::Client>>,
    /// QoS 1 messages queued or sent and not yet acknowledged.
    unacked: AtomicUsize,
    /// Up (connected and subscribed) or not, as the application was last
    /// told by an event; for [`wait_connected`](Self::wait_connected).
    up: Mutex<bool>,
    up_changed: Condvar,
}

impl MqttPublisher {
    /// Queues a message for the connection thread.
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: Qos,
    ) -> std::result::Result<(), String> {
        let guard = self.client.lock().unwrap_or_else(|e| e.into_inner());
        let Some(client) = guard.as_ref() else {
            return Err("the MQTT connection is not started (connect first)".into());
        };
        let qos = match qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
        };
        // Counted before it is queued: the connection thread may send it and
        // take its PUBACK before `try_publish` returns here, and a count
        // made after that would never come back to 0 (a `stop` then waited
        // its whole timeout: resmgr-device exited 5 s late now and then).
        let counted = qos == QoS::AtLeastOnce;
        if counted {
            self.unacked.fetch_add(1, Ordering::SeqCst);
        }
        if let Err(e) = client.try_publish(topic, qos, false, payload.to_vec()) {
            if counted {
                let _ = self
                    .unacked
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            }
            return Err(format!("the MQTT queue refused the message: {e}"));
        }
        Ok(())
    }

    /// QoS 1 messages not yet acknowledged by the broker.
    pub fn unacked(&self) -> usize {
        self.unacked.load(Ordering::SeqCst)
    }

    /// Blocks until the connection is up and subscribed (the application
    /// has had [`Event::Connected`]), or `timeout` passes
    /// ([`ErrorKind::Timeout`]). Never call it on the connection's own
    /// thread (from a client callback): that thread makes the connection.
    pub fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let up = self.up.lock().unwrap_or_else(|e| e.into_inner());
        let (up, _) = self
            .up_changed
            .wait_timeout_while(up, timeout, |up| !*up)
            .unwrap_or_else(|e| e.into_inner());
        if *up {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Timeout,
            format!(
                "not connected to the broker within {} ms",
                timeout.as_millis()
            ),
        ))
    }

    fn set_up(&self, up: bool) {
        *self.up.lock().unwrap_or_else(|e| e.into_inner()) = up;
        self.up_changed.notify_all();
    }
}

/// A running connection; stopping it (or dropping it) ends the thread.
pub struct MqttConnection {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    publisher: Arc<MqttPublisher>,
}

fn tls_transport(config: &MqttConfig) -> Result<Transport> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let tls_error = |msg: String| Error::new(ErrorKind::Tls, msg);
    let mut roots = rustls::RootCertStore::empty();
    match crate::tls::ca_file(config.ca_file.as_deref()) {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(&path)
                .map_err(|e| tls_error(format!("cannot read CA file '{}': {e}", path.display())))?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    tls_error(format!(
                        "CA file '{}' is not valid PEM: {e}",
                        path.display()
                    ))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| tls_error(format!("CA file '{}': {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(tls_error(format!(
                    "CA file '{}' holds no certificate",
                    path.display()
                )));
            }
        }
        #[cfg(feature = "bundled-roots")]
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        #[cfg(not(feature = "bundled-roots"))]
        None => {
            return Err(tls_error(
                "no CA file given and no system CA bundle found \
                 (or build with the bundled-roots feature)"
                    .into(),
            ))
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls),
    )))
}

/// Checks that the TLS settings can be loaded (CA file readable, PEM).
pub fn check_tls(config: &MqttConfig) -> Result<()> {
    tls_transport(config).map(|_| ())
}

impl MqttConnection {
    /// Starts the connection thread for `client`, whose I/O publishes
    /// through `publisher`. The client's I/O hears of every connect and
    /// disconnect as [`Event::Connected`] / [`Event::Disconnected`].
    pub fn start<Io: ClientIo + 'static>(
        client: Arc<Client<Io>>,
        publisher: Arc<MqttPublisher>,
        config: &MqttConfig,
    ) -> Result<MqttConnection> {
        if config.host.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArgument, "MQTT host is empty"));
        }
        let creds = &config.credentials;
        let mut options =
            rumqttc::MqttOptions::new(creds.client_id.clone(), config.host.clone(), config.port);
        options
            .set_keep_alive(config.keep_alive.max(Duration::from_secs(5)))
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING, MAX_OUTGOING)
            .set_request_channel_capacity(QUEUE);
        if !creds.username.is_empty() || !creds.password.is_empty() {
            options.set_credentials(creds.username.clone(), creds.password.clone());
        }
        if config.tls {
            options.set_transport(tls_transport(config)?);
        }
        let (mqtt, mut connection) = rumqttc::Client::new(options, QUEUE);
        let mut network = connection.eventloop.network_options();
        network.set_connection_timeout(config.connect_timeout.as_secs().max(1));
        connection.eventloop.set_network_options(network);
        *publisher.client.lock().unwrap_or_else(|e| e.into_inner()) = Some(mqtt);

        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            client,
            publisher: publisher.clone(),
            stop: stop.clone(),
            down: String::new(),
            reconnect_min: config.reconnect_min,
            reconnect_max: config.reconnect_max,
        };
        let thread = std::thread::Builder::new()
            .name("resmgr-mqtt".into())
            .spawn(move || worker.run(connection))
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start the MQTT thread: {e}")))?;
        Ok(MqttConnection {
            stop,
            thread: Some(thread),
            publisher,
        })
    }

    /// Waits up to `timeout` for QoS 1 messages to be acknowledged, then
    /// disconnects and joins the thread.
    ///
    /// On the connection's own thread (inside a client callback) it can
    /// neither wait for acknowledgements (this thread receives them) nor
    /// join itself: it only tells the thread to stop, which it does once
    /// the callback returns.
    pub fn stop(self, timeout: Duration) {
        if !self.is_own_thread() {
            let deadline = Instant::now() + timeout;
            while self.publisher.unacked() > 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        drop(self);
    }

    /// True when called on the connection's own thread, i.e. from inside
    /// one of the client's callbacks that the connection runs.
    pub fn is_own_thread(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id())
    }

    /// Tells the connection to stop and returns at once: a DISCONNECT is
    /// queued behind the messages already queued, and the thread ends soon
    /// after (at most about a second later, or once the callback that
    /// called this returns). Dropping the connection then waits for it.
    pub fn request_stop(&self) {
        // Only the first request takes the publishing half: a later one
        // (from drop) must not take a newer connection's.
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(mqtt) = self
            .publisher
            .client
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = mqtt.try_disconnect();
        }
    }
}

/// Stops the thread and joins it, except on the thread itself (a callback
/// dropping its own connection): that thread cannot join itself, so it is
/// left to end on its own, which it does once the callback returns.
impl Drop for MqttConnection {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

struct Worker<Io: ClientIo> {
    client: Arc<Client<Io>>,
    publisher: Arc<MqttPublisher>,
    stop: Arc<AtomicBool>,
    down: String,
    // Only the delays: the thread keeps no copy of the credentials.
    reconnect_min: Duration,
    reconnect_max: Duration,
}

impl<Io: ClientIo> Worker<Io> {
    /// Tells the application of a connect or disconnect, then whoever
    /// waits for the connection: a waiter that wakes finds the
    /// application already told.
    fn tell(&self, event: &Event<'_>) {
        self.client.io().event(event);
        self.publisher.set_up(matches!(event, Event::Connected));
    }

    fn run(mut self, mut connection: rumqttc::Connection) {
        self.down = self.client.topics().down().to_owned();
        let mut connected = false;
        // Failed or short-lived connections in a row: the backoff step.
        let mut failures = 0u32;
        let mut up_since: Option<Instant> = None;
        let stable_after = self.reconnect_max.max(STABLE_AFTER);
        let mut jitter = Jitter::new();
        let mut stopping_since: Option<Instant> = None;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                // Give the DISCONNECT a moment to go out, no more.
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if !connected || since.elapsed() > Duration::from_secs(1) {
                    break;
                }
            }
            let event = match connection.recv_timeout(POLL) {
                Ok(event) => event,
                Err(rumqttc::RecvTimeoutError::Timeout) => continue,
                Err(rumqttc::RecvTimeoutError::Disconnected) => break,
            };
            match event {
                Ok(MqttEvent::Incoming(Packet::ConnAck(ack))) => {
                    if ack.code == rumqttc::ConnectReturnCode::Success {
                        // Resubscribe on every ConnAck; queued ahead of the
                        // request channel so a full queue cannot block it.
                        connection
                            .eventloop
                            .pending
                            .push_back(Request::Subscribe(Subscribe::new(
                                self.down.clone(),
                                QoS::AtLeastOnce,
                            )));
                        connected = true;
                        up_since = Some(Instant::now());
                    }
                }
                // Only once the subscription stands can the platform's
                // answers arrive: that is "connected" for the application.
                Ok(MqttEvent::Incoming(Packet::SubAck(ack))) => {
                    let granted = ack
                        .return_codes
                        .iter()
                        .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)));
                    if granted {
                        self.tell(&Event::Connected);
                    } else {
                        let reason =
                            format!("the broker refused the subscription to {}", self.down);
                        self.tell(&Event::Disconnected {
                            reason: &reason,
                            kind: ErrorKind::NotAuthorized,
                        });
                    }
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    // Refusals surface as events; nothing to do here.
                    let _ = self
                        .client
                        .handle_down_message(p.topic.as_bytes(), &p.payload);
                }
                Ok(MqttEvent::Incoming(Packet::PubAck(_))) => {
                    let _ = self.publisher.unacked.fetch_update(
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                        |n| n.checked_sub(1),
                    );
                }
                Ok(MqttEvent::Outgoing(Outgoing::Disconnect))
                    if self.stop.load(Ordering::SeqCst) =>
                {
                    break
                }
                Ok(_) => {}
                Err(e) => {
                    if self.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let reason = e.to_string();
                    // Only a connection that stayed up a while starts the
                    // backoff afresh; the ConnAck alone proves nothing.
                    if up_since.take().is_some_and(|t| t.elapsed() >= stable_after) {
                        failures = 0;
                    }
                    if connected || failures == 0 {
                        self.tell(&Event::Disconnected {
                            reason: &reason,
                            kind: failure_kind(&e),
                        });
                    }
                    connected = false;
                    // rumqttc reconnects on the next poll; without a pause it
                    // would spin on a broker that is down.
                    let wait = delay(
                        failures,
                        self.reconnect_min,
                        self.reconnect_max,
                        jitter.next_u64(),
                    );
                    failures = failures.saturating_add(1);
                    let until = Instant::now() + wait;
                    while Instant::now() < until && !self.stop.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
                    }
                }
            }
        }
        if connected {
            self.tell(&Event::Disconnected {
                reason: "disconnected by the application",
                kind: ErrorKind::Network,
            });
        }
    }
}

/// Whether retrying a failed connection can help.
fn failure_kind(e: &rumqttc::ConnectionError) -> ErrorKind {
    use rumqttc::{ConnectReturnCode as Code, ConnectionError as E};
    match e {
        E::ConnectionRefused(
            Code::BadUserNamePassword | Code::NotAuthorized | Code::BadClientId,
        ) => ErrorKind::NotAuthorized,
        E::Tls(_) => ErrorKind::Tls,
        E::Io(io) if crate::tls::is_tls_failure(io) => ErrorKind::Tls,
        _ => ErrorKind::Network,
    }
}
