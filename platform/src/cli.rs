//! The command line (clap): `serve`, `push`, `list`, `history`,
//! `device add|list|remove`, `task list|cancel`. Every failure is one line
//! on stderr: exit 2 for a usage error, 1 for anything else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::admin::{CancelRequest, PushRequest};
use crate::devices::{self, Registry};
use crate::s3::S3Options;
use crate::serve::{self, PlatformInfo, ServeOptions};
use crate::state::{self, Resource, UploadStatus};
use crate::store::MAX_URL_TTL;
use crate::util;

/// resmgr-platform: the cloud side of IoT resource management, on your desk.
#[derive(Debug, Parser)]
#[command(name = "resmgr-platform", version, about, long_about = None)]
#[command(after_help = "EXIT STATUS: 0 success, 1 failure, 2 usage error.\n\
    ENVIRONMENT: RESMGR_MOSQUITTO (mosquitto executable), RESMGR_MOSQUITTO_PLUGIN (the broker plugin),\n\
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN] (with --s3-endpoint).")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Answer devices on $resource/up/service/+/+ and hand out presigned
    /// URLs on the object store. Without --broker, starts a private mosquitto
    /// that admits only registered devices (unless --anonymous). When ready,
    /// writes DIR/platform.json (and --ready-file) and prints one line.
    /// Stops cleanly on SIGINT/SIGTERM.
    Serve(Box<ServeArgs>),
    /// Store FILE and send a `download` task to the device (through the
    /// running serve for DIR).
    Push(PushArgs),
    /// Every upload task and the platform's verdict on it.
    List(DataArg),
    /// The progress reports devices sent and the platform's verdicts.
    History(HistoryArgs),
    /// Register, list and remove devices.
    #[command(subcommand)]
    Device(DeviceCommand),
    /// List and cancel download tasks.
    #[command(subcommand)]
    Task(TaskCommand),
}

/// `--product ID --device NAME`.
#[derive(Debug, Args)]
struct Target {
    /// Product id ([A-Za-z0-9_-]).
    #[arg(long, value_name = "ID")]
    product: String,
    /// Device name ([A-Za-z0-9_-]).
    #[arg(long, value_name = "NAME")]
    device: String,
}

#[derive(Debug, Args)]
struct DataArg {
    /// Data directory (state, objects, devices, broker files).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Data directory (state, objects, devices, broker files).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Use this MQTT broker instead of a private mosquitto.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    broker: Option<(String, u16)>,
    /// MQTT username at --broker (with --mqtt-password).
    #[arg(long, value_name = "U", requires_all = ["mqtt_password", "broker"])]
    mqtt_user: Option<String>,
    /// MQTT password at --broker.
    #[arg(long, value_name = "P", requires = "mqtt_user")]
    mqtt_password: Option<String>,
    /// Admit any MQTT client to the private broker (no device check).
    #[arg(long, conflicts_with = "broker")]
    anonymous: bool,
    /// MQTT over TLS and https store URLs; CA and server certificate in
    /// DIR/tls/ (devices trust DIR/tls/ca.pem).
    #[arg(long, conflicts_with = "broker")]
    tls: bool,
    /// Address the devices' listeners (broker, store) bind.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: String,
    /// Private broker port for devices (default: a free port).
    #[arg(long, value_name = "N", conflicts_with = "broker", value_parser = clap::value_parser!(u16).range(1..))]
    mqtt_port: Option<u16>,
    /// Built-in store port (default: a free port).
    #[arg(long, value_name = "N", conflicts_with = "s3_endpoint")]
    http_port: Option<u16>,
    /// The base of the store URLs devices get (scheme, host, optional
    /// port and path prefix), e.g. behind a proxy. Default: the store's
    /// own address.
    #[arg(long, value_name = "URL", value_parser = parse_public_url, conflicts_with = "s3_endpoint")]
    public_url: Option<url::Url>,
    /// Lifetime of presigned URLs (1..604800).
    #[arg(long, value_name = "SECONDS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(1..=MAX_URL_TTL))]
    url_ttl: u64,
    /// Also write platform.json's contents here when ready.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// An S3-compatible store to keep the objects in (devices talk to it
    /// directly); credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
    #[arg(long, value_name = "URL", value_parser = parse_s3_endpoint, requires = "s3_bucket")]
    s3_endpoint: Option<url::Url>,
    /// The bucket at --s3-endpoint.
    #[arg(long, value_name = "NAME", requires = "s3_endpoint")]
    s3_bucket: Option<String>,
    /// The region requests are signed for.
    #[arg(
        long,
        value_name = "R",
        default_value = "us-east-1",
        requires = "s3_endpoint"
    )]
    s3_region: String,
    /// CA certificates (PEM) to trust for an https --s3-endpoint, besides
    /// the system's.
    #[arg(long, value_name = "FILE", requires = "s3_endpoint")]
    s3_ca: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct PushArgs {
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    to: Target,
    /// Resource name the device sees (default: FILE's base name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// The file to push.
    file: PathBuf,
}

