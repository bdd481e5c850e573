#!/usr/bin/env bash
# e2e_upload: `resmgr-device upload` of a generated file of a few MiB exits
# 0, and the platform lists the upload with the right MD5, verified, and has
# the device's `done` report. A second upload checks --name.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_platform
file=$WORK/sensor-log.bin
make_file "$file" $((3 * 1024 * 1024 + 12345))
md5=$(md5_of "$file")

run_device "$WORK/upload.out" "$WORK/upload.err" --timeout 120 upload "$file"
[ "$DEVICE_RC" -eq 0 ] || fail "upload exited $DEVICE_RC"
grep -q "^uploaded '.*' as 'sensor-log.bin' ($(stat -c %s "$file") bytes, md5 $md5)" "$WORK/upload.out" ||
  fail "stdout lacks the 'uploaded' line: $(cat "$WORK/upload.out")"
wait_until 10 "the platform to list sensor-log.bin as verified" listed_verified sensor-log.bin "$md5"
wait_until 10 "the upload's done report" history_has upload sensor-log.bin done

run_device "$WORK/named.out" "$WORK/named.err" --quiet --timeout 120 upload "$file" --name renamed.bin
[ "$DEVICE_RC" -eq 0 ] || fail "upload --name exited $DEVICE_RC"
[ ! -s "$WORK/named.err" ] || fail "--quiet upload wrote to stderr: $(cat "$WORK/named.err")"
wait_until 10 "the platform to list renamed.bin as verified" listed_verified renamed.bin "$md5"
