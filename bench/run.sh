#!/usr/bin/env bash
# The benchmarks of BENCHMARKS.md: builds everything in release, creates the
# data, starts the stores/platform it needs, runs every measurement several
# times side by side with its reference, and prints median ratios with
# min/max (also written to bench/results/latest.md).
#
#   bench/run.sh                 # full run: 1 GiB files, 5 repetitions
#   bench/run.sh --quick         # 64 MiB, 3 repetitions, 20-device fleet
#   bench/run.sh --only md5,upload   # some of: md5 upload download memory
#                                    # messages footprint fleet progress nginx
#
# Environment (all optional):
#   BENCH_SIZE        size of the big files in bytes (default 1073741824)
#   BENCH_REPS        repetitions of each measurement (default 5)
#   BENCH_BIG_REPS    repetitions of the big-file measurements (default 5)
#   BENCH_FLEET       devices in the fleet (default 200)
#   BENCH_FLEET_SIZE  bytes each fleet device uploads and downloads (1 MiB)
#   BENCH_DIR         data directory (default: a fresh temp dir, removed at
#                     the end; a given one is kept)
#   BENCH_NO_BUILD=1  use what was built last time
#
# Everything it builds goes to bench/target/ (its own cargo and CMake build
# directories), never to the tree's target/ or build/.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# The repository root, PATH, have and apt_install.
source "$here/../scripts/lib.sh"

log() { echo "bench: $*" >&2; }

# --- tools -----------------------------------------------------------------
if ! have openssl || ! have curl || ! have cc || ! have strip || ! have cmake \
   || ! { have mosquitto || [ -x /usr/sbin/mosquitto ]; } \
   || ! { have s3s-fs || [ -x "$HOME/.cargo/bin/s3s-fs" ]; }; then
  log "installing missing tools (scripts/setup.sh)"
  scripts/setup.sh
fi
have strip || apt_install bench binutils
# Figure 9's independent store: Debian's nginx-light (WebDAV PUT, TLS).
if ! have nginx && [ ! -x /usr/sbin/nginx ]; then
  apt_install bench nginx-light || log "nginx-light could not be installed: figure 9 will be skipped"
fi
have taskset || apt_install bench util-linux

# --- build -----------------------------------------------------------------
tgt="$here/target"
libs="$tgt/firmware-libs"
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building the bench harness (release)"
  cargo build --quiet --release --locked --manifest-path "$here/Cargo.toml"

  log "building resmgr-platform (release)"
  if ! cargo build --quiet --release --locked -p resmgr-platform --target-dir "$tgt/main"; then
    log "resmgr-platform does not build: fleet and CLI figures will be skipped"
  fi

  log "building resmgr-device (CMake, Release)"
  if ! { cmake -S . -B "$tgt/cmake" -DCMAKE_BUILD_TYPE=Release >/dev/null \
         && cmake --build "$tgt/cmake" --target resmgr-device -j2 >/dev/null; }; then
    log "resmgr-device does not build: its memory figure will be skipped"
  fi

  # set_features SET: the cargo feature flags of a size-table set, in feats.
  set_features() {
    case $1 in
      core) feats=(--no-default-features) ;;
      http) feats=(--no-default-features --features http) ;;
      mqtt) feats=(--no-default-features --features mqtt) ;;
      full-noroots) feats=(--no-default-features --features http,mqtt) ;;
      full) feats=() ;;
    esac
  }

  # The size table: libresmgr.a per feature set, with the `firmware`
  # profile of ../Cargo.toml (opt-level "z", lto, codegen-units 1,
  # panic abort, strip). One target dir; each archive is copied out.
  mkdir -p "$libs"
  for set in core http mqtt full-noroots full; do
    set_features "$set"
    log "building libresmgr.a ($set, profile firmware)"
    # `cargo rustc --crate-type staticlib`, not `cargo build`: with the
    # staticlib + rlib crate types of Cargo.toml, cargo drops `lto`.
    cargo rustc --quiet --locked -p resmgr --lib --crate-type staticlib --profile firmware "${feats[@]}" \
      --target-dir "$tgt/firmware"
    cp "$tgt/firmware/firmware/libresmgr.a" "$libs/libresmgr-$set.a"
  done

  # What a firmware team with a nightly toolchain gets: std rebuilt with the
  # same profile and panics that abort at once (no panic message or
  # backtrace machinery). Only where a nightly with rust-src is installed.
  host="$(rustc -vV | sed -n 's/^host: //p')"
  if cargo +nightly --version >/dev/null 2>&1 \
     && [ -d "$(rustc +nightly --print sysroot)/lib/rustlib/src/rust/library" ]; then
    for set in core http mqtt full-noroots full; do
      set_features "$set"
      log "building libresmgr.a ($set, profile firmware, nightly build-std)"
      if RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort" \
         cargo +nightly rustc --quiet --locked -p resmgr --lib --crate-type staticlib --profile firmware "${feats[@]}" \
           -Zbuild-std=std,panic_abort --target "$host" --target-dir "$tgt/firmware-build-std"; then
        cp "$tgt/firmware-build-std/$host/firmware/libresmgr.a" "$libs/libresmgr-$set-buildstd.a"
      else
        log "nightly build-std failed for $set: that column stays empty"
      fi
    done
  else
    log "no nightly toolchain with rust-src: the build-std column stays empty"
  fi
fi

# --- data ------------------------------------------------------------------
if [ -n "${BENCH_DIR:-}" ]; then
  data="$BENCH_DIR"
  mkdir -p "$data"
else
  data="$(mktemp -d "${TMPDIR:-/tmp}/resmgr-bench.XXXXXX")"
  trap 'rm -rf "$data"' EXIT
fi

# --- run -------------------------------------------------------------------
mkdir -p "$here/results"
args=(run --data "$data" --out "$here/results/latest.md" --footprint-c "$here/footprint/minimal.c")
for set in core http mqtt full-noroots full; do
  [ -f "$libs/libresmgr-$set.a" ] && args+=(--lib "$set=$libs/libresmgr-$set.a")
  [ -f "$libs/libresmgr-$set-buildstd.a" ] && args+=(--lib "$set@build-std=$libs/libresmgr-$set-buildstd.a")
done
[ -x "$tgt/main/release/resmgr-platform" ] && args+=(--platform "$tgt/main/release/resmgr-platform")
[ -x "$tgt/cmake/resmgr-device" ] && args+=(--device-cli "$tgt/cmake/resmgr-device")

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
  echo "tools: $(openssl version | cut -d' ' -f1-2), $(curl --version | head -1 | cut -d' ' -f1-2), $(rustc --version)"
} >&2
start=$(date +%s)
"$tgt/release/resmgr-bench" "${args[@]}" "$@"
log "done in $(( $(date +%s) - start )) s"
