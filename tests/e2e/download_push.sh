#!/usr/bin/env bash
# e2e_download_push: `resmgr-device download --wait 30` is waiting (its
# get_download_task was answered "no task") when the platform pushes a file;
# it takes the pushed task, exits 0, and the file is identical.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_platform
file=$WORK/config.tar
make_file "$file" $((2 * 1024 * 1024 + 99))
mkdir "$WORK/dl"

start_device "$WORK/dl.out" "$WORK/dl.err" --timeout 120 download --dir "$WORK/dl" --wait 30
wait_until 20 "the device to wait for a pushed task" grep -q "waiting up to 30 s" "$WORK/dl.err"
push "$file"
wait_exit "$DEVICE_PID" 90
[ "$EXIT_RC" -eq 0 ] || fail "download exited $EXIT_RC"
cmp "$file" "$WORK/dl/config.tar" || fail "downloaded file differs"
grep -q "download task 'config.tar' .*pushed" "$WORK/dl.err" || fail "the task did not come as a push"
wait_until 10 "the download's done report" history_has download config.tar done
