"""A hostile platform for resmgr-device: test support, Python 3 stdlib only.

It speaks the resource-management protocol but lies. Pieces:

- MiniMqtt: a minimal MQTT 3.1.1 client over a raw socket (CONNECT,
  SUBSCRIBE, PUBLISH at QoS 0/1, PUBACK, PINGREQ), which reconnects and
  resubscribes when the broker goes away. Fast enough to push 10,000
  messages in well under a second.
- Platform: subscribes to `$resource/up/service/+/+`, records every up
  message, and answers through a per-case handler (so a case decides what
  lie to tell, and when).
- Store: the tests' one fault-injecting HTTP server (tests/support/
  fault_server.rs, $RESMGR_FAULT_SERVER) on 127.0.0.1 (and ::1 when it
  can), whose answer to each path is declared: serve honestly (with
  Range), never answer, send gigabytes more than asked, redirect, refuse,
  read an upload slowly... Every request is recorded.
- Mosquitto: a private broker on a free loopback port, stopped by the test.
- run_device / start_device: resmgr-device against that broker, bounded.

Every wait is bounded; everything started is stopped by the object that
started it (use `with`, or call stop()).
"""

import hashlib
import json
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

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


class Store:
    """The object store: tests/support/fault_server.rs (`$RESMGR_FAULT_SERVER`,
    the fault-injecting server the Rust and C tests use too) on 127.0.0.1
    (and [::1] when it can), driven through its JSON-lines commands. Each
    behaviour below routes a path to declarative replies (see that file for
    every kind and option); `route` takes such replies directly. Every
    request is recorded. `url(path)` names a path."""

    def __init__(self, tls=None, ipv6=True):
        """tls: (certificate PEM file, key PEM file) to serve HTTPS."""
        exe = os.environ.get("RESMGR_FAULT_SERVER")
        if not exe or not os.access(exe, os.X_OK):
            raise Skip(f"RESMGR_FAULT_SERVER={exe!r} is not a program (run through ctest, or build it with `cargo build --example fault-server`)")
        self.dir = tempfile.mkdtemp(prefix="resmgr-hostile-store-")
        self.files = 0
        self.lock = threading.Lock()
        args = [exe, "--store", self.dir]
        if tls:
            args += ["--tls", *tls]
        elif ipv6:
            args.append("--ipv6")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            hello = self._line()
            self.port, self.ipv6 = hello["port"], hello["ipv6"]
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self.scheme = "https" if tls else "http"
        self.objects = _Stored(self)

    def _line(self):
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"fault-server ended (exit {self.proc.poll()})")
        return json.loads(line)

    def cmd(self, **command):
        """Sends one command, returns its answer; an error answer raises."""
        with self.lock:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
            answer = self._line()
        if "error" in answer:
            raise AssertionError(f"fault-server: {command['cmd']}: {answer['error']}")
        return answer

    def url(self, path, host="127.0.0.1", query="?expires=1&signature=abc"):
        return f"{self.scheme}://{host}:{self.port}{path}{query}"

    @property
    def requests(self):
        """Every request so far, in order of arrival: the server's record
        plus "range" (the offset of a `Range: bytes=N-`), "received" (body
        bytes read) and "content_md5"."""
        out = []
        for r in self.cmd(cmd="requests")["requests"]:
            rng = r["headers"].get("range", "")
            if rng.startswith("bytes=") and rng.endswith("-"):
                r["range"] = int(rng[6:-1])
            r["received"] = r["body_len"]
            r["content_md5"] = r["headers"].get("content-md5")
            out.append(r)
        return out

    def of(self, path=None, method=None):
        return [r for r in self.requests if (path is None or r["path"] == path) and (method is None or r["method"] == method)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Ends the server and removes its files; a second call does nothing."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def route(self, path, *replies):
        """Answers requests for `path` with `replies` in turn (the last one
        repeats). A reply's "data" (bytes) is its body."""
        out = []
        for reply in replies:
            reply = dict(reply)
            data = reply.pop("data", None)
            if data is not None:
                self.files += 1
                reply["file"] = os.path.join(self.dir, f"body{self.files}")
                with open(reply["file"], "wb") as f:
                    f.write(data)
            out.append(reply)
        self.cmd(cmd="route", path=path, replies=out)

    # -- behaviours --
    def serve(self, path, data, rate=None, declared=None):
        """Honest GET with Range (206 + Content-Range); `rate` bytes/s."""
        self.route(path, _options({"kind": "serve", "data": data}, rate=rate, declared_length=declared))

    def never_answer(self, path):
        """Reads the request, then says nothing until the store stops."""
        self.route(path, {"kind": "stall"})

    def endless(self, path, declared=None, status=200, headers=(), cap=8 << 30):
        """`status` and then bytes without end (up to `cap`), close-delimited
        unless `declared` gives a Content-Length."""
        self.route(path, _options({"kind": "endless", "status": status, "cap": cap, "headers": [list(h) for h in headers]}, declared_length=declared))

    def status(self, path, code, body=b"", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.route(path, {"kind": "status", "status": code, "data": data, "headers": [list(h) for h in headers]})

    def accept_put(self, path, rate=None):
        """Stores a PUT only when it is complete and its Content-MD5 matches
        (as object stores do); `rate` limits how fast the body is read."""
        self.route(path, _options({"kind": "accept_put"}, read_rate=rate))


def _options(reply, **options):
    """`reply` with the options that are not None."""
    return {**reply, **{k: v for k, v in options.items() if v is not None}}


class _Stored:
    """`store.objects.get(path)`: the bytes an accept_put stored, or None."""

    def __init__(self, store):
        self.store = store

    def get(self, path):
        stored = self.store.cmd(cmd="stored", path=path)
        if not stored["stored"]:
            return None
        with open(stored["file"], "rb") as f:
            return f.read()


class Env:
    """What the cases of a hostile test run against, in the work directory
    `work`: a private broker (`extra`: more mosquitto.conf lines), the
    lying platform on it, and a store. device() names a fresh device."""

    device_prefix = "dev"

    def __init__(self, work, extra=()):
        self.work = work
        self.n = 0
        self.store = Store()
        self.broker = self.platform = None
        try:
            self.broker = Mosquitto(work, extra=extra).start()
            self.platform = Platform(self.broker.port).start()
        except BaseException:
            self.stop()
            raise

    def device(self):
        self.n += 1
        return f"{self.device_prefix}{self.n:03d}"

    def stop(self):
        for part in (self.platform, self.store, self.broker):
            if part is not None:
                part.stop()


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


def run_cases(title, make_env, cases):
    """The main() of a hostile test: a fresh work directory (kept with
    RESMGR_HOSTILE_KEEP=1), env = make_env(work), cases(env, run) with a
    Runner named `title`, env.stop(); exits with the Runner's verdict
    (Skip: 77, or 1 under CI=true)."""

    def body():
        work = tempfile.mkdtemp(prefix=f"resmgr-{title}-")
        run = Runner(title)
        env = None
        try:
            env = make_env(work)
            cases(env, run)
        finally:
            if env:
                env.stop()
            if os.environ.get("RESMGR_HOSTILE_KEEP") == "1":
                print(f"work directory kept: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
        return run.finish()

    main(body)


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
