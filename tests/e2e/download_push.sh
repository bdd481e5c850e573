#!/usr/bin/env bash
# e2e_download_push: `resmgr-device download --wait 30` is waiting (its
# get_download_task was answered "no task") when the platform pushes a file;
# it takes the pushed task, exits 0, and the file is identical.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_platform
file=$WORK/config.tar
make_file "$file" $((2 * 1024 * 1024 + 99))

pushed_download "$file" "$WORK/dl" 120 90
grep -q "download task 'config.tar' .*pushed" "$WORK/dl.err" || fail "the task did not come as a push"
wait_until 10 "the download's done report" history_has download config.tar done
