//! Running and timing children, statistics, small file helpers.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The first `name` in PATH (and /usr/sbin, where mosquitto lives).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Runs `a` and `b`, `a` first in even reps and `b` first in odd ones, so
/// that neither side always meets the colder (or warmer) machine; their
/// results in the order (a, b).
pub fn in_turn<A, B, E>(
    rep: usize,
    a: impl FnOnce() -> Result<A, E>,
    b: impl FnOnce() -> Result<B, E>,
) -> Result<(A, B), E> {
    if rep % 2 == 0 {
        let a = a()?;
        Ok((a, b()?))
    } else {
        let b = b()?;
        Ok((a()?, b))
    }
}

/// What one child process cost.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Wall time from spawn to reaping, seconds.
    pub wall: f64,
    /// User and system CPU of the child (and its waited-for children).
    pub user: f64,
    pub sys: f64,
    /// Peak resident set of the child's own program, KiB (see
    /// [`PeakRss`]; 0 when it ended before the first sample).
    pub maxrss_kib: u64,
    pub stdout: String,
}

impl Run {
    /// Two runs one after the other.
    pub fn then(&self, next: &Run) -> Run {
        Run {
            wall: self.wall + next.wall,
            user: self.user + next.user,
            sys: self.sys + next.sys,
            maxrss_kib: self.maxrss_kib.max(next.maxrss_kib),
            stdout: format!("{}{}", self.stdout, next.stdout),
        }
    }
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// Runs `cmd` to its end; fails unless it exits 0. Stdout is captured,
/// stderr goes to the bench's stderr.
pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) -> Result<Run, String> {
    let cmd = cmd.borrow_mut();
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {what}: {e}"))?;
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let peak = PeakRss::watch(child.id());
    let mut status = 0;
    // SAFETY: plain wait4 on our own child; rusage is written by the kernel.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    let maxrss_kib = peak.stop();
    let stdout = reader.join().unwrap_or_default();
    if r != pid {
        return Err(format!("wait4 failed for {what}"));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!(
            "{what} failed (wait status {status}); stdout: {}",
            stdout.trim()
        ));
    }
    Ok(Run {
        wall,
        user: tv(usage.ru_utime),
        sys: tv(usage.ru_stime),
        maxrss_kib,
        stdout,
    })
}

/// The peak RSS of a child's program, sampled from `/proc/PID/status`
/// (`VmHWM`, the high-water mark of its address space) every 2 ms.
///
/// Not `ru_maxrss` from `wait4`: Linux folds the high-water mark of the
/// address space a process had before `exec` into it, and a child spawned
/// by `posix_spawn` (vfork) had the bench's own address space, so every
/// child smaller than the bench reported the bench's peak (all four
/// figure-4 runs read the same 4,980 KiB). `VmHWM` belongs to the address
/// space `exec` created, which is the program's alone; `spawn` returns
/// only after the `exec`.
pub struct PeakRss {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakRss {
    pub fn watch(pid: u32) -> PeakRss {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let path = format!("/proc/{pid}/status");
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(&path).ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                });
                // A zombie (ended, not yet reaped) has no VmHWM line.
                peak = peak.max(hwm.unwrap_or(0));
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        });
        PeakRss { stop, sampler }
    }

    /// Stops sampling (call right after reaping) and returns the peak, KiB.
    pub fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.join().unwrap_or(0)
    }
}

/// A command for `program` with `args`.
pub fn cmd<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// Flushes dirty pages so that one run's writes are not paid by the next.
pub fn settle() {
    // SAFETY: sync(2) takes no arguments.
    unsafe { libc::sync() };
}

/// Reads the file once so it is in the page cache.
pub fn warm(path: &Path) {
    if let Ok(mut f) = std::fs::File::open(path) {
        let mut buf = vec![0u8; 1 << 20];
        while matches!(f.read(&mut buf), Ok(n) if n > 0) {}
    }
}

/// Writes `size` bytes of pseudo-random data (xorshift: incompressible,
/// fast, reproducible) unless the file already has that size.
pub fn make_file(path: &Path, size: u64, seed: u64) -> std::io::Result<()> {
    if std::fs::metadata(path).map(|m| m.len()).ok() == Some(size) {
        return Ok(());
    }
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x = seed | 1;
    let mut left = size;
    let mut block = vec![0u8; 1 << 20];
    while left > 0 {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        f.write_all(&block[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// CPU seconds (user + system) a live process has used so far.
pub fn proc_cpu(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted after the command name.
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// CPU seconds this process has used (all threads).
pub fn self_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Median, min and max of a sample.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

pub fn stat(values: &[f64]) -> Stat {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return Stat {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        };
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Stat {
        median,
        min: v[0],
        max: v[n - 1],
    }
}

/// Human size: "1 GiB", "1 MiB", "512 KiB", or bytes.
pub fn size_name(n: u64) -> String {
    for (unit, name) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
        if n >= unit && n % unit == 0 {
            return format!("{} {name}", n / unit);
        }
    }
    format!("{n} B")
}

/// MB/s (10^6 bytes per second).
pub fn mbps(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// Stops a child service: `signal` (its graceful stop), up to 10 s for it
/// to exit, then SIGKILL; reaped either way.
pub fn stop_child(child: &mut std::process::Child, signal: libc::c_int) {
    // SAFETY: a signal to our own child, whose pid is live until reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, signal) };
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
