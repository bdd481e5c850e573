//! The device side of the end-to-end measurements, each run as its own
//! process (so that its wall time, CPU and peak RSS are its own): the
//! library's public Rust API, fed the platform's answer directly instead
//! of through MQTT (a `ClientIo` that counts what would be published).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use resmgr::progress::ProgressPolicy;
use resmgr::protocol::Qos;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::upload;
use resmgr::transfer::TransferConfig;
use resmgr::{Client, ClientIo, Event};

/// Publishes nowhere; counts messages and bytes.
#[derive(Default)]
pub struct NullIo {
    pub publishes: AtomicU64,
    pub bytes: AtomicU64,
    pub events: AtomicU64,
}

impl ClientIo for NullIo {
    fn publish(&self, _: &str, payload: &[u8], _: Qos) -> Result<(), String> {
        self.publishes.fetch_add(1, Ordering::Relaxed);
        self.bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn event(&self, _: &Event<'_>) {
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

struct Opts {
    file: Option<PathBuf>,
    dir: Option<PathBuf>,
    url: String,
    name: String,
    size: u64,
    md5: String,
    /// `default`: the library's default cadence plus a progress callback;
    /// `off`: no in-progress reports after the first, no callback.
    progress: String,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        file: None,
        dir: None,
        url: String::new(),
        name: "bench.bin".into(),
        size: 0,
        md5: String::new(),
        progress: "default".into(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut v = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--file" => o.file = Some(v()?.into()),
            "--dir" => o.dir = Some(v()?.into()),
            "--url" => o.url = v()?,
            "--name" => o.name = v()?,
            "--size" => o.size = v()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--md5" => o.md5 = v()?,
            "--progress" => o.progress = v()?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn client(o: &Opts) -> Client<NullIo> {
    let client = Client::new("BENCH", "dev1", NullIo::default()).expect("client");
    if o.progress == "off" {
        client.set_progress_policy(ProgressPolicy {
            min_interval: Duration::from_secs(u64::from(u32::MAX)),
            min_step: 100,
        });
    }
    client
}

/// The library's default transfer configuration; for experiments only,
/// `BENCH_CHECKPOINT_MIB` changes how often a download is made durable.
fn config() -> TransferConfig {
    let mut c = TransferConfig::default();
    if let Some(mib) = std::env::var("BENCH_CHECKPOINT_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        c.checkpoint_bytes = mib << 20;
        c.checkpoint_interval = Duration::from_secs(3600);
    }
    c
}

fn report(client: &Client<NullIo>, fields: &[(&str, f64)], callbacks: u64) {
    let io = client.io();
    let mut line = String::from("{");
    for (k, v) in fields {
        line.push_str(&format!("\"{k}\":{v},"));
    }
    line.push_str(&format!(
        "\"publishes\":{},\"publish_bytes\":{},\"events\":{},\"callbacks\":{callbacks}}}",
        io.publishes.load(Ordering::Relaxed),
        io.bytes.load(Ordering::Relaxed),
        io.events.load(Ordering::Relaxed)
    ));
    println!("{line}");
}

/// `md5 FILE`: the library's streaming MD5 of a file, as `openssl md5` does.
pub fn md5(args: &[String]) -> Result<(), String> {
    let path = args.first().ok_or("md5 FILE")?;
    let (_, digest) =
        resmgr::device::md5_file(path.as_ref()).map_err(|e| e.message().to_owned())?;
    println!("{digest}");
    Ok(())
}

/// `device-upload --file F --url URL [--name N] [--progress default|off]`:
/// hash, create the task, take the platform's answer, PUT, report.
pub fn device_upload(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let path = o.file.clone().ok_or("--file is required")?;
    let client = client(&o);
    let start = Instant::now();
    let (name, size, md5) =
        resmgr::device::create_upload_task_from_file(&client, &path, Some(&o.name))
            .map_err(|e| e.message().to_owned())?;
    let hashed = start.elapsed().as_secs_f64();
    let answer = serde_json::json!({
        "type": "create_upload_task_rsp",
        "size": size,
        "name": name,
        "md5sum": md5.to_hex(),
        "url": o.url,
    })
    .to_string();
    client
        .handle_down_message(client.topics().down().as_bytes(), answer.as_bytes())
        .map_err(|e| e.message().to_owned())?;
    let mut file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
    let mut callbacks = 0u64;
    let mut count = |_: u64, _: u64| callbacks += 1;
    let progress: Option<&mut resmgr::transfer::ProgressFn<'_>> = match o.progress.as_str() {
        "off" => None,
        _ => Some(&mut count),
    };
    let t = Instant::now();
    upload(&client, &name, &mut file, &config(), progress).map_err(|e| e.message().to_owned())?;
    let transfer = t.elapsed().as_secs_f64();
    let total = start.elapsed().as_secs_f64();
    report(
        &client,
        &[
            ("hash_s", hashed),
            ("transfer_s", transfer),
            ("total_s", total),
        ],
        callbacks,
    );
    Ok(())
}

/// `device-download --dir D --url URL --size N --md5 HEX [--name N]
/// [--progress default|off]`: take a pushed `download`, GET into the
/// partial file while hashing, fsync, verify, rename, report.
pub fn device_download(args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    let dir = o.dir.clone().ok_or("--dir is required")?;
    let client = client(&o);
    let start = Instant::now();
    let push = serde_json::json!({
        "type": "download",
        "size": o.size,
        "name": o.name,
        "md5sum": o.md5,
        "url": o.url,
    })
    .to_string();
    client
        .handle_down_message(client.topics().down().as_bytes(), push.as_bytes())
        .map_err(|e| e.message().to_owned())?;
    let mut sink = DirSink::new(&dir, &o.name).map_err(|e| e.message().to_owned())?;
    let mut callbacks = 0u64;
    let mut count = |_: u64, _: u64| callbacks += 1;
    let progress: Option<&mut resmgr::transfer::ProgressFn<'_>> = match o.progress.as_str() {
        "off" => None,
        _ => Some(&mut count),
    };
    download(&client, &o.name, &mut sink, &config(), progress)
        .map_err(|e| e.message().to_owned())?;
    let total = start.elapsed().as_secs_f64();
    report(
        &client,
        &[("transfer_s", total), ("total_s", total)],
        callbacks,
    );
    Ok(())
}