#[derive(Debug, Args)]
struct HistoryArgs {
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Only this product.
    #[arg(long, value_name = "ID")]
    product: Option<String>,
    /// Only this device.
    #[arg(long, value_name = "NAME")]
    device: Option<String>,
}

#[derive(Debug, Args)]
struct DeviceArgs {
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    id: Target,
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Register a device; prints its base64 secret (one line on stdout).
    Add(DeviceArgs),
    /// The registered devices (secrets are not shown).
    List(DataArg),
    /// Remove a device: it can no longer log in or use its topics.
    Remove(DeviceArgs),
}

#[derive(Debug, Subcommand)]
enum TaskCommand {
    /// Pending and recently finished download tasks.
    List(HistoryArgs),
    /// Drop a pending download task (through the running serve for DIR).
    Cancel(CancelArgs),
}

#[derive(Debug, Args)]
struct CancelArgs {
    #[command(flatten)]
    data: DataArg,
    #[command(flatten)]
    of: Target,
    /// The task's resource name.
    #[arg(long, value_name = "NAME")]
    name: String,
}

enum Failure {
    Usage(String),
    Run(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Run(e)
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind as K;
            if matches!(e.kind(), K::DisplayHelp | K::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == K::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(2);
            }
            // clap's message (up to its usage block), on one line.
            let text = e.to_string();
            let message: Vec<&str> = text
                .lines()
                .map(str::trim)
                .skip_while(|l| l.is_empty())
                .take_while(|l| !l.is_empty())
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("resmgr-platform: {message} (see resmgr-platform --help)");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(a) => cmd_serve(*a),
        Command::Push(a) => cmd_push(a),
        Command::List(a) => cmd_list(&a.data),
        Command::History(a) => cmd_history(&a),
        Command::Device(DeviceCommand::Add(a)) => cmd_device_add(&a),
        Command::Device(DeviceCommand::List(a)) => cmd_device_list(&a.data),
        Command::Device(DeviceCommand::Remove(a)) => cmd_device_remove(&a),
        Command::Task(TaskCommand::List(a)) => cmd_task_list(&a),
        Command::Task(TaskCommand::Cancel(a)) => cmd_task_cancel(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("resmgr-platform: {msg} (see resmgr-platform --help)");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("resmgr-platform: {msg}");
            ExitCode::from(1)
        }
    }
}

fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("{s:?} is not HOST:PORT");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

fn parse_http_base(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL ({e})"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{s:?} must start with http:// or https://"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} has no host"));
    }
    if u.query().is_some()
        || u.fragment().is_some()
        || !u.username().is_empty()
        || u.password().is_some()
    {
        return Err(format!(
            "{s:?} may only have a scheme, a host, a port and a path (no user, query or fragment)"
        ));
    }
    Ok(u)
}

fn parse_public_url(s: &str) -> Result<url::Url, String> {
    parse_http_base(s)
}

fn parse_s3_endpoint(s: &str) -> Result<url::Url, String> {
    parse_http_base(s)
}

fn cmd_serve(a: ServeArgs) -> Result<(), Failure> {
    if a.tls && a.public_url.as_ref().is_some_and(|u| u.scheme() != "https") {
        return Err(Failure::Usage(
            "--public-url must be https:// with --tls".into(),
        ));
    }
    let s3 = match (a.s3_endpoint, a.s3_bucket) {
        (Some(endpoint), Some(bucket)) => Some(S3Options {
            endpoint,
            bucket,
            region: a.s3_region,
            ca_file: a.s3_ca,
        }),
        _ => None,
    };
    if s3.is_some()
        && (std::env::var_os("AWS_ACCESS_KEY_ID").is_none()
            || std::env::var_os("AWS_SECRET_ACCESS_KEY").is_none())
    {
        return Err(Failure::Usage(
            "--s3-endpoint needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
                .into(),
        ));
    }
    serve::run(ServeOptions {
        data: a.data,
        broker: a.broker,
        credentials: a.mqtt_user.zip(a.mqtt_password),
        bind: a.bind,
        http_port: a.http_port,
        mqtt_port: a.mqtt_port,
        public_url: a.public_url,
        url_ttl: a.url_ttl,
        ready_file: a.ready_file,
        anonymous: a.anonymous,
        tls: a.tls,
        s3,
    })
    .map_err(Failure::Run)
}

