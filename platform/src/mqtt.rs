//! The MQTT side: one thread drives the rumqttc connection (resubscribing on
//! every ConnAck, pausing after errors), another runs the protocol peer so
//! that hashing a large upload never stalls keep-alives.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, Connection, Event, MqttOptions, Outgoing, Packet, QoS, Request, Subscribe,
    SubscribeReasonCode,
};

use crate::peer::{Down, Peer, UP_FILTER};

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// Username and password, when the broker wants them.
    pub credentials: Option<(String, String)>,
}

/// Publishes a down message at QoS 1. Never blocks: when the request queue is
/// full (a long broker outage) the message is dropped with a log line, and
/// the device can still ask again (`get_download_task`).
pub fn publish(client: &Client, down: &Down) {
    let payload = down.payload.to_string();
    if let Err(e) = client.try_publish(down.topic.as_str(), QoS::AtLeastOnce, false, payload) {
        eprintln!("resmgr-platform: cannot publish on {}: {e}", down.topic);
    }
}

/// A running MQTT link.
pub struct Link {
    client: Client,
    stop: Arc<AtomicBool>,
    conn: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
    last_error: Arc<Mutex<Option<String>>>,
}

impl Link {
    /// Connects in the background. The receiver yields `()` on every
    /// successful subscription (the first one means "ready").
    pub fn start(cfg: &MqttConfig, peer: Arc<Peer>) -> std::io::Result<(Link, Receiver<()>)> {
        let mut opts = MqttOptions::new(
            format!("resmgr-platform-{}", std::process::id()),
            cfg.host.clone(),
            cfg.port,
        );
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        // Down messages carry long URLs and up messages long names; the
        // default 10 KiB limit is too tight for comfort.
        opts.set_max_packet_size(1 << 20, 1 << 20);
        if let Some((u, p)) = &cfg.credentials {
            opts.set_credentials(u.clone(), p.clone());
        }
        let (client, mut connection) = Client::new(opts, 1024);
        connection
            .eventloop
            .network_options
            .set_connection_timeout(5);

        let stop = Arc::new(AtomicBool::new(false));
        let last_error = Arc::new(Mutex::new(None));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (up_tx, up_rx) = mpsc::channel::<(String, Vec<u8>)>();

        let conn = {
            let stop = Arc::clone(&stop);
            let last_error = Arc::clone(&last_error);
            let target = format!("{}:{}", cfg.host, cfg.port);
            thread::Builder::new()
                .name("mqtt-conn".into())
                .spawn(move || drive(connection, &target, &stop, &last_error, &ready_tx, &up_tx))?
        };
        let worker = {
            let client = client.clone();
            thread::Builder::new()
                .name("mqtt-worker".into())
                .spawn(move || {
                    for (topic, payload) in up_rx {
                        for down in peer.handle_up(&topic, &payload) {
                            publish(&client, &down);
                        }
                    }
                })?
        };
        Ok((
            Link {
                client,
                stop,
                conn: Some(conn),
                worker: Some(worker),
                last_error,
            },
            ready_rx,
        ))
    }

    /// A handle for publishing from other threads.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// The most recent connection error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Disconnects and joins both threads.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the connection thread if it is waiting for the network.
        let _ = self.client.try_disconnect();
        if let Some(t) = self.conn.take() {
            let _ = t.join();
        }
        // The connection thread dropped the up channel: the worker finishes
        // what is queued and ends.
        if let Some(t) = self.worker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop();
    }
}

fn drive(
    mut connection: Connection,
    target: &str,
    stop: &AtomicBool,
    last_error: &Mutex<Option<String>>,
    ready: &Sender<()>,
    up: &Sender<(String, Vec<u8>)>,
) {
    let mut stop_deadline: Option<Instant> = None;
    let mut logged_error: Option<String> = None;
    loop {
        if stop.load(Ordering::SeqCst) {
            // Give the DISCONNECT a moment to go out, but never wait long.
            let deadline =
                *stop_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(1));
            if Instant::now() >= deadline {
                break;
            }
        }
        // A blocking poll, never a timed one: cancelling rumqttc's poll
        // midway through a connect or a write loses that work. `stop()`
        // wakes it with a DISCONNECT; keep-alives bound it otherwise.
        let Ok(event) = connection.recv() else {
            break;
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                eprintln!("resmgr-platform: connected to the MQTT broker at {target}");
                logged_error = None;
                // A clean session forgets subscriptions: subscribe on every
                // ConnAck, straight into the event loop's queue so a full
                // request channel cannot lose it.
                connection
                    .eventloop
                    .pending
                    .push_back(Request::Subscribe(Subscribe::new(
                        UP_FILTER,
                        QoS::AtLeastOnce,
                    )));
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                if ack
                    .return_codes
                    .iter()
                    .all(|c| !matches!(c, SubscribeReasonCode::Failure))
                {
                    let _ = ready.send(());
                } else {
                    eprintln!(
                        "resmgr-platform: the broker refused the subscription to {UP_FILTER}"
                    );
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if up.send((p.topic.clone(), p.payload.to_vec())).is_err() {
                    break;
                }
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) if stop.load(Ordering::SeqCst) => break,
            Ok(_) => {}
            Err(e) => {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let text = e.to_string();
                if logged_error.as_deref() != Some(text.as_str()) {
                    eprintln!("resmgr-platform: MQTT connection to {target}: {text} (retrying)");
                    logged_error = Some(text.clone());
                }
                *last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(text);
                // rumqttc reconnects on the next poll; without a pause a
                // refused connection would spin.
                for _ in 0..10 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}
