#!/usr/bin/env bash
# e2e_result_wait: `resmgr-device upload --result-wait SECONDS`.
# - Against resmgr-platform: by default the platform's upload_result is
#   waited for and printed; with --result-wait 0 it is not waited for, yet
#   the done report still reaches the platform (it is delivered before the
#   exit) and the platform verifies the upload.
# - Against a platform that never sends a verdict (a broker of the test's
#   own, the upload task answered by hand with a URL of resmgr-platform's
#   store): --result-wait 1 says no verdict came within 1 s, --result-wait 0
#   says nothing about it; both exit 0.
# - Bad values are usage errors.
# No timing is asserted.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need mosquitto_sub mosquitto_pub mosquitto_rr

start_platform
file=$WORK/reading.bin
make_file "$file" $((512 * 1024 + 7))
md5=$(md5_of "$file")
size=$(stat -c %s "$file")

# Usage errors (exit 2, one line).
for bad in -1 soon 4000001 ""; do
  run_device "$WORK/bad.out" "$WORK/bad.err" --result-wait "$bad" upload "$file"
  [ "$DEVICE_RC" -eq 2 ] || fail "--result-wait '$bad' exited $DEVICE_RC, expected 2"
  one_line "$WORK/bad.err" "--result-wait '$bad'"
done
run_device "$WORK/bad.out" "$WORK/bad.err" download --result-wait 3
[ "$DEVICE_RC" -eq 2 ] || fail "download --result-wait exited $DEVICE_RC, expected 2"
grep -q -- "--result-wait belong to the upload command" "$WORK/bad.err" ||
  fail "unclear message for download --result-wait: $(cat "$WORK/bad.err")"

# Default: the verdict is waited for and printed.
run_device "$WORK/default.out" "$WORK/default.err" --timeout 120 upload "$file" --name waited.bin
[ "$DEVICE_RC" -eq 0 ] || fail "upload exited $DEVICE_RC"
grep -q "^upload_result for 'waited.bin': result_code 0" "$WORK/default.out" ||
  fail "no upload_result line by default: $(cat "$WORK/default.out")"

# --result-wait 0: no verdict printed, but the done report was delivered.
run_device "$WORK/zero.out" "$WORK/zero.err" --timeout 120 --result-wait 0 upload "$file" --name unwaited.bin
[ "$DEVICE_RC" -eq 0 ] || fail "upload --result-wait 0 exited $DEVICE_RC"
grep -q "^uploaded '.*' as 'unwaited.bin' ($size bytes, md5 $md5)" "$WORK/zero.out" ||
  fail "stdout lacks the 'uploaded' line: $(cat "$WORK/zero.out")"
if grep -q "upload_result" "$WORK/zero.out" "$WORK/zero.err"; then
  fail "--result-wait 0 still waited for the verdict: $(cat "$WORK/zero.out" "$WORK/zero.err")"
fi
wait_until 10 "the done report of unwaited.bin" history_has upload unwaited.bin done
wait_until 10 "the platform to list unwaited.bin as verified" listed_verified unwaited.bin "$md5"

# A platform that never sends upload_result: the test's own broker, the
# upload task answered by hand with a URL that resmgr-platform signed.
url=$(ask_upload_url quiet.bin)
[ -n "$url" ] || fail "no upload URL from the platform"
quiet_port=$(free_port)
start_mosquitto "$quiet_port" "allow_anonymous true"
up="\$resource/up/service/$PRODUCT/$DEVICE_NAME"
down="\$resource/down/service/$PRODUCT/$DEVICE_NAME"
ups=$WORK/quiet-up.log
: >"$ups"
mosquitto_sub -p "$quiet_port" -t "$up" >>"$ups" 2>>"$WORK/quiet-sub.err" &
track $!
# Subscribed once a probe comes back.
probe_seen() {
  mosquitto_pub -p "$quiet_port" -t "$up" -m probe 2>/dev/null
  sleep 0.1
  grep -q '^probe$' "$ups"
}
wait_until 10 "mosquitto_sub to subscribe" probe_seen
rsp="{\"type\":\"create_upload_task_rsp\",\"result_code\":0,\"size\":$size,\"name\":\"quiet.bin\",\"md5sum\":\"$md5\",\"url\":\"$url\"}"

# quiet_upload TAG WAIT: one upload against the silent platform.
quiet_upload() {
  local tag=$1 wait=$2 asked_before
  # For start_device: the quiet broker, no login (it is anonymous), and a
  # DEVICE_PID of this function's own.
  local BROKER_PORT=$quiet_port DEVICE_AUTH=() DEVICE_PID
  asked_before=$(grep -c create_upload_task "$ups" || true)
  start_device "$WORK/$tag.out" "$WORK/$tag.err" --timeout 60 --result-wait "$wait" upload "$file" --name quiet.bin
  local pid=$DEVICE_PID
  asked() { [ "$(grep -c create_upload_task "$ups" || true)" -gt "$asked_before" ]; }
  wait_until 30 "the device's create_upload_task ($tag)" asked
  mosquitto_pub -p "$quiet_port" -t "$down" -q 1 -m "$rsp" || fail "cannot publish the answer"
  wait_exit "$pid" 90
  [ "$EXIT_RC" -eq 0 ] || fail "upload to the silent platform ($tag) exited $EXIT_RC"
  grep -q "^uploaded '.*' as 'quiet.bin' ($size bytes, md5 $md5)" "$WORK/$tag.out" ||
    fail "stdout lacks the 'uploaded' line ($tag): $(cat "$WORK/$tag.out")"
  ! grep -q "^upload_result" "$WORK/$tag.out" || fail "an upload_result came from nowhere ($tag)"
}

quiet_upload quiet1 1
grep -q "no upload_result from the platform within 1 s" "$WORK/quiet1.err" ||
  fail "--result-wait 1 did not say that no verdict came: $(cat "$WORK/quiet1.err")"
grep -q '"state":"done"' "$ups" || fail "the done report did not reach the broker: $(cat "$ups")"

quiet_upload quiet0 0
if grep -q "upload_result" "$WORK/quiet0.err"; then
  fail "--result-wait 0 waited for a verdict: $(cat "$WORK/quiet0.err")"
fi
[ "$(grep -c '"state":"done"' "$ups")" -ge 2 ] || fail "the second done report did not reach the broker: $(cat "$ups")"