fn read_info(data: &Path) -> Result<PlatformInfo, String> {
    let path = serve::info_path(data);
    let bytes = std::fs::read(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "no platform is running for {} (no {}): start `resmgr-platform serve --data {}` first",
                data.display(),
                path.display(),
                data.display()
            )
        } else {
            format!("cannot read {}: {e}", path.display())
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{} is not valid: {e}", path.display()))
}

/// One POST to the running serve's admin endpoint: its JSON answer when
/// the status is 200, else "`what` failed: <the platform's reason>".
fn admin_post(
    data: &Path,
    route: &str,
    what: &str,
    body: &impl serde::Serialize,
) -> Result<serde_json::Value, String> {
    let info = read_info(data)?;
    let url = format!("{}{route}", info.admin_url);
    let parsed = url::Url::parse(&url).map_err(|e| format!("admin_url {url:?}: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        _ => false,
    };
    if parsed.scheme() != "http" || !loopback {
        return Err(format!("admin_url {url:?} is not http:// on loopback"));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(5)))
        // Copying a large file into the store takes a while; this bounds
        // a hung server, not a slow disk.
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let mut resp = agent
        .post(&url)
        .header("Content-Type", "application/json")
        .send(&body[..])
        .map_err(|e| {
            format!(
                "cannot reach the platform at {} ({e}); is `resmgr-platform serve` running?",
                parsed.authority()
            )
        })?;
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| format!("no answer from the platform: {e}"))?;
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status != 200 {
        let why = reply["error"].as_str().unwrap_or("no reason given");
        return Err(format!("{what} failed: {why}"));
    }
    Ok(reply)
}

fn check_ids(t: &Target) -> Result<(), Failure> {
    util::validate_ident("product id", &t.product).map_err(Failure::Usage)?;
    util::validate_ident("device name", &t.device).map_err(Failure::Usage)
}

fn cmd_push(a: PushArgs) -> Result<(), Failure> {
    check_ids(&a.to)?;
    let file = a.file;
    let meta =
        std::fs::metadata(&file).map_err(|e| format!("cannot push {}: {e}", file.display()))?;
    if !meta.is_file() {
        return Err(format!("cannot push {}: not a regular file", file.display()).into());
    }
    let file = file
        .canonicalize()
        .map_err(|e| format!("cannot push {}: {e}", file.display()))?;
    let name = match a.name {
        Some(n) => n,
        None => file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no UTF-8 file name: pass --name", file.display()))?
            .to_string(),
    };
    util::validate_name(&name).map_err(|e| Failure::Usage(format!("invalid --name: {e}")))?;
    let reply = admin_post(
        &a.data.data,
        "/push",
        "push",
        &PushRequest {
            product: a.to.product.clone(),
            device: a.to.device.clone(),
            file,
            name: name.clone(),
        },
    )?;
    println!(
        "pushed {name:?} ({} bytes, md5 {}) to {}/{}",
        reply["size"],
        reply["md5sum"].as_str().unwrap_or("?"),
        a.to.product,
        a.to.device
    );
    Ok(())
}

/// Prints rows as left-aligned columns; the last column is not padded.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            out.push_str(c);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - c.chars().count() + 2));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn upload_status(s: UploadStatus) -> &'static str {
    match s {
        UploadStatus::Created => "created",
        UploadStatus::Uploading => "uploading",
        UploadStatus::Verified => "verified",
        UploadStatus::Failed => "failed",
    }
}

/// The columns `list` and `task list` begin with: PRODUCT DEVICE NAME SIZE MD5.
fn resource_cells(r: &Resource) -> Vec<String> {
    vec![
        r.product.clone(),
        r.device.clone(),
        r.name.clone(),
        r.size.to_string(),
        r.md5sum.clone(),
    ]
}

fn cmd_list(data: &Path) -> Result<(), Failure> {
    let snap = state::read_snapshot(data).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = snap
        .uploads
        .iter()
        .map(|t| {
            let mut row = resource_cells(&t.resource);
            row.extend([
                upload_status(t.status).to_string(),
                t.detail.clone().unwrap_or_default(),
            ]);
            row
        })
        .collect();
    print_table(
        &[
            "PRODUCT", "DEVICE", "NAME", "SIZE", "MD5", "STATUS", "DETAIL",
        ],
        &rows,
    );
    Ok(())
}

