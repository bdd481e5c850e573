//! `resmgr-bench run`: every measurement of the benchmark issue, each
//! side by side with its reference in the same run, repeated, order
//! alternated between repetitions; prints median ratios with min/max and
//! writes the results as a Markdown table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::store::Store;
use crate::util::{self, cmd, in_turn, mbps, run, settle, size_name, stat, Run, Stat};

pub struct Ctx {
    /// This executable (the device side and helpers are its subcommands).
    pub exe: PathBuf,
    pub data: PathBuf,
    /// Size of the big files (1 GiB unless overridden).
    pub size: u64,
    /// Repetitions of the fast measurements and of the big-file ones.
    pub reps: usize,
    pub big_reps: usize,
    pub quick: bool,
    pub openssl: PathBuf,
    pub curl: PathBuf,
    pub only: Vec<String>,
    pub libs: Vec<(String, PathBuf)>,
    pub footprint_c: PathBuf,
    pub fleet_devices: usize,
    pub fleet_size: u64,
    pub platform: Option<PathBuf>,
    pub device_cli: Option<PathBuf>,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// One line of the results table.
pub struct Row {
    pub figure: String,
    pub ours: String,
    pub reference: String,
    pub ratio: Option<Stat>,
    pub target: String,
    pub met: Option<bool>,
}

impl Ctx {
    fn wants(&self, what: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == what)
    }

    pub fn row(&mut self, row: Row) {
        let ratio = row
            .ratio
            .map(|r| format!("{:.3} [{:.3}..{:.3}]", r.median, r.min, r.max))
            .unwrap_or_else(|| "-".into());
        eprintln!(
            "==> {} | ours {} | ref {} | ratio {} | target {} | {}",
            row.figure,
            row.ours,
            row.reference,
            ratio,
            row.target,
            met_word(row.met)
        );
        self.rows.push(row);
    }

    pub fn note(&mut self, s: String) {
        eprintln!("note: {s}");
        self.notes.push(s);
    }
}

fn met_word(m: Option<bool>) -> &'static str {
    match m {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "-",
    }
}

