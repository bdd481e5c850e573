"""A hostile platform for resmgr-device: test support, Python 3 stdlib only.

It speaks the resource-management protocol but lies. Pieces:

- MiniMqtt: a minimal MQTT 3.1.1 client over a raw socket (CONNECT,
  SUBSCRIBE, PUBLISH at QoS 0/1, PUBACK, PINGREQ), which reconnects and
  resubscribes when the broker goes away. Fast enough to push 10,000
  messages in well under a second.
- Platform: subscribes to `$resource/up/service/+/+`, records every up
  message, and answers through a per-case handler (so a case decides what
  lie to tell, and when).
- Store: a threaded HTTP/1.1 server on 127.0.0.1 (and ::1 when it can)
  whose answer to each path is a Python function: serve honestly (with
  Range), never answer, send gigabytes more than asked, redirect, refuse,
  read an upload slowly... Every request is recorded.
- Mosquitto: a private broker on a free loopback port, stopped by the test.
- run_device / start_device: resmgr-device against that broker, bounded.

Every wait is bounded; everything started is stopped by the object that
started it (use `with`, or call stop()).
"""

import base64
import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEVICE = os.environ.get("RESMGR_DEVICE", os.path.join(ROOT, "build", "resmgr-device"))
PRODUCT = "PROD1"


class Skip(Exception):
    """A tool the test needs is missing: exit 77 (under CI=true: exit 1,
    a test that cannot run there fails)."""


class CheckFailed(AssertionError):
    """A check of a case failed. The cases raise it explicitly, never with
    `assert`, which `python -O` removes: the checks hold however Python
    runs them."""


def under_ci():
    return os.environ.get("CI") == "true"


def skipped(reason):
    """What a case returns when it cannot run here; under CI=true it fails
    instead (a test that cannot run there must not pass)."""
    if under_ci():
        raise CheckFailed(f"cannot run under CI=true: {reason}")
    return f"SKIPPED: {reason}"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def wait_for(what, limit, fn, step=0.05):
    """Polls fn() until it returns something truthy; raises after limit s."""
    deadline = time.monotonic() + limit
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        time.sleep(step)


# ---------------------------------------------------------------------------
# MQTT 3.1.1, the little that is needed
# ---------------------------------------------------------------------------


