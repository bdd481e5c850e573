#!/usr/bin/env bash
# e2e_key_auth: a mosquitto with `allow_anonymous false` and a password file
# holding the device's key-authentication login, computed here independently
# with Python's hmac (username "${product}${device};12010126;${connid};${expiry}",
# password: hex HMAC-SHA256 of the username keyed by the base64-decoded
# secret, then ";hmacsha256"), plus a login for the platform. The test hooks
# RESMGR_CONNID / RESMGR_EXPIRY make resmgr-device use the same connid and
# expiry. The upload succeeds with the right --secret and fails (exit 1,
# one clear line, no secret printed) with a wrong one.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

need mosquitto_passwd

secret=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')
wrong_secret=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(24)).decode())')
connid=Ab3x9
expiry=$(($(date +%s) + 3600))
read -r username password < <(python3 - "$PRODUCT" "$DEVICE_NAME" "$secret" "$connid" "$expiry" <<'PY'
import base64, hashlib, hmac, sys
product, device, secret, connid, expiry = sys.argv[1:]
username = f"{product}{device};12010126;{connid};{expiry}"
digest = hmac.new(base64.b64decode(secret), username.encode(), hashlib.sha256).hexdigest()
print(username, digest + ";hmacsha256")
PY
)
[ -n "$password" ] || fail "could not compute the login"

passwords=$WORK/passwords
mosquitto_passwd -c -b "$passwords" "$username" "$password" >/dev/null
mosquitto_passwd -b "$passwords" platform platform-pw >/dev/null
port=$(free_port)
start_mosquitto "$port" "allow_anonymous false" "password_file $passwords"
start_platform --broker "127.0.0.1:$port" --mqtt-user platform --mqtt-password platform-pw

file=$WORK/audit.log
make_file "$file" $((1024 * 1024 + 3))
md5=$(md5_of "$file")
export RESMGR_CONNID=$connid RESMGR_EXPIRY=$expiry

# Right secret: accepted by the broker, upload stored and verified.
run_device "$WORK/good.out" "$WORK/good.err" --timeout 60 --secret "$secret" upload "$file"
[ "$DEVICE_RC" -eq 0 ] || fail "upload with the right secret exited $DEVICE_RC"
wait_until 10 "the platform to list audit.log as verified" listed_verified audit.log "$md5"

# Wrong secret: the broker refuses; exit 1 at once with one clear line.
start=$SECONDS
run_device "$WORK/bad.out" "$WORK/bad.err" --timeout 60 --secret "$wrong_secret" upload "$file" --name other.log
[ "$DEVICE_RC" -eq 1 ] || fail "upload with a wrong secret exited $DEVICE_RC, expected 1"
[ $((SECONDS - start)) -le 20 ] || fail "a refused login took $((SECONDS - start))s to fail"
[ "$(line_count "$WORK/bad.err")" -eq 1 ] || fail "stderr is not one line: $(cat "$WORK/bad.err")"
grep -q "refused the connection" "$WORK/bad.err" || fail "unclear message: $(cat "$WORK/bad.err")"
for f in "$WORK"/good.out "$WORK"/good.err "$WORK"/bad.out "$WORK"/bad.err; do
  if grep -qF -e "$secret" -e "$wrong_secret" "$f"; then fail "a secret appears in $(basename "$f")"; fi
done
if platform list | grep -q other.log; then fail "the refused device still uploaded"; fi
