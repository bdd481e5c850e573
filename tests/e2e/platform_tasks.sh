#!/usr/bin/env bash
# e2e_platform_tasks: what the operator sees is the truth, and a download
# task a device keeps failing does not block later pushes. Two pushes; the
# first one's object is lost from the store, so the device's download of it
# fails (404, reported fail -2): the next download takes the second push.
# `task list` shows the failure count and the outcomes, `history` the
# device's fail report; `task cancel` drops the broken task, after which
# nothing is pending (exit 3). Bad cancels: one line, exit 1.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start_platform
broken=$WORK/broken.bin
good=$WORK/good.bin
make_file "$broken" 1000
make_file "$good" $((300 * 1024))
push "$broken"
push "$good"
rm "$PLATFORM_DATA/store/downloads/$PRODUCT/$DEVICE_NAME/broken.bin"
mkdir "$WORK/dl"

log "the broken task fails, the next download takes the other one"
run_device "$WORK/first.out" "$WORK/first.err" --timeout 60 download --dir "$WORK/dl" --wait 10
[ "$DEVICE_RC" -eq 1 ] || fail "download of a lost object exited $DEVICE_RC, expected 1"
wait_until 10 "the device's fail report" history_has download broken.bin fail
platform history | grep "broken.bin .* fail .*-2 .*device" >/dev/null || fail "history: $(platform history)"
run_device "$WORK/second.out" "$WORK/second.err" --timeout 60 download --dir "$WORK/dl" --wait 10
[ "$DEVICE_RC" -eq 0 ] || fail "the second download exited $DEVICE_RC: the failing task blocked it"
cmp "$good" "$WORK/dl/good.bin" || fail "good.bin differs"
wait_until 10 "good.bin's done report" history_has download good.bin done

platform task list >"$WORK/tasks.out" || fail "task list failed"
grep -q "^$PRODUCT *$DEVICE_NAME *broken.bin *1000 .* pending *1 " "$WORK/tasks.out" ||
  fail "task list does not show broken.bin pending after 1 failure: $(cat "$WORK/tasks.out")"
grep -q "^$PRODUCT *$DEVICE_NAME *good.bin .* done *0 " "$WORK/tasks.out" ||
  fail "task list does not show good.bin done: $(cat "$WORK/tasks.out")"

log "task cancel drops it"
platform task cancel --product "$PRODUCT" --device "$DEVICE_NAME" --name broken.bin >"$WORK/cancel.out" 2>&1 ||
  fail "task cancel: $(cat "$WORK/cancel.out")"
platform task list | grep "broken.bin .* cancelled " >/dev/null || fail "not cancelled: $(platform task list)"
run_device "$WORK/third.out" "$WORK/third.err" --timeout 60 download --dir "$WORK/dl" --wait 2
[ "$DEVICE_RC" -eq 3 ] || fail "after the cancel a download found a task (exit $DEVICE_RC)"

log "bad cancels: exit 1, one line"
rc=0
platform task cancel --product "$PRODUCT" --device "$DEVICE_NAME" --name broken.bin >"$WORK/c.out" 2>"$WORK/c.err" || rc=$?
[ "$rc" -eq 1 ] || fail "cancelling a finished task exited $rc"
one_line "$WORK/c.err" "second cancel"
grep -q "no pending download task named \"broken.bin\"" "$WORK/c.err" || fail "unclear: $(cat "$WORK/c.err")"
stop_platform
rc=0
platform task cancel --product "$PRODUCT" --device "$DEVICE_NAME" --name x >"$WORK/c.out" 2>"$WORK/c.err" || rc=$?
[ "$rc" -eq 1 ] || fail "cancel without serve exited $rc"
one_line "$WORK/c.err" "cancel without serve"
grep -q "no platform is running" "$WORK/c.err" || fail "unclear: $(cat "$WORK/c.err")"
# task list reads the files: it works without serve.
platform task list | grep "good.bin .* done " >/dev/null || fail "task list without serve"
