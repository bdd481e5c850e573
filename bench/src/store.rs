//! The object store both sides of figures 2, 3, 4 and 8 talk to, and how
//! the bench gets presigned URLs from it:
//!
//! - `resmgr-platform serve` (the default when it is built): URLs come the
//!   way a device gets them, over MQTT from the platform (a helper device
//!   "urls" asks `create_upload_task` / `get_download_task` through the
//!   library's own MQTT client);
//! - `s3s-fs` (`BENCH_STORE=s3s-fs`, or when the platform is missing):
//!   URLs are presigned by the bench (SigV4).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use resmgr::mqtt::{Credentials, MqttConfig, MqttConnection, MqttPublisher};
use resmgr::protocol::{Direction, Qos};
use resmgr::{Client, ClientIo, Event};

use crate::fleet::Platform;
use crate::s3::S3Fs;

const DEVICE: &str = "urls";

#[derive(Default)]
pub struct UrlIo {
    publisher: Arc<MqttPublisher>,
    state: Mutex<(bool, Option<String>)>,
    changed: Condvar,
    tasks: resmgr::device::TaskSignal,
}

impl ClientIo for UrlIo {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), String> {
        self.publisher.publish(topic, payload, qos)
    }
    fn task_changed(&self) {
        self.tasks.notify();
    }
    fn event(&self, event: &Event<'_>) {
        let mut s = self.state.lock().unwrap();
        match event {
            Event::Connected => s.0 = true,
            Event::DownloadTask { task, .. }
            | Event::UrlRefreshed {
                task,
                direction: Direction::Download,
                ..
            } => s.1 = Some(task.url.to_owned()),
            _ => return,
        }
        self.changed.notify_all();
    }
}

impl UrlIo {
    fn wait<T>(&self, mut f: impl FnMut(&mut (bool, Option<String>)) -> Option<T>) -> Option<T> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(v) = f(&mut s) {
                return Some(v);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            s = self.changed.wait_timeout(s, left).unwrap().0;
        }
    }
}

pub enum Store {
    S3(S3Fs),
    Platform {
        platform: Platform,
        client: Arc<Client<UrlIo>>,
        _conn: MqttConnection,
    },
}

impl Store {
    /// Starts the store under `data`: the platform when `platform` is
    /// given (unless `BENCH_STORE=s3s-fs`), else s3s-fs.
    pub fn start(data: &Path, platform: Option<&Path>) -> Result<Store, String> {
        let want_s3 = std::env::var("BENCH_STORE").is_ok_and(|v| v == "s3s-fs");
        match platform {
            Some(exe) if !want_s3 => {
                let platform = Platform::start(exe, &data.join("platform"))?;
                let io = UrlIo::default();
                let publisher = io.publisher.clone();
                let client =
                    Arc::new(Client::new("BENCH", DEVICE, io).map_err(|e| e.message().to_owned())?);
                let config = MqttConfig {
                    host: "127.0.0.1".into(),
                    port: platform.broker_port,
                    tls: false,
                    ca_file: None,
                    credentials: Credentials {
                        client_id: format!("BENCH{DEVICE}"),
                        username: String::new(),
                        password: String::new(),
                    },
                    keep_alive: Duration::from_secs(60),
                    connect_timeout: Duration::from_secs(10),
                    reconnect_min: Duration::from_millis(100),
                    reconnect_max: Duration::from_secs(1),
                };
                let conn = MqttConnection::start(client.clone(), publisher, &config)
                    .map_err(|e| e.message().to_owned())?;
                client
                    .io()
                    .wait(|s| s.0.then_some(()))
                    .ok_or("the URL helper device did not connect to the platform's broker")?;
                Ok(Store::Platform {
                    platform,
                    client,
                    _conn: conn,
                })
            }
            _ => {
                let s3 = S3Fs::start(&data.join("store"))?;
                s3.bucket("bench-up");
                s3.bucket("bench-down");
                Ok(Store::S3(s3))
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Store::S3(_) => "s3s-fs 0.14.1",
            Store::Platform { .. } => "resmgr-platform's store",
        }
    }

    /// A presigned PUT URL for an upload of `file` (known size and MD5)
    /// named `name`.
    pub fn put_url(&self, name: &str, file: &Path) -> Result<String, String> {
        match self {
            Store::S3(s3) => Ok(s3.presign("PUT", "bench-up", name)),
            Store::Platform { client, .. } => {
                let (size, md5) =
                    resmgr::device::md5_file(file).map_err(|e| e.message().to_owned())?;
                client
                    .create_upload_task(name, size, md5)
                    .map_err(|e| e.message().to_owned())?;
                let tasks = &client.io().tasks;
                let limit = Duration::from_secs(30);
                let task =
                    resmgr::device::wait_for_url(client, tasks, Direction::Upload, name, limit)
                        .map_err(|e| e.message().to_owned())?;
                task.url.ok_or_else(|| "no URL".into())
            }
        }
    }

    /// Where the store keeps an uploaded object, when the bench knows.
    pub fn uploaded_path(&self, name: &str) -> Option<PathBuf> {
        match self {
            Store::S3(s3) => Some(s3.object_path("bench-up", name)),
            Store::Platform { .. } => None,
        }
    }

    /// Forgets uploaded objects (s3s-fs: deletes their files; the platform
    /// overwrites the same few names).
    pub fn clear_uploads(&self) {
        if let Store::S3(s3) = self {
            if let Ok(rd) = std::fs::read_dir(s3.root.join("bench-up")) {
                for e in rd.flatten() {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    /// Stores `file` as `name` for downloading; returns the presigned GET
    /// URL, size, MD5 (hex) and where the store keeps it (to warm it).
    pub fn seed(
        &self,
        name: &str,
        file: &Path,
    ) -> Result<(String, u64, String, Option<PathBuf>), String> {
        let (size, md5) = resmgr::device::md5_file(file).map_err(|e| e.message().to_owned())?;
        match self {
            Store::S3(s3) => {
                let dest = s3.object_path("bench-down", name);
                std::fs::copy(file, &dest).map_err(|e| format!("seed {}: {e}", dest.display()))?;
                Ok((
                    s3.presign("GET", "bench-down", name),
                    size,
                    md5.to_hex(),
                    Some(dest),
                ))
            }
            Store::Platform {
                platform, client, ..
            } => {
                platform.push_as("BENCH", DEVICE, file, name)?;
                client.io().state.lock().unwrap().1 = None;
                client
                    .get_download_task()
                    .map_err(|e| e.message().to_owned())?;
                let url = client
                    .io()
                    .wait(|s| s.1.take())
                    .ok_or("no download task from the platform")?;
                // Done, so that the next get_download_task answers the
                // next seed; the object and its URL stay valid.
                let done = resmgr::protocol::up::Report {
                    state: resmgr::protocol::ProgressState::Done,
                    percent: 100,
                    result_code: 0,
                    result_msg: "",
                };
                client
                    .report_progress(Direction::Download, name, &done)
                    .map_err(|e| e.message().to_owned())?;
                Ok((url, size, md5.to_hex(), None))
            }
        }
    }
}
