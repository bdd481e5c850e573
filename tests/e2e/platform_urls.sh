#!/usr/bin/env bash
# e2e_platform_urls: store URLs a stock device can use. `--public-url`
# sets the base devices see (scheme, host, optional port and path prefix);
# a scheme's default port is left out of the URLs (the incumbent SDK
# ignores URL ports); URLs have the real store's shape and length (SigV4
# parameters with a session token, 500+ characters). Behind a path prefix
# (as behind a proxy) resmgr-device uploads and downloads. A bad
# --public-url exits 2 with one line.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need mosquitto_rr

[ -n "${PLATFORM:-}" ] || build_platform
log "bad --public-url: exit 2, one line"
for bad in "127.0.0.1:80" "ftp://127.0.0.1/" "http://" "http://user:pw@127.0.0.1/" "http://127.0.0.1/?a=b" "not a url"; do
  rc=0
  "$PLATFORM" serve --data "$WORK/bad" --public-url "$bad" >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
  [ "$rc" -eq 2 ] || fail "--public-url '$bad': exit $rc, expected 2: $(cat "$WORK/bad.err")"
  one_line "$WORK/bad.err" "--public-url '$bad'"
  grep -q -- "--public-url" "$WORK/bad.err" || fail "the error does not name --public-url: $(cat "$WORK/bad.err")"
done
rc=0
"$PLATFORM" serve --data "$WORK/bad" --tls --public-url http://127.0.0.1/ >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
[ "$rc" -eq 2 ] || fail "--tls with an http --public-url: exit $rc, expected 2"
one_line "$WORK/bad.err" "--tls --public-url http://"

# url_is URL PREFIX: URL starts with PREFIX, has the SigV4 parameters and
# is at least 500 characters long.
url_is() {
  case $1 in "$2"*) ;; *) fail "URL does not start with $2: $1" ;; esac
  [ "${#1}" -ge 500 ] || fail "URL is ${#1} characters, not the real store's 500+: $1"
  local p
  for p in X-Amz-Algorithm=AWS4-HMAC-SHA256 X-Amz-Credential= X-Amz-Date= X-Amz-Expires=900 \
    X-Amz-SignedHeaders=host X-Amz-Security-Token= X-Amz-Signature=; do
    case $1 in *"$p"*) ;; *) fail "URL lacks $p: $1" ;; esac
  done
}

log "default ports are left out"
start_platform --public-url http://127.0.0.1:80/
url_is "$(ask_upload_url 'a b.bin')" "http://127.0.0.1/resmgr/uploads/$PRODUCT/$DEVICE_NAME/a%20b.bin?"
stop_platform
start_platform --public-url https://store.example:443/s3
url_is "$(ask_upload_url probe)" "https://store.example/s3/resmgr/uploads/$PRODUCT/$DEVICE_NAME/probe?"
stop_platform
start_platform
url_is "$(ask_upload_url probe)" "http://127.0.0.1:$HTTP_PORT/resmgr/uploads/$PRODUCT/$DEVICE_NAME/probe?"
stop_platform

log "behind a path prefix: resmgr-device uploads and downloads"
port=$(free_port)
start_platform --http-port "$port" --public-url "http://127.0.0.1:$port/edge/store/"
url_is "$(ask_upload_url probe)" "http://127.0.0.1:$port/edge/store/resmgr/uploads/"
upload_and_download "$WORK/log.bin" $((1024 * 1024 + 1)) $((512 * 1024))
grep -q "GET downloads/$PRODUCT/$DEVICE_NAME/fw.bin -> 200 (524288 bytes sent)" "$PLATFORM_LOG" ||
  fail "the store did not log the whole GET"
