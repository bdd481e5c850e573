#!/usr/bin/env bash
# e2e_download_query: a file pushed before the device starts is found by its
# get_download_task (the answer, not a push); `resmgr-device download` exits
# 0 with an identical file, no partial left behind, and `done` reported.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_platform
file=$WORK/firmware.bin
make_file "$file" $((4 * 1024 * 1024 + 7))
push "$file"
mkdir "$WORK/dl"

run_device "$WORK/dl.out" "$WORK/dl.err" --timeout 120 download --dir "$WORK/dl" --wait 20
[ "$DEVICE_RC" -eq 0 ] || fail "download exited $DEVICE_RC"
cmp "$file" "$WORK/dl/firmware.bin" || fail "downloaded file differs"
grep -q "download task 'firmware.bin' .*answered" "$WORK/dl.err" || fail "the task did not come as the answer"
grep -q "^downloaded 'firmware.bin'" "$WORK/dl.out" || fail "stdout lacks the 'downloaded' line"
[ -z "$(ls -A "$WORK/dl" | grep -v '^firmware.bin$' || true)" ] || fail "leftovers in the download dir: $(ls -A "$WORK/dl")"
wait_until 10 "the download's done report" history_has download firmware.bin done
