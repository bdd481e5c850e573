#!/usr/bin/env bash
# e2e_url_expiry: presigned URLs live 2 s (serve --url-ttl 2); the device's
# reads from the store are throttled to 1 MB/s and its connection is broken
# once after 5 MB (throttle.c), so the retry meets an expired URL
# (RESMGR_ERR_URL_EXPIRED). The platform's expiry has whole-second
# resolution (a URL is refused once the clock's second is past
# issue + ttl), so a URL lives 2 to 3 s: the break comes at ~5 s, well
# after. (At 2 MB/s it came at ~2.5 s, and a quick retry sometimes still
# found the URL valid.) resmgr-device asks for a fresh URL with
# get_download_task, resumes with a Range request, and exits 0 with an
# identical file.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cc=${CC:-cc}
need "$cc"
"$cc" -shared -fPIC -O2 -o "$WORK/throttle.so" "$(dirname "${BASH_SOURCE[0]}")/throttle.c" -ldl -lpthread ||
  fail "cannot build the throttle shim"
start_platform --url-ttl 2

file=$WORK/map.bin
make_file "$file" $((6 * 1000 * 1000))
push "$file"
mkdir "$WORK/dl"

watch_log "$WORK/dl.err"
rc=0
LD_PRELOAD=$WORK/throttle.so RESMGR_THROTTLE_PORT=$HTTP_PORT RESMGR_THROTTLE_BPS=1000000 \
  RESMGR_THROTTLE_RESET_AFTER=5000000 \
  timeout -k 5 120 "$DEVICE" --host 127.0.0.1 --port "$BROKER_PORT" --product "$PRODUCT" \
  --device "$DEVICE_NAME" "${DEVICE_AUTH[@]}" --timeout 90 download --dir "$WORK/dl" --wait 20 >"$WORK/dl.out" 2>"$WORK/dl.err" || rc=$?
[ "$rc" -eq 0 ] || fail "download exited $rc"
cmp "$file" "$WORK/dl/map.bin" || fail "downloaded file differs"
grep -q "URL of 'map.bin' expired; asking the platform for a fresh one" "$WORK/dl.err" ||
  fail "the URL never expired: the test proved nothing"
grep -q "GET .* -> 206" "$PLATFORM_LOG" || fail "the download did not resume with a ranged GET"
wait_until 10 "the download's done report" history_has download map.bin done