def _remaining_length(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def _utf8(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


class MiniMqtt:
    """One MQTT connection; `on_message(topic, payload)` runs on its reader
    thread. Reconnects (and resubscribes) every 0.2 s after a drop until
    stopped."""

    def __init__(self, port, client_id, on_message, host="127.0.0.1", username=None, password=None):
        self.host, self.port, self.client_id = host, port, client_id
        self.username, self.password = username, password
        self.on_message = on_message
        self.subscriptions = []
        self.sock = None
        self.lock = threading.Lock()
        self.next_id = 1
        self.stopping = False
        self.connected = threading.Event()
        self.suback = threading.Event()
        self.thread = None
        self.pinger = None

    # -- packets --
    def _connect_packet(self):
        flags = 0x02  # clean session
        payload = _utf8(self.client_id)
        if self.username is not None:
            flags |= 0x80
            payload += _utf8(self.username)
        if self.password is not None:
            flags |= 0x40
            payload += _utf8(self.password)
        var = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", 30)
        body = var + payload
        return bytes([0x10]) + _remaining_length(len(body)) + body

    def _packet_id(self):
        with self.lock:
            pid = self.next_id
            self.next_id = self.next_id % 65535 + 1
        return pid

    def _send(self, data):
        sock = self.sock
        if sock is None:
            raise ConnectionError("not connected")
        with self.lock:
            sock.sendall(data)

    def _recv_exact(self, sock, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            buf += chunk
        return bytes(buf)

    def _read_packet(self, sock):
        head = self._recv_exact(sock, 1)[0]
        mult, length = 1, 0
        while True:
            b = self._recv_exact(sock, 1)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return head, self._recv_exact(sock, length) if length else b""

    def _open(self):
        sock = socket.create_connection((self.host, self.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(self._connect_packet())
        head, body = self._read_packet(sock)
        if head >> 4 != 2 or len(body) < 2 or body[1] != 0:
            sock.close()
            raise ConnectionError(f"CONNACK refused: {body!r}")
        sock.settimeout(None)
        self.sock = sock
        for topic, qos in self.subscriptions:
            self._subscribe_packet(topic, qos)

    def _subscribe_packet(self, topic, qos):
        pid = self._packet_id()
        body = struct.pack("!H", pid) + _utf8(topic) + bytes([qos])
        self._send(bytes([0x82]) + _remaining_length(len(body)) + body)

    # -- public --
    def start(self, limit=10):
        deadline = time.monotonic() + limit
        while True:
            try:
                self._open()
                break
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
        self.connected.set()
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        self.pinger = threading.Thread(target=self._ping, daemon=True)
        self.pinger.start()
        return self

    def subscribe(self, topic, qos=1, limit=10):
        self.suback.clear()
        self.subscriptions.append((topic, qos))
        self._subscribe_packet(topic, qos)
        if not self.suback.wait(limit):
            raise AssertionError(f"no SUBACK for {topic}")

    def publish(self, topic, payload, qos=1):
        if isinstance(payload, str):
            payload = payload.encode()
        elif not isinstance(payload, (bytes, bytearray)):
            payload = json.dumps(payload).encode()
        var = _utf8(topic)
        if qos:
            var += struct.pack("!H", self._packet_id())
        body = var + payload
        self._send(bytes([0x30 | (qos << 1)]) + _remaining_length(len(body)) + body)

    def publish_many(self, items, qos=0):
        """Sends many (topic, payload) at once, in one write per batch."""
        out = bytearray()
        for topic, payload in items:
            if isinstance(payload, str):
                payload = payload.encode()
            var = _utf8(topic)
            if qos:
                var += struct.pack("!H", self._packet_id())
            body = var + payload
            out += bytes([0x30 | (qos << 1)]) + _remaining_length(len(body)) + body
        self._send(bytes(out))

    def _ping(self):
        while not self.stopping:
            for _ in range(100):
                if self.stopping:
                    return
                time.sleep(0.1)
            try:
                self._send(b"\xc0\x00")
            except OSError:
                pass

    def _reader(self):
        while not self.stopping:
            sock = self.sock
            try:
                head, body = self._read_packet(sock)
            except (OSError, ConnectionError):
                if self.stopping:
                    return
                self.connected.clear()
                self.sock = None
                try:
                    sock.close()
                except OSError:
                    pass
                while not self.stopping:
                    try:
                        self._open()
                        self.connected.set()
                        break
                    except OSError:
                        time.sleep(0.2)
                continue
            kind = head >> 4
            if kind == 3:  # PUBLISH
                qos = (head >> 1) & 3
                tlen = struct.unpack("!H", body[:2])[0]
                topic = body[2 : 2 + tlen].decode("utf-8", "replace")
                pos = 2 + tlen
                if qos:
                    pid = body[pos : pos + 2]
                    pos += 2
                    try:
                        self._send(b"\x40\x02" + pid)
                    except OSError:
                        pass
                try:
                    self.on_message(topic, body[pos:])
                except Exception as e:  # a bug in a handler must be seen
                    print(f"hostile: handler failed: {e!r}", file=sys.stderr)
            elif kind == 9:  # SUBACK
                self.suback.set()

    def stop(self):
        self.stopping = True
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.sendall(b"\xe0\x00")  # DISCONNECT
            except OSError:
                pass
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if self.thread:
            self.thread.join(5)
        if self.pinger:
            self.pinger.join(15)


# ---------------------------------------------------------------------------
# The broker
# ---------------------------------------------------------------------------


def mosquitto_exe():
    exe = os.environ.get("RESMGR_MOSQUITTO") or shutil.which("mosquitto")
    if not exe and os.path.exists("/usr/sbin/mosquitto"):
        exe = "/usr/sbin/mosquitto"
    if not exe:
        raise Skip("mosquitto not found (scripts/setup.sh installs it)")
    return exe


class Mosquitto:
    """A private mosquitto on 127.0.0.1:port (a free one unless given)."""

    def __init__(self, workdir, port=None, extra=(), name="mosquitto"):
        self.workdir, self.port, self.extra, self.name = workdir, port or free_port(), list(extra), name
        self.proc = None
        self.log = os.path.join(workdir, f"{name}.log")

    def start(self):
        conf = os.path.join(self.workdir, f"{self.name}.conf")
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "log_dest stderr"]
        if os.getuid() == 0:
            lines.append("user root")
        if not any(l.startswith("allow_anonymous") for l in self.extra):
            lines.append("allow_anonymous true")
        # A flood test pushes thousands of messages at once; keep them.
        lines += ["max_queued_messages 20000"]
        lines += self.extra
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([mosquitto_exe(), "-c", conf], stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited early: {open(self.log).read()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() >= deadline:
                    raise AssertionError("mosquitto not listening within 10 s")
                time.sleep(0.05)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# ---------------------------------------------------------------------------
# The lying platform
# ---------------------------------------------------------------------------


def down_topic(device, product=PRODUCT):
    return f"$resource/down/service/{product}/{device}"


class Platform:
    """Records every up message; `handler(platform, device, message)` (set
    per case) decides what to answer."""

    def __init__(self, broker_port, **login):
        self.broker_port = broker_port
        self.messages = []  # (device, dict or raw bytes)
        self.cv = threading.Condition()
        self.handler = None
        self.mqtt = MiniMqtt(broker_port, f"hostile-platform-{os.getpid()}", self._on_message, **login)

    def start(self):
        self.mqtt.start()
        self.mqtt.subscribe("$resource/up/service/+/+", 1)
        return self

    def _on_message(self, topic, payload):
        parts = topic.split("/")
        device = parts[-1] if len(parts) == 5 else topic
        try:
            msg = json.loads(payload)
        except ValueError:
            msg = {"raw": payload.decode("utf-8", "replace")}
        with self.cv:
            self.messages.append((device, msg))
            self.cv.notify_all()
        handler = self.handler
        if handler is not None:
            handler(self, device, msg)

    def send(self, device, message, qos=1, product=PRODUCT):
        self.mqtt.publish(down_topic(device, product), message if isinstance(message, (str, bytes)) else json.dumps(message), qos)

    def of(self, device, type_=None):
        with self.cv:
            return [m for d, m in self.messages if d == device and (type_ is None or m.get("type") == type_)]

    def reports(self, device, direction="download"):
        return [m for m in self.of(device, f"report_{direction}_progress")]

    def final_reports(self, device, direction="download"):
        return [m for m in self.reports(device, direction) if m.get("progress", {}).get("state") in ("done", "fail")]

    def wait_final(self, device, direction="download", limit=10):
        try:
            return wait_for(f"a final {direction} report from {device}", limit, lambda: self.final_reports(device, direction))
        except AssertionError:
            return []

    def stop(self):
        self.mqtt.stop()


# ---------------------------------------------------------------------------
# The lying object store
# ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _dispatch(self):
        store = self.server.store
        path = self.path.split("?", 1)[0]
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "time": time.monotonic()}
        with store.lock:
            store.requests.append(record)
        route = store.routes.get(path) or store.routes.get("*")
        if route is None:
            self.send_error_body(404, "<Error><Code>NoSuchKey</Code></Error>")
            return
        try:
            route(self, record)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, ssl.SSLError, OSError) as e:
            record["aborted"] = repr(e)

    do_GET = do_PUT = do_HEAD = do_POST = _dispatch

    def send_error_body(self, status, body=b"", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass  # hostile clients are expected; the record says what happened


class _Server6(_Server):
    address_family = socket.AF_INET6


class Store:
    """routes: path -> fn(handler, record). `url(path)` names it."""

    def __init__(self, tls_context=None, ipv6=True):
        self.routes = {}
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.servers = []
        srv = _Server(("127.0.0.1", 0), _Handler)
        if tls_context is not None:
            srv.socket = tls_context.wrap_socket(srv.socket, server_side=True)
        srv.store = self
        self.servers.append(srv)
        self.port = srv.server_address[1]
        self.scheme = "https" if tls_context else "http"
        self.ipv6 = False
        if ipv6 and tls_context is None:
            try:
                s6 = _Server6(("::1", self.port), _Handler)
                s6.store = self
                self.servers.append(s6)
                self.ipv6 = True
            except OSError:
                pass
        self.threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True) for s in self.servers]
        for t in self.threads:
            t.start()

    def url(self, path, host="127.0.0.1", query="?expires=1&signature=abc"):
        return f"{self.scheme}://{host}:{self.port}{path}{query}"

    def of(self, path=None, method=None):
        with self.lock:
            return [r for r in self.requests if (path is None or r["path"].split("?")[0] == path) and (method is None or r["method"] == method)]

    def stop(self):
        self.stopping.set()
        for s in self.servers:
            s.shutdown()
            s.server_close()
        for t in self.threads:
            t.join(5)

    # -- behaviours --
    def serve(self, path, data, rate=None, declared=None):
        """Honest GET with Range (206 + Content-Range); `rate` bytes/s."""

        def route(h, rec):
            start = 0
            rng = h.headers.get("Range")
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                rec["range"] = start
            if start >= len(data) and len(data) > 0:
                h.send_error_body(416, b"", [("Content-Range", f"bytes */{len(data)}")])
                return
            body = data[start:]
            h.send_response(206 if start else 200)
            if start:
                h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            h.send_header("Content-Length", str(declared if declared is not None else len(body)))
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            self._write(h, rec, body, rate)

        self.routes[path] = route

    def _write(self, h, rec, body, rate):
        sent = 0
        chunk = 16384 if rate else 262144
        t0 = time.monotonic()
        while sent < len(body):
            if self.stopping.is_set():
                return
            piece = body[sent : sent + chunk]
            h.wfile.write(piece)
            sent += len(piece)
            rec["sent"] = sent
            if rate:
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)

    def never_answer(self, path):
        """Reads the request, then says nothing until the store stops."""

        def route(h, rec):
            while not self.stopping.wait(0.1):
                pass
            h.close_connection = True

        self.routes[path] = route

    def endless(self, path, declared=None, status=200, headers=(), cap=8 << 30):
        """`status` and then bytes without end (up to `cap`), close-delimited
        unless `declared` gives a Content-Length."""

        def route(h, rec):
            h.send_response(status)
            for k, v in headers:
                h.send_header(k, v)
            if declared is not None:
                h.send_header("Content-Length", str(declared))
            h.send_header("Connection", "close")
            h.end_headers()
            h.close_connection = True
            block = os.urandom(65536)
            sent = 0
            while sent < cap and not self.stopping.is_set():
                h.wfile.write(block)
                sent += len(block)
                rec["sent"] = sent

        self.routes[path] = route

    def status(self, path, code, body=b"", headers=()):
        self.routes[path] = lambda h, rec: h.send_error_body(code, body, headers)

    def accept_put(self, path, rate=None):
        """Stores a PUT only when it is complete and its Content-MD5 matches
        (as object stores do); `rate` limits how fast the body is read."""
        self.objects = getattr(self, "objects", {})

        def route(h, rec):
            n = int(h.headers.get("Content-Length", "-1"))
            rec["content_md5"] = h.headers.get("Content-MD5")
            got = bytearray()
            t0 = time.monotonic()
            while len(got) < n:
                piece = h.rfile.read(min(16384, n - len(got)))
                if not piece:
                    break
                got += piece
                rec["received"] = len(got)
                if rate:
                    ahead = len(got) / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            rec["complete"] = len(got) == n
            if len(got) != n:
                return  # client gone: nothing stored
            want = rec["content_md5"]
            have = base64.b64encode(hashlib.md5(got).digest()).decode()
            if want != have:
                h.send_error_body(400, "<Error><Code>BadDigest</Code></Error>")
                return
            with self.lock:
                self.objects[path] = bytes(got)
            h.send_error_body(200, b"", [("ETag", '"%s"' % md5_hex(got))])

        self.routes[path] = route


# ---------------------------------------------------------------------------
# resmgr-device
# ---------------------------------------------------------------------------


class Result:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def last_err_line(self):
        lines = [l for l in self.err.splitlines() if l.strip()]
        return lines[-1] if lines else ""


def device_cmd(port, device, args, product=PRODUCT, quiet=True):
    if not os.access(DEVICE, os.X_OK):
        raise AssertionError(f"resmgr-device not found at {DEVICE} (build with cmake, or set RESMGR_DEVICE)")
    return [DEVICE, "--host", "127.0.0.1", "--port", str(port), "--product", product, "--device", device] + (["--quiet"] if quiet else []) + list(args)


def run_device(port, device, args, limit=120, env=None, preexec_fn=None, product=PRODUCT):
    cmd = device_cmd(port, device, args, product)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=preexec_fn)
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError(f"resmgr-device still running after {limit}s: {err.decode(errors='replace')[-2000:]}")
    return Result(p.returncode, out.decode(errors="replace"), err.decode(errors="replace"), time.monotonic() - t0)


class Background:
    """resmgr-device in the background; killed when stopped."""

    def __init__(self, port, device, args, env=None, workdir=None, product=PRODUCT, quiet=True):
        self.workdir = workdir or tempfile.mkdtemp(prefix="resmgr-hostile-dev-")
        self.out_path = os.path.join(self.workdir, f"{device}.out")
        self.err_path = os.path.join(self.workdir, f"{device}.err")
        self.proc = subprocess.Popen(device_cmd(port, device, args, product, quiet), stdout=open(self.out_path, "wb"), stderr=open(self.err_path, "wb"), env=env)
        self.pid = self.proc.pid

    def err(self):
        return open(self.err_path, errors="replace").read()

    def out(self):
        return open(self.out_path, errors="replace").read()

    def alive(self):
        return self.proc.poll() is None

    def wait(self, limit):
        try:
            return self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"resmgr-device still running after {limit}s")

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait(5)

    def vm_hwm_kib(self):
        try:
            for line in open(f"/proc/{self.pid}/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None


# ---------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------


def tree(root):
    """Every path under root (relative), with its kind and size/target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", st.st_size, md5_hex(open(p, "rb").read()) if st.st_size < (64 << 20) else None, st.st_blocks * 512)
    return out


# ---------------------------------------------------------------------------
# A tiny runner: cases, a table, "N passed, M failed"
# ---------------------------------------------------------------------------


class Runner:
    def __init__(self, title):
        self.title = title
        self.rows = []
        self.failed = []
        only = os.environ.get("RESMGR_HOSTILE_ONLY")
        self.only = only.split(",") if only else None

    def case(self, name, fn, *args):
        if self.only and not any(o in name for o in self.only):
            return
        t0 = time.monotonic()
        try:
            what = fn(*args) or ""
            ok, msg = True, what
        except AssertionError as e:
            ok, msg = False, f"FAIL: {e}"
        except Skip:
            raise
        except Exception as e:  # a harness error is a failure too
            import traceback

            traceback.print_exc()
            ok, msg = False, f"ERROR: {e!r}"
        dt = time.monotonic() - t0
        self.rows.append((name, ok, msg))
        print(f"{'ok  ' if ok else 'FAIL'} {name} ({dt:.1f}s): {msg}", flush=True)
        if not ok:
            self.failed.append(name)

    def finish(self):
        passed = sum(1 for r in self.rows if r[1])
        print()
        print(f"{self.title}: {passed} passed, {len(self.failed)} failed")
        if self.failed:
            print("failed: " + ", ".join(self.failed))
        return 0 if not self.failed else 1


def main(body):
    """Runs body(); maps Skip to exit 77."""
    try:
        sys.exit(body())
    except Skip as e:
        if under_ci():
            print(f"FAILED: cannot run under CI=true: {e}")
            sys.exit(1)
        print(f"SKIPPED: {e}")
        sys.exit(77)
