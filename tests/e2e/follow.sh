#!/usr/bin/env bash
# e2e_follow: `download --follow` handles every pushed task in turn; SIGTERM
# during a (throttled) download cancels it cleanly: exit 0, the partial file
# kept for a resume, nothing at the final path, `fail` reported. A one-shot
# download interrupted by SIGINT exits 130 and keeps the partial too; a last
# one-shot download of the same task resumes from it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cc=${CC:-cc}
need "$cc"
"$cc" -shared -fPIC -O2 -o "$WORK/throttle.so" "$(dirname "${BASH_SOURCE[0]}")/throttle.c" -ldl -lpthread ||
  fail "cannot build the throttle shim"
start_platform
mkdir "$WORK/dl"
for f in a b; do make_file "$WORK/$f.bin" $((100 * 1000 + 1)); done
make_file "$WORK/c.bin" $((10 * 1000 * 1000))

LD_PRELOAD=$WORK/throttle.so RESMGR_THROTTLE_PORT=$HTTP_PORT RESMGR_THROTTLE_BPS=2000000 \
  start_device "$WORK/follow.out" "$WORK/follow.err" --timeout 120 download --follow --dir "$WORK/dl"
wait_until 20 "the device to wait for tasks" grep -q "waiting for download tasks" "$WORK/follow.err"

for f in a b; do
  push "$WORK/$f.bin"
  wait_until 30 "$f.bin to arrive" test -f "$WORK/dl/$f.bin"
  cmp "$WORK/$f.bin" "$WORK/dl/$f.bin" || fail "$f.bin differs"
done

push "$WORK/c.bin"
part=$WORK/dl/.c.bin.resmgr-part
part_size() { [ -f "$part" ] && [ "$(stat -c %s "$part")" -ge "$1" ]; }
wait_until 30 "c.bin to be under way" part_size 1000000
kill -TERM "$DEVICE_PID"
wait_exit "$DEVICE_PID" 20
[ "$EXIT_RC" -eq 0 ] || fail "--follow exited $EXIT_RC after SIGTERM, expected 0"
[ -f "$part" ] || fail "the partial file of c.bin is gone"
[ ! -e "$WORK/dl/c.bin" ] || fail "c.bin is at its final path although it was cancelled"
grep -q "cancelled; its partial file is kept" "$WORK/follow.err" || fail "no note about the cancel"
wait_until 10 "c.bin's fail report" history_has download c.bin fail

# One-shot and throttled again: SIGINT mid-way exits 130 (interrupted).
before=$(stat -c %s "$part")
LD_PRELOAD=$WORK/throttle.so RESMGR_THROTTLE_PORT=$HTTP_PORT RESMGR_THROTTLE_BPS=2000000 \
  start_device "$WORK/int.out" "$WORK/int.err" --timeout 120 download --dir "$WORK/dl" --wait 10
wait_until 30 "c.bin to resume" part_size $((before + 500000))
kill -INT "$DEVICE_PID"
wait_exit "$DEVICE_PID" 20
[ "$EXIT_RC" -eq 130 ] || fail "a one-shot download exited $EXIT_RC after SIGINT, expected 130"
tail -n 1 "$WORK/int.err" | grep -q "download 'c.bin' interrupted; its partial file is kept" ||
  fail "unclear last line after SIGINT: $(tail -n 1 "$WORK/int.err")"
[ ! -e "$WORK/dl/c.bin" ] || fail "c.bin is at its final path although it was interrupted"
kept=$(stat -c %s "$part")

# One-shot, not throttled: the platform offers c.bin again; it resumes.
run_device "$WORK/again.out" "$WORK/again.err" --timeout 60 download --dir "$WORK/dl" --wait 10
[ "$DEVICE_RC" -eq 0 ] || fail "the second download exited $DEVICE_RC"
cmp "$WORK/c.bin" "$WORK/dl/c.bin" || fail "c.bin differs"
grep -q "GET .*c.bin -> 206 bytes $kept-9999999/10000000 ($((10 * 1000 * 1000 - kept)) bytes sent)" "$PLATFORM_LOG" ||
  fail "the second download did not resume from byte $kept"
