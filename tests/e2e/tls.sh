#!/usr/bin/env bash
# e2e_tls: MQTT over TLS. A mosquitto with a plain listener (for the
# platform) and a TLS listener whose certificate comes from a CA made here
# with openssl. `--tls --ca CA` uploads; without --ca (the built-in Mozilla
# roots do not know this CA) the command fails at once: exit 1, one line.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

need openssl
pki=$WORK/pki
mkdir "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 \
  -subj "/CN=resmgr e2e CA" >/dev/null 2>&1 || fail "openssl: CA"
openssl req -newkey rsa:2048 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" \
  -subj "/CN=localhost" >/dev/null 2>&1 || fail "openssl: CSR"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$pki/ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
  -out "$pki/server.pem" -days 2 -extfile "$pki/ext" >/dev/null 2>&1 || fail "openssl: certificate"

plain=$(free_port)
tls=$(free_port)
start_mosquitto "$plain" "allow_anonymous true" "listener $tls 127.0.0.1" \
  "cafile $pki/ca.pem" "certfile $pki/server.pem" "keyfile $pki/server.key"
wait_until 10 "the TLS listener" port_open "$tls"
start_platform --broker "127.0.0.1:$plain"
BROKER_PORT=$tls # the device talks TLS

file=$WORK/secure.bin
make_file "$file" $((512 * 1024))
md5=$(md5_of "$file")
run_device "$WORK/tls.out" "$WORK/tls.err" --timeout 60 --tls --ca "$pki/ca.pem" upload "$file"
[ "$DEVICE_RC" -eq 0 ] || fail "upload over TLS exited $DEVICE_RC"
wait_until 10 "the platform to list secure.bin as verified" listed_verified secure.bin "$md5"

start=$SECONDS
run_device "$WORK/noca.out" "$WORK/noca.err" --timeout 60 --tls upload "$file" --name untrusted.bin
[ "$DEVICE_RC" -eq 1 ] || fail "upload to an untrusted broker exited $DEVICE_RC, expected 1"
[ $((SECONDS - start)) -le 20 ] || fail "an untrusted certificate took $((SECONDS - start))s to fail"
[ "$(line_count "$WORK/noca.err")" -eq 1 ] || fail "stderr is not one line: $(cat "$WORK/noca.err")"
grep -q "TLS with the MQTT broker 127.0.0.1:$tls failed: .*certificate" "$WORK/noca.err" ||
  fail "unclear message: $(cat "$WORK/noca.err")"
