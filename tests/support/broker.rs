//! A private mosquitto for the tests, on free loopback ports, stopped
//! (killed and reaped) when dropped: the one place tests start a broker.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long mosquitto may take to listen.
const START: Duration = Duration::from_secs(20);

/// Debian's mosquitto, where scripts/setup.sh installs it.
pub fn mosquitto_path() -> PathBuf {
    for p in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("mosquitto is not installed: run scripts/setup.sh");
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running mosquitto.
pub struct Mosquitto {
    child: Child,
    /// Its listeners, in the order given.
    pub ports: Vec<u16>,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts mosquitto with `conf` (which declares a listener on each of
    /// `ports`) and waits until every port accepts. Persistence is off;
    /// as root it stays root, so that it can read the test's files.
    pub fn start(conf: &str, ports: Vec<u16>) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut full = String::from("persistence false\n");
        if is_root() {
            full.push_str("user root\n");
        }
        full.push_str(conf);
        full.push('\n');
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, full).unwrap();
        let child = Command::new(mosquitto_path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let broker = Mosquitto {
            child,
            ports,
            _dir: dir,
        };
        let deadline = Instant::now() + START;
        for &port in &broker.ports {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "mosquitto did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        broker
    }

    /// One plain listener on `port` (a free one when `None`) and `extra`.
    pub fn plain(extra: &str, port: Option<u16>) -> Mosquitto {
        let port = port.unwrap_or_else(free_port);
        Mosquitto::start(&format!("listener {port} 127.0.0.1\n{extra}"), vec![port])
    }

    /// The first listener's port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Kills it now (a broker restart: start another on the same port).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether the tests run as root, from the process's status.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
