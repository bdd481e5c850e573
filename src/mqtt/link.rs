//! A client's built-in connection over its life: the settings it connects
//! with, the publishing half that outlives each connection, and the
//! connect / wait / disconnect / close rules, including the ones for calls
//! made from a callback on the connection's own thread. The C API
//! (`src/ffi/mqtt.rs`) only converts its options into [`Settings`] and
//! calls these.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use zeroize::Zeroizing;

use super::auth::{key_credentials, Credentials, KeyAuth, SignMethod};
use super::{check_tls, MqttConfig, MqttConnection, MqttPublisher};
use crate::client::{Client, ClientIo};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::Topics;

/// The settings of a built-in connection. The secret (needed for the fresh
/// credentials of every connect) and the password are zeroed when dropped.
pub struct Settings {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT over TLS.
    pub tls: bool,
    /// CA bundle for TLS; `None` for the bundled or system roots.
    pub ca_file: Option<PathBuf>,
    /// Device secret (base64) for the platform's key authentication;
    /// `None` to log in with `username` / `password`.
    pub secret: Option<Zeroizing<String>>,
    /// How key authentication signs.
    pub method: SignMethod,
    /// SDK app id in a key-authenticated username.
    pub sdk_app_id: String,
    /// Seconds a key-authenticated login stays valid.
    pub valid_for_s: u64,
    /// Fixed connection id in the username (tests); `None` for random.
    pub connid: Option<String>,
    /// Fixed expiry (Unix seconds) in the username; `None` for now + valid.
    pub expiry: Option<u64>,
    /// Plain username without a secret.
    pub username: String,
    /// Plain password without a secret.
    pub password: Zeroizing<String>,
    /// MQTT client id; `None` for product id + device name.
    pub client_id: Option<String>,
    /// MQTT keep-alive.
    pub keep_alive: Duration,
    /// Limit for one connection attempt.
    pub connect_timeout: Duration,
    /// First reconnect delay.
    pub reconnect_min: Duration,
    /// Longest reconnect delay.
    pub reconnect_max: Duration,
}

/// A client's built-in connection: settings, publisher and running state.
pub struct Link {
    settings: Settings,
    publisher: Arc<MqttPublisher>,
    connections: Mutex<Connections>,
}

/// The connection threads of a client. A thread is never joined while the
/// lock is held: it may be inside a callback that calls in here.
#[derive(Default)]
struct Connections {
    /// The connection that connects, is up or reconnects.
    current: Option<MqttConnection>,
    /// Connections told to stop from their own thread (a callback called
    /// disconnect), not yet joined: the next connect, disconnect or close
    /// joins them.
    stopping: Vec<MqttConnection>,
    /// Set by [`Link::close`]: nothing connects any more.
    closed: bool,
}

impl Connections {
    /// Takes out the stopping connections this thread can join (all but
    /// its own).
    fn take_joinable(&mut self) -> Vec<MqttConnection> {
        let (own, others) = std::mem::take(&mut self.stopping)
            .into_iter()
            .partition(MqttConnection::is_own_thread);
        self.stopping = own;
        others
    }

    fn check_can_connect(&mut self) -> Result<&mut Self> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the client is being freed",
            ));
        }
        if self.current.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "already connected (or connecting)",
            ));
        }
        // Two connections of one client never overlap: this thread's
        // connection ends only once the callback returns.
        if self.stopping.iter().any(MqttConnection::is_own_thread) {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "the connection is stopping (disconnected from its own callback); \
                 connect from another thread once the callback has returned",
            ));
        }
        Ok(self)
    }
}

impl Link {
    /// A link that has not connected yet, for the device of `topics`.
    /// Bad credentials or an unusable CA file fail here rather than on the
    /// connection thread.
    pub fn new(settings: Settings, topics: &Topics) -> Result<Link> {
        let link = Link {
            settings,
            publisher: Arc::default(),
            connections: Mutex::default(),
        };
        let config = link.config(topics)?;
        if config.tls {
            check_tls(&config)?;
        }
        Ok(link)
    }

