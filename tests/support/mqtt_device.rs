//! The device side of the tests against a real broker: a client PROD1/dev1
//! on the built-in MQTT connection, whose events a test reads from a
//! channel. Included by the MQTT tests with
//! `#[path = "support/mqtt_device.rs"] mod mqtt_device;` (or through
//! `support`), so that tests/mqtt.rs needs no HTTP support.
#![allow(dead_code)]

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use resmgr::mqtt::{Credentials, MqttConfig, MqttConnection, MqttPublisher};
use resmgr::protocol::Qos;
use resmgr::{Client, ClientIo, Event};

/// Publishes through the connection's publisher; sends what `seen` makes
/// of each event (if anything) to the test.
pub struct ChannelIo<T> {
    /// The connection's publisher (its unacknowledged count, for one).
    pub publisher: Arc<MqttPublisher>,
    events: Mutex<Sender<T>>,
    seen: fn(&Event<'_>) -> Option<T>,
}

impl<T: Send> ClientIo for ChannelIo<T> {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), String> {
        self.publisher.publish(topic, payload, qos)
    }

    fn event(&self, event: &Event<'_>) {
        if let Some(seen) = (self.seen)(event) {
            let _ = self.events.lock().unwrap().send(seen);
        }
    }
}

/// Plain MQTT to 127.0.0.1:`port` with `credentials`; short connect
/// timeout and reconnect delays (50 ms growing to 300 ms).
pub fn mqtt_config(port: u16, credentials: Credentials) -> MqttConfig {
    MqttConfig {
        host: "127.0.0.1".into(),
        port,
        tls: false,
        ca_file: None,
        credentials,
        keep_alive: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(300),
    }
}

/// The login of a broker that allows anonymous clients.
pub fn anonymous() -> Credentials {
    Credentials {
        client_id: "PROD1dev1".into(),
        username: String::new(),
        password: String::new(),
    }
}

/// Starts client PROD1/dev1 on a connection with `config`. Each event
/// `seen` maps to something arrives on the returned channel.
pub fn start_device<T: Send + 'static>(
    config: &MqttConfig,
    seen: fn(&Event<'_>) -> Option<T>,
) -> (Arc<Client<ChannelIo<T>>>, MqttConnection, Receiver<T>) {
    let (tx, rx) = channel();
    let publisher = Arc::new(MqttPublisher::default());
    let io = ChannelIo {
        publisher: publisher.clone(),
        events: Mutex::new(tx),
        seen,
    };
    let client = Arc::new(Client::new("PROD1", "dev1", io).unwrap());
    let connection = MqttConnection::start(client.clone(), publisher, config).unwrap();
    (client, connection, rx)
}
