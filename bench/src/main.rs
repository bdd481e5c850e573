//! resmgr-bench: benchmarks of resmgr side by side with what the machine
//! does best (openssl, curl). `bench/run.sh` builds and runs it; see
//! BENCHMARKS.md.
//!
//! Subcommands: `run` (the orchestrator: every measurement, medians of
//! ratios) and the pieces it spawns as separate processes (`md5`,
//! `device-upload`, `device-download`, `messages`, `fleet`).

mod device;
mod fleet;
mod messages;
mod nginx;
mod run;
mod s3;
mod store;
mod util;

#[global_allocator]
static ALLOC: messages::Counting = messages::Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        eprintln!("usage: resmgr-bench run|md5|device-upload|device-download|messages|fleet ...");
        std::process::exit(2);
    };
    let rest = &args[1..];
    let result = match cmd.as_str() {
        "run" => run::main(rest),
        "md5" => device::md5(rest),
        "device-upload" => device::device_upload(rest),
        "device-download" => device::device_download(rest),
        "messages" => messages::main(rest),
        "fleet" => fleet::main(rest),
        other => Err(format!("unknown command {other}")),
    };
    if let Err(e) = result {
        eprintln!("resmgr-bench {cmd}: {e}");
        std::process::exit(1);
    }
}
