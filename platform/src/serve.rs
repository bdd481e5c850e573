//! `resmgr-platform serve`: wires broker, store, protocol peer and admin
//! endpoint together, announces itself in `DIR/platform.json`, and tears
//! everything down in reverse order on SIGINT/SIGTERM.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::broker::{BrokerSetup, PrivateBroker};
use crate::mqtt::{Link, MqttConfig};
use crate::objects::Objects;
use crate::peer::Peer;
use crate::s3::{S3Options, S3Store};
use crate::state::State;
use crate::store::{self, Store};
use crate::{admin, devices, plugin, tls, util};

/// The username of the platform's own broker login (no device's username
/// can be it: theirs contain `;`).
pub const PLATFORM_USERNAME: &str = "resmgr-platform";

/// Options of `serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Data directory (created when missing).
    pub data: PathBuf,
    /// External broker `(host, port)`; `None` starts a private mosquitto.
    pub broker: Option<(String, u16)>,
    /// MQTT username and password for an external broker.
    pub credentials: Option<(String, String)>,
    /// Address the devices' listeners bind (broker and store).
    pub bind: String,
    /// Store port; `None` picks a free one.
    pub http_port: Option<u16>,
    /// Private broker's port for devices; `None` picks a free one.
    pub mqtt_port: Option<u16>,
    /// The base of the URLs devices get from the built-in store.
    pub public_url: Option<url::Url>,
    /// Lifetime of presigned URLs, seconds.
    pub url_ttl: u64,
    /// Extra copy of `platform.json`, written when ready.
    pub ready_file: Option<PathBuf>,
    /// Admit any client (no device check in the private broker).
    pub anonymous: bool,
    /// MQTT over TLS and `https` store URLs.
    pub tls: bool,
    /// An external S3 store instead of the built-in one.
    pub s3: Option<S3Options>,
}

/// Contents of `DIR/platform.json` (and of the ready file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformInfo {
    /// Broker host devices should connect to.
    pub broker_host: String,
    /// Broker port devices connect to.
    pub broker_port: u16,
    /// True when serve started (and owns) the broker.
    pub private_broker: bool,
    /// Process id of the private mosquitto, if any.
    #[serde(default)]
    pub mosquitto_pid: Option<u32>,
    /// True when the broker admits anyone (no device check).
    #[serde(default)]
    pub anonymous: bool,
    /// True for MQTT over TLS and `https` store URLs.
    #[serde(default)]
    pub tls: bool,
    /// The CA devices trust, with `--tls`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The built-in store's port (none with an S3 store).
    #[serde(default)]
    pub http_port: Option<u16>,
    /// The base of the URLs devices get.
    pub store_url: String,
    /// Admin endpoint prefix used by `push` and `task cancel`.
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

/// The names the server certificate covers: loopback, the bound address
/// and the public URL's host.
fn certificate_names(opts: &ServeOptions) -> Vec<String> {
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let mut add = |n: &str| {
        let n = n.trim_start_matches('[').trim_end_matches(']').to_string();
        if !n.is_empty() && n != "0.0.0.0" && n != "::" && !names.contains(&n) {
            names.push(n);
        }
    };
    add(&opts.bind);
    if let Some(host) = opts.public_url.as_ref().and_then(|u| u.host_str()) {
        add(host);
    }
    names
}

