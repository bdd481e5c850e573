#!/usr/bin/env python3
"""hostile_e2e_security: TLS refusals and secrets, through resmgr-device.

- MQTT over TLS to listeners whose certificate is self-signed, for another
  host name, or expired (made with libfaketime when installed): exit 1 at
  once; a good listener with the same --ca works (so the refusals are the
  certificates' doing).
- HTTPS downloads from stores with the same bad certificates: exit 1, a
  `fail` report, no HTTP request ever reaches the store; an https URL
  pointing at a plain-HTTP store is never fetched in clear; redirects
  (http->https, https->http, http->http) are not followed.
- The device secret, its base64-decoded key and the HMAC password derived
  from it never appear on stdout, stderr (progress display included), or in
  what the device publishes, through a wrong secret, a broker refusing
  everyone, a TLS failure, and failing transfers.

Run: ctest -R hostile_e2e_security, or python3 tests/hostile/e2e_security.py
with RESMGR_DEVICE and RESMGR_FAULT_SERVER set as ctest sets them (needs
openssl, mosquitto, mosquitto_passwd).
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402

OBJ = os.urandom(100 * 1024)


def sh(*cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, env=env)
    if r.returncode != 0:
        raise AssertionError(f"{cmd[0]} failed: {r.stderr.decode()[-500:]}")


class Pki:
    def __init__(self, d):
        if not shutil.which("openssl"):
            raise H.Skip("openssl not found")
        self.d = d
        self.ca, self.ca_key = self.p("ca.pem"), self.p("ca.key")
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=hostile test CA")
        self.good = self.leaf("good", "IP:127.0.0.1,DNS:localhost")
        self.wrong_host = self.leaf("wronghost", "DNS:example.com")
        self.self_signed = self.p("self.pem"), self.p("self.key")
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.self_signed[1], "-out", self.self_signed[0], "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
        self.expired = None
        ft = shutil.which("faketime")
        if ft:
            e = dict(os.environ)
            e.pop("LD_PRELOAD", None)
            self.expired = self.leaf("expired", "IP:127.0.0.1,DNS:localhost", days="2", prefix=[ft, "-f", "-10d"])
        # (certificate, key) files of each kind of certificate (None: none made).
        self.by_kind = {"good": self.good, "self": self.self_signed, "wronghost": self.wrong_host, "expired": self.expired}

    def p(self, n):
        return os.path.join(self.d, n)

    def leaf(self, name, san, days="2", prefix=()):
        key, csr, pem, ext = self.p(f"{name}.key"), self.p(f"{name}.csr"), self.p(f"{name}.pem"), self.p(f"{name}.ext")
        with open(ext, "w") as f:
            f.write(f"subjectAltName={san}\n")
        sh("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        sh(*prefix, "openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial", "-out", pem, "-days", days, "-extfile", ext)
        return pem, key


def task(name, url, data=OBJ):
    return json.dumps({"type": "get_download_task_rsp", "size": len(data), "name": name, "md5sum": H.md5_hex(data), "url": url})


class Env(H.Env):
    """The hostile environment, with a private CA, TLS listeners on the
    broker for each kind of certificate, and OBJ at the store's /obj."""

    device_prefix = "sdev"

    def __init__(self, work):
        self.pki = Pki(work)
        self.ports = {k: H.free_port() for k in ["good", "self", "wronghost", "expired"]}
        extra = []
        for k, port in self.ports.items():
            certs = self.pki.by_kind[k]
            if certs is not None:
                extra += [f"listener {port} 127.0.0.1", f"certfile {certs[0]}", f"keyfile {certs[1]}"]
        super().__init__(work, extra)
        self.store.serve("/obj", OBJ)


# -- MQTT TLS ----------------------------------------------------------------


