#!/usr/bin/env bash
# e2e_usage: bad arguments exit 2 and a missing file (or directory, or an
# unreachable broker) exits 1, each with exactly one line on stderr; a
# device secret never appears in the output. No platform needed.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

dead_port=$(free_port) # nothing listens there
secret='c2VjcmV0LWtleS1ub3QtdG8tYmUtc2hvd24='
bad_secret='not*base64!secret'
case_no=0

# expect STATUS ARGS...: runs resmgr-device, checks the status and that
# stderr is one line without any secret.
expect() {
  local want=$1
  shift
  case_no=$((case_no + 1))
  local out=$WORK/case$case_no.out err=$WORK/case$case_no.err rc=0
  timeout -k 5 60 "$DEVICE" "$@" >"$out" 2>"$err" || rc=$?
  [ "$rc" -eq "$want" ] || fail "case $case_no ($*): exit $rc, expected $want; stderr: $(cat "$err")"
  [ "$(line_count "$err")" -eq 1 ] || fail "case $case_no ($*): stderr is not one line: $(cat "$err")"
  grep -q '^resmgr-device: ' "$err" || fail "case $case_no ($*): stderr line lacks the program name"
  if grep -qF -e "$secret" -e "$bad_secret" "$out" "$err"; then fail "case $case_no: a secret was printed"; fi
  LAST_ERR=$err
}

ids=(--product PROD1 --device dev1)

# Usage errors: 2.
expect 2
expect 2 "${ids[@]}"
expect 2 "${ids[@]}" frobnicate
expect 2 "${ids[@]}" upload
expect 2 "${ids[@]}" upload a.bin b.bin
expect 2 --device dev1 upload a.bin
expect 2 --product PROD1 download
expect 2 "${ids[@]}" --port 0 download
expect 2 "${ids[@]}" --port 65536 download
expect 2 "${ids[@]}" --port abc download
expect 2 "${ids[@]}" --timeout 0 download
expect 2 "${ids[@]}" --timeout -5 download
expect 2 "${ids[@]}" download --wait soon
expect 2 "${ids[@]}" --bogus download
expect 2 "${ids[@]}" -x download
expect 2 "${ids[@]}" download --name x.bin
expect 2 "${ids[@]}" upload a.bin --follow
expect 2 "${ids[@]}" upload a.bin --dir /tmp
expect 2 "${ids[@]}" --host
expect 2 "${ids[@]}" --quiet=yes download
expect 2 --product 'PROD/1' --device dev1 download
expect 2 --product PROD1 --device 'dev+1' download
expect 2 "${ids[@]}" --secret "$bad_secret" download
grep -q "base64" "$LAST_ERR" || fail "a bad secret is not explained: $(cat "$LAST_ERR")"
expect 2 "${ids[@]}" --secret= download
RESMGR_EXPIRY=tomorrow expect 2 "${ids[@]}" download
RESMGR_CONNID=toolong expect 2 "${ids[@]}" --secret "$secret" download

# Other failures: 1 (all found before or while connecting).
expect 1 "${ids[@]}" --port "$dead_port" --secret "$secret" upload "$WORK/no-such-file.bin"
grep -q "upload '$WORK/no-such-file.bin' failed: No such file or directory" "$LAST_ERR" ||
  fail "unclear message for a missing file: $(cat "$LAST_ERR")"
expect 1 "${ids[@]}" --port "$dead_port" upload "$WORK"
grep -q "not a regular file" "$LAST_ERR" || fail "unclear message for a directory: $(cat "$LAST_ERR")"
expect 1 "${ids[@]}" --port "$dead_port" download --dir "$WORK/no-such-dir"
grep -q "no-such-dir" "$LAST_ERR" || fail "unclear message for a missing dir: $(cat "$LAST_ERR")"
make_file "$WORK/small.bin" 1000
expect 1 "${ids[@]}" --port "$dead_port" --timeout 2 --secret "$secret" upload "$WORK/small.bin"
grep -q "cannot connect to the MQTT broker 127.0.0.1:$dead_port" "$LAST_ERR" ||
  fail "unclear message for an unreachable broker: $(cat "$LAST_ERR")"
expect 1 "${ids[@]}" --ca "$WORK/no-such-ca.pem" download

# Help: 0, on stdout.
rc=0
"$DEVICE" --help >"$WORK/help.out" 2>"$WORK/help.err" || rc=$?
[ "$rc" -eq 0 ] || fail "--help exited $rc"
grep -q '^usage: resmgr-device' "$WORK/help.out" || fail "--help prints no usage"
[ ! -s "$WORK/help.err" ] || fail "--help wrote to stderr"

# The secret is wiped from the argument list (ps) while running.
start_device_ps() {
  "$DEVICE" "${ids[@]}" --port "$dead_port" --timeout 3 --secret "$secret" download --dir "$WORK" \
    >/dev/null 2>&1 &
  local pid=$!
  track "$pid"
  sleep 0.5
  if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$secret"; then fail "the secret is visible in /proc/PID/cmdline"; fi
}
[ -d /proc/self ] && start_device_ps
log "$case_no cases checked"
