# Shared helpers of the end-to-end tests (tests/e2e/<name>.sh, ctest
# e2e_<name>); sourced, not run. Each test is self-contained: its own work
# directory, its own platform (resmgr-platform serve) and broker on free
# loopback ports, and an EXIT trap that stops everything it started.
#
# Environment (ctest sets them; all optional when run by hand from a tree
# built with `cmake -S . -B build`):
#   RESMGR_SOURCE_DIR         the source tree (default: this script's ../..)
#   RESMGR_DEVICE             the resmgr-device executable
#   RESMGR_EXAMPLE_MOSQUITTO  the resmgr-example-mosquitto executable
#   RESMGR_PLATFORM           a resmgr-platform executable to use as is;
#                             otherwise it is built with
#                             `cargo build -p resmgr-platform --release --locked`
#   RESMGR_CARGO              cargo (default: cargo on PATH)
#   RESMGR_CARGO_TARGET_DIR   cargo target dir for that build (default:
#                             $CARGO_TARGET_DIR, else the workspace's target/)
#   RESMGR_E2E_KEEP=1         keep the work directory (logs, data) afterwards
#
# Exit status 77 means "skipped" (a required tool is missing); CMake tells
# ctest so with SKIP_RETURN_CODE.

set -euo pipefail

E2E_NAME=$(basename "$0" .sh)
ROOT=${RESMGR_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
DEVICE=${RESMGR_DEVICE:-$ROOT/build/resmgr-device}
EXAMPLE_MOSQUITTO=${RESMGR_EXAMPLE_MOSQUITTO:-$ROOT/build/resmgr-example-mosquitto}
PRODUCT=PROD1
DEVICE_NAME=dev1

WORK=$(mktemp -d "${TMPDIR:-/tmp}/resmgr-e2e-$E2E_NAME.XXXXXX")
_pids=()
_logs=()

log() { printf 'e2e %s: %s\n' "$E2E_NAME" "$*"; }

# Prints the logs this test registered (on failure).
_dump_logs() {
  local f
  for f in "${_logs[@]}"; do
    if [ -s "$f" ]; then
      printf -- '----- %s -----\n' "${f#"$WORK"/}"
      tail -n 60 "$f"
    fi
  done
}

fail() {
  printf 'e2e %s: FAIL: %s\n' "$E2E_NAME" "$*" >&2
  _dump_logs >&2
  exit 1
}

# Exit 77 (ctest: skipped) when a tool is missing; under CI=true a test
# that cannot run fails instead.
skip() {
  if [ "${CI:-}" = "true" ]; then
    fail "cannot run under CI=true: $*"
  fi
  printf 'e2e %s: SKIPPED: %s\n' "$E2E_NAME" "$*"
  exit 77
}

_cleanup() {
  local rc=$? pid i
  set +e
  for pid in "${_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Bounded: whatever has not ended within 5 s is killed.
  for i in $(seq 50); do
    local alive=0
    for pid in "${_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  for pid in "${_pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [ "${RESMGR_E2E_KEEP:-0}" = 1 ]; then
    echo "e2e $E2E_NAME: work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  if [ "$rc" -eq 0 ]; then echo "e2e $E2E_NAME: PASS"; fi
  exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# track PID: the EXIT trap stops it.
track() { _pids+=("$1"); }

# watch_log FILE: printed when the test fails.
watch_log() { _logs+=("$1"); }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || skip "$tool not found (scripts/setup.sh installs it)"
  done
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for $what"
    sleep 0.1
  done
}

# wait_exit PID SECONDS: waits for a background process and sets EXIT_RC to
# its exit status; kills it and fails when it outlives SECONDS. (Not in a
# $(...) subshell: only this shell can wait for its children.)
wait_exit() {
  local pid=$1 limit=$2
  local deadline=$((SECONDS + limit))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      fail "process $pid still running after ${limit}s"
    fi
    sleep 0.1
  done
  EXIT_RC=0
  wait "$pid" || EXIT_RC=$?
}

# A TCP port that was free a moment ago on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

port_open() {
  python3 -c 'import socket, sys; s = socket.socket(); s.settimeout(0.5); sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# json_get FILE KEY
json_get() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# make_file PATH BYTES: random content.
make_file() {
  head -c "$2" /dev/urandom >"$1"
}

md5_of() { md5sum "$1" | cut -d' ' -f1; }

line_count() { if [ -s "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }

mosquitto_exe() {
  if [ -n "${RESMGR_MOSQUITTO:-}" ]; then echo "$RESMGR_MOSQUITTO"; return; fi
  command -v mosquitto 2>/dev/null || { [ -x /usr/sbin/mosquitto ] && echo /usr/sbin/mosquitto; } || true
}

# build_platform: sets PLATFORM to a built resmgr-platform.
build_platform() {
  if [ -n "${RESMGR_PLATFORM:-}" ]; then
    PLATFORM=$RESMGR_PLATFORM
    [ -x "$PLATFORM" ] || fail "RESMGR_PLATFORM=$PLATFORM is not executable"
    return
  fi
  local cargo=${RESMGR_CARGO:-cargo}
  command -v "$cargo" >/dev/null 2>&1 || [ -x "$cargo" ] || fail "cargo not found"
  local target=${RESMGR_CARGO_TARGET_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}}
  log "building resmgr-platform (cargo, target dir $target)"
  "$cargo" build --quiet -p resmgr-platform --release --locked \
    --manifest-path "$ROOT/Cargo.toml" --target-dir "$target" >"$WORK/cargo.log" 2>&1 ||
    { cat "$WORK/cargo.log" >&2; fail "resmgr-platform does not build"; }
  PLATFORM=$target/release/resmgr-platform
  [ -x "$PLATFORM" ] || fail "no $PLATFORM after the build"
}

# register_device PRODUCT DEVICE: `resmgr-platform device add`; prints the
# secret.
register_device() {
  "$PLATFORM" device add --data "$PLATFORM_DATA" --product "$1" --device "$2" 2>>"$WORK/device-add.log" ||
    { cat "$WORK/device-add.log" >&2; fail "device add $1/$2 failed"; }
}

# start_platform [serve options...]: starts `resmgr-platform serve` with its
# data in $WORK/platform and waits for it; sets PLATFORM_DATA, BROKER_PORT,
# HTTP_PORT, PLATFORM_PID, PLATFORM_LOG, PLATFORM_READY (platform.json).
# Its private broker admits registered devices only (unless the options
# say --broker or --anonymous): $PRODUCT/$DEVICE_NAME is registered first,
# and DEVICE_AUTH (--secret SECRET) is what run_device and start_device
# pass, so the device logs in with its key.
DEVICE_AUTH=()
start_platform() {
  [ -n "${PLATFORM:-}" ] || build_platform
  PLATFORM_DATA=$WORK/platform
  PLATFORM_LOG=$WORK/platform.log
  local checked=1 arg
  for arg in "$@"; do
    case $arg in --broker | --anonymous) checked=0 ;; esac
  done
  if [ "$checked" -eq 1 ] && [ ${#DEVICE_AUTH[@]} -eq 0 ]; then
    DEVICE_SECRET=$(register_device "$PRODUCT" "$DEVICE_NAME")
    DEVICE_AUTH=(--secret "$DEVICE_SECRET")
  fi
  watch_log "$PLATFORM_LOG"
  local ready=$WORK/platform-ready.json
  rm -f "$ready"
  "$PLATFORM" serve --data "$PLATFORM_DATA" --ready-file "$ready" "$@" >"$PLATFORM_LOG" 2>&1 &
  PLATFORM_PID=$!
  track "$PLATFORM_PID"
  local deadline=$((SECONDS + 30))
  until [ -s "$ready" ] && json_get "$ready" http_port >/dev/null 2>&1; do
    kill -0 "$PLATFORM_PID" 2>/dev/null || fail "resmgr-platform serve exited early"
    [ "$SECONDS" -lt "$deadline" ] || fail "resmgr-platform serve not ready within 30s"
    sleep 0.1
  done
  PLATFORM_READY=$ready
  BROKER_PORT=$(json_get "$ready" broker_port)
  HTTP_PORT=$(json_get "$ready" http_port)
  log "platform ready: broker 127.0.0.1:$BROKER_PORT, store 127.0.0.1:$HTTP_PORT"
}

# platform CMD [SUBCMD] [args...]: runs a platform command against this
# test's data (`device` and `task` take a subcommand first).
platform() {
  local cmd=("$1")
  shift
  case ${cmd[0]} in device | task)
    cmd+=("$1")
    shift
    ;;
  esac
  "$PLATFORM" "${cmd[@]}" --data "$PLATFORM_DATA" "$@"
}

# push FILE [--name NAME]
push() {
  platform push --product "$PRODUCT" --device "$DEVICE_NAME" "$@" >>"$WORK/push.log" 2>&1 ||
    { cat "$WORK/push.log" >&2; fail "resmgr-platform push $* failed"; }
}

# history_has DIRECTION NAME STATE: the platform recorded such a report.
history_has() {
  platform history --product "$PRODUCT" --device "$DEVICE_NAME" 2>/dev/null |
    awk -v d="$1" -v n="$2" -v s="$3" '$4 == d && $5 == n && $6 == s { found = 1 } END { exit !found }'
}

# listed_verified NAME MD5: `list` shows the upload with that MD5, verified.
listed_verified() {
  platform list 2>/dev/null |
    awk -v n="$1" -v m="$2" -v p="$PRODUCT" -v d="$DEVICE_NAME" \
      '$1 == p && $2 == d && $3 == n && $5 == m && $6 == "verified" { found = 1 } END { exit !found }'
}

# start_mosquitto PORT [config lines...]: a broker of this test's own.
start_mosquitto() {
  local port=$1
  shift
  local exe
  exe=$(mosquitto_exe)
  [ -n "$exe" ] || skip "mosquitto not found (scripts/setup.sh installs it)"
  local conf=$WORK/mosquitto.conf
  {
    echo "listener $port 127.0.0.1"
    echo "persistence false"
    echo "log_dest stderr"
    # As root, mosquitto would drop to user "mosquitto", which cannot read
    # files in this test's private work directory.
    [ "$(id -u)" -ne 0 ] || echo "user root"
    local line
    for line in "$@"; do echo "$line"; done
  } >"$conf"
  MOSQUITTO_LOG=$WORK/mosquitto.log
  watch_log "$MOSQUITTO_LOG"
  "$exe" -c "$conf" >>"$MOSQUITTO_LOG" 2>&1 &
  MOSQUITTO_PID=$!
  track "$MOSQUITTO_PID"
  local deadline=$((SECONDS + 10))
  until port_open "$port"; do
    kill -0 "$MOSQUITTO_PID" 2>/dev/null || fail "mosquitto exited early"
    [ "$SECONDS" -lt "$deadline" ] || fail "mosquitto not listening on $port within 10s"
    sleep 0.05
  done
}

# run_device STDOUT STDERR ARGS...: runs resmgr-device against this test's
# broker and device (bounded by `timeout`), sets DEVICE_RC.
run_device() {
  local out=$1 err=$2
  shift 2
  watch_log "$err"
  DEVICE_RC=0
  timeout -k 5 300 "$DEVICE" --host 127.0.0.1 --port "$BROKER_PORT" \
    --product "$PRODUCT" --device "$DEVICE_NAME" "${DEVICE_AUTH[@]}" "$@" >"$out" 2>"$err" || DEVICE_RC=$?
}

# start_device STDOUT STDERR ARGS...: the same in the background; sets
# DEVICE_PID (stopped by the EXIT trap).
start_device() {
  local out=$1 err=$2
  shift 2
  watch_log "$err"
  "$DEVICE" --host 127.0.0.1 --port "$BROKER_PORT" \
    --product "$PRODUCT" --device "$DEVICE_NAME" "${DEVICE_AUTH[@]}" "$@" >"$out" 2>"$err" &
  DEVICE_PID=$!
  track "$DEVICE_PID"
}

need python3
if [ "${E2E_NO_DEVICE:-0}" != 1 ]; then
  [ -x "$DEVICE" ] || fail "resmgr-device not found at $DEVICE (build with cmake first, or set RESMGR_DEVICE)"
fi

# upload_and_download FILE BYTES FW_BYTES [DEVICE_OPTION...]: resmgr-device
# (with the options) uploads FILE, made here with BYTES bytes, which the
# platform must list as verified; then it downloads a pushed $WORK/fw.bin of
# FW_BYTES into $WORK/dl (made here), which must arrive intact.
upload_and_download() {
  local file=$1 bytes=$2 fw_bytes=$3 md5 fw=$WORK/fw.bin
  shift 3
  make_file "$file" "$bytes"
  md5=$(md5_of "$file")
  run_device "$WORK/up.out" "$WORK/up.err" --timeout 60 "$@" upload "$file"
  [ "$DEVICE_RC" -eq 0 ] || fail "upload ${*:+with $* }exited $DEVICE_RC"
  wait_until 10 "the platform to list ${file##*/} as verified" listed_verified "${file##*/}" "$md5"
  make_file "$fw" "$fw_bytes"
  push "$fw"
  mkdir "$WORK/dl"
  run_device "$WORK/dl.out" "$WORK/dl.err" --timeout 60 "$@" download --dir "$WORK/dl" --wait 20
  [ "$DEVICE_RC" -eq 0 ] || fail "download ${*:+with $* }exited $DEVICE_RC"
  cmp "$fw" "$WORK/dl/fw.bin" || fail "the downloaded file differs"
}

# pushed_download FILE DIR DEVICE_TIMEOUT EXIT_WITHIN: a device started in
# the background (`download --wait 30`, bounded by DEVICE_TIMEOUT seconds,
# logs DIR.out and DIR.err) waits for a pushed task; FILE is pushed to it,
# and within EXIT_WITHIN seconds it must exit 0 with FILE intact in DIR
# (made here).
pushed_download() {
  local file=$1 dir=$2 device_timeout=$3 exit_within=$4
  mkdir "$dir"
  start_device "$dir.out" "$dir.err" --timeout "$device_timeout" download --dir "$dir" --wait 30
  wait_until 20 "$DEVICE_NAME to wait for a pushed task" grep -q "waiting up to 30 s" "$dir.err"
  push "$file"
  wait_exit "$DEVICE_PID" "$exit_within"
  [ "$EXIT_RC" -eq 0 ] || fail "$DEVICE_NAME's download exited $EXIT_RC"
  cmp "$file" "$dir/${file##*/}" || fail "$DEVICE_NAME's downloaded ${file##*/} differs"
}

# key_login PRODUCT DEVICE SECRET EXPIRY [sha1|sha256]: prints the client id,
# username and password of a key-authenticated login (../shared/protocol.md),
# computed here with Python's hmac, independently of the platform.
key_login() {
  python3 - "$@" <<'PY'
import base64, hashlib, hmac, sys
product, device, secret, expiry = sys.argv[1:5]
alg = sys.argv[5] if len(sys.argv) > 5 else "sha256"
username = f"{product}{device};12010126;Ab3x9;{expiry}"
digest = hmac.new(base64.b64decode(secret), username.encode(), getattr(hashlib, alg)).hexdigest()
print(product + device, username, f"{digest};hmac{alg}")
PY
}

# mosquitto_log: the private broker's log.
mosquitto_log() { cat "$PLATFORM_DATA/mosquitto/mosquitto.log" 2>/dev/null; }

# one_line FILE WHAT: FILE holds exactly one line.
one_line() {
  [ "$(line_count "$1")" -eq 1 ] || fail "$2: not one line: $(cat "$1")"
}

# ask_upload_url NAME: asks for an upload task over MQTT with the device's
# key (key_login) and prints the URL of the answer.
ask_upload_url() {
  local cid user pass tls=()
  read -r cid user pass < <(key_login "$PRODUCT" "$DEVICE_NAME" "$DEVICE_SECRET" $(($(date +%s) + 600)))
  [ -z "${CA_FILE:-}" ] || tls=(--cafile "$CA_FILE")
  timeout 20 mosquitto_rr -p "$BROKER_PORT" "${tls[@]}" -i "$cid" -u "$user" -P "$pass" -W 15 \
    -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" -e "\$resource/down/service/$PRODUCT/$DEVICE_NAME" \
    -m "{\"type\":\"create_upload_task\",\"size\":1,\"name\":\"$1\",\"md5sum\":\"0cc175b9c0f1b6a831c399e269772661\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])'
}

# stop_platform: SIGTERM, and it must exit 0.
stop_platform() {
  kill -TERM "$PLATFORM_PID"
  wait_exit "$PLATFORM_PID" 20
  [ "$EXIT_RC" -eq 0 ] || fail "serve exited $EXIT_RC on SIGTERM"
}
