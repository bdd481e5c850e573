//! Figure 9: `resmgr-device` as a whole command (MQTT included) against an
//! independent store, nginx (Debian's nginx-light: `dav_methods PUT`,
//! static GET with ranges), over HTTP and over HTTPS (TLS 1.3, a private CA
//! made with openssl), side by side with the shell's way of doing the same:
//!
//! - upload: `openssl md5` + `curl -T` (the pair);
//! - download: `curl -o` + `openssl md5` + `sync FILE` (the triple: the
//!   device's download is durable when it ends, so the reference is too).
//!
//! The URLs come the way a device gets them: `resmgr-platform serve
//! --anonymous --s3-endpoint <nginx> --s3-bucket fleet` presigns them on
//! nginx, which takes any query string, so the platform hands out URLs
//! nginx accepts; the device asks over MQTT. The reference uses the same
//! objects' plain URLs. After each of the device's uploads the bench waits
//! (untimed) for the platform's verdict — the platform reads the object
//! back from nginx, whose ETag is no MD5 — so that work never overlaps the
//! next measurement; the device runs with `--result-wait 0`.
//!
//! Each pair is measured twice: with every client unpinned, and with the
//! device and the reference's programs pinned to one core (`taskset -c
//! 0`); nginx and the platform stay unpinned. CPU per GiB is user + system
//! time of the client processes (the device; openssl + curl) from `wait4`.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::fleet::Platform;
use crate::run::{Ctx, Row};
use crate::util::{self, cmd, in_turn, mbps, run, settle, size_name, stat, Run};

const PRODUCT: &str = "BENCH";
const BUCKET: &str = "fleet";

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn sh(c: &mut Command) -> Result<(), String> {
    let out = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{c:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A private CA and a server certificate for 127.0.0.1, made with openssl.
fn make_tls(ctx: &Ctx, dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let (ca_key, ca, key, csr, cert, ext) = (
        dir.join("ca.key"),
        dir.join("ca.pem"),
        dir.join("server.key"),
        dir.join("server.csr"),
        dir.join("server.pem"),
        dir.join("server.ext"),
    );
    let p = |x: &Path| x.to_str().unwrap().to_owned();
    sh(Command::new(&ctx.openssl).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=resmgr bench CA",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
    ]))?;
    sh(Command::new(&ctx.openssl).args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
    ]))?;
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    sh(Command::new(&ctx.openssl).args([
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]))?;
    Ok((ca, cert, key))
}

/// nginx on two loopback ports (plain and TLS 1.3), its own config, root
/// and temp directories under the bench's data; stopped on drop.
struct Nginx {
    child: Child,
    root: PathBuf,
    http_port: u16,
    https_port: u16,
    ca: PathBuf,
}

impl Nginx {
    fn start(ctx: &Ctx, exe: &Path) -> Result<Nginx, String> {
        let dir = ctx.data.join("nginx");
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        std::fs::create_dir_all(root.join(BUCKET)).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        let (ca, cert, key) = make_tls(ctx, &dir.join("tls"))?;
        let (http_port, https_port) = (free_port()?, free_port()?);
        let d = dir.display();
        let mut conf = String::new();
        // As root, nginx's workers would run as nobody and could not write
        // into the bench's data directory.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;\n"
        } else {
            ""
        };
        let _ = write!(
            conf,
            "{user}daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n\
             client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n\
             uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
             client_max_body_size 0;\n  keepalive_timeout 5;\n\
             ssl_protocols TLSv1.3;\n  ssl_certificate {cert};\n  ssl_certificate_key {key};\n\
             server {{\n    listen 127.0.0.1:{http_port};\n    listen 127.0.0.1:{https_port} ssl;\n\
             root {root};\n    dav_methods PUT;\n    create_full_put_path on;\n    dav_access user:rw;\n\
             location = /{BUCKET} {{ return 200; }}\n    location = /{BUCKET}/ {{ return 200; }}\n  }}\n}}\n",
            cert = cert.display(),
            key = key.display(),
            root = root.display(),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("stderr.log")).map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let mut n = Nginx {
            child,
            root,
            http_port,
            https_port,
            ca,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", https_port)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", http_port)).is_ok()
            {
                return Ok(n);
            }
            if let Ok(Some(status)) = n.child.try_wait() {
                let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default()
                    + &std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                return Err(format!("nginx exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("nginx not listening within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn base(&self, https: bool) -> String {
        if https {
            format!("https://127.0.0.1:{}", self.https_port)
        } else {
            format!("http://127.0.0.1:{}", self.http_port)
        }
    }

    /// Where nginx keeps an object of the bucket.
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(BUCKET).join(key)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // Graceful stop of the master and its workers.
        util::stop_child(&mut self.child, libc::SIGQUIT);
    }
}

/// The scheme's side of the bench: a platform handing out URLs on nginx.
struct Side<'a> {
    ctx: &'a Ctx,
    nginx: &'a Nginx,
    platform: Platform,
    https: bool,
}

