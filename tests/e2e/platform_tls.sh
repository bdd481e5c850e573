#!/usr/bin/env bash
# e2e_platform_tls: `serve --tls` makes a CA and a server certificate under
# DIR/tls/, speaks MQTT over TLS to devices and hands out https store URLs.
# `resmgr-device --tls --ca DIR/tls/ca.pem` uploads and downloads (both
# verified); without --ca (the built-in roots do not know this CA) the
# device fails at once (exit 1, one line). A restart keeps the CA, so
# devices keep trusting it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need mosquitto_rr openssl

start_platform --tls
ca=$PLATFORM_DATA/tls/ca.pem
[ -s "$ca" ] || fail "no $ca"
[ "$(json_get "$PLATFORM_READY" ca_file)" = "$ca" ] || fail "platform.json does not name the CA"
[ "$(stat -c %a "$PLATFORM_DATA/tls/ca.key")" = 600 ] || fail "the CA key is readable by others"
openssl verify -CAfile "$ca" "$PLATFORM_DATA/tls/server.pem" >/dev/null 2>&1 ||
  fail "the server certificate does not verify against ca.pem"
store_url=$(json_get "$PLATFORM_READY" store_url)
case $store_url in https://127.0.0.1:*) ;; *) fail "store_url is $store_url, not https" ;; esac

log "an upload task's URL is https"
read -r cid user pass < <(key_login "$PRODUCT" "$DEVICE_NAME" "$DEVICE_SECRET" $(($(date +%s) + 600)))
timeout 20 mosquitto_rr -p "$BROKER_PORT" --cafile "$ca" -i "$cid" -u "$user" -P "$pass" -W 15 \
  -t "\$resource/up/service/$PRODUCT/$DEVICE_NAME" -e "\$resource/down/service/$PRODUCT/$DEVICE_NAME" \
  -m '{"type":"create_upload_task","size":1,"name":"probe","md5sum":"0cc175b9c0f1b6a831c399e269772661"}' \
  >"$WORK/probe.out" 2>&1 || fail "MQTT over TLS: $(cat "$WORK/probe.out")"
grep -q "\"url\":\"$store_url/resmgr/uploads/" "$WORK/probe.out" || fail "not an https URL: $(cat "$WORK/probe.out")"

log "resmgr-device --tls --ca: upload and download"
file=$WORK/secure.bin
upload_and_download "$file" $((1024 * 1024 + 5)) $((768 * 1024)) --tls --ca "$ca"
wait_until 35 "the store to log the https GET as sent in full" \
  grep -q "GET downloads/$PRODUCT/$DEVICE_NAME/fw.bin -> 200 (786432 bytes sent)" "$PLATFORM_LOG"

log "without --ca: refused at once"
start=$SECONDS
run_device "$WORK/noca.out" "$WORK/noca.err" --timeout 60 --tls upload "$file" --name untrusted.bin
[ "$DEVICE_RC" -eq 1 ] || fail "upload to an untrusted broker exited $DEVICE_RC, expected 1"
[ $((SECONDS - start)) -le 20 ] || fail "an untrusted certificate took $((SECONDS - start))s to fail"
one_line "$WORK/noca.err" "no --ca"
grep -q "certificate" "$WORK/noca.err" || fail "unclear message: $(cat "$WORK/noca.err")"

log "a restart keeps the CA"
before=$(md5_of "$ca")
kill -TERM "$PLATFORM_PID"
wait_exit "$PLATFORM_PID" 20
start_platform --tls
[ "$(md5_of "$ca")" = "$before" ] || fail "the CA changed across a restart"
run_device "$WORK/again.out" "$WORK/again.err" --timeout 60 --tls --ca "$ca" upload "$file" --name again.bin
[ "$DEVICE_RC" -eq 0 ] || fail "upload after the restart exited $DEVICE_RC"
