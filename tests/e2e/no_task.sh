#!/usr/bin/env bash
# e2e_no_task: nothing pending and nothing pushed: `download --wait 2` exits
# 3 within a few seconds, with one line on stderr.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_platform
mkdir "$WORK/dl"
start=$SECONDS
run_device "$WORK/dl.out" "$WORK/dl.err" --quiet download --dir "$WORK/dl" --wait 2
elapsed=$((SECONDS - start))
[ "$DEVICE_RC" -eq 3 ] || fail "exit status $DEVICE_RC, expected 3"
[ "$elapsed" -le 15 ] || fail "took ${elapsed}s for --wait 2"
[ "$(line_count "$WORK/dl.err")" -eq 1 ] || fail "stderr is not one line: $(cat "$WORK/dl.err")"
grep -q "no download task within 2 s" "$WORK/dl.err" || fail "unclear message: $(cat "$WORK/dl.err")"
[ -z "$(ls -A "$WORK/dl")" ] || fail "files appeared in the download dir"