def mqtt_tls(env, kind):
    if kind == "expired" and env.pki.expired is None:
        return H.skipped("faketime not installed, no expired certificate (tests/hostile_tls.rs covers it)")
    dev = env.device()
    src = os.path.join(env.work, "tls.bin")
    with open(src, "wb") as f:
        f.write(OBJ)
    r = H.run_device(env.ports[kind], dev, ["--tls", "--ca", env.pki.ca, "--timeout", "30", "download", "--dir", env.work, "--wait", "1"], limit=60)
    if kind == "good":
        if r.rc != 3:
            raise H.CheckFailed(f"the good listener did not work: exit {r.rc}: {r.err[-400:]}")
        return "exit 3 (connected, no task): the CA and listener setup is right"
    if r.rc != 1:
        raise H.CheckFailed(f"exit {r.rc}: {r.err[-400:]}")
    if "TLS with the MQTT broker" not in r.err:
        raise H.CheckFailed(r.err)
    if r.elapsed >= 20:
        raise H.CheckFailed(f"took {r.elapsed:.1f}s: a TLS failure must end the command at once")
    return f"exit 1 in {r.elapsed:.1f}s: {r.last_err_line()[15:150]}"


# -- HTTPS -------------------------------------------------------------------


def assert_no_data(dl):
    """No final file; at most the engine's own (empty) partial and state."""
    for n in os.listdir(dl):
        if n not in (".fw.bin.resmgr-part", ".fw.bin.resmgr-state"):
            raise H.CheckFailed(f"unexpected {n} in {os.listdir(dl)}")
        if n.endswith("part"):
            if os.path.getsize(os.path.join(dl, n)) != 0:
                raise H.CheckFailed("bytes were written")


def download_through(env, prefix, timeout, url, *stores):
    """`resmgr-device download` (trusting the test CA) of a task whose URL
    is `url`, served by `stores` (its callers stop them). Returns the
    result, the final reports, how many requests each store got, and the
    download directory."""
    dev = env.device()
    dl = tempfile.mkdtemp(prefix=prefix, dir=env.work)
    try:
        env.platform.handler = lambda p, d, m: d == dev and m.get("type") == "get_download_task" and p.send(d, task("fw.bin", url))
        r = H.run_device(env.broker.port, dev, ["--ca", env.pki.ca, "--timeout", str(timeout), "download", "--dir", dl, "--wait", "10"], limit=60)
        finals = env.platform.wait_final(dev)
        counts = [len(s.requests) for s in stores]
    finally:
        env.platform.handler = None
    return r, finals, counts, dl


def https_store(env, kind):
    if kind == "expired" and env.pki.expired is None:
        return H.skipped("faketime not installed (tests/hostile_tls.rs covers it)")
    with H.Store(tls=env.pki.by_kind[kind]) as store:
        store.serve("/obj", OBJ)
        r, finals, (reqs,), dl = download_through(env, "https-", 30, store.url("/obj"), store)
    if kind == "good":
        if not (r.rc == 0 and reqs == 1):
            raise H.CheckFailed((r.rc, reqs, r.err[-300:]))
        return "exit 0: the CA setup is right"
    if r.rc != 1:
        raise H.CheckFailed(f"exit {r.rc}")
    p = finals[-1]["progress"]
    if not (p["state"] == "fail" and ("TLS" in p["result_msg"] or "certificate" in p["result_msg"])):
        raise H.CheckFailed(p)
    if reqs != 0:
        raise H.CheckFailed("an HTTP request got through a bad certificate")
    assert_no_data(dl)
    return f"exit 1, report fail {p['result_code']} {p['result_msg'][-70:]!r}, no request reached the store, nothing written"


def https_to_plain(env):
    dev = env.device()
    dl = tempfile.mkdtemp(prefix="downgrade-", dir=env.work)
    before = len(env.store.requests)
    url = env.store.url("/obj").replace("http://", "https://")
    env.platform.handler = lambda p, d, m: d == dev and m.get("type") == "get_download_task" and p.send(d, task("fw.bin", url))
    r = H.run_device(env.broker.port, dev, ["--timeout", "15", "download", "--dir", dl, "--wait", "10"], limit=60)
    env.platform.handler = None
    finals = env.platform.wait_final(dev)
    if r.rc != 1:
        raise H.CheckFailed(f"exit {r.rc}")
    if len(env.store.requests) != before:
        raise H.CheckFailed("a plain-HTTP request was made for an https URL")
    if not (finals and finals[-1]["progress"]["state"] == "fail"):
        raise H.CheckFailed('expected: finals and finals[-1]["progress"]["state"] == "fail"')
    return f"exit 1, report {finals[-1]['progress']['result_msg'][-70:]!r}; no plain-text request reached the store"


