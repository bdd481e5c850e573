#!/usr/bin/env bash
# e2e_platform_auth: devices are registered with `resmgr-platform device
# add` and the platform's private mosquitto, with the platform's plugin
# loaded, admits only registered devices whose key authentication is valid.
# resmgr-device with the printed secret (HMAC-SHA256) uploads; an
# HMAC-SHA1 login computed here is admitted too; a wrong secret, an expired
# username, an unknown device, a removed device and an anonymous client are
# refused (exit 1, one clear line); the broker's log says why. `device
# list` never shows a secret; bad `device` input exits 2 or 1 with one
# line. `serve --anonymous` admits anyone.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need mosquitto_rr mosquitto_pub base64

start_platform
[ -n "$DEVICE_SECRET" ] || fail "device add printed no secret"
printf '%s' "$DEVICE_SECRET" | base64 -d >/dev/null 2>&1 || fail "the secret is not base64: $DEVICE_SECRET"
platform device list >"$WORK/devices.out" 2>&1 || fail "device list failed"
grep -q "^PROD1 *dev1 *PROD1dev1 " "$WORK/devices.out" || fail "device list: $(cat "$WORK/devices.out")"
if grep -qF "$DEVICE_SECRET" "$WORK/devices.out"; then fail "device list shows the secret"; fi
conf_mode=$(stat -c %a "$PLATFORM_DATA/mosquitto/mosquitto.conf")
[ "$conf_mode" = 600 ] || fail "the broker config (it holds the platform's password) is mode $conf_mode"
[ "$(stat -c %a "$PLATFORM_DATA/devices.json")" = 600 ] || fail "devices.json is readable by others"

file=$WORK/audit.log
make_file "$file" $((512 * 1024 + 7))
md5=$(md5_of "$file")

log "right secret (HMAC-SHA256, resmgr-device): uploads"
run_device "$WORK/good.out" "$WORK/good.err" --timeout 60 upload "$file"
[ "$DEVICE_RC" -eq 0 ] || fail "upload with the right secret exited $DEVICE_RC"
wait_until 10 "the platform to list audit.log as verified" listed_verified audit.log "$md5"

log "an HMAC-SHA1 login is admitted"
read -r cid user pass < <(key_login "$PRODUCT" "$DEVICE_NAME" "$DEVICE_SECRET" $(($(date +%s) + 600)) sha1)
timeout 20 mosquitto_rr -p "$BROKER_PORT" -i "$cid" -u "$user" -P "$pass" -W 15 \
  -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" -e "\$resource/down/service/$PRODUCT/$DEVICE_NAME" \
  -m '{"type":"get_download_task"}' >"$WORK/sha1.out" 2>&1 || fail "HMAC-SHA1 login: $(cat "$WORK/sha1.out")"
grep -q '"get_download_task_rsp"' "$WORK/sha1.out" || fail "no answer over the SHA1 login: $(cat "$WORK/sha1.out")"

# refused ARGS... WHY: the device exits 1 at once with one line, and the
# broker's log gives WHY.
refused() {
  local why=${*: -1} name=refused$((++refusals))
  local start=$SECONDS
  DEVICE_RC=0
  timeout -k 5 60 "$DEVICE" --host 127.0.0.1 --port "$BROKER_PORT" --timeout 30 "${@:1:$#-1}" \
    upload "$file" --name "$name.bin" >"$WORK/$name.out" 2>"$WORK/$name.err" || DEVICE_RC=$?
  [ "$DEVICE_RC" -eq 1 ] || fail "$name ($why): exit $DEVICE_RC, expected 1: $(cat "$WORK/$name.err")"
  [ $((SECONDS - start)) -le 20 ] || fail "$name: a refused login took $((SECONDS - start))s"
  one_line "$WORK/$name.err" "$name"
  grep -q "refused the connection" "$WORK/$name.err" || fail "$name: unclear: $(cat "$WORK/$name.err")"
  wait_until 5 "the broker to log '$why'" eval 'mosquitto_log | grep "$why" >/dev/null'
}
refusals=0
wrong=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(18)).decode())')
log "wrong secret, expired username, unknown device: refused"
refused --product "$PRODUCT" --device "$DEVICE_NAME" --secret "$wrong" "the signature does not match the device secret"
RESMGR_CONNID=Ab3x9 RESMGR_EXPIRY=$(($(date +%s) - 5)) \
  refused --product "$PRODUCT" --device "$DEVICE_NAME" --secret "$DEVICE_SECRET" "the username's expiry has passed"
refused --product "$PRODUCT" --device ghost --secret "$DEVICE_SECRET" "no registered device has this client id"
for f in "$WORK"/*.out "$WORK"/*.err; do
  if grep -qF -e "$DEVICE_SECRET" -e "$wrong" "$f"; then fail "a secret appears in $(basename "$f")"; fi
done

log "anonymous clients and a wrong platform password: refused"
rc=0
timeout 20 mosquitto_pub -p "$BROKER_PORT" -i anon -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" -m '{}' \
  >"$WORK/anon.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "an anonymous client was admitted"
rc=0
timeout 20 mosquitto_pub -p "$BROKER_PORT" -i x -u resmgr-platform -P guess -t "\$resource/down/service/$PRODUCT/$DEVICE_NAME" \
  -m '{}' >"$WORK/platform-guess.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "the platform's username with a guessed password was admitted"

log "bad device commands: one line, exit 2 (usage) or 1"
expect_cli() {
  local want=$1
  shift
  local rc=0
  "$PLATFORM" "$@" >"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "resmgr-platform $*: exit $rc, expected $want: $(cat "$WORK/cli.err")"
  one_line "$WORK/cli.err" "resmgr-platform $*"
}
expect_cli 2 device add --data "$PLATFORM_DATA" --product 'a/b' --device d
expect_cli 2 device add --data "$PLATFORM_DATA" --product P
expect_cli 1 device add --data "$PLATFORM_DATA" --product "$PRODUCT" --device "$DEVICE_NAME"
grep -q "already registered" "$WORK/cli.err" || fail "unclear: $(cat "$WORK/cli.err")"
expect_cli 1 device remove --data "$PLATFORM_DATA" --product "$PRODUCT" --device ghost
grep -q "no device $PRODUCT/ghost is registered" "$WORK/cli.err" || fail "unclear: $(cat "$WORK/cli.err")"

printf 'x' >"$WORK/x.bin"
expect_cli 1 push --data "$PLATFORM_DATA" --product "$PRODUCT" --device ghost "$WORK/x.bin"
grep -q "device $PRODUCT/ghost is not registered" "$WORK/cli.err" || fail "unclear: $(cat "$WORK/cli.err")"

log "a removed device can no longer log in"
platform device remove --product "$PRODUCT" --device "$DEVICE_NAME" >/dev/null || fail "device remove failed"
refused --product "$PRODUCT" --device "$DEVICE_NAME" --secret "$DEVICE_SECRET" "no registered device has this client id"

log "serve --anonymous admits a device without a secret"
kill -TERM "$PLATFORM_PID"
wait_exit "$PLATFORM_PID" 20
[ "$EXIT_RC" -eq 0 ] || fail "serve exited $EXIT_RC on SIGTERM"
DEVICE_AUTH=()
start_platform --anonymous
run_device "$WORK/anon-up.out" "$WORK/anon-up.err" --timeout 60 upload "$file" --name open.log
[ "$DEVICE_RC" -eq 0 ] || fail "upload without a secret on an --anonymous platform exited $DEVICE_RC"
wait_until 10 "the platform to list open.log as verified" listed_verified open.log "$md5"
