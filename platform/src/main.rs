//! resmgr-platform: the cloud side of resource management, on your desk.
//! See `resmgr-platform --help` and platform/README.md.

fn main() -> std::process::ExitCode {
    resmgr_platform::cli::main()
}