/// Runs until SIGINT/SIGTERM (or until the private broker dies). Returns an
/// error message for a failed start.
pub fn run(opts: ServeOptions) -> Result<(), String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("cannot handle signal {sig}: {e}"))?;
    }
    fs::create_dir_all(&opts.data)
        .map_err(|e| format!("cannot create {}: {e}", opts.data.display()))?;
    let data = opts
        .data
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", opts.data.display()))?;

    refuse_if_running(&data)?;

    // The store first: a wrong S3 setting is said before anything starts.
    let s3 = match &opts.s3 {
        Some(o) => Some(Arc::new(S3Store::connect(o)?)),
        None => None,
    };
    let tls = if opts.tls {
        Some(tls::prepare(&data, &certificate_names(&opts))?)
    } else {
        None
    };

    let (objects, store_server, http_port) = match s3 {
        Some(s3) => (Objects::S3(s3), None, None),
        None => {
            let want = opts.http_port.unwrap_or(0);
            let listener = TcpListener::bind((opts.bind.as_str(), want))
                .map_err(|e| format!("cannot listen on {}:{want}: {e}", opts.bind))?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            let public = match &opts.public_url {
                Some(u) => u.clone(),
                None => {
                    let scheme = if tls.is_some() { "https" } else { "http" };
                    let host = if opts.bind == "0.0.0.0" {
                        "127.0.0.1"
                    } else {
                        &opts.bind
                    };
                    url::Url::parse(&format!("{scheme}://{host}:{port}/"))
                        .map_err(|e| format!("cannot make the store's URL: {e}"))?
                }
            };
            let credentials = store::random_credentials()
                .map_err(|e| format!("no randomness for the store's credentials: {e}"))?;
            let store = Arc::new(
                Store::open(&data, &public, credentials)
                    .map_err(|e| format!("cannot open the store under {}: {e}", data.display()))?,
            );
            let server = store::serve(
                Arc::clone(&store),
                listener,
                tls.as_ref().map(|t| Arc::clone(&t.config)),
            )
            .map_err(|e| e.to_string())?;
            (Objects::Local(store), Some(server), Some(port))
        }
    };

    let platform_password = util::hex(&util::random_bytes(16).map_err(|e| e.to_string())?);
    let registry = devices::registry_path(&data);
    let plugin_file = if opts.broker.is_none() && !opts.anonymous {
        Some(plugin::plugin_path()?)
    } else {
        None
    };
    let mut broker = match &opts.broker {
        Some(_) => None,
        None => Some(PrivateBroker::start(
            &data,
            &BrokerSetup {
                bind: &opts.bind,
                port: opts.mqtt_port,
                tls: tls.as_ref().map(|t| {
                    (
                        t.ca_pem.as_path(),
                        t.server_pem.as_path(),
                        t.server_key.as_path(),
                    )
                }),
                auth: plugin_file.as_deref().map(|p| {
                    (
                        p,
                        registry.as_path(),
                        PLATFORM_USERNAME,
                        platform_password.as_str(),
                    )
                }),
            },
        )?),
    };
    let (broker_host, broker_port, link_port, credentials) = match (&opts.broker, &broker) {
        (Some((h, p)), _) => (h.clone(), *p, *p, opts.credentials.clone()),
        (None, Some(b)) => (
            if opts.bind == "0.0.0.0" {
                "127.0.0.1".to_string()
            } else {
                opts.bind.clone()
            },
            b.port(),
            b.platform_port(),
            plugin_file
                .as_ref()
                .map(|_| (PLATFORM_USERNAME.to_string(), platform_password.clone())),
        ),
        (None, None) => unreachable!("a private broker was started"),
    };
    let link_host = if opts.broker.is_some() {
        broker_host.clone()
    } else {
        "127.0.0.1".to_string()
    };

    let state = State::load(&data).map_err(|e| format!("cannot load the state: {e}"))?;
    let store_url = match &objects {
        Objects::Local(s) => s.base_url(),
        Objects::S3(s) => s.describe().to_string(),
    };
    let describe = objects.describe();
    let peer = Arc::new(Peer::new(state, objects, opts.url_ttl));

    let cfg = MqttConfig {
        host: link_host.clone(),
        port: link_port,
        credentials,
    };
    let (mut link, ready) = Link::start(&cfg, Arc::clone(&peer)).map_err(|e| e.to_string())?;
    // Ready means subscribed: a device message sent after the ready file
    // appears must not be lost.
    if ready.recv_timeout(Duration::from_secs(15)).is_err() {
        let why = link
            .last_error()
            .unwrap_or_else(|| "no answer to CONNECT/SUBSCRIBE".into());
        return Err(format!(
            "cannot subscribe at the MQTT broker {link_host}:{link_port} within 15 s: {why}"
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
        plugin_file.as_ref().map(|_| registry.clone()),
    )
    .map_err(|e| e.to_string())?;

    let info = PlatformInfo {
        broker_host: broker_host.clone(),
        broker_port,
        private_broker: broker.is_some(),
        mosquitto_pid: broker.as_ref().and_then(PrivateBroker::pid),
        anonymous: broker.is_some() && plugin_file.is_none(),
        tls: tls.is_some(),
        ca_file: tls.as_ref().map(|t| t.ca_pem.clone()),
        http_port,
        store_url,
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
    let broker_kind = match (&broker, plugin_file.is_some(), tls.is_some()) {
        (None, _, _) => "",
        (Some(_), true, false) => " (private mosquitto, registered devices only)",
        (Some(_), true, true) => " (private mosquitto, TLS, registered devices only)",
        (Some(_), false, false) => " (private mosquitto, anonymous)",
        (Some(_), false, true) => " (private mosquitto, TLS, anonymous)",
    };
    println!(
        "resmgr-platform: ready: MQTT broker {broker_host}:{broker_port}{broker_kind}, {describe}, data {}",
        data.display()
    );

    let mut outcome = Ok(());
    while !stop.load(Ordering::SeqCst) {
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
    if let Some(mut s) = store_server {
        s.shutdown();
    }
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