fn arg_value(it: &mut std::slice::Iter<'_, String>, a: &str) -> Result<String, String> {
    it.next().cloned().ok_or(format!("{a} needs a value"))
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

pub fn main(args: &[String]) -> Result<(), String> {
    let mut quick = false;
    let mut data = None;
    let mut out = None;
    let mut only = Vec::new();
    let mut libs = Vec::new();
    let mut footprint_c = None;
    let mut platform = None;
    let mut device_cli = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--data" => data = Some(PathBuf::from(arg_value(&mut it, a)?)),
            "--out" => out = Some(PathBuf::from(arg_value(&mut it, a)?)),
            "--only" => only.extend(arg_value(&mut it, a)?.split(',').map(str::to_owned)),
            "--lib" => {
                let v = arg_value(&mut it, a)?;
                let (k, p) = v.split_once('=').ok_or("--lib NAME=PATH")?;
                libs.push((k.to_owned(), PathBuf::from(p)));
            }
            "--footprint-c" => footprint_c = Some(PathBuf::from(arg_value(&mut it, a)?)),
            "--platform" => platform = Some(PathBuf::from(arg_value(&mut it, a)?)),
            "--device-cli" => device_cli = Some(PathBuf::from(arg_value(&mut it, a)?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let data = data.ok_or("--data DIR is required")?;
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let mut ctx = Ctx {
        exe: std::env::current_exe().map_err(|e| e.to_string())?,
        data,
        size: env_u64("BENCH_SIZE").unwrap_or(if quick { 64 << 20 } else { 1 << 30 }),
        reps: env_u64("BENCH_REPS").unwrap_or(if quick { 3 } else { 5 }) as usize,
        big_reps: env_u64("BENCH_BIG_REPS").unwrap_or(if quick { 3 } else { 5 }) as usize,
        quick,
        openssl: util::which("openssl").ok_or("openssl is not installed")?,
        curl: util::which("curl").ok_or("curl is not installed")?,
        only,
        libs,
        footprint_c: footprint_c.unwrap_or_else(|| PathBuf::from("bench/footprint/minimal.c")),
        fleet_devices: env_u64("BENCH_FLEET").unwrap_or(if quick { 20 } else { 200 }) as usize,
        fleet_size: env_u64("BENCH_FLEET_SIZE").unwrap_or(1 << 20),
        platform: platform.filter(|p| p.is_file()),
        device_cli: device_cli.filter(|p| p.is_file()),
        rows: Vec::new(),
        notes: Vec::new(),
    };
    eprintln!(
        "resmgr-bench: files of {}, {} repetitions ({} for big files), data in {}",
        size_name(ctx.size),
        ctx.reps,
        ctx.big_reps,
        ctx.data.display()
    );
    let input = ctx.data.join("input.bin");
    util::make_file(&input, ctx.size, 0x5eed).map_err(|e| e.to_string())?;
    let small = ctx.data.join("small.bin");
    util::make_file(&small, 1 << 20, 0xbeef).map_err(|e| e.to_string())?;
    util::warm(&input);

    let mut failures = Vec::new();
    let mut step = |ctx: &mut Ctx, name: &str, f: fn(&mut Ctx) -> Result<(), String>| {
        if !ctx.wants(name) {
            return;
        }
        if let Err(e) = f(ctx) {
            eprintln!("!! {name}: {e}");
            failures.push(format!("{name}: {e}"));
            ctx.note(format!("{name} failed: {e}"));
        }
    };
    step(&mut ctx, "md5", md5);
    step(&mut ctx, "upload", upload);
    step(&mut ctx, "download", download);
    step(&mut ctx, "memory", memory);
    step(&mut ctx, "messages", messages);
    step(&mut ctx, "footprint", footprint);
    step(&mut ctx, "fleet", crate::fleet::measure);
    step(&mut ctx, "progress", progress);
    step(&mut ctx, "nginx", crate::nginx::measure);

    let table = markdown(&ctx);
    println!("\n{table}");
    if let Some(out) = out {
        std::fs::write(&out, &table).map_err(|e| e.to_string())?;
        eprintln!("results written to {}", out.display());
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} measurement(s) failed", failures.len()))
    }
}

fn markdown(ctx: &Ctx) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Files of {}, {} repetitions ({} for big-file figures); ratio = median [min..max] of the per-repetition ratios.\n",
        size_name(ctx.size),
        ctx.reps,
        ctx.big_reps
    );
    s.push_str("| figure | ours | reference | ratio | target | |\n|---|---|---|---|---|---|\n");
    for r in &ctx.rows {
        let ratio = r
            .ratio
            .map(|r| format!("{:.3} [{:.3}..{:.3}]", r.median, r.min, r.max))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.figure,
            r.ours,
            r.reference,
            ratio,
            r.target,
            met_word(r.met)
        );
    }
    if !ctx.notes.is_empty() {
        s.push('\n');
        for n in &ctx.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}

/// The value of `key` in a one-line JSON object printed by a subcommand.
pub fn field(json: &str, key: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json.trim().lines().last()?).ok()?;
    v.get(key)?.as_f64()
}

fn ms(s: f64) -> String {
    format!("{:.0} ms", s * 1e3)
}

// ---------------------------------------------------------------------------
// 1. MD5

