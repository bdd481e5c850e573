#!/usr/bin/env bash
# e2e_platform_s3: an S3 store behind the platform. `serve --s3-endpoint
# --s3-bucket` with a real s3s-fs (credentials from AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY): the device's upload URL is a SigV4 URL on s3s-fs
# and the bytes land there (the platform never sees them), the verdict
# comes from the store's HEAD; `push` stores the file in s3s-fs and the
# device downloads it from there. Said at start, one line each: missing
# credentials (exit 2), an unreachable endpoint, wrong credentials and a
# missing bucket (exit 1).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

s3s_fs=${S3S_FS:-}
[ -n "$s3s_fs" ] || s3s_fs=$(command -v s3s-fs 2>/dev/null || true)
[ -n "$s3s_fs" ] || [ ! -x "$HOME/.cargo/bin/s3s-fs" ] || s3s_fs=$HOME/.cargo/bin/s3s-fs
# A real store is the point of this test: its absence is a failure.
[ -n "$s3s_fs" ] || fail "s3s-fs not found (scripts/setup.sh installs it)"

key=RESMGRE2EACCESSKEY
secret=resmgr/e2e+secret/key0123456789
root=$WORK/s3root
mkdir -p "$root/fleet"
s3_port=$(free_port)
watch_log "$WORK/s3s-fs.log"
"$s3s_fs" --host 127.0.0.1 --port "$s3_port" --access-key "$key" --secret-key "$secret" "$root" \
  >"$WORK/s3s-fs.log" 2>&1 &
track $!
wait_until 30 "s3s-fs to listen" port_open "$s3_port"
endpoint=http://127.0.0.1:$s3_port

[ -n "${PLATFORM:-}" ] || build_platform
PLATFORM_DATA=$WORK/platform
# start_fails RC WHY ARGS...: serve exits RC at once with one line matching WHY.
start_fails() {
  local want=$1 why=$2
  shift 2
  local rc=0
  timeout 60 "$PLATFORM" serve --data "$WORK/refused" "$@" >"$WORK/start.out" 2>"$WORK/start.err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "serve $*: exit $rc, expected $want: $(cat "$WORK/start.err")"
  one_line "$WORK/start.err" "serve $*"
  grep -q "$why" "$WORK/start.err" || fail "serve $*: unclear: $(cat "$WORK/start.err")"
  [ ! -e "$WORK/refused/mosquitto/mosquitto.log" ] || fail "serve $* started a broker before checking the store"
}
log "bad S3 settings are said at start"
(
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
  start_fails 2 "AWS_ACCESS_KEY_ID" --s3-endpoint "$endpoint" --s3-bucket fleet
)
export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret
start_fails 2 "s3-bucket" --s3-endpoint "$endpoint"
start_fails 2 "s3-endpoint" --s3-endpoint "ftp://127.0.0.1:$s3_port" --s3-bucket fleet
dead=$(free_port)
start_fails 1 "cannot reach the S3 store at http://127.0.0.1:$dead/fleet/" --s3-endpoint "http://127.0.0.1:$dead" --s3-bucket fleet
AWS_SECRET_ACCESS_KEY=wrong start_fails 1 "refused the credentials" --s3-endpoint "$endpoint" --s3-bucket fleet
AWS_ACCESS_KEY_ID=NOSUCHKEY start_fails 1 "refused the credentials" --s3-endpoint "$endpoint" --s3-bucket fleet
start_fails 1 'has no bucket "nosuchbucket"' --s3-endpoint "$endpoint" --s3-bucket nosuchbucket

start_platform --s3-endpoint "$endpoint" --s3-bucket fleet
[ "$(json_get "$PLATFORM_READY" store_url)" = "$endpoint/fleet/" ] || fail "store_url: $(cat "$PLATFORM_READY")"

log "upload: the URL is on s3s-fs and the bytes land there"
read -r cid user pass < <(key_login "$PRODUCT" "$DEVICE_NAME" "$DEVICE_SECRET" $(($(date +%s) + 600)))
timeout 20 mosquitto_rr -p "$BROKER_PORT" -i "$cid" -u "$user" -P "$pass" -W 15 \
  -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" -e "\$resource/down/service/$PRODUCT/$DEVICE_NAME" \
  -m '{"type":"create_upload_task","size":1,"name":"probe","md5sum":"0cc175b9c0f1b6a831c399e269772661"}' \
  >"$WORK/probe.out" 2>&1 || fail "probe: $(cat "$WORK/probe.out")"
grep -q "\"url\":\"$endpoint/fleet/uploads/$PRODUCT/$DEVICE_NAME/probe?X-Amz-Algorithm=AWS4-HMAC-SHA256&" "$WORK/probe.out" ||
  fail "not a SigV4 URL on the store: $(cat "$WORK/probe.out")"
file=$WORK/sensor.bin
make_file "$file" $((3 * 1024 * 1024 + 11))
md5=$(md5_of "$file")
run_device "$WORK/up.out" "$WORK/up.err" --timeout 60 upload "$file"
[ "$DEVICE_RC" -eq 0 ] || fail "upload exited $DEVICE_RC"
cmp "$file" "$root/fleet/uploads/$PRODUCT/$DEVICE_NAME/sensor.bin" || fail "s3s-fs does not hold the upload"
wait_until 10 "the platform to list sensor.bin as verified" listed_verified sensor.bin "$md5"
[ ! -e "$PLATFORM_DATA/store/uploads" ] || fail "the built-in store was used"

log "the verdict comes from the store: other bytes under the name fail -4"
# The device's `done` for a task whose object is not what the task says.
printf 'x' >"$WORK/x"
timeout 20 mosquitto_rr -p "$BROKER_PORT" -i "$cid" -u "$user" -P "$pass" -W 15 \
  -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" -e "\$resource/down/service/$PRODUCT/$DEVICE_NAME" \
  -m "{\"type\":\"create_upload_task\",\"size\":$(stat -c %s "$file"),\"name\":\"sensor.bin\",\"md5sum\":\"0cc175b9c0f1b6a831c399e269772661\"}" \
  >/dev/null 2>&1 || fail "second task"
timeout 20 mosquitto_pub -p "$BROKER_PORT" -i "$cid" -u "$user" -P "$pass" -q 1 \
  -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" \
  -m '{"type":"report_upload_progress","name":"sensor.bin","progress":{"state":"done","result_code":0,"result_msg":""}}' ||
  fail "done report"
wait_until 10 "the platform's failed verdict" eval 'platform list | grep "sensor.bin .* failed .*md5sum not matched" >/dev/null'

log "push: stored in s3s-fs, downloaded from there"
fw=$WORK/fw.bin
make_file "$fw" $((2 * 1024 * 1024 + 3))
push "$fw"
cmp "$fw" "$root/fleet/downloads/$PRODUCT/$DEVICE_NAME/fw.bin" || fail "s3s-fs does not hold the pushed file"
mkdir "$WORK/dl"
run_device "$WORK/dl.out" "$WORK/dl.err" --timeout 60 download --dir "$WORK/dl" --wait 20
[ "$DEVICE_RC" -eq 0 ] || fail "download exited $DEVICE_RC"
cmp "$fw" "$WORK/dl/fw.bin" || fail "the downloaded file differs"
