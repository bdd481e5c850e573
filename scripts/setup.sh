#!/usr/bin/env bash
# Installs everything resmgr's build, tests and demo need on a Debian machine.
# Idempotent: each tool is installed only when it is missing or at the wrong
# version, so running it before every build costs a few milliseconds.
set -euo pipefail

# Pinned so the committed header is reproducible (tests compare it byte for byte).
CBINDGEN_VERSION=0.29.4

apt_packages=()
have() { command -v "$1" >/dev/null 2>&1; }
have cmake || apt_packages+=(cmake)
have g++ || apt_packages+=(g++)
have make || apt_packages+=(make)
have pkg-config || apt_packages+=(pkg-config)
have valgrind || apt_packages+=(valgrind)
have mosquitto || [ -x /usr/sbin/mosquitto ] || apt_packages+=(mosquitto)
have mosquitto_pub || apt_packages+=(mosquitto-clients)
[ -f /usr/include/mosquitto.h ] || apt_packages+=(libmosquitto-dev)
have openssl || apt_packages+=(openssl)
have curl || apt_packages+=(curl)

if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "setup: installing ${apt_packages[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "setup: installing cbindgen $CBINDGEN_VERSION" >&2
  cargo install --quiet --locked cbindgen --version "=$CBINDGEN_VERSION"
fi
