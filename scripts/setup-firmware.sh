#!/usr/bin/env bash
# Installs what the Cortex-M proof (firmware/mps2-an386/run.sh) needs: the
# Arm bare-metal C toolchain with newlib, QEMU's Arm system emulator and the
# two Rust targets the core is built for. Idempotent; called by run.sh, so
# the demo and the other tests never install any of it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

apt_packages=()
have arm-none-eabi-gcc || apt_packages+=(gcc-arm-none-eabi)
# newlib's headers and libc/libm for arm-none-eabi (with nano and
# semihosting variants).
[ -f /usr/lib/arm-none-eabi/include/stdlib.h ] || apt_packages+=(libnewlib-arm-none-eabi)
have qemu-system-arm || apt_packages+=(qemu-system-arm)
apt_install setup-firmware "${apt_packages[@]}"

installed=$(rustup target list --installed)
for target in thumbv7em-none-eabihf thumbv7m-none-eabi; do
  if ! grep -qx "$target" <<<"$installed"; then
    echo "setup-firmware: adding the Rust target $target" >&2
    rustup target add "$target"
  fi
done
