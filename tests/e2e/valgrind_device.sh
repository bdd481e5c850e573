#!/usr/bin/env bash
# e2e_valgrind_device: resmgr-device under valgrind (memcheck, the options
# of the valgrind_* tests) for one upload and one download against the
# platform: both exit 0 and valgrind reports no error and no definite or
# indirect leak (exit 99 otherwise).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

valgrind=${RESMGR_VALGRIND_EXE:-valgrind}
need "$valgrind"
start_platform
vg=("$valgrind" --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect
  --show-leak-kinds=definite,indirect)
ids=(--host 127.0.0.1 --port "$BROKER_PORT" --product "$PRODUCT" --device "$DEVICE_NAME" "${DEVICE_AUTH[@]}" --timeout 300)

file=$WORK/blob.bin
make_file "$file" $((2 * 1024 * 1024 + 1))
md5=$(md5_of "$file")
watch_log "$WORK/upload.err"
rc=0
timeout -k 5 400 "${vg[@]}" "$DEVICE" "${ids[@]}" upload "$file" >"$WORK/upload.out" 2>"$WORK/upload.err" || rc=$?
[ "$rc" -eq 0 ] || fail "upload under valgrind exited $rc"
wait_until 10 "the platform to list blob.bin as verified" listed_verified blob.bin "$md5"

push "$file" --name blob-copy.bin
mkdir "$WORK/dl"
watch_log "$WORK/download.err"
rc=0
timeout -k 5 400 "${vg[@]}" "$DEVICE" "${ids[@]}" download --dir "$WORK/dl" --wait 60 \
  >"$WORK/download.out" 2>"$WORK/download.err" || rc=$?
[ "$rc" -eq 0 ] || fail "download under valgrind exited $rc"
cmp "$file" "$WORK/dl/blob-copy.bin" || fail "downloaded file differs"