    /// The publishing half, shared with the client's I/O.
    pub fn publisher(&self) -> &Arc<MqttPublisher> {
        &self.publisher
    }

    fn lock(&self) -> MutexGuard<'_, Connections> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection settings with credentials made now (a fresh connid
    /// and expiry for key authentication).
    fn config(&self, topics: &Topics) -> Result<MqttConfig> {
        let s = &self.settings;
        let (product_id, device_name) = (topics.product_id(), topics.device_name());
        let mut credentials = match &s.secret {
            Some(secret) => key_credentials(&KeyAuth {
                product_id,
                device_name,
                secret_base64: secret.as_str(),
                method: s.method,
                sdk_app_id: &s.sdk_app_id,
                connid: s.connid.as_deref(),
                expiry: s.expiry,
                valid_for_s: s.valid_for_s,
            })?,
            None => Credentials {
                client_id: format!("{product_id}{device_name}"),
                username: s.username.clone(),
                password: s.password.to_string(),
            },
        };
        if let Some(id) = &s.client_id {
            credentials.client_id = id.clone();
        }
        Ok(MqttConfig {
            host: s.host.clone(),
            port: s.port,
            tls: s.tls,
            ca_file: s.ca_file.clone(),
            credentials,
            keep_alive: s.keep_alive,
            connect_timeout: s.connect_timeout,
            reconnect_min: s.reconnect_min,
            reconnect_max: s.reconnect_max,
        })
    }

    /// Starts the connection thread for `client` and returns at once.
    /// Refused ([`ErrorKind::InvalidState`]) while connected or connecting,
    /// once closed, and from a callback on a connection that callback just
    /// stopped.
    pub fn connect<Io: ClientIo + 'static>(&self, client: &Arc<Client<Io>>) -> Result<()> {
        // Threads stopped from their own callbacks are joined first (never
        // under the lock), so that two connections never overlap.
        let joinable = self.lock().check_can_connect()?.take_joinable();
        drop(joinable);
        let mut running = self.lock();
        running.check_can_connect()?;
        let config = self.config(client.topics())?;
        running.current = Some(MqttConnection::start(
            client.clone(),
            self.publisher.clone(),
            &config,
        )?);
        Ok(())
    }

    /// Blocks until the connection is up and subscribed, or `timeout`
    /// passes ([`ErrorKind::Timeout`]); [`ErrorKind::InvalidState`] when
    /// not connecting.
    pub fn wait_connected(&self, timeout: Duration) -> Result<()> {
        if self.lock().current.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidState,
                "not connecting: call resmgr_client_connect first",
            ));
        }
        self.publisher.wait_connected(timeout)
    }

    /// Stops the connection: waits up to `timeout` for QoS 1 messages to be
    /// acknowledged, disconnects, joins the thread. From a callback on the
    /// connection's own thread it only tells the thread to stop (it cannot
    /// wait for acks, which that thread receives, nor join itself); the
    /// next connect, disconnect or close joins it.
    /// [`ErrorKind::InvalidState`] when there was nothing to stop or join.
    pub fn disconnect(&self, timeout: Duration) -> Result<()> {
        let (current, joinable) = {
            let mut running = self.lock();
            (running.current.take(), running.take_joinable())
        };
        let stopped_any = current.is_some() || !joinable.is_empty();
        match current {
            Some(connection) if connection.is_own_thread() => {
                connection.request_stop();
                self.lock().stopping.push(connection);
            }
            Some(connection) => connection.stop(timeout),
            None => {}
        }
        drop(joinable);
        if !stopped_any {
            return Err(Error::new(ErrorKind::InvalidState, "not connected"));
        }
        Ok(())
    }

    /// Stops every connection thread for good and joins it (as the client
    /// is freed): afterwards no callback runs.
    pub fn close(&self) {
        let (current, stopping) = {
            let mut running = self.lock();
            running.closed = true;
            (
                running.current.take(),
                std::mem::take(&mut running.stopping),
            )
        };
        // Dropping stops and joins (a thread cannot join itself: a close
        // from a callback, which the C API forbids, leaves that one to end).
        drop(current);
        drop(stopping);
    }
}