fn cmd_history(a: &HistoryArgs) -> Result<(), Failure> {
    let entries = state::read_history(&a.data).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .filter(|e| a.product.as_deref().is_none_or(|p| p == e.product))
        .filter(|e| a.device.as_deref().is_none_or(|d| d == e.device))
        .map(|e| {
            vec![
                util::fmt_utc_ms(e.ts_ms),
                e.product.clone(),
                e.device.clone(),
                e.direction.clone(),
                e.name.clone(),
                e.state.clone(),
                e.percent.map_or("-".into(), |p| p.to_string()),
                e.result_code.to_string(),
                e.source.clone(),
                e.result_msg.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "TIME",
            "PRODUCT",
            "DEVICE",
            "DIRECTION",
            "NAME",
            "STATE",
            "PERCENT",
            "CODE",
            "FROM",
            "MESSAGE",
        ],
        &rows,
    );
    Ok(())
}

fn load_registry(data: &Path) -> Result<(PathBuf, Registry), Failure> {
    let path = devices::registry_path(data);
    let reg = Registry::load(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((path, reg))
}

fn cmd_device_add(a: &DeviceArgs) -> Result<(), Failure> {
    check_ids(&a.id)?;
    let data = &a.data.data;
    std::fs::create_dir_all(data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let (path, mut reg) = load_registry(data)?;
    let secret = reg.add(&a.id.product, &a.id.device)?.secret.clone();
    reg.save(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{secret}");
    Ok(())
}

fn cmd_device_list(data: &Path) -> Result<(), Failure> {
    let (_, reg) = load_registry(data)?;
    let rows: Vec<Vec<String>> = reg
        .devices
        .iter()
        .map(|d| {
            vec![
                d.product.clone(),
                d.device.clone(),
                d.client_id(),
                util::fmt_utc_ms(d.created_ms),
            ]
        })
        .collect();
    print_table(&["PRODUCT", "DEVICE", "CLIENT ID", "REGISTERED"], &rows);
    Ok(())
}

fn cmd_device_remove(a: &DeviceArgs) -> Result<(), Failure> {
    check_ids(&a.id)?;
    let (product, device) = (&a.id.product, &a.id.device);
    let (path, mut reg) = load_registry(&a.data.data)?;
    if !reg.remove(product, device) {
        return Err(format!(
            "no device {product}/{device} is registered in {}",
            path.display()
        )
        .into());
    }
    reg.save(&path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("removed {product}/{device}");
    Ok(())
}

fn cmd_task_list(a: &HistoryArgs) -> Result<(), Failure> {
    let snap = state::read_snapshot(&a.data).map_err(|e| e.to_string())?;
    let pending = snap.pending_downloads.iter().map(|t| (t, "pending"));
    let finished = snap
        .finished_downloads
        .iter()
        .map(|t| (t, t.outcome.map_or("done", |o| o.as_str())));
    let rows: Vec<Vec<String>> = pending
        .chain(finished)
        .filter(|(t, _)| a.product.as_deref().is_none_or(|p| p == t.resource.product))
        .filter(|(t, _)| a.device.as_deref().is_none_or(|d| d == t.resource.device))
        .map(|(t, status)| {
            let mut row = resource_cells(&t.resource);
            row.extend([
                status.to_string(),
                t.failures.to_string(),
                util::fmt_utc_ms(t.resource.created_ms),
            ]);
            row
        })
        .collect();
    print_table(
        &[
            "PRODUCT", "DEVICE", "NAME", "SIZE", "MD5", "STATUS", "FAILURES", "PUSHED",
        ],
        &rows,
    );
    Ok(())
}

fn cmd_task_cancel(a: &CancelArgs) -> Result<(), Failure> {
    check_ids(&a.of)?;
    admin_post(
        &a.data.data,
        "/task/cancel",
        "cancel",
        &CancelRequest {
            product: a.of.product.clone(),
            device: a.of.device.clone(),
            name: a.name.clone(),
        },
    )?;
    println!(
        "cancelled {:?} for {}/{}",
        a.name, a.of.product, a.of.device
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port() {
        assert_eq!(parse_host_port("h:1883").ok(), Some(("h".into(), 1883)));
        assert_eq!(parse_host_port("[::1]:1").ok(), Some(("::1".into(), 1)));
        assert!(parse_host_port("h").is_err());
        assert!(parse_host_port("h:0").is_err());
        assert!(parse_host_port(":1").is_err());
    }

    #[test]
    fn public_urls() {
        assert!(parse_public_url("http://h").is_ok());
        assert!(parse_public_url("https://h:8443/store/").is_ok());
        for bad in [
            "h:80",
            "ftp://h/",
            "http://",
            "http://u:p@h/",
            "http://h/?a=1",
            "http://h/#x",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
