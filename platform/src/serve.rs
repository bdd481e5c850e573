//! `resmgr-platform serve`: wires broker, store, protocol peer and admin
//! endpoint together, announces itself in `DIR/platform.json`, and tears
//! everything down in reverse order on SIGINT/SIGTERM.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::broker::PrivateBroker;
use crate::mqtt::{Link, MqttConfig};
use crate::peer::Peer;
use crate::state::State;
use crate::store::{self, Signer, Store};
use crate::{admin, signals, util};

/// Options of `serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Data directory (created when missing).
    pub data: PathBuf,
    /// External broker `(host, port)`; `None` starts a private mosquitto.
    pub broker: Option<(String, u16)>,
    /// MQTT username and password for an external broker.
    pub credentials: Option<(String, String)>,
    /// Store port; `None` picks a free one.
    pub http_port: Option<u16>,
    /// Lifetime of presigned URLs, seconds.
    pub url_ttl: u64,
    /// Extra copy of `platform.json`, written when ready.
    pub ready_file: Option<PathBuf>,
}

/// Contents of `DIR/platform.json` (and of the ready file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// Broker host devices should connect to.
    pub broker_host: String,
    /// Broker port.
    pub broker_port: u16,
    /// True when serve started (and owns) the broker.
    pub private_broker: bool,
    /// Process id of the private mosquitto, if any.
    #[serde(default)]
    pub mosquitto_pid: Option<u32>,
    /// Object store port on 127.0.0.1.
    pub http_port: u16,
    /// `http://127.0.0.1:<http_port>`.
    pub store_url: String,
    /// Admin endpoint prefix used by `push`.
    pub admin_url: String,
    /// Process id of serve.
    pub pid: u32,
    /// Data directory (absolute).
    pub data_dir: PathBuf,
    /// Lifetime of presigned URLs, seconds.
    pub url_ttl: u64,
}

/// Path of `platform.json` in a data directory.
pub fn info_path(data: &Path) -> PathBuf {
    data.join("platform.json")
}

/// Two serves on one directory would overwrite each other's state: refuse
/// when the announced one is alive and answering.
fn refuse_if_running(data: &Path) -> Result<(), String> {
    let Ok(bytes) = fs::read(info_path(data)) else {
        return Ok(());
    };
    let Ok(info) = serde_json::from_slice::<PlatformInfo>(&bytes) else {
        return Ok(());
    };
    let alive = libc::pid_t::try_from(info.pid)
        // SAFETY: signal 0 only checks that the process exists.
        .is_ok_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
    let answering = info
        .admin_url
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if alive && answering && info.pid != std::process::id() {
        return Err(format!(
            "another resmgr-platform serve (pid {}) is running for {}",
            info.pid,
            data.display()
        ));
    }
    Ok(())
}

/// Runs until SIGINT/SIGTERM (or until the private broker dies). Returns an
/// error message for a failed start.
pub fn run(opts: ServeOptions) -> Result<(), String> {
    signals::install();
    fs::create_dir_all(&opts.data)
        .map_err(|e| format!("cannot create {}: {e}", opts.data.display()))?;
    let data = opts
        .data
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", opts.data.display()))?;

    refuse_if_running(&data)?;

    let mut broker = match &opts.broker {
        Some(_) => None,
        None => Some(PrivateBroker::start(&data)?),
    };
    let (broker_host, broker_port) = match (&opts.broker, &broker) {
        (Some((h, p)), _) => (h.clone(), *p),
        (None, Some(b)) => ("127.0.0.1".to_string(), b.port()),
        (None, None) => unreachable!("a private broker was started"),
    };

    let store_listener =
        TcpListener::bind(("127.0.0.1", opts.http_port.unwrap_or(0))).map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{}: {e}",
                opts.http_port.unwrap_or(0)
            )
        })?;
    let http_port = store_listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let signer = Signer::random().map_err(|e| format!("no randomness for the signing key: {e}"))?;
    let store = Arc::new(
        Store::open(&data, signer, http_port)
            .map_err(|e| format!("cannot open the store under {}: {e}", data.display()))?,
    );
    let state = State::load(&data).map_err(|e| format!("cannot load the state: {e}"))?;
    let peer = Arc::new(Peer::new(state, Arc::clone(&store), opts.url_ttl));
    let mut store_server =
        store::serve(Arc::clone(&store), store_listener).map_err(|e| e.to_string())?;

    let cfg = MqttConfig {
        host: broker_host.clone(),
        port: broker_port,
        credentials: opts.credentials.clone(),
    };
    let (mut link, ready) = Link::start(&cfg, Arc::clone(&peer)).map_err(|e| e.to_string())?;
    // Ready means subscribed: a device message sent after the ready file
    // appears must not be lost.
    if ready.recv_timeout(Duration::from_secs(15)).is_err() {
        let why = link
            .last_error()
            .unwrap_or_else(|| "no answer to CONNECT/SUBSCRIBE".into());
        return Err(format!(
            "cannot subscribe at the MQTT broker {broker_host}:{broker_port} within 15 s: {why}"
        ));
    }

    let admin_listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let admin_port = admin_listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .port();
    let token = util::hex(&util::random_bytes(16).map_err(|e| e.to_string())?);
    let mut admin_server = admin::serve(
        admin_listener,
        token.clone(),
        Arc::clone(&peer),
        link.client(),
    )
    .map_err(|e| e.to_string())?;

    let info = PlatformInfo {
        broker_host: broker_host.clone(),
        broker_port,
        private_broker: broker.is_some(),
        mosquitto_pid: broker.as_ref().and_then(PrivateBroker::pid),
        http_port,
        store_url: store.base_url().to_string(),
        admin_url: format!("http://127.0.0.1:{admin_port}/admin/{token}"),
        pid: std::process::id(),
        data_dir: data.clone(),
        url_ttl: opts.url_ttl,
    };
    let json = serde_json::to_vec_pretty(&info).map_err(|e| e.to_string())?;
    util::write_atomic(&info_path(&data), &json)
        .map_err(|e| format!("cannot write {}: {e}", info_path(&data).display()))?;
    if let Some(rf) = &opts.ready_file {
        util::write_atomic(rf, &json).map_err(|e| format!("cannot write {}: {e}", rf.display()))?;
    }
    println!(
        "resmgr-platform: ready: MQTT broker {broker_host}:{broker_port}{}, object store {}, data {}",
        if broker.is_some() { " (private mosquitto)" } else { "" },
        store.base_url(),
        data.display()
    );

    let mut outcome = Ok(());
    while !signals::requested() {
        if let Some(b) = broker.as_mut() {
            if !b.is_running() {
                outcome = Err("the private mosquitto exited unexpectedly; stopping".to_string());
                break;
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    eprintln!("resmgr-platform: stopping");
    admin_server.shutdown();
    link.stop();
    store_server.shutdown();
    if let Some(b) = broker.as_mut() {
        b.stop();
    }
    // Only remove the announcement if it is still ours (a second serve on
    // the same directory may have replaced it).
    if let Ok(bytes) = fs::read(info_path(&data)) {
        if serde_json::from_slice::<PlatformInfo>(&bytes).is_ok_and(|i| i.pid == std::process::id())
        {
            let _ = fs::remove_file(info_path(&data));
        }
    }
    outcome
}
