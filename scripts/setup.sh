#!/usr/bin/env bash
# Installs what resmgr's demo or tests need on a Debian machine.
#
#   scripts/setup.sh demo   what scripts/demo.sh uses: a C toolchain, cmake,
#                           mosquitto (the platform's broker)
#   scripts/setup.sh        (or `test`) everything scripts/test.sh uses
#                           besides: valgrind, the MQTT clients and headers,
#                           openssl, curl, faketime, the sanitizer runtimes,
#                           rustfmt, clippy, cbindgen, cargo-fuzz, Miri and
#                           s3s-fs (the Cortex-M tools are
#                           scripts/setup-firmware.sh's)
#
# Idempotent: each tool is installed only when it is missing or at the wrong
# version, so running it before every build costs a few milliseconds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

what=${1:-test}
case "$what" in
  demo | test) ;;
  *)
    echo "usage: scripts/setup.sh [demo|test]" >&2
    exit 2
    ;;
esac

# Pinned so the committed header is reproducible (tests compare it byte for byte).
CBINDGEN_VERSION=0.29.4
# The S3-compatible object store the transfer tests run against; newer
# versions need a newer rustc.
S3S_FS_VERSION=0.14.1
# The fuzzing driver (tests/sanitize/fuzz.sh); it runs on the stable
# toolchain with RUSTC_BOOTSTRAP=1.
CARGO_FUZZ_VERSION=0.13.2

apt_packages=()
have cmake || apt_packages+=(cmake)
have gcc || apt_packages+=(gcc)
have make || apt_packages+=(make)
have pkg-config || apt_packages+=(pkg-config)
have mosquitto || [ -x /usr/sbin/mosquitto ] || apt_packages+=(mosquitto)
have python3 || apt_packages+=(python3)
if [ "$what" = test ]; then
  # The header's C++ check and the libFuzzer runtime.
  have g++ || apt_packages+=(g++)
  have valgrind || apt_packages+=(valgrind)
  have mosquitto_pub || apt_packages+=(mosquitto-clients)
  [ -f /usr/include/mosquitto.h ] || apt_packages+=(libmosquitto-dev)
  # The broker plugin interface headers: platform/tests/plugin_abi.rs checks
  # the platform's mosquitto plugin against them.
  [ -f /usr/include/mosquitto_broker.h ] || apt_packages+=(mosquitto-dev)
  have openssl || apt_packages+=(openssl)
  have curl || apt_packages+=(curl)
  # flock(1) and mkfifo(1): the download-directory tests (tests/hostile_dir.rs).
  have flock || apt_packages+=(util-linux)
  have mkfifo || apt_packages+=(coreutils)
  # libfaketime: the clock-jump cases of the fault tests.
  have faketime || apt_packages+=(faketime)
  # gcc's sanitizer runtimes (tests/sanitize/c.sh, tests/stress/run.sh):
  # AddressSanitizer, UndefinedBehaviorSanitizer, ThreadSanitizer; g++ for
  # the libFuzzer runtime cargo-fuzz compiles.
  sanitizer_ok() {
    local probe
    probe=$(mktemp -d)
    echo 'int main(void) { return 0; }' >"$probe/p.c"
    gcc -fsanitize="$1" "$probe/p.c" -o "$probe/p" >/dev/null 2>&1
    local rc=$?
    rm -rf "$probe"
    return $rc
  }
  if have gcc; then
    sanitizer_ok address || apt_packages+=(libasan8)
    sanitizer_ok undefined || apt_packages+=(libubsan1)
    sanitizer_ok thread || apt_packages+=(libtsan2)
  else
    apt_packages+=(libasan8 libubsan1 libtsan2)
  fi
fi

apt_install setup "${apt_packages[@]}"

if ! have cargo; then
  echo "setup: cargo not found; install Rust first (https://rustup.rs)" >&2
  exit 1
fi
# The demo needs nothing more: cargo builds the rest.
[ "$what" = demo ] && exit 0
# scripts/test.sh runs cargo fmt and cargo clippy.
if ! cargo fmt --version >/dev/null 2>&1; then
  echo "setup: installing rustfmt" >&2
  rustup component add rustfmt
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  echo "setup: installing clippy" >&2
  rustup component add clippy
fi
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "setup: installing cbindgen $CBINDGEN_VERSION" >&2
  cargo install --quiet --locked cbindgen --version "=$CBINDGEN_VERSION"
fi
if ! cargo fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "setup: installing cargo-fuzz $CARGO_FUZZ_VERSION" >&2
  cargo install --quiet --locked cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
fi
# Miri (tests/sanitize/miri.sh) exists for nightly toolchains only: the
# machine's nightly gets the miri and rust-src components, and a machine
# without a nightly gets a minimal one with them.
if ! cargo +nightly miri --version >/dev/null 2>&1; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    echo "setup: installing miri and rust-src for the nightly toolchain" >&2
    rustup +nightly component add miri rust-src
  else
    echo "setup: installing a minimal nightly toolchain with miri (tests/sanitize/miri.sh)" >&2
    rustup toolchain install nightly --profile minimal --component miri,rust-src
  fi
fi
if ! s3s-fs --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then
  echo "setup: installing s3s-fs $S3S_FS_VERSION (a few minutes, once)" >&2
  cargo install --quiet --locked s3s-fs --version "=$S3S_FS_VERSION" --features binary
fi