def redirect(env, src_tls, dst_tls, code):
    with H.Store(tls=env.pki.good if src_tls else None) as src, H.Store(tls=env.pki.good if dst_tls else None) as dst:
        dst.serve("/obj", OBJ)
        src.status("/obj", code, b"", [("Location", dst.url("/obj"))])
        r, finals, (asked, followed), dl = download_through(env, "redirect-", 15, src.url("/obj"), src, dst)
    if r.rc != 1:
        raise H.CheckFailed(f"exit {r.rc}")
    if followed != 0:
        raise H.CheckFailed("the redirect was followed")
    if asked != 1:
        raise H.CheckFailed(f"{asked} requests to the redirecting store")
    p = finals[-1]["progress"]
    if not (p["state"] == "fail" and str(code) in p["result_msg"]):
        raise H.CheckFailed(p)
    assert_no_data(dl)
    return f"exit 1, report fail {p['result_code']} {p['result_msg'][-40:]!r}; the target got no request"


# -- secrets -----------------------------------------------------------------


SECRET_KEY = b"resmgr-hostile-device-key-0123456789"
SECRET = base64.b64encode(SECRET_KEY).decode()
WRONG_KEY = b"resmgr-hostile-WRONG-key-9876543210"
WRONG = base64.b64encode(WRONG_KEY).decode()
CONNID, EXPIRY = "Zx9q1", str(int(time.time()) + 3600)


def login(device, key):
    user = f"{H.PRODUCT}{device};12010126;{CONNID};{EXPIRY}"
    return user, hmac.new(key, user.encode(), hashlib.sha256).hexdigest() + ";hmacsha256"


class SecretEnv:
    def __init__(self, env):
        if not shutil.which("mosquitto_passwd"):
            raise H.Skip("mosquitto_passwd not found")
        self.env = env
        self.dev = "secretdev"
        self.user, self.password = login(self.dev, SECRET_KEY)
        self.wrong_password = login(self.dev, WRONG_KEY)[1]
        pw = os.path.join(env.work, "passwords")
        sh("mosquitto_passwd", "-c", "-b", pw, self.user, self.password)
        sh("mosquitto_passwd", "-b", pw, "platform", "platform-pw")
        empty = os.path.join(env.work, "nobody")
        open(empty, "w").close()
        self.broker = H.Mosquitto(env.work, extra=["allow_anonymous false", f"password_file {pw}"], name="secured").start()
        self.closed = H.Mosquitto(env.work, extra=["allow_anonymous false", f"password_file {empty}"], name="closed").start()
        self.platform = H.Platform(self.broker.port, username="platform", password="platform-pw").start()
        self.needles = {
            "secret": SECRET.encode(),
            "decoded key": SECRET_KEY,
            "password (HMAC)": self.password.split(";")[0].encode(),
            "wrong secret": WRONG.encode(),
            "wrong decoded key": WRONG_KEY,
            "wrong password": self.wrong_password.split(";")[0].encode(),
            "key hex": SECRET_KEY.hex().encode(),
        }

    def env_vars(self):
        e = dict(os.environ)
        e.update(RESMGR_CONNID=CONNID, RESMGR_EXPIRY=EXPIRY)
        return e

    def check(self, texts):
        for what, blob in texts.items():
            data = blob.encode() if isinstance(blob, str) else blob
            for name, needle in self.needles.items():
                if needle in data:
                    raise H.CheckFailed(f"the {name} appears in {what}")

    def stop(self):
        self.platform.stop()
        self.broker.stop()
        self.closed.stop()


