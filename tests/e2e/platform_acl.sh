#!/usr/bin/env bash
# e2e_platform_acl: each device sees only its own topics, enforced by the
# platform's plugin inside mosquitto. With device A's login a client's
# subscriptions to B's down topic, to a wildcard over the down topics and
# to `#` are refused, and it receives nothing while B downloads a pushed
# file; what it publishes on B's up topic never reaches the platform (B's
# name never appears), while its own up topic works.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need mosquitto_sub mosquitto_rr mosquitto_pub

start_platform # registers PROD1/dev1: device A
secret_b=$(register_device "$PRODUCT" devB)
expiry=$(($(date +%s) + 600))
read -r cid_a user_a pass_a < <(key_login "$PRODUCT" "$DEVICE_NAME" "$DEVICE_SECRET" "$expiry")
down_b="\$resource/down/service/$PRODUCT/devB"

log "A subscribes to B's down topic, all down topics and #: refused, receives nothing"
watch_log "$WORK/spy.out"
mosquitto_sub -p "$BROKER_PORT" -i "$cid_a" -u "$user_a" -P "$pass_a" -V mqttv311 -v \
  -t "\$resource/down/service/$PRODUCT/dev1" -t "$down_b" -t "\$resource/down/service/$PRODUCT/+" \
  -t '#' -t '$resource/#' \
  >"$WORK/spy.out" 2>&1 &
spy=$!
track "$spy"
for filter in "$down_b" "\$resource/down/service/$PRODUCT/+" '#' '$resource/#'; do
  wait_until 10 "the broker to deny A's subscription to $filter" \
    eval 'mosquitto_log | grep -F "denied client \"$cid_a\" Subscribe on \"$filter\"" >/dev/null'
done

log "B downloads a file pushed to it while A listens"
file=$WORK/only-for-b.bin
make_file "$file" $((256 * 1024))
DEVICE_NAME=devB
DEVICE_AUTH=(--secret "$secret_b")
pushed_download "$file" "$WORK/b" 60 60
wait_until 10 "B's done report" history_has download only-for-b.bin done
# A's listener is still connected and works: it gets A's own push.
kill -0 "$spy" 2>/dev/null || fail "A's listener was disconnected: $(cat "$WORK/spy.out")"
for_a=$WORK/only-for-a.bin
make_file "$for_a" 100
DEVICE_NAME=dev1 push "$for_a"
wait_until 10 "A's listener to get A's push" grep -q only-for-a "$WORK/spy.out"
kill -TERM "$spy"
wait "$spy" 2>/dev/null || true
if grep -q "only-for-b\|service/$PRODUCT/devB" "$WORK/spy.out"; then
  fail "A's client received B's messages: $(cat "$WORK/spy.out")"
fi

log "A publishes on B's up topic: dropped; on its own: answered"
timeout 20 mosquitto_pub -p "$BROKER_PORT" -i "$cid_a" -u "$user_a" -P "$pass_a" -q 1 \
  -t "\$resource/up/service/$PRODUCT/devB" \
  -m '{"type":"create_upload_task","size":1,"name":"spoofed-by-a","md5sum":"0cc175b9c0f1b6a831c399e269772661"}' ||
  fail "mosquitto_pub as A failed"
wait_until 10 "the broker to deny A's publish" \
  eval 'mosquitto_log | grep -F "denied client \"$cid_a\" Write on \"\$resource/up/service/$PRODUCT/devB\"" >/dev/null'
# A's own request, sent after the spoofed one was acknowledged, is answered:
# had the broker passed the spoofed one on, the platform would have seen it
# first.
timeout 20 mosquitto_rr -p "$BROKER_PORT" -i "$cid_a" -u "$user_a" -P "$pass_a" -W 15 \
  -t "\$resource/up/service/$PRODUCT/dev1" -e "\$resource/down/service/$PRODUCT/dev1" \
  -m '{"type":"create_upload_task","size":1,"name":"marker","md5sum":"0cc175b9c0f1b6a831c399e269772661"}' \
  >"$WORK/marker.out" 2>&1 || fail "A's own request: $(cat "$WORK/marker.out")"
grep -q '"create_upload_task_rsp"' "$WORK/marker.out" || fail "no answer to A: $(cat "$WORK/marker.out")"
wait_until 10 "the platform to log A's task" grep -q 'upload task "marker"' "$PLATFORM_LOG"
if grep -q spoofed-by-a "$PLATFORM_LOG"; then fail "the platform got A's message on B's topic"; fi
if platform list | grep spoofed-by-a >/dev/null; then fail "A created a task for B"; fi
