//! A private mosquitto for `serve` when no broker is given: configuration
//! and persistence under the data directory, the device check loaded as a
//! plugin (unless `--anonymous`), a TLS listener with `--tls`, and stopped
//! with the platform (also if the platform dies: parent-death signal).

use std::fs::{self, File};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A running private broker. Dropping it stops it.
pub struct PrivateBroker {
    child: Option<Child>,
    port: u16,
    platform_port: u16,
}

/// How the private broker is set up.
pub struct BrokerSetup<'a> {
    /// Address the devices' listener binds (127.0.0.1 unless told).
    pub bind: &'a str,
    /// Port of the devices' listener; `None` for a free one.
    pub port: Option<u16>,
    /// TLS for the devices' listener: (CA, certificate chain, key) files.
    /// The platform then connects to a second, plain listener on loopback.
    pub tls: Option<(&'a Path, &'a Path, &'a Path)>,
    /// The device check: (plugin, devices.json, platform username,
    /// platform password); `None` admits anyone (`--anonymous`).
    pub auth: Option<(&'a Path, &'a Path, &'a str, &'a str)>,
}

/// Finds the mosquitto executable: `$RESMGR_MOSQUITTO`, then `PATH`, then
/// the sbin directories a non-root `PATH` often lacks.
pub fn find_mosquitto() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RESMGR_MOSQUITTO") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("mosquitto"))
        .find(|p| p.is_file())
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

impl PrivateBroker {
    /// Starts mosquitto with its files in `data_dir/mosquitto/`, and waits
    /// until it accepts connections.
    pub fn start(data_dir: &Path, setup: &BrokerSetup<'_>) -> Result<PrivateBroker, String> {
        let exe = find_mosquitto().ok_or(
            "mosquitto not found (install it: apt-get install mosquitto; or set RESMGR_MOSQUITTO, or pass --broker HOST:PORT)",
        )?;
        let dir = data_dir.join("mosquitto");
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
        // The port is found by binding and releasing it, so another process
        // can take it in between: a few attempts cover that race.
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(&exe, &dir, setup) {
                Ok(b) => return Ok(b),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn try_start(exe: &Path, dir: &Path, setup: &BrokerSetup<'_>) -> Result<PrivateBroker, String> {
        let free = || free_port().map_err(|e| format!("no free port: {e}"));
        let port = match setup.port {
            Some(p) => p,
            None => free()?,
        };
        let platform_port = if setup.tls.is_some() { free()? } else { port };
        let conf = dir.join("mosquitto.conf");
        let log = dir.join("mosquitto.log");
        let stderr_log = dir.join("stderr.log");
        // Started as root, mosquitto switches to user "mosquitto", which
        // could not write into a private data directory.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root\n"
        } else {
            ""
        };
        let mut text = format!(
            "# Written by resmgr-platform serve on every start.\n\
             listener {port} {}\n",
            setup.bind
        );
        if let Some((ca, cert, key)) = setup.tls {
            text.push_str(&format!(
                "cafile {}\ncertfile {}\nkeyfile {}\n\
                 # The platform's own connection: plain, loopback only.\n\
                 listener {platform_port} 127.0.0.1\n",
                ca.display(),
                cert.display(),
                key.display()
            ));
        }
        match setup.auth {
            Some((plugin, devices, user, password)) => text.push_str(&format!(
                "allow_anonymous false\n\
                 plugin {}\n\
                 plugin_opt_devices {}\n\
                 plugin_opt_platform_username {user}\n\
                 plugin_opt_platform_password {password}\n",
                plugin.display(),
                devices.display()
            )),
            None => text.push_str("allow_anonymous true\n"),
        }
        text.push_str(&format!(
            "{user}\
             persistence true\n\
             persistence_location {}/\n\
             log_dest file {}\n\
             log_timestamp_format %Y-%m-%dT%H:%M:%S\n",
            dir.display(),
            log.display()
        ));
        // It holds the platform's broker password.
        crate::util::write_atomic_private(&conf, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let stderr = File::create(&stderr_log)
            .map_err(|e| format!("cannot create {}: {e}", stderr_log.display()))?;

        let mut cmd = Command::new(exe);
        cmd.arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    // Its own process group: a terminal's Ctrl-C reaches only
                    // the platform, which then stops the broker in order.
                    libc::setpgid(0, 0);
                    // And if the platform is killed outright, so is the broker.
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let mut broker = PrivateBroker {
            child: Some(child),
            port,
            platform_port,
        };

        let addr = SocketAddr::from(([127, 0, 0, 1], platform_port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = broker.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    broker.child = None;
                    return Err(format!(
                        "mosquitto exited at start ({status}): {} {}",
                        tail(&stderr_log),
                        tail(&log)
                    ));
                }
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(broker);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "mosquitto did not listen on 127.0.0.1:{platform_port} within 10 s: {}",
                    tail(&log)
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port devices connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The loopback port the platform connects to (the same as [`port`]
    /// without TLS).
    ///
    /// [`port`]: PrivateBroker::port
    pub fn platform_port(&self) -> u16 {
        self.platform_port
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Stops it: SIGTERM (so it saves its persistence file), then SIGKILL
    /// after 3 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: plain kill(2) on our own, not yet reaped, child.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}
