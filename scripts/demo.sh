#!/usr/bin/env bash
# The demo command: installs the tools, builds the C examples with CMake in
# build/ and runs the demos.
#
# Usage: scripts/demo.sh [DEMO...]   (default: every demo, in order)
# Demos:
#   inprocess  build/resmgr-example-inprocess: device and a scripted platform
#              in one process, no broker or network.
#
# To add a demo: write demo_<name>() below and append <name> to `demos`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

jobs=${RESMGR_JOBS:-2}
build_dir=${RESMGR_BUILD_DIR:-build}
demos=(inprocess)

section() {
  printf '\n== %s\n' "$*"
}

demo_inprocess() {
  "$build_dir/resmgr-example-inprocess"
}

selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${demos[@]}")
targets=()
for name in "${selected[@]}"; do
  if ! declare -F "demo_$name" >/dev/null; then
    echo "demo: unknown demo '$name' (known: ${demos[*]})" >&2
    exit 2
  fi
  targets+=(--target "resmgr-example-$name")
done

section "setup"
bash scripts/setup.sh
section "build ($build_dir)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"

for name in "${selected[@]}"; do
  section "demo: $name"
  "demo_$name"
done
