//! Figure 7, the fleet: N devices, each a `resmgr::Client` with its own
//! connection through the library's built-in MQTT client, all in one
//! process (one process per device could not do an upload and a download
//! at once over one connection with the CLI), each uploading one file and
//! downloading one pushed file at the same time, through one mosquitto and
//! `resmgr-platform serve`. Also 4b: the peak RSS of the `resmgr-device`
//! CLI against the same platform.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use resmgr::mqtt::{Credentials, MqttConfig, MqttConnection, MqttPublisher};
use resmgr::protocol::{Direction, Qos};
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::upload;
use resmgr::transfer::TransferConfig;
use resmgr::{Client, ClientIo, Event};

use crate::run::{field, Ctx, Row};
use crate::util::{self, cmd, run, size_name, stat};

const PRODUCT: &str = "BENCH";

/// A running `resmgr-platform serve` with its private mosquitto.
pub struct Platform {
    child: Child,
    pub data: PathBuf,
    pub exe: PathBuf,
    pub broker_port: u16,
    pub mosquitto_pid: Option<u32>,
}

impl Platform {
    pub fn start(exe: &Path, data: &Path) -> Result<Platform, String> {
        Platform::start_with(exe, data, &[], &[])
    }

    /// `serve` with more arguments (e.g. an S3 store) and environment.
    pub fn start_with(
        exe: &Path,
        data: &Path,
        args: &[String],
        envs: &[(&str, &str)],
    ) -> Result<Platform, String> {
        let _ = std::fs::remove_dir_all(data);
        std::fs::create_dir_all(data).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(data.with_extension("log")).map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args(["serve", "--anonymous", "--url-ttl", "7200", "--data"])
            .arg(data)
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let mut p = Platform {
            child,
            data: data.to_owned(),
            exe: exe.to_owned(),
            broker_port: 0,
            mosquitto_pid: None,
        };
        let info = data.join("platform.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(bytes) = std::fs::read(&info) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                    p.broker_port = v["broker_port"].as_u64().unwrap_or(0) as u16;
                    p.mosquitto_pid = v["mosquitto_pid"].as_u64().map(|x| x as u32);
                    if p.broker_port != 0 {
                        return Ok(p);
                    }
                }
            }
            if let Ok(Some(status)) = p.child.try_wait() {
                let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
                return Err(format!("resmgr-platform serve exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("resmgr-platform serve not ready within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn push(&self, device: &str, file: &Path, name: &str) -> Result<(), String> {
        self.push_as(PRODUCT, device, file, name)
    }

    pub fn push_as(
        &self,
        product: &str,
        device: &str,
        file: &Path,
        name: &str,
    ) -> Result<(), String> {
        run(cmd(
            &self.exe,
            &[
                "push".as_ref(),
                "--data".as_ref(),
                self.data.as_os_str(),
                "--product".as_ref(),
                product.as_ref(),
                "--device".as_ref(),
                device.as_ref(),
                file.as_os_str(),
                "--name".as_ref(),
                name.as_ref(),
            ],
        )
        .stdout(Stdio::null()))
        .map(|_| ())
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        // It stops its broker itself.
        util::stop_child(&mut self.child, libc::SIGTERM);
    }
}

// ---------------------------------------------------------------------------
// The fleet process (`resmgr-bench fleet ...`)

/// What one device's client tells the driver.
#[derive(Default)]
struct Seen {
    connected: bool,
    download_task: Option<String>,
    upload_result: Option<i32>,
}

struct DeviceIo {
    publisher: Arc<MqttPublisher>,
    seen: Mutex<Seen>,
    changed: Condvar,
    tasks: resmgr::device::TaskSignal,
}

impl ClientIo for DeviceIo {
    fn publish(&self, topic: &str, payload: &[u8], qos: Qos) -> Result<(), String> {
        self.publisher.publish(topic, payload, qos)
    }

    fn task_changed(&self) {
        self.tasks.notify();
    }

    fn event(&self, event: &Event<'_>) {
        let mut s = self.seen.lock().unwrap();
        match event {
            Event::Connected => s.connected = true,
            Event::Disconnected { .. } => s.connected = false,
            Event::DownloadTask { task, .. } => s.download_task = Some(task.name.to_owned()),
            Event::UploadResult { result_code, .. } => s.upload_result = Some(*result_code),
            _ => return,
        }
        self.changed.notify_all();
    }
}

impl DeviceIo {
    fn wait<T>(&self, limit: Duration, mut f: impl FnMut(&Seen) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + limit;
        let mut s = self.seen.lock().unwrap();
        loop {
            if let Some(v) = f(&s) {
                return Some(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            s = self.changed.wait_timeout(s, left).unwrap().0;
        }
    }
}

fn device_name(i: usize) -> String {
    format!("dev{i:04}")
}

/// Counts one device's transfer: a success in `ok`, a failure in `errors`
/// as "<what>: <message>".
fn count(
    r: resmgr::Result<()>,
    ok: &AtomicU64,
    errors: &Mutex<Vec<String>>,
    what: impl FnOnce() -> String,
) {
    match r {
        Ok(()) => {
            ok.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => errors
            .lock()
            .unwrap()
            .push(format!("{}: {}", what(), e.message())),
    }
}
/// `fleet --port P --devices N --files DIR --platform-pid PID
/// [--broker-pid PID]`: runs the fleet, prints one JSON line.
pub fn main(args: &[String]) -> Result<(), String> {
    let mut port = 0u16;
    let mut devices = 0usize;
    let mut files = PathBuf::new();
    let mut pids: Vec<(String, u32)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--port" => port = v.parse().map_err(|_| "--port")?,
            "--devices" => devices = v.parse().map_err(|_| "--devices")?,
            "--files" => files = v.into(),
            "--platform-pid" => pids.push(("platform".into(), v.parse().map_err(|_| "pid")?)),
            "--broker-pid" => pids.push(("broker".into(), v.parse().map_err(|_| "pid")?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let limit = Duration::from_secs(300);
    // Connect everyone first: the figure is the transfers, not the logins.
    let t_connect = Instant::now();
    let mut fleet = Vec::new();
    for i in 0..devices {
        let publisher = Arc::new(MqttPublisher::default());
        let io = DeviceIo {
            publisher: publisher.clone(),
            seen: Mutex::default(),
            changed: Condvar::new(),
            tasks: Default::default(),
        };
        let name = device_name(i);
        let client = Arc::new(Client::new(PRODUCT, &name, io).map_err(|e| e.message().to_owned())?);
        let config = MqttConfig {
            host: "127.0.0.1".into(),
            port,
            tls: false,
            ca_file: None,
            credentials: Credentials {
                client_id: format!("{PRODUCT}{name}"),
                username: String::new(),
                password: String::new(),
            },
            keep_alive: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(2),
        };
        let conn = MqttConnection::start(client.clone(), publisher, &config)
            .map_err(|e| e.message().to_owned())?;
        fleet.push((client, conn));
    }
    for (i, (client, _)) in fleet.iter().enumerate() {
        client
            .io()
            .wait(limit, |s| s.connected.then_some(()))
            .ok_or(format!("device {i} did not connect"))?;
    }
    let connect_s = t_connect.elapsed().as_secs_f64();

    let cpu_of = |pids: &[(String, u32)]| -> Vec<f64> {
        pids.iter()
            .map(|(_, p)| util::proc_cpu(*p).unwrap_or(f64::NAN))
            .collect()
    };
    let before = cpu_of(&pids);
    let self_before = util::self_cpu();
    let uploads_ok = AtomicU64::new(0);
    let downloads_ok = AtomicU64::new(0);
    let errors = Mutex::new(Vec::<String>::new());
    let start = Instant::now();
    let config = TransferConfig::default();
    std::thread::scope(|scope| {
        for (i, (client, _)) in fleet.iter().enumerate() {
            let (config, uploads_ok, downloads_ok, errors, files) =
                (&config, &uploads_ok, &downloads_ok, &errors, &files);
            scope.spawn(move || {
                let file = files.join(format!("up-{i}.bin"));
                let name = format!("up-{i}.bin");
                let r = (|| {
                    resmgr::device::create_upload_task_from_file(client, &file, Some(&name))?;
                    let tasks = &client.io().tasks;
                    resmgr::device::wait_for_url(client, tasks, Direction::Upload, &name, limit)?;
                    let mut f = std::fs::File::open(&file)
                        .map_err(|e| resmgr::Error::new(resmgr::ErrorKind::Io, e.to_string()))?;
                    upload(client, &name, &mut f, config, None)
                })();
                count(r, uploads_ok, errors, || format!("upload {i}"));
            });
            scope.spawn(move || {
                let dir = files.join(format!("dl-{i}"));
                let r = (|| {
                    let _ = std::fs::create_dir_all(&dir);
                    client.get_download_task()?;
                    let name = client
                        .io()
                        .wait(limit, |s| s.download_task.clone())
                        .ok_or_else(|| {
                            resmgr::Error::new(resmgr::ErrorKind::Timeout, "no download task")
                        })?;
                    let mut sink = DirSink::new(&dir, &name)?;
                    download(client, &name, &mut sink, config, None)
                    // The bytes are compared with the pushed file after
                    // the timed phase, so the check costs the devices nothing.
                })();
                count(r, downloads_ok, errors, || format!("download {i}"));
            });
        }
    });
    let wall = start.elapsed().as_secs_f64();
    let device_cpu = util::self_cpu() - self_before;
    let after = cpu_of(&pids);
    let mut same = 0;
    for i in 0..devices {
        let got = std::fs::read(files.join(format!("dl-{i}")).join(format!("down-{i}.bin")));
        let want = std::fs::read(files.join(format!("down-{i}.bin")));
        if matches!((got, want), (Ok(g), Ok(w)) if g == w) {
            same += 1;
        } else {
            errors
                .lock()
                .unwrap()
                .push(format!("download {i}: bytes differ from the pushed file"));
        }
    }
    let downloads_ok = AtomicU64::new(downloads_ok.load(Ordering::Relaxed).min(same));
    // The platform's verdict on each upload (it hashes the stored object).
    let verified = fleet
        .iter()
        .filter(|(c, _)| c.io().wait(Duration::from_secs(30), |s| s.upload_result) == Some(0))
        .count();
    for (_, conn) in fleet.drain(..) {
        conn.stop(Duration::from_secs(2));
    }
    let errors = errors.into_inner().unwrap();
    for e in errors.iter().take(10) {
        eprintln!("fleet: {e}");
    }
    let mut line = format!(
        "{{\"devices\":{devices},\"connect_s\":{connect_s},\"wall_s\":{wall},\"uploads_ok\":{},\"downloads_ok\":{},\"verified\":{verified},\"errors\":{},\"device_cpu_s\":{device_cpu}",
        uploads_ok.load(Ordering::Relaxed),
        downloads_ok.load(Ordering::Relaxed),
        errors.len()
    );
    for ((what, _), (b, a)) in pids.iter().zip(before.iter().zip(after.iter())) {
        line.push_str(&format!(",\"{what}_cpu_s\":{}", a - b));
    }
    line.push('}');
    println!("{line}");
    Ok(())
}

// ---------------------------------------------------------------------------
// In the orchestrator

fn no_platform(ctx: &mut Ctx, what: &str) -> Result<(), String> {
    ctx.row(Row {
        figure: what.into(),
        ours: "not measured: resmgr-platform not built".into(),
        reference: "-".into(),
        ratio: None,
        target: "-".into(),
        met: None,
    });
    Ok(())
}

pub fn measure(ctx: &mut Ctx) -> Result<(), String> {
    let Some(exe) = ctx.platform.clone() else {
        return no_platform(ctx, "7. Fleet");
    };
    let n = ctx.fleet_devices;
    let size = ctx.fleet_size;
    let files = ctx.data.join("fleet");
    let _ = std::fs::remove_dir_all(&files);
    std::fs::create_dir_all(&files).map_err(|e| e.to_string())?;
    for i in 0..n {
        util::make_file(&files.join(format!("up-{i}.bin")), size, 1000 + i as u64)
            .map_err(|e| e.to_string())?;
        util::make_file(&files.join(format!("down-{i}.bin")), size, 5000 + i as u64)
            .map_err(|e| e.to_string())?;
    }
    let reps = ctx.reps.min(3);
    let (mut walls, mut thr, mut dev_cpu, mut plat_cpu, mut broker_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut all_ok = true;
    for rep in 0..reps {
        let platform = Platform::start(&exe, &ctx.data.join("platform"))?;
        for i in 0..n {
            platform.push(
                &device_name(i),
                &files.join(format!("down-{i}.bin")),
                &format!("down-{i}.bin"),
            )?;
        }
        for i in 0..n {
            let _ = std::fs::remove_dir_all(files.join(format!("dl-{i}")));
        }
        settle_all();
        let mut args = vec![
            "fleet".to_string(),
            "--port".into(),
            platform.broker_port.to_string(),
            "--devices".into(),
            n.to_string(),
            "--files".into(),
            files.to_string_lossy().into_owned(),
            "--platform-pid".into(),
            platform.pid().to_string(),
        ];
        if let Some(pid) = platform.mosquitto_pid {
            args.extend(["--broker-pid".into(), pid.to_string()]);
        }
        let r = run(&mut cmd(&ctx.exe, &args))?;
        drop(platform);
        let get = |k: &str| field(&r.stdout, k).unwrap_or(f64::NAN);
        let (up, down, ver, errs) = (
            get("uploads_ok"),
            get("downloads_ok"),
            get("verified"),
            get("errors"),
        );
        let ok = up as usize == n && down as usize == n && ver as usize == n && errs == 0.0;
        all_ok &= ok;
        let wall = get("wall_s");
        eprintln!(
            "fleet rep {rep}: {n} devices, {wall:.2} s (connect {:.2} s), uploads {up}, downloads {down}, verified {ver}, errors {errs}; cpu devices {:.2} s, platform {:.2} s, broker {:.2} s",
            get("connect_s"), get("device_cpu_s"), get("platform_cpu_s"), get("broker_cpu_s")
        );
        walls.push(wall);
        thr.push(2.0 * n as f64 * size as f64 / wall / 1e6);
        dev_cpu.push(get("device_cpu_s"));
        plat_cpu.push(get("platform_cpu_s"));
        broker_cpu.push(get("broker_cpu_s"));
    }
    let _ = std::fs::remove_dir_all(&files);
    let (w, t) = (stat(&walls), stat(&thr));
    ctx.row(Row {
        figure: format!(
            "7. Fleet: {n} devices × (upload {s} + download {s}) at once, own MQTT connection each",
            s = size_name(size)
        ),
        ours: format!(
            "{:.2} s [{:.2}..{:.2}], {:.0} MB/s; CPU: devices {:.2} s, platform {:.2} s, mosquitto {:.2} s",
            w.median,
            w.min,
            w.max,
            t.median,
            stat(&dev_cpu).median,
            stat(&plat_cpu).median,
            stat(&broker_cpu).median
        ),
        reference: "-".into(),
        ratio: None,
        target: "every transfer completes and verifies".into(),
        met: Some(all_ok),
    });
    Ok(())
}

fn settle_all() {
    util::settle();
}

/// 4b: the `resmgr-device` CLI's peak RSS, 1 MiB vs the big file, against
/// resmgr-platform.
pub fn memory_cli(ctx: &mut Ctx) -> Result<(), String> {
    let (Some(exe), Some(cli)) = (ctx.platform.clone(), ctx.device_cli.clone()) else {
        return no_platform(ctx, "4b. Peak RSS of resmgr-device");
    };
    let platform = Platform::start(&exe, &ctx.data.join("platform"))?;
    let port = platform.broker_port.to_string();
    let dir = ctx.data.join("cli-dl");
    let mut peaks = Vec::new();
    for (up, file) in [
        (true, ctx.data.join("small.bin")),
        (true, ctx.data.join("input.bin")),
        (false, ctx.data.join("small.bin")),
        (false, ctx.data.join("input.bin")),
    ] {
        let mut v = Vec::new();
        for rep in 0..ctx.reps.min(3) {
            let device = format!("mem{rep}");
            let base = [
                "--port",
                &port,
                "--product",
                PRODUCT,
                "--device",
                &device,
                "--quiet",
            ];
            let r = if up {
                let mut a: Vec<&str> = base.to_vec();
                a.extend(["upload", file.to_str().unwrap()]);
                run(&mut cmd(&cli, &a))?
            } else {
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                platform.push(&device, &file, "mem.bin")?;
                let mut a: Vec<&str> = base.to_vec();
                a.extend(["download", "--dir", dir.to_str().unwrap()]);
                run(&mut cmd(&cli, &a))?
            };
            v.push(r.maxrss_kib as f64);
        }
        peaks.push(stat(&v).median as u64);
    }
    drop(platform);
    let _ = std::fs::remove_dir_all(&dir);
    for (what, s, b) in [
        ("upload", peaks[0], peaks[1]),
        ("download", peaks[2], peaks[3]),
    ] {
        let diff = b as i64 - s as i64;
        ctx.row(Row {
            figure: format!(
                "4b. Peak RSS of `resmgr-device {what}`, 1 MiB vs {} (via resmgr-platform)",
                size_name(ctx.size)
            ),
            ours: format!("{s} KiB vs {b} KiB: {diff:+} KiB"),
            reference: "-".into(),
            ratio: None,
            target: "diff ≤ 1024 KiB, abs ≤ 16384 KiB".into(),
            met: Some(diff <= 1024 && b <= 16 * 1024),
        });
    }
    Ok(())
}
