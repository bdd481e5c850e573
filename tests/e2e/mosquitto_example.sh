#!/usr/bin/env bash
# e2e_mosquitto_example: resmgr-example-mosquitto (libmosquitto carries the
# MQTT, resmgr the protocol and the transfers) uploads a file and downloads
# the one the platform pushed before it started; exit 0, the upload is
# listed verified, the download is identical.
E2E_NO_DEVICE=1 # this test runs the example, not resmgr-device
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[ -x "$EXAMPLE_MOSQUITTO" ] || fail "resmgr-example-mosquitto not found at $EXAMPLE_MOSQUITTO"
# The example logs in without credentials (its own MQTT client has no key
# authentication): the platform admits anyone.
start_platform --anonymous

up=$WORK/telemetry.bin
make_file "$up" $((2 * 1024 * 1024 + 5))
up_md5=$(md5_of "$up")
down=$WORK/recipe.json
make_file "$down" $((512 * 1024 + 1))
push "$down"
mkdir "$WORK/dl"

watch_log "$WORK/example.out"
watch_log "$WORK/example.err"
rc=0
timeout -k 5 120 "$EXAMPLE_MOSQUITTO" --host 127.0.0.1 --port "$BROKER_PORT" \
  --product "$PRODUCT" --device "$DEVICE_NAME" "$up" "$WORK/dl" >"$WORK/example.out" 2>"$WORK/example.err" || rc=$?
[ "$rc" -eq 0 ] || fail "resmgr-example-mosquitto exited $rc"
cmp "$down" "$WORK/dl/recipe.json" || fail "downloaded file differs"
wait_until 10 "the platform to list telemetry.bin as verified" listed_verified telemetry.bin "$up_md5"
wait_until 10 "the upload's done report" history_has upload telemetry.bin done
wait_until 10 "the download's done report" history_has download recipe.json done
