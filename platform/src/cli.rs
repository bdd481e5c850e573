//! The command line: `serve`, `push`, `list`, `history`. Hand-rolled option
//! parsing keeps the dependency list short.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::admin::PushRequest;
use crate::serve::{self, PlatformInfo, ServeOptions};
use crate::state::{self, UploadStatus};
use crate::store::{self, Bucket, ObjectKey};
use crate::util;

/// The help text (also the CLI reference in README.md).
pub const USAGE: &str = "\
resmgr-platform: the cloud side of IoT resource management, on your desk.

USAGE:
  resmgr-platform serve --data DIR [--broker HOST:PORT] [--mqtt-user U --mqtt-password P]
                        [--http-port N] [--url-ttl SECONDS] [--ready-file FILE]
  resmgr-platform push  --data DIR --product ID --device NAME FILE [--name NAME]
  resmgr-platform list  --data DIR
  resmgr-platform history --data DIR [--product ID] [--device NAME]

COMMANDS:
  serve    Answer devices on $resource/up/service/+/+ and run the object store
           (presigned PUT/GET on 127.0.0.1). Without --broker, starts a private
           mosquitto on a free loopback port (files in DIR/mosquitto/). When
           ready, writes DIR/platform.json (and --ready-file) and prints one
           line. Stops cleanly on SIGINT/SIGTERM.
  push     Ask the running serve for DIR to store FILE and send a `download`
           task to the device (name: --name, default FILE's base name).
  list     Print the stored uploads and whether they were verified.
  history  Print the progress reports devices sent.

OPTIONS:
  --data DIR             Data directory (state, objects, broker files).
  --broker HOST:PORT     Use this MQTT broker instead of a private mosquitto.
  --mqtt-user U          MQTT username (with --mqtt-password).
  --mqtt-password P      MQTT password.
  --http-port N          Object store port (default: a free port).
  --url-ttl SECONDS      Lifetime of presigned URLs (default 900).
  --ready-file FILE      Also write platform.json's contents here when ready.
  --product ID           Product id ([A-Za-z0-9_-]).
  --device NAME          Device name ([A-Za-z0-9_-]).
  --name NAME            Resource name the device sees.
  -h, --help             This text.
  -V, --version          Version.

ENVIRONMENT:
  RESMGR_MOSQUITTO       mosquitto executable (default: PATH, then /usr/sbin).

EXIT STATUS: 0 success, 1 failure, 2 usage error.
";

const DEFAULT_URL_TTL: u64 = 900;

struct UsageError(String);

/// Parsed `--name value` options and positional arguments.
struct Args {
    opts: HashMap<String, String>,
    positional: Vec<String>,
}

fn parse(args: &[String], allowed: &[&str]) -> Result<Args, UsageError> {
    let mut opts = HashMap::new();
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            positional.extend(it.by_ref().cloned());
            break;
        }
        let Some(body) = a.strip_prefix("--") else {
            positional.push(a.clone());
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                let v = it
                    .next()
                    .ok_or_else(|| UsageError(format!("--{body} needs a value")))?;
                (body.to_string(), v.clone())
            }
        };
        if !allowed.contains(&name.as_str()) {
            return Err(UsageError(format!("unknown option --{name}")));
        }
        if opts.insert(name.clone(), value).is_some() {
            return Err(UsageError(format!("--{name} given twice")));
        }
    }
    Ok(Args { opts, positional })
}

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        self.opts.get(name).map(String::as_str)
    }

    fn required(&self, name: &str) -> Result<&str, UsageError> {
        self.get(name)
            .ok_or_else(|| UsageError(format!("--{name} is required")))
    }

    fn no_positional(&self) -> Result<(), UsageError> {
        match self.positional.first() {
            Some(p) => Err(UsageError(format!("unexpected argument {p:?}"))),
            None => Ok(()),
        }
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") || args.is_empty() {
        print!("{USAGE}");
        return if args.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    if args.iter().any(|a| a == "-V" || a == "--version") {
        println!("resmgr-platform {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let rest = &args[1..];
    let result = match args[0].as_str() {
        "serve" => cmd_serve(rest),
        "push" => cmd_push(rest),
        "list" => cmd_list(rest),
        "history" => cmd_history(rest),
        other => Err(Failure::Usage(UsageError(format!(
            "unknown command {other:?}"
        )))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(UsageError(msg))) => {
            eprintln!("resmgr-platform: {msg} (see resmgr-platform --help)");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("resmgr-platform: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Usage(UsageError),
    Run(String),
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Self {
        Failure::Usage(e)
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Run(e)
    }
}

fn parse_host_port(s: &str) -> Result<(String, u16), UsageError> {
    let bad = || UsageError(format!("--broker {s:?} is not HOST:PORT"));
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

fn cmd_serve(args: &[String]) -> Result<(), Failure> {
    let a = parse(
        args,
        &[
            "data",
            "broker",
            "mqtt-user",
            "mqtt-password",
            "http-port",
            "url-ttl",
            "ready-file",
        ],
    )?;
    a.no_positional()?;
    let data = PathBuf::from(a.required("data")?);
    let broker = a.get("broker").map(parse_host_port).transpose()?;
    let credentials = match (a.get("mqtt-user"), a.get("mqtt-password")) {
        (Some(u), Some(p)) => Some((u.to_string(), p.to_string())),
        (None, None) => None,
        _ => return Err(UsageError("--mqtt-user and --mqtt-password go together".into()).into()),
    };
    if credentials.is_some() && broker.is_none() {
        return Err(UsageError(
            "--mqtt-user/--mqtt-password need --broker (the private mosquitto is anonymous)".into(),
        )
        .into());
    }
    let http_port = a
        .get("http-port")
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| UsageError(format!("--http-port {p:?} is not a port number")))
        })
        .transpose()?;
    let url_ttl = match a.get("url-ttl") {
        Some(t) => t.parse::<u64>().ok().filter(|t| *t > 0).ok_or_else(|| {
            UsageError(format!(
                "--url-ttl {t:?} is not a positive number of seconds"
            ))
        })?,
        None => DEFAULT_URL_TTL,
    };
    serve::run(ServeOptions {
        data,
        broker,
        credentials,
        http_port,
        url_ttl,
        ready_file: a.get("ready-file").map(PathBuf::from),
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

/// Minimal HTTP client for the admin endpoint: one POST, one JSON answer.
fn admin_post(
    admin_url: &str,
    route: &str,
    body: &[u8],
) -> Result<(u16, serde_json::Value), String> {
    let rest = admin_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("admin_url {admin_url:?} is not http://"))?;
    let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let addr: SocketAddr = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("admin_url {admin_url:?} has no usable address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("admin_url {admin_url:?} is not on loopback"));
    }
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| {
        format!(
            "cannot reach the platform at {authority} ({e}); is `resmgr-platform serve` running?"
        )
    })?;
    // Copying a large file into the store takes a while; this bounds a hung
    // server, not a slow disk.
    let _ = s.set_read_timeout(Some(Duration::from_secs(600)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "POST /{prefix}{route} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| format!("cannot send to the platform: {e}"))?;
    let mut resp = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut resp)
        .map_err(|e| format!("no answer from the platform: {e}"))?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the platform's answer is not HTTP")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or("the platform's answer has no status")?;
    let json = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

fn cmd_push(args: &[String]) -> Result<(), Failure> {
    let a = parse(args, &["data", "product", "device", "name"])?;
    let data = PathBuf::from(a.required("data")?);
    let product = a.required("product")?;
    let device = a.required("device")?;
    let file = match a.positional.as_slice() {
        [f] => PathBuf::from(f),
        [] => return Err(UsageError("FILE is required".into()).into()),
        [_, extra, ..] => return Err(UsageError(format!("unexpected argument {extra:?}")).into()),
    };
    util::validate_ident("product id", product).map_err(UsageError)?;
    util::validate_ident("device name", device).map_err(UsageError)?;
    let meta =
        std::fs::metadata(&file).map_err(|e| format!("cannot push {}: {e}", file.display()))?;
    if !meta.is_file() {
        return Err(format!("cannot push {}: not a regular file", file.display()).into());
    }
    let file = file
        .canonicalize()
        .map_err(|e| format!("cannot push {}: {e}", file.display()))?;
    let name = match a.get("name") {
        Some(n) => n.to_string(),
        None => file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} has no UTF-8 file name: pass --name", file.display()))?
            .to_string(),
    };
    util::validate_name(&name).map_err(|e| UsageError(format!("invalid --name: {e}")))?;

    let info = read_info(&data)?;
    let body = serde_json::to_vec(&PushRequest {
        product: product.to_string(),
        device: device.to_string(),
        file: file.clone(),
        name: name.clone(),
    })
    .map_err(|e| e.to_string())?;
    let (status, reply) = admin_post(&info.admin_url, "/push", &body)?;
    if status != 200 {
        let why = reply["error"].as_str().unwrap_or("no reason given");
        return Err(format!("push failed ({status}): {why}").into());
    }
    println!(
        "pushed {name:?} ({} bytes, md5 {}) to {product}/{device}",
        reply["size"],
        reply["md5sum"].as_str().unwrap_or("?")
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

fn cmd_list(args: &[String]) -> Result<(), Failure> {
    let a = parse(args, &["data"])?;
    a.no_positional()?;
    let data = PathBuf::from(a.required("data")?);
    let snap = state::read_snapshot(&data).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = snap
        .uploads
        .iter()
        .filter(|t| {
            ObjectKey::new(Bucket::Uploads, &t.product, &t.device, &t.name)
                .map(|k| store::object_file(&data, &k).is_file())
                .unwrap_or(false)
        })
        .map(|t| {
            vec![
                t.product.clone(),
                t.device.clone(),
                t.name.clone(),
                t.size.to_string(),
                t.md5sum.clone(),
                if t.status == UploadStatus::Verified {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
            ]
        })
        .collect();
    print_table(
        &["PRODUCT", "DEVICE", "NAME", "SIZE", "MD5", "VERIFIED"],
        &rows,
    );
    Ok(())
}

fn cmd_history(args: &[String]) -> Result<(), Failure> {
    let a = parse(args, &["data", "product", "device"])?;
    a.no_positional()?;
    let data = PathBuf::from(a.required("data")?);
    let entries = state::read_history(&data).map_err(|e| e.to_string())?;
    let rows: Vec<Vec<String>> = entries
        .iter()
        .filter(|e| a.get("product").is_none_or(|p| p == e.product))
        .filter(|e| a.get("device").is_none_or(|d| d == e.device))
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
            "MESSAGE",
        ],
        &rows,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn option_parsing() {
        let a = parse(
            &strings(&["--data", "d", "--name=x y", "f"]),
            &["data", "name"],
        )
        .ok()
        .unwrap();
        assert_eq!(a.get("data"), Some("d"));
        assert_eq!(a.get("name"), Some("x y"));
        assert_eq!(a.positional, ["f"]);
        assert!(parse(&strings(&["--bogus", "1"]), &["data"]).is_err());
        assert!(parse(&strings(&["--data"]), &["data"]).is_err());
        assert!(parse(&strings(&["--data", "a", "--data", "b"]), &["data"]).is_err());
    }

    #[test]
    fn host_port() {
        assert_eq!(parse_host_port("h:1883").ok(), Some(("h".into(), 1883)));
        assert_eq!(parse_host_port("[::1]:1").ok(), Some(("::1".into(), 1)));
        assert!(parse_host_port("h").is_err());
        assert!(parse_host_port("h:0").is_err());
        assert!(parse_host_port(":1").is_err());
    }
}
