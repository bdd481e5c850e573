#!/usr/bin/env bash
# The demo command: installs the tools, builds the C examples with CMake in
# build/ and runs the demos.
#
# Usage: scripts/demo.sh [DEMO...]   (default: every demo, in order)
# Demos:
#   platform   the whole story on this machine: resmgr-platform (with its
#              own mosquitto, which admits registered devices only, and
#              object store) and the resmgr-device CLI: register the device,
#              log in with its secret, upload a generated file, push one to
#              the device, download it, verify both sides. RESMGR_DEMO_MIB
#              sets the size (40).
#   inprocess  build/resmgr-example-inprocess: device and a scripted platform
#              in one process, no broker or network.
#
# To add a demo: write demo_<name>() below and append <name> to `demos`.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
demos=(platform inprocess)

section() {
  printf '\n== %s\n' "$*"
}

demo_inprocess() {
  "$build_dir/resmgr-example-inprocess"
}

demo_platform() {
  local mib=${RESMGR_DEMO_MIB:-40}
  local work platform_pid=
  work=$(mktemp -d "${TMPDIR:-/tmp}/resmgr-demo.XXXXXX")
  # Whatever happens, the platform (and its private mosquitto) stops.
  trap 'if [ -n "$platform_pid" ]; then kill "$platform_pid" 2>/dev/null; wait "$platform_pid" 2>/dev/null; fi; rm -rf "$work"' RETURN
  local platform=target/release/resmgr-platform device="$build_dir/resmgr-device"

  section "register the device"
  local secret
  secret=$("$platform" device add --data "$work/platform" --product DEMO1 --device gateway-01)
  echo "registered DEMO1/gateway-01; its secret (base64) goes to resmgr-device --secret"
  "$platform" device list --data "$work/platform"

  section "start the platform"
  echo "starting the local platform (private mosquitto + object store) in $work/platform"
  "$platform" serve --data "$work/platform" --ready-file "$work/ready.json" >"$work/platform.log" 2>&1 &
  platform_pid=$!
  local i
  for i in $(seq 300); do
    [ -s "$work/ready.json" ] && break
    kill -0 "$platform_pid" 2>/dev/null || { cat "$work/platform.log" >&2; return 1; }
    sleep 0.1
  done
  [ -s "$work/ready.json" ] || { echo "the platform did not start" >&2; cat "$work/platform.log" >&2; return 1; }
  local port
  port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["broker_port"])' "$work/ready.json")
  echo "platform ready: MQTT on 127.0.0.1:$port (registered devices only, key authentication)"
  local dev=(--host 127.0.0.1 --port "$port" --product DEMO1 --device gateway-01 --secret "$secret")

  section "device uploads a ${mib} MiB sensor log"
  mkdir -p "$work/device" "$work/incoming"
  head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/device/sensor-log.bin"
  local t0=$SECONDS
  "$device" "${dev[@]}" upload "$work/device/sensor-log.bin"
  local up_s=$((SECONDS - t0))

  section "platform pushes a ${mib} MiB firmware image to the device"
  head -c "$((mib * 1024 * 1024))" /dev/urandom >"$work/firmware-v2.bin"
  "$device" "${dev[@]}" download --dir "$work/incoming" --wait 30 &
  local dl_pid=$!
  sleep 1
  "$platform" push --data "$work/platform" --product DEMO1 --device gateway-01 "$work/firmware-v2.bin"
  t0=$SECONDS
  wait "$dl_pid"
  local down_s=$((SECONDS - t0))

  section "verification"
  "$platform" list --data "$work/platform"
  local sent_md5 got_md5 pushed_md5 received_md5
  sent_md5=$(md5sum <"$work/device/sensor-log.bin" | cut -d' ' -f1)
  pushed_md5=$(md5sum <"$work/firmware-v2.bin" | cut -d' ' -f1)
  received_md5=$(md5sum <"$work/incoming/firmware-v2.bin" | cut -d' ' -f1)
  got_md5=$("$platform" list --data "$work/platform" | awk '$3 == "sensor-log.bin" && $6 == "verified" {print $5}')
  echo "upload:   device md5 $sent_md5, platform stored md5 ${got_md5:-<missing>}"
  echo "download: pushed md5 $pushed_md5, device received md5 $received_md5"
  if [ "$sent_md5" != "$got_md5" ] || [ "$pushed_md5" != "$received_md5" ]; then
    echo "demo: verification FAILED" >&2
    return 1
  fi
  echo
  echo "progress reports the platform received, and its verdicts:"
  "$platform" history --data "$work/platform" | tail -n 6
  echo
  echo "download tasks:"
  "$platform" task list --data "$work/platform"
  section "summary"
  echo "uploaded ${mib} MiB in ~${up_s}s and downloaded ${mib} MiB in ~${down_s}s over the local platform;"
  echo "both files verified by MD5 on both sides; the platform and its broker are stopped now."
}

selected=("$@")
[ ${#selected[@]} -gt 0 ] || selected=("${demos[@]}")
targets=()
for name in "${selected[@]}"; do
  if ! declare -F "demo_$name" >/dev/null; then
    echo "demo: unknown demo '$name' (known: ${demos[*]})" >&2
    exit 2
  fi
  case $name in
    platform) targets+=(--target resmgr-device) ;;
    *) targets+=(--target "resmgr-example-$name") ;;
  esac
done

section "setup"
bash scripts/setup.sh demo
section "build ($build_dir)"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j "$jobs" "${targets[@]}"
cargo build --quiet --release --locked -p resmgr-platform

for name in "${selected[@]}"; do
  section "demo: $name"
  "demo_$name"
done