def secrets_case(se, label, port, secret, args, expect_rc, handler=None):
    env = se.env
    if handler:
        se.platform.handler = handler
    before = len(se.platform.messages)
    cmd = H.device_cmd(port, se.dev, ["--secret", secret] + args, quiet=False)
    p = subprocess.run(cmd, capture_output=True, env=se.env_vars(), timeout=120)
    se.platform.handler = None
    time.sleep(0.3)
    published = json.dumps([m for _, m in se.platform.messages[before:]]).encode()
    if p.returncode != expect_rc:
        raise H.CheckFailed(f"exit {p.returncode}, expected {expect_rc}: {p.stderr.decode()[-500:]}")
    se.check({"stdout": p.stdout, "stderr": p.stderr, "published messages": published})
    last = [l for l in p.stderr.decode().splitlines() if l.strip()][-1:] or [""]
    return f"exit {p.returncode}; secret, decoded key and HMAC password absent from stdout, stderr ({len(p.stderr)} bytes, progress lines included) and {len(published)} bytes published; last line: {last[0][15:120]}"


def secrets(env, run):
    se = SecretEnv(env)
    try:
        data = os.urandom(3 << 20)
        src = os.path.join(env.work, "secret-up.bin")
        with open(src, "wb") as f:
            f.write(data)
        se.store = H.Store()
        se.store.accept_put("/ok")
        se.store.status("/fail", 500, "<Error><Code>InternalError</Code></Error>")
        se.store.never_answer("/silent")
        se.store.serve("/dl", OBJ, rate=400_000)

        def up(path):
            return lambda p, d, m: m.get("type") == "create_upload_task" and p.send(d, json.dumps({"type": "create_upload_task_rsp", "size": m["size"], "name": m["name"], "md5sum": m["md5sum"], "url": se.store.url(path)}))

        def down(path):
            return lambda p, d, m: m.get("type") == "get_download_task" and p.send(d, task("fw.bin", se.store.url(path)))

        dl = tempfile.mkdtemp(prefix="secret-dl-", dir=env.work)
        run.case("secret: right secret, upload succeeds (progress shown)", secrets_case, se, "ok", se.broker.port, SECRET, ["--timeout", "30", "upload", src], 0, up("/ok"))
        run.case("secret: right secret, store answers 500", secrets_case, se, "500", se.broker.port, SECRET, ["--timeout", "8", "upload", src, "--name", "f.bin"], 1, up("/fail"))
        run.case("secret: right secret, store never answers", secrets_case, se, "silent", se.broker.port, SECRET, ["--timeout", "4", "download", "--dir", dl, "--wait", "5"], 1, down("/silent"))
        run.case("secret: right secret, slow download (progress lines)", secrets_case, se, "dl", se.broker.port, SECRET, ["--timeout", "30", "download", "--dir", dl, "--wait", "5"], 0, down("/dl"))
        run.case("secret: wrong secret", secrets_case, se, "wrong", se.broker.port, WRONG, ["--timeout", "30", "upload", src], 1)
        run.case("secret: broker refusing everyone", secrets_case, se, "closed", se.closed.port, SECRET, ["--timeout", "30", "upload", src], 1)
        run.case("secret: TLS failure (self-signed broker)", secrets_case, se, "tls", env.ports["self"], SECRET, ["--tls", "--timeout", "30", "upload", src], 1)
        run.case("secret: unreachable broker", secrets_case, se, "dead", H.free_port(), SECRET, ["--timeout", "2", "upload", src], 1)
    finally:
        if getattr(se, "store", None):
            se.store.stop()
        se.stop()


def cases(env, run):
    for kind in ["good", "self", "wronghost", "expired"]:
        run.case(f"MQTT TLS: {kind} certificate", mqtt_tls, env, kind)
    for kind in ["good", "self", "wronghost", "expired"]:
        run.case(f"HTTPS: {kind} certificate", https_store, env, kind)
    run.case("https URL to a plain-HTTP store: no downgrade", https_to_plain, env)
    run.case("redirect 302 http -> https", redirect, env, False, True, 302)
    run.case("redirect 301 https -> http", redirect, env, True, False, 301)
    run.case("redirect 307 http -> http", redirect, env, False, False, 307)
    run.case("redirect 308 https -> https", redirect, env, True, True, 308)
    secrets(env, run)


if __name__ == "__main__":
    H.run_cases("hostile_e2e_security", Env, cases)