fn gib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64
}

fn pinned(pin: bool, program: &Path, args: &[&str]) -> Command {
    if pin {
        let mut c = Command::new("taskset");
        c.args(["-c", "0"]).arg(program).args(args);
        c
    } else {
        cmd(program, args)
    }
}

impl Side<'_> {
    fn scheme(&self) -> &'static str {
        if self.https {
            "HTTPS"
        } else {
            "HTTP"
        }
    }

    /// `resmgr-device` with the platform's broker; `BENCH_WRAP_OURS` in
    /// front when set (profiling).
    fn device(&self, exe: &Path, pin: bool, device: &str, args: &[&str]) -> Command {
        let port = self.platform.broker_port.to_string();
        let mut all: Vec<&str> = vec![
            "--port",
            &port,
            "--product",
            PRODUCT,
            "--device",
            device,
            "--quiet",
        ];
        let ca = self.nginx.ca.to_str().unwrap();
        if self.https {
            all.extend(["--ca", ca]);
        }
        all.extend(args);
        match std::env::var("BENCH_WRAP_OURS") {
            Ok(w) if !w.trim().is_empty() => {
                let mut words = w.split_whitespace();
                let mut c = Command::new(words.next().unwrap());
                c.args(words);
                if pin {
                    c.args(["taskset", "-c", "0"]);
                }
                c.arg(exe).args(all);
                c
            }
            _ => pinned(pin, exe, &all),
        }
    }

    fn curl_tls(&self) -> Vec<String> {
        if self.https {
            vec!["--cacert".into(), self.nginx.ca.display().to_string()]
        } else {
            Vec::new()
        }
    }

    /// Waits (untimed) for the platform's verdict on an upload.
    fn verified(&self, device: &str, name: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let out = Command::new(&self.platform.exe)
                .arg("list")
                .arg("--data")
                .arg(&self.platform.data)
                .output()
                .map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 6 && f[0] == PRODUCT && f[1] == device && f[2] == name {
                    match f[5] {
                        "verified" => return Ok(()),
                        "failed" => return Err(format!("the platform failed {name}: {line}")),
                        _ => {}
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no verdict on {name} within 300 s"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn upload_ours(&self, exe: &Path, pin: bool, input: &Path, tag: &str) -> Result<Run, String> {
        let device = "up";
        let name = format!("ours-{tag}.bin");
        let key = format!("uploads/{PRODUCT}/{device}/{name}");
        let _ = std::fs::remove_file(self.nginx.path(&key));
        settle();
        util::warm(input);
        let r = run(self.device(
            exe,
            pin,
            device,
            &[
                "--timeout",
                "600",
                "--result-wait",
                "0",
                "upload",
                input.to_str().unwrap(),
                "--name",
                &name,
            ],
        ))?;
        let stored = std::fs::metadata(self.nginx.path(&key)).map(|m| m.len());
        if stored.as_ref().ok() != Some(&self.ctx.size) {
            return Err(format!("nginx holds {stored:?} bytes of {name}"));
        }
        self.verified(device, &name)?;
        let _ = std::fs::remove_file(self.nginx.path(&key));
        Ok(r)
    }

    fn upload_ref(&self, pin: bool, input: &Path, tag: &str) -> Result<Run, String> {
        let key = format!("uploads/{PRODUCT}/ref/ref-{tag}.bin");
        let _ = std::fs::remove_file(self.nginx.path(&key));
        settle();
        util::warm(input);
        let hash = run(pinned(
            pin,
            &self.ctx.openssl,
            &["md5", "-r", input.to_str().unwrap()],
        ))?;
        let hex = hash.stdout.split_whitespace().next().unwrap_or("");
        let b64 = resmgr::Md5Digest::from_hex(hex)
            .map_err(|e| format!("openssl md5 printed {hex:?}: {}", e.message()))?
            .to_base64();
        let url = format!("{}/{BUCKET}/{key}", self.nginx.base(self.https));
        let md5_header = format!("Content-MD5: {b64}");
        let mut args: Vec<String> = self.curl_tls();
        args.extend(
            [
                "-sS",
                "--fail-with-body",
                "-o",
                "/dev/null",
                "-T",
                input.to_str().unwrap(),
                "-H",
                &md5_header,
                "-H",
                "Content-Type: application/octet-stream",
                &url,
            ]
            .map(String::from),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let put = run(pinned(pin, &self.ctx.curl, &args))?;
        let stored = std::fs::metadata(self.nginx.path(&key)).map(|m| m.len());
        if stored.as_ref().ok() != Some(&self.ctx.size) {
            return Err(format!(
                "nginx holds {stored:?} bytes of the reference upload"
            ));
        }
        let _ = std::fs::remove_file(self.nginx.path(&key));
        Ok(hash.then(&put))
    }

    /// Pushes the file to the device "down" (the platform PUTs it to nginx;
    /// untimed); returns nginx's path of the object.
    fn push(&self, input: &Path) -> Result<PathBuf, String> {
        self.platform.push_as(PRODUCT, "down", input, "dl.bin")?;
        Ok(self.nginx.path(&format!("downloads/{PRODUCT}/down/dl.bin")))
    }

    fn download_ours(&self, exe: &Path, pin: bool, input: &Path, md5: &str) -> Result<Run, String> {
        let stored = self.push(input)?;
        let dir = self.ctx.data.join("nginx-dl");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        settle();
        util::warm(&stored);
        let r = run(self.device(
            exe,
            pin,
            "down",
            &[
                "--timeout",
                "600",
                "download",
                "--dir",
                dir.to_str().unwrap(),
                "--wait",
                "30",
            ],
        ))?;
        let got = dir.join("dl.bin");
        let len = std::fs::metadata(&got).map(|m| m.len());
        if len.as_ref().ok() != Some(&self.ctx.size) {
            return Err(format!("the device's download left {len:?} bytes"));
        }
        if !r.stdout.contains("MD5 verified") {
            return Err(format!(
                "the device did not verify {md5}: {}",
                r.stdout.trim()
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(r)
    }

    fn download_ref(&self, pin: bool, md5: &str) -> Result<(Run, Run), String> {
        let stored = self.nginx.path(&format!("downloads/{PRODUCT}/down/dl.bin"));
        let dir = self.ctx.data.join("nginx-dl");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        settle();
        util::warm(&stored);
        let out = dir.join("ref.bin");
        let url = format!(
            "{}/{BUCKET}/downloads/{PRODUCT}/down/dl.bin",
            self.nginx.base(self.https)
        );
        let mut args = self.curl_tls();
        args.extend(
            ["-sS", "--fail-with-body", "-o", out.to_str().unwrap(), &url].map(String::from),
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let get = run(pinned(pin, &self.ctx.curl, &args))?;
        let hash = run(pinned(
            pin,
            &self.ctx.openssl,
            &["md5", "-r", out.to_str().unwrap()],
        ))?;
        if !hash.stdout.starts_with(md5) {
            return Err(format!("curl got the wrong bytes: {}", hash.stdout.trim()));
        }
        let sync = run(pinned(pin, Path::new("sync"), &[out.to_str().unwrap()]))?;
        let _ = std::fs::remove_dir_all(&dir);
        Ok((get.then(&hash), sync))
    }
}

struct Sample {
    ours: Vec<f64>,
    theirs: Vec<f64>,
    ratios: Vec<f64>,
    our_cpu: Vec<f64>,
    their_cpu: Vec<f64>,
}

impl Sample {
    fn new() -> Sample {
        Sample {
            ours: Vec::new(),
            theirs: Vec::new(),
            ratios: Vec::new(),
            our_cpu: Vec::new(),
            their_cpu: Vec::new(),
        }
    }
    fn add(&mut self, o: &Run, r: &Run) {
        self.ours.push(o.wall);
        self.theirs.push(r.wall);
        self.ratios.push(o.wall / r.wall);
        self.our_cpu.push(o.user + o.sys);
        self.their_cpu.push(r.user + r.sys);
    }
}

fn row(ctx: &mut Ctx, figure: String, reference: &str, s: &Sample, target: Option<f64>) {
    let (o, t, r) = (stat(&s.ours), stat(&s.theirs), stat(&s.ratios));
    let (oc, tc) = (stat(&s.our_cpu), stat(&s.their_cpu));
    let g = gib(ctx.size);
    ctx.row(Row {
        figure,
        ours: format!(
            "{:.2} s ({:.0} MB/s), CPU {:.2} s/GiB",
            o.median,
            mbps(ctx.size, o.median),
            oc.median / g
        ),
        reference: format!(
            "{reference}: {:.2} s, CPU {:.2} s/GiB",
            t.median,
            tc.median / g
        ),
        ratio: Some(r),
        target: target.map_or("-".into(), |t| format!("≤ {t}")),
        met: target.map(|t| r.median <= t),
    });
}

pub fn measure(ctx: &mut Ctx) -> Result<(), String> {
    let nginx_exe = util::which("nginx")
        .or_else(|| Some(PathBuf::from("/usr/sbin/nginx")).filter(|p| p.is_file()))
        .ok_or("nginx is not installed (bench/run.sh installs nginx-light)")?;
    let platform_exe = ctx.platform.clone().ok_or("resmgr-platform is not built")?;
    let device_cli = ctx.device_cli.clone().ok_or("resmgr-device is not built")?;
    if util::which("taskset").is_none() {
        return Err("taskset is not installed (util-linux)".into());
    }
    // BENCH_DEVICE_B: another resmgr-device build in place of the shell
    // reference (A/B of two builds, side by side in the same run).
    let device_b = std::env::var_os("BENCH_DEVICE_B")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let version = Command::new(&nginx_exe)
        .arg("-v")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_default();
    let nginx = Nginx::start(ctx, &nginx_exe)?;
    ctx.note(format!(
        "figure 9: {version} (dav_methods PUT, sendfile, TLS 1.3 with a P-256 certificate of a private CA), \
         URLs from `resmgr-platform serve --anonymous --s3-endpoint` on nginx; device `resmgr-device --quiet` \
         (`--result-wait 0` for uploads), MQTT included; pinned rows run the device, openssl, curl and sync \
         under `taskset -c 0`"
    ));
    let input = ctx.data.join("input.bin");
    let (_, md5) = resmgr::device::md5_file(&input).map_err(|e| e.message().to_owned())?;
    let md5 = md5.to_hex();
    for https in [false, true] {
        let endpoint = nginx.base(https);
        let mut args: Vec<String> = vec![
            "--s3-endpoint".into(),
            endpoint,
            "--s3-bucket".into(),
            BUCKET.into(),
        ];
        if https {
            args.extend(["--s3-ca".into(), nginx.ca.display().to_string()]);
        }
        let platform = Platform::start_with(
            &platform_exe,
            &ctx.data.join(if https {
                "platform-https"
            } else {
                "platform-http"
            }),
            &args,
            &[
                ("AWS_ACCESS_KEY_ID", "bench"),
                ("AWS_SECRET_ACCESS_KEY", "bench-secret"),
            ],
        )?;
        let side = Side {
            ctx: &*ctx,
            nginx: &nginx,
            platform,
            https,
        };
        let scheme = side.scheme();
        let mut results = Vec::new();
        for pin in [false, true] {
            let (mut up, mut down) = (Sample::new(), Sample::new());
            let pin_word = if pin { "pinned" } else { "unpinned" };
            for rep in 0..ctx.big_reps {
                let tag = format!("{}-{pin_word}-{rep}", scheme.to_lowercase());
                let up_ref = || match &device_b {
                    Some(b) => side.upload_ours(b, pin, &input, &format!("{tag}-b")),
                    None => side.upload_ref(pin, &input, &tag),
                };
                let (o, r) = in_turn(
                    rep,
                    || side.upload_ours(&device_cli, pin, &input, &tag),
                    up_ref,
                )?;
                eprintln!(
                    "nginx {scheme} {pin_word} upload rep {rep}: resmgr-device {:.3} s (cpu {:.2} s), openssl+curl {:.3} s (cpu {:.2} s)",
                    o.wall, o.user + o.sys, r.wall, r.user + r.sys
                );
                up.add(&o, &r);
                let down_ref = || match &device_b {
                    Some(b) => Ok((side.download_ours(b, pin, &input, &md5)?, Run::default())),
                    None => side.download_ref(pin, &md5),
                };
                let (o, (r, sync)) = in_turn(
                    rep,
                    || side.download_ours(&device_cli, pin, &input, &md5),
                    down_ref,
                )?;
                let r = r.then(&sync);
                eprintln!(
                    "nginx {scheme} {pin_word} download rep {rep}: resmgr-device {:.3} s (cpu {:.2} s), curl+openssl+sync {:.3} s (cpu {:.2} s, sync {:.3} s)",
                    o.wall, o.user + o.sys, r.wall, r.user + r.sys, sync.wall
                );
                down.add(&o, &r);
            }
            results.push((pin, up, down));
        }
        drop(side);
        let target = device_b.is_none();
        let (up_label, down_label, up_ratio, down_ratio) = if target {
            (
                "`openssl md5` + `curl -T`",
                "`curl -o` + `openssl md5` + `sync`",
                "ours/pair",
                "ours/triple",
            )
        } else {
            ("`BENCH_DEVICE_B`", "`BENCH_DEVICE_B`", "A/B", "A/B")
        };
        for (pin, up, down) in results {
            let pin_word = if pin { ", `taskset -c 0`" } else { "" };
            row(
                ctx,
                format!(
                    "9. nginx {scheme}{pin_word}: `resmgr-device upload` {} (time ratio {up_ratio})",
                    size_name(ctx.size)
                ),
                up_label,
                &up,
                target.then_some(1.0),
            );
            row(
                ctx,
                format!(
                    "9. nginx {scheme}{pin_word}: `resmgr-device download` {} (time ratio {down_ratio})",
                    size_name(ctx.size)
                ),
                down_label,
                &down,
                target.then_some(0.7),
            );
        }
    }
    Ok(())
}
