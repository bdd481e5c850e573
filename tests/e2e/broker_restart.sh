#!/usr/bin/env bash
# e2e_broker_restart: the platform uses a mosquitto this test runs. While
# `resmgr-device download` of a throttled download is running (the device's
# reads from the object store are slowed to 2 MB/s by the LD_PRELOAD shim
# throttle.c, so the transfer is still going), mosquitto is killed and
# restarted on the same port. The device must ride it out: the download
# finishes and verifies, and its `done` report reaches the platform over the
# new connection.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cc=${CC:-cc}
need "$cc"
"$cc" -shared -fPIC -O2 -o "$WORK/throttle.so" "$(dirname "${BASH_SOURCE[0]}")/throttle.c" -ldl -lpthread ||
  fail "cannot build the throttle shim"

port=$(free_port)
start_mosquitto "$port" "allow_anonymous true"
first_mosquitto=$MOSQUITTO_PID
start_platform --broker "127.0.0.1:$port"

file=$WORK/update.img
make_file "$file" $((20 * 1000 * 1000))
push "$file"
mkdir "$WORK/dl"

LD_PRELOAD=$WORK/throttle.so RESMGR_THROTTLE_PORT=$HTTP_PORT RESMGR_THROTTLE_BPS=2000000 \
  start_device "$WORK/dl.out" "$WORK/dl.err" --timeout 180 download --dir "$WORK/dl" --wait 20

part=$WORK/dl/.update.img.resmgr-part
part_size() { [ -f "$part" ] && [ "$(stat -c %s "$part")" -ge "$1" ]; }
wait_until 30 "the download to be under way" part_size 2000000

log "killing mosquitto (pid $first_mosquitto) during the download"
kill -KILL "$first_mosquitto"
wait "$first_mosquitto" 2>/dev/null || true
wait_until 15 "the device to notice the broker is gone" grep -q "connection to the broker lost" "$WORK/dl.err"
sleep 1
kill -0 "$DEVICE_PID" 2>/dev/null || fail "the device stopped while the broker was down"

log "restarting mosquitto on port $port"
start_mosquitto "$port" "allow_anonymous true"
wait_until 30 "the device to reconnect" grep -q "reconnected to the broker" "$WORK/dl.err"
[ ! -e "$WORK/dl/update.img" ] || fail "the download ended before the broker came back: the test proved nothing"
kill -0 "$DEVICE_PID" 2>/dev/null || fail "the device stopped before the download ended"

wait_exit "$DEVICE_PID" 120
[ "$EXIT_RC" -eq 0 ] || fail "download exited $EXIT_RC"
cmp "$file" "$WORK/dl/update.img" || fail "downloaded file differs"
wait_until 20 "the done report at the platform" history_has download update.img done