fn md5(ctx: &mut Ctx) -> Result<(), String> {
    let input = ctx.data.join("input.bin");
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..ctx.big_reps {
        util::warm(&input);
        let run_ours = || run(cmd(&ctx.exe, &["md5".as_ref(), input.as_os_str()]));
        let run_ref = || run(cmd(&ctx.openssl, &["md5".as_ref(), input.as_os_str()]));
        let (o, r) = in_turn(rep, run_ours, run_ref)?;
        let hex = o.stdout.trim().to_owned();
        if !r.stdout.contains(&hex) || hex.len() != 32 {
            return Err(format!(
                "digests differ: ours {hex}, openssl {}",
                r.stdout.trim()
            ));
        }
        eprintln!(
            "md5 rep {rep}: ours {:.3} s, openssl {:.3} s",
            o.wall, r.wall
        );
        ours.push(mbps(ctx.size, o.wall));
        theirs.push(mbps(ctx.size, r.wall));
        ratios.push(r.wall / o.wall);
    }
    let (o, t, r) = (stat(&ours), stat(&theirs), stat(&ratios));
    ctx.row(Row {
        figure: format!(
            "1. MD5 of {} (rate ratio ours/openssl)",
            size_name(ctx.size)
        ),
        ours: format!("{:.0} MB/s", o.median),
        reference: format!("`openssl md5`: {:.0} MB/s", t.median),
        ratio: Some(r),
        target: "≥ 1.0".into(),
        met: Some(r.median >= 1.0),
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Upload

fn ref_upload(ctx: &Ctx, file: &Path, url: &str) -> Result<Run, String> {
    // `openssl md5 -binary | base64`, without the shell: the base64 of 16
    // bytes costs nothing next to hashing the file.
    let hash = run(cmd(
        &ctx.openssl,
        &["md5".as_ref(), "-r".as_ref(), file.as_os_str()],
    ))?;
    let hex = hash.stdout.split_whitespace().next().unwrap_or("");
    let b64 = resmgr::Md5Digest::from_hex(hex)
        .map_err(|e| format!("openssl md5 printed {hex:?}: {}", e.message()))?
        .to_base64();
    let put = run(cmd(
        &ctx.curl,
        &[
            "-sS",
            "--fail-with-body",
            "-o",
            "/dev/null",
            "-T",
            file.to_str().unwrap(),
            "-H",
            &format!("Content-MD5: {b64}"),
            "-H",
            "Content-Type: application/octet-stream",
            url,
        ],
    ))?;
    Ok(hash.then(&put))
}

/// The device side as a command; `BENCH_WRAP_OURS` (e.g. `perf record
/// -g -o ours.data --`) is put in front, for profiling.
fn ours_cmd(ctx: &Ctx, args: &[&str]) -> Command {
    match std::env::var("BENCH_WRAP_OURS") {
        Ok(w) if !w.trim().is_empty() => {
            let mut words = w.split_whitespace();
            let mut c = Command::new(words.next().unwrap());
            c.args(words).arg(&ctx.exe).args(args);
            c
        }
        _ => cmd(&ctx.exe, args),
    }
}

fn our_upload(ctx: &Ctx, file: &Path, url: &str, progress: &str) -> Result<Run, String> {
    run(ours_cmd(
        ctx,
        &[
            "device-upload",
            "--file",
            file.to_str().unwrap(),
            "--url",
            url,
            "--progress",
            progress,
        ],
    ))
}

fn start_store(ctx: &mut Ctx) -> Result<Store, String> {
    let store = Store::start(&ctx.data, ctx.platform.as_deref())?;
    let note = format!("store for figures 2, 3, 4 and 8: {}", store.name());
    if !ctx.notes.contains(&note) {
        ctx.note(note);
    }
    Ok(store)
}

fn upload(ctx: &mut Ctx) -> Result<(), String> {
    let s3 = start_store(ctx)?;
    let input = ctx.data.join("input.bin");
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..ctx.big_reps {
        let go = |which: &str| -> Result<Run, String> {
            s3.clear_uploads();
            let key = format!("{which}.bin");
            let url = s3.put_url(&key, &input)?;
            settle();
            util::warm(&input);
            let r = if which == "ours" {
                our_upload(ctx, &input, &url, "default")?
            } else {
                ref_upload(ctx, &input, &url)?
            };
            if let Some(path) = s3.uploaded_path(&key) {
                let stored = std::fs::metadata(path).map(|m| m.len());
                if stored.as_ref().ok() != Some(&ctx.size) {
                    return Err(format!("{which}: the store holds {stored:?} bytes"));
                }
            }
            Ok(r)
        };
        let (o, r) = in_turn(rep, || go("ours"), || go("ref"))?;
        eprintln!(
            "upload rep {rep}: ours {:.3} s (hash {:.3} s, cpu {:.2} s), openssl+curl {:.3} s (cpu {:.2} s)",
            o.wall,
            field(&o.stdout, "hash_s").unwrap_or(f64::NAN),
            o.user + o.sys,
            r.wall,
            r.user + r.sys
        );
        ours.push(o.wall);
        theirs.push(r.wall);
        ratios.push(o.wall / r.wall);
    }
    s3.clear_uploads();
    let (o, t, r) = (stat(&ours), stat(&theirs), stat(&ratios));
    ctx.row(Row {
        figure: format!(
            "2. Upload {} end to end (time ratio ours/pair)",
            size_name(ctx.size)
        ),
        ours: format!("{} ({:.0} MB/s)", ms(o.median), mbps(ctx.size, o.median)),
        reference: format!(
            "`openssl md5` + `curl -T`: {} ({:.0} MB/s)",
            ms(t.median),
            mbps(ctx.size, t.median)
        ),
        ratio: Some(r),
        target: "≤ 1.0".into(),
        met: Some(r.median <= 1.0),
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// 3. Download

fn our_download(
    ctx: &Ctx,
    dir: &Path,
    url: &str,
    size: u64,
    md5: &str,
    progress: &str,
) -> Result<Run, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let r = run(ours_cmd(
        ctx,
        &[
            "device-download",
            "--dir",
            dir.to_str().unwrap(),
            "--name",
            "got.bin",
            "--url",
            url,
            "--size",
            &size.to_string(),
            "--md5",
            md5,
            "--progress",
            progress,
        ],
    ))?;
    let got = std::fs::metadata(dir.join("got.bin")).map(|m| m.len());
    if got.as_ref().ok() != Some(&size) {
        return Err(format!("download left {got:?} bytes"));
    }
    Ok(r)
}

fn download(ctx: &mut Ctx) -> Result<(), String> {
    let s3 = start_store(ctx)?;
    let input = ctx.data.join("input.bin");
    let (url, size, md5, stored) = s3.seed("obj.bin", &input)?;
    let stored = stored.unwrap_or(input.clone());
    let dir = ctx.data.join("dl");
    let (mut ours, mut theirs, mut synced, mut ratios, mut ratios_sync) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for rep in 0..ctx.big_reps {
        let go_ours = || -> Result<Run, String> {
            settle();
            util::warm(&stored);
            our_download(ctx, &dir, &url, size, &md5, "default")
        };
        let go_ref = || -> Result<(Run, Run), String> {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            settle();
            util::warm(&stored);
            let out = dir.join("ref.bin");
            let get = run(cmd(
                &ctx.curl,
                &["-sS", "--fail-with-body", "-o", out.to_str().unwrap(), &url],
            ))?;
            let hash = run(cmd(
                &ctx.openssl,
                &["md5".as_ref(), "-r".as_ref(), out.as_os_str()],
            ))?;
            if !hash.stdout.starts_with(&md5) {
                return Err(format!("curl got the wrong bytes: {}", hash.stdout.trim()));
            }
            // What making it durable would add (not part of the issue's pair).
            let sync = run(cmd("sync", &[out.as_os_str()]))?;
            Ok((get.then(&hash), sync))
        };
        let (o, (r, sync)) = in_turn(rep, go_ours, go_ref)?;
        eprintln!(
            "download rep {rep}: ours {:.3} s (cpu {:.2} s), curl+openssl {:.3} s (cpu {:.2} s) (+ fsync {:.3} s)",
            o.wall, o.user + o.sys, r.wall, r.user + r.sys, sync.wall
        );
        ours.push(o.wall);
        theirs.push(r.wall);
        synced.push(r.wall + sync.wall);
        ratios.push(o.wall / r.wall);
        ratios_sync.push(o.wall / (r.wall + sync.wall));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (o, t, r) = (stat(&ours), stat(&theirs), stat(&ratios));
    ctx.row(Row {
        figure: format!(
            "3. Download {} end to end (time ratio ours/pair)",
            size_name(ctx.size)
        ),
        ours: format!("{} ({:.0} MB/s)", ms(o.median), mbps(size, o.median)),
        reference: format!(
            "`curl -o` + `openssl md5`: {} ({:.0} MB/s)",
            ms(t.median),
            mbps(size, t.median)
        ),
        ratio: Some(r),
        target: "≤ 0.8".into(),
        met: Some(r.median <= 0.8),
    });
    let (s, rs) = (stat(&synced), stat(&ratios_sync));
    ctx.row(Row {
        figure: "3b. Download, reference made durable too (info)".into(),
        ours: ms(o.median),
        reference: format!("`curl -o` + `openssl md5` + `sync FILE`: {}", ms(s.median)),
        ratio: Some(rs),
        target: "-".into(),
        met: None,
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// 4. Memory

fn memory(ctx: &mut Ctx) -> Result<(), String> {
    let s3 = start_store(ctx)?;
    let big = ctx.data.join("input.bin");
    let small = ctx.data.join("small.bin");
    let dir = ctx.data.join("dl");
    let peak = |file: &Path, up: bool| -> Result<u64, String> {
        let mut v = Vec::new();
        let key = format!("mem-{}", file.file_name().unwrap().to_string_lossy());
        let (url, size, md5) = if up {
            (s3.put_url(&key, file)?, 0, String::new())
        } else {
            let (url, size, md5, _) = s3.seed(&key, file)?;
            (url, size, md5)
        };
        for _ in 0..ctx.reps.min(3) {
            let r = if up {
                our_upload(ctx, file, &url, "default")?
            } else {
                our_download(ctx, &dir, &url, size, &md5, "default")?
            };
            s3.clear_uploads();
            v.push(r.maxrss_kib as f64);
        }
        Ok(stat(&v).median as u64)
    };
    let up_small = peak(&small, true)?;
    let up_big = peak(&big, true)?;
    let down_small = peak(&small, false)?;
    let down_big = peak(&big, false)?;
    drop(s3);
    let _ = std::fs::remove_dir_all(&dir);
    for (what, s, b) in [
        ("upload", up_small, up_big),
        ("download", down_small, down_big),
    ] {
        let diff = b as i64 - s as i64;
        ctx.row(Row {
            figure: format!(
                "4. Peak RSS, {what} 1 MiB vs {} (device process, Rust API)",
                size_name(ctx.size)
            ),
            ours: format!("{} KiB vs {} KiB: {:+} KiB", s, b, diff),
            reference: "-".into(),
            ratio: None,
            target: "diff ≤ 1024 KiB, abs ≤ 16384 KiB".into(),
            met: Some(diff <= 1024 && b <= 16 * 1024),
        });
    }
    crate::fleet::memory_cli(ctx)
}

// ---------------------------------------------------------------------------
// 5. Down messages

fn messages(ctx: &mut Ctx) -> Result<(), String> {
    let n: u64 = if ctx.quick { 200_000 } else { 1_000_000 };
    let (mut ours, mut theirs, mut allocs, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut len = 0.0;
    for rep in 0..ctx.reps {
        let r = run(cmd(&ctx.exe, &["messages".to_owned(), n.to_string()]))?;
        let per_sec = field(&r.stdout, "per_sec").ok_or("no per_sec")?;
        let ref_per_sec = field(&r.stdout, "ref_per_sec").ok_or("no ref_per_sec")?;
        allocs.push(field(&r.stdout, "allocs_per_msg").ok_or("no allocs")?);
        len = field(&r.stdout, "payload_len").unwrap_or(0.0);
        eprintln!("messages rep {rep}: {per_sec:.0}/s, serde_json walk {ref_per_sec:.0}/s");
        ours.push(per_sec);
        theirs.push(ref_per_sec);
        ratios.push(per_sec / ref_per_sec);
    }
    let (o, t, r, a) = (stat(&ours), stat(&theirs), stat(&ratios), stat(&allocs));
    ctx.row(Row {
        figure: format!(
            "5. `create_upload_task_rsp` ({len:.0} B, 1 KB URL) handled per second, one thread"
        ),
        ours: format!(
            "{:.0}/s [{:.0}..{:.0}], {} allocations/message",
            o.median, o.min, o.max, a.max
        ),
        reference: format!("serde_json walk (IgnoredAny): {:.0}/s", t.median),
        ratio: Some(r),
        target: "≥ 500000/s".into(),
        met: Some(o.median >= 500_000.0),
    });
    Ok(())
}

// ---------------------------------------------------------------------------
// 6. Footprint

fn stripped_size(
    c: &Path,
    lib: Option<&Path>,
    defines: &[&str],
    extra: &[&str],
    out: &Path,
) -> Result<u64, String> {
    let mut c_cmd = Command::new("cc");
    c_cmd
        .args(["-Os", "-std=c99", "-ffunction-sections", "-fdata-sections"])
        .args(extra)
        .args(defines)
        .arg("-Iinclude")
        .arg(c)
        .arg("-o")
        .arg(out);
    if let Some(lib) = lib {
        c_cmd.arg(lib);
    }
    c_cmd.args([
        "-Wl,--gc-sections",
        "-Wl,-z,noexecstack",
        "-lpthread",
        "-ldl",
        "-lm",
    ]);
    let status = c_cmd.status().map_err(|e| format!("cc: {e}"))?;
    if !status.success() {
        return Err(format!("linking {} failed", out.display()));
    }
    let status = Command::new("strip")
        .arg(out)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("strip failed".into());
    }
    Ok(std::fs::metadata(out).map_err(|e| e.to_string())?.len())
}

fn kb(n: u64) -> String {
    format!("{:.1} KB", n as f64 / 1e3)
}

/// Libraries come as `--lib SET=PATH` (stable toolchain, `firmware`
/// profile) and `--lib SET@build-std=PATH` (nightly `-Zbuild-std` with
/// `-Cpanic=immediate-abort`, same profile).
fn footprint(ctx: &mut Ctx) -> Result<(), String> {
    if ctx.libs.is_empty() {
        return Err("no --lib NAME=PATH given (bench/run.sh builds them)".into());
    }
    let out_dir = ctx.data.join("footprint");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let c = ctx.footprint_c.clone();
    let base = stripped_size(&c, None, &["-DNO_RESMGR"], &[], &out_dir.join("baseline"))?;
    let base_nopie = stripped_size(
        &c,
        None,
        &["-DNO_RESMGR"],
        &["-no-pie"],
        &out_dir.join("baseline-nopie"),
    )?;
    ctx.row(Row {
        figure: "6. Stripped C program without resmgr (baseline, PIE / -no-pie)".into(),
        ours: format!("{} / {}", kb(base), kb(base_nopie)),
        reference: "-".into(),
        ratio: None,
        target: "-".into(),
        met: None,
    });
    let lib = |ctx: &Ctx, name: &str| {
        ctx.libs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, p)| p.clone())
    };
    for set in ["core", "http", "mqtt", "full-noroots", "full"] {
        let Some(stable) = lib(ctx, set) else {
            continue;
        };
        let (defines, limit, features): (&[&str], Option<u64>, &str) = match set {
            "core" => (
                &["-DRESMGR_NO_HTTP", "-DRESMGR_NO_MQTT"],
                Some(350_000),
                "--no-default-features",
            ),
            "http" => (
                &["-DRESMGR_NO_MQTT"],
                None,
                "--no-default-features --features http",
            ),
            "mqtt" => (
                &["-DRESMGR_NO_HTTP"],
                None,
                "--no-default-features --features mqtt",
            ),
            "full-noroots" => (&[], None, "--no-default-features --features http,mqtt"),
            _ => (
                &[],
                Some(2_000_000),
                "default features (http, mqtt, bundled-roots)",
            ),
        };
        let pie = stripped_size(&c, Some(&stable), defines, &[], &out_dir.join(set))?;
        let nopie = stripped_size(
            &c,
            Some(&stable),
            defines,
            &["-no-pie"],
            &out_dir.join(format!("{set}-nopie")),
        )?;
        let mut ours = format!(
            "{} (resmgr +{}); -no-pie {}",
            kb(pie),
            kb(pie - base),
            kb(nopie)
        );
        let mut reference = "-".to_owned();
        if let Some(bs) = lib(ctx, &format!("{set}@build-std")) {
            let size = stripped_size(
                &c,
                Some(&bs),
                defines,
                &[],
                &out_dir.join(format!("{set}-bs")),
            )?;
            let size_nopie = stripped_size(
                &c,
                Some(&bs),
                defines,
                &["-no-pie"],
                &out_dir.join(format!("{set}-bs-nopie")),
            )?;
            reference = format!(
                "nightly build-std + immediate-abort: {} (resmgr +{}); -no-pie {}",
                kb(size),
                kb(size - base),
                kb(size_nopie)
            );
            if let Some(l) = limit {
                ours.push_str(if size <= l {
                    "; target met with build-std"
                } else {
                    ""
                });
            }
        }
        ctx.row(Row {
            figure: format!(
                "6. Stripped C program + libresmgr.a, {set} (`{features}`, profile firmware)"
            ),
            ours,
            reference,
            ratio: None,
            target: limit
                .map(|l| format!("≤ {} KB", l / 1000))
                .unwrap_or_else(|| "-".into()),
            met: limit.map(|l| pie <= l),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 8. Progress reporting

fn progress(ctx: &mut Ctx) -> Result<(), String> {
    let s3 = start_store(ctx)?;
    let input = ctx.data.join("input.bin");
    let (get, size, md5, _) = s3.seed("obj.bin", &input)?;
    let put = s3.put_url("p.bin", &input)?;
    let dir = ctx.data.join("dl");
    for up in [true, false] {
        let (mut with, mut without, mut ratios, mut reports) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for rep in 0..ctx.big_reps {
            let go = |mode: &str| -> Result<(f64, f64), String> {
                settle();
                util::warm(&input);
                let r = if up {
                    s3.clear_uploads();
                    our_upload(ctx, &input, &put, mode)?
                } else {
                    our_download(ctx, &dir, &get, size, &md5, mode)?
                };
                let t = field(&r.stdout, "transfer_s").ok_or("no transfer_s")?;
                let publishes = field(&r.stdout, "publishes").unwrap_or(0.0);
                Ok((mbps(size, t), publishes))
            };
            let ((d, dp), (f, _)) = in_turn(rep, || go("default"), || go("off"))?;
            eprintln!(
                "progress {} rep {rep}: with reports {d:.0} MB/s ({dp} publishes), off {f:.0} MB/s",
                if up { "upload" } else { "download" }
            );
            with.push(d);
            without.push(f);
            ratios.push(d / f);
            reports.push(dp);
        }
        s3.clear_uploads();
        let (w, o, r, p) = (stat(&with), stat(&without), stat(&ratios), stat(&reports));
        ctx.row(Row {
            figure: format!(
                "8. {} rate with progress reports vs without (rate ratio)",
                if up { "Upload" } else { "Download" }
            ),
            ours: format!(
                "{:.0} MB/s with reports ({:.0} messages published)",
                w.median, p.median
            ),
            reference: format!("{:.0} MB/s with reporting off", o.median),
            ratio: Some(r),
            target: "≥ 0.98".into(),
            met: Some(r.median >= 0.98),
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
