#!/usr/bin/env bash
# The Cortex-M proof: builds resmgr's no_std core for a Cortex-M4F, links
# the project's examples-c/inprocess.c to it unchanged, with this reference
# port (startup.c, port.c, link.ld) and newlib, runs it on QEMU's model of
# the MPS2 AN386 board with semihosting, and fails unless the program exits
# 0 with its summary showing no unexpected events. Then a compile-only build
# of the core for a Cortex-M3 (thumbv7m-none-eabi, no FPU) keeps `std` from
# creeping back into the core. Prints the library's flash (from the map
# file) and the peak heap the port measured.
#
# Environment: RESMGR_FIRMWARE_DIR (build directory, default
# build-firmware), RESMGR_QEMU_TIMEOUT (seconds, default 300).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
bash scripts/setup-firmware.sh
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

out=${RESMGR_FIRMWARE_DIR:-build-firmware}
mkdir -p "$out"
target=thumbv7em-none-eabihf
locked=()
[ -f Cargo.lock ] && locked=(--locked)

# Panic locations name source files; without the build machine's path to
# the cargo registry they take less flash (about 360 bytes) and the image
# does not depend on where it was built. (The toolchain's /rustc/<commit>
# paths come precompiled with core and alloc: no flag shortens them.)
remap=()
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do
  [ -d "$d" ] && remap+=("--remap-path-prefix=$d=")
done
export RUSTFLAGS="${RUSTFLAGS:-} ${remap[*]}"

# The archive: `cargo rustc` with an explicit crate type, so the firmware
# profile's LTO applies (see Cargo.toml, [profile.firmware]).
cargo rustc "${locked[@]}" -p resmgr --lib --crate-type staticlib --profile firmware \
  --no-default-features --target "$target"
archive="target/$target/firmware/libresmgr.a"

cflags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -g
  -ffunction-sections -fdata-sections -Wall -Wextra -Werror -Iinclude -DRESMGR_NO_STD)
arm-none-eabi-gcc "${cflags[@]}" -c "$here/startup.c" -o "$out/startup.o"
arm-none-eabi-gcc "${cflags[@]}" -c "$here/port.c" -o "$out/port.o"
arm-none-eabi-gcc "${cflags[@]}" -c examples-c/inprocess.c -o "$out/inprocess.o"
arm-none-eabi-gcc "${cflags[@]}" -nostartfiles --specs=rdimon.specs -T "$here/link.ld" \
  -Wl,--gc-sections -Wl,-Map="$out/inprocess.map" \
  "$out/startup.o" "$out/port.o" "$out/inprocess.o" "$archive" -lm \
  -o "$out/inprocess.elf"
arm-none-eabi-size "$out/inprocess.elf"

echo "firmware: running inprocess.elf on qemu-system-arm -M mps2-an386"
rc=0
timeout "${RESMGR_QEMU_TIMEOUT:-300}" qemu-system-arm -M mps2-an386 -nographic -monitor none -serial none \
  -semihosting-config enable=on,target=native -kernel "$out/inprocess.elf" \
  >"$out/inprocess.log" 2>&1 || rc=$?
cat "$out/inprocess.log"
if [ "$rc" -ne 0 ]; then
  echo "firmware: FAILED: inprocess.elf exited with status $rc (124: timeout)" >&2
  exit 1
fi
if ! grep -Eq '^summary: .* 0 unexpected events' "$out/inprocess.log"; then
  echo "firmware: FAILED: no summary line with 0 unexpected events" >&2
  exit 1
fi

python3 "$here/footprint.py" "$out/inprocess.map" libresmgr.a
grep '^port: heap peak' "$out/inprocess.log" | sed 's/^port:/footprint:/'

# Compile only: the core for a Cortex-M3 without FPU.
cargo build "${locked[@]}" -p resmgr --lib --no-default-features --target thumbv7m-none-eabi
echo "firmware: ok"
