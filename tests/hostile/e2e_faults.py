#!/usr/bin/env python3
"""hostile_e2e_faults: resmgr-device on real processes and sockets, broken
on purpose.

- disk full: a 1 MiB tmpfs as the download directory (falls back to
  RLIMIT_FSIZE with SIGXFSZ ignored when tmpfs cannot be mounted);
- SIGKILL at random points of a download, then a rerun: resume, verified
  file, never a partial file at the final path (RESMGR_FAULT_TRIALS trials,
  default 5);
- SIGKILL at random points of an upload, then a rerun: a new task, the
  store never holds a wrong object, the rerun's object is exact;
- the broker killed and restarted during an upload;
- the wall clock jumping by hours (libfaketime, monotonic clock untouched):
  the --timeout limit fires when the monotonic clock says so, and a slow
  download survives jumps (no spurious timeout).

Run: ctest -R hostile_e2e_faults, or python3 tests/hostile/e2e_faults.py
with RESMGR_DEVICE and RESMGR_FAULT_SERVER set as ctest sets them. Seed:
RESMGR_FAULT_SEED.
"""

import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402

TRIALS = int(os.environ.get("RESMGR_FAULT_TRIALS", "5"))
SEED = int(os.environ.get("RESMGR_FAULT_SEED", str(int(time.time()))))
rng = random.Random(SEED)


class Env(H.Env):
    device_prefix = "fdev"


def task(name, data, url, kind="get_download_task_rsp"):
    import json

    return json.dumps({"type": kind, "size": len(data), "name": name, "md5sum": H.md5_hex(data), "url": url})


def answering(env, dev, message_fn):
    def handler(platform, device, msg):
        if device == dev and msg.get("type") == "get_download_task":
            platform.send(device, message_fn())

    return handler


def upload_answering(env, dev, path):
    import json

    def handler(platform, device, msg):
        if device == dev and msg.get("type") == "create_upload_task":
            platform.send(device, json.dumps({"type": "create_upload_task_rsp", "size": msg["size"], "name": msg["name"], "md5sum": msg["md5sum"], "url": env.store.url(path)}))

    return handler


# ---------------------------------------------------------------------------


def disk_full(env):
    data = os.urandom(4 << 20)
    env.store.serve("/big", data)
    dev = env.device()
    mnt = tempfile.mkdtemp(prefix="tmpfs-", dir=env.work)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt], capture_output=True).returncode == 0
    preexec = None
    how = "a 1 MiB tmpfs"
    if not mounted:
        how = "RLIMIT_FSIZE 1 MiB, SIGXFSZ ignored"

        def preexec():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    try:
        env.platform.handler = answering(env, dev, lambda: task("big.bin", data, env.store.url("/big")))
        r = H.run_device(env.broker.port, dev, ["--timeout", "60", "download", "--dir", mnt, "--wait", "10"], preexec_fn=preexec, limit=120)
        finals = env.platform.wait_final(dev)
        listing = sorted(os.listdir(mnt))
    finally:
        env.platform.handler = None
        if mounted:
            subprocess.run(["umount", mnt], capture_output=True)
    if r.rc != 1:
        raise H.CheckFailed(f"exit {r.rc}: {r.err[-500:]}")
    needle = "No space left on device" if mounted else "File too large"
    if needle not in r.err:
        raise H.CheckFailed(r.err)
    if not (finals and finals[-1]["progress"]["state"] == "fail"):
        raise H.CheckFailed(finals)
    if needle not in finals[-1]["progress"]["result_msg"]:
        raise H.CheckFailed(finals)
    if "big.bin" in listing:
        raise H.CheckFailed(f"a file at the final path: {listing}")
    # Only the library's own partial and resume state may stay behind.
    strays = [n for n in listing if n not in (".big.bin.resmgr-part", ".big.bin.resmgr-state")]
    if strays:
        raise H.CheckFailed(f"stray files left in the download directory: {strays}")
    p = finals[-1]["progress"]
    return f"({how}) exit 1, report fail {p['result_code']} {p['result_msg'][-60:]!r}; dir holds {listing}; stderr: {r.last_err_line()[-90:]}"


def kill_download(env, trial):
    size = 4 << 20
    data = os.urandom(size)
    path = f"/kd{trial}"
    env.store.serve(path, data, rate=1_000_000)
    dev = env.device()
    dl = tempfile.mkdtemp(prefix=f"kill-dl-{trial}-", dir=env.work)
    env.platform.handler = answering(env, dev, lambda: task("image.bin", data, env.store.url(path)))
    bg = H.Background(env.broker.port, dev, ["--timeout", "60", "download", "--dir", dl, "--wait", "10"], workdir=env.work)
    delay = rng.uniform(0.05, 3.5)
    time.sleep(delay)
    bg.proc.kill()
    bg.proc.wait(10)
    final = os.path.join(dl, "image.bin")
    if os.path.exists(final):
        if open(final, "rb").read() != data:
            raise H.CheckFailed("an unverified file sits at the final path after SIGKILL")
    state_file = os.path.join(dl, ".image.bin.resmgr-state")
    offset = 0
    if os.path.exists(state_file):
        import json

        offset = json.load(open(state_file))["offset"]
    killed_at = max((q.get("sent", 0) for q in env.store.of(path)), default=0)
    # Rerun: a new process, the same resource, a fast store.
    env.store.serve(path, data)
    before = len(env.store.of(path, "GET"))
    r = H.run_device(env.broker.port, dev, ["--timeout", "60", "download", "--dir", dl, "--wait", "10"], limit=120)
    env.platform.handler = None
    if r.rc != 0:
        raise H.CheckFailed(f"rerun exit {r.rc}: {r.err[-500:]}")
    if open(final, "rb").read() != data:
        raise H.CheckFailed("the resumed file differs")
    if sorted(os.listdir(dl)) != ["image.bin"]:
        raise H.CheckFailed(os.listdir(dl))
    first = env.store.of(path, "GET")[before]
    if first.get("range", 0) != offset:
        raise H.CheckFailed(f"resumed from {first.get('range')} but the state said {offset}")
    return f"killed after {delay:.2f}s (~{killed_at >> 10} KiB sent, state offset {offset}); rerun resumed at {offset}, exit 0, verified"


def kill_upload(env, trial):
    data = os.urandom(3 << 20)
    src = os.path.join(env.work, f"up{trial}.bin")
    with open(src, "wb") as f:
        f.write(data)
    path = f"/ku{trial}"
    env.store.accept_put(path, rate=1_000_000)
    dev = env.device()
    env.platform.handler = upload_answering(env, dev, path)
    bg = H.Background(env.broker.port, dev, ["--timeout", "60", "upload", src], workdir=env.work)
    delay = rng.uniform(0.05, 3.0)
    time.sleep(delay)
    bg.proc.kill()
    bg.proc.wait(10)
    time.sleep(0.3)
    got = max((q.get("received", 0) for q in env.store.of(path, "PUT")), default=0)
    stored = env.store.objects.get(path)
    if not (stored is None or stored == data):
        raise H.CheckFailed("the store holds a wrong object after SIGKILL")
    env.store.accept_put(path)
    r = H.run_device(env.broker.port, dev, ["--timeout", "60", "upload", src], limit=120)
    env.platform.handler = None
    if r.rc != 0:
        raise H.CheckFailed(f"rerun exit {r.rc}: {r.err[-500:]}")
    if env.store.objects.get(path) != data:
        raise H.CheckFailed("the store's object differs after the rerun")
    tasks = len(env.platform.of(dev, "create_upload_task"))
    finals = env.platform.final_reports(dev, "upload")
    if not (finals and finals[-1]["progress"]["state"] == "done"):
        raise H.CheckFailed(finals)
    return f"killed after {delay:.2f}s ({got >> 10} KiB of 3072 received, nothing stored); rerun: task #{tasks}, exit 0, store object exact"


def broker_restart_during_upload(env):
    data = os.urandom(4 << 20)
    src = os.path.join(env.work, "restart.bin")
    with open(src, "wb") as f:
        f.write(data)
    env.store.accept_put("/restart", rate=1_000_000)
    dev = env.device()
    env.platform.handler = upload_answering(env, dev, "/restart")
    bg = H.Background(env.broker.port, dev, ["--timeout", "90", "upload", src], workdir=env.work, quiet=False)
    try:
        H.wait_for("the upload to be under way", 20, lambda: any(q.get("received", 0) > 500_000 for q in env.store.of("/restart", "PUT")))
        try:
            env.broker.kill()
        except Exception:
            pass
        H.wait_for("the device to notice", 15, lambda: "connection to the broker lost" in bg.err())
        time.sleep(1)
        if not bg.alive():
            raise H.CheckFailed("the device stopped while the broker was down")
        env.broker = H.Mosquitto(env.work, port=env.broker.port, name="mosquitto2").start()
        rc = bg.wait(90)
    finally:
        bg.stop()
        if env.broker.proc.poll() is not None:  # keep the next cases going
            env.broker = H.Mosquitto(env.work, port=env.broker.port, name="mosquitto3").start()
    if rc != 0:
        raise H.CheckFailed(f"exit {rc}: {bg.err()[-800:]}")
    if env.store.objects.get("/restart") != data:
        raise H.CheckFailed('expected: env.store.objects.get("/restart") == data')
    H.wait_for("the done report over the new connection", 20, lambda: env.platform.final_reports(dev, "upload"))
    finals = env.platform.final_reports(dev, "upload")
    if finals[-1]["progress"]["state"] != "done":
        raise H.CheckFailed(finals)
    return "broker killed mid-PUT and restarted; exit 0, object exact, done report received after the reconnect"


# -- clock jumps -------------------------------------------------------------


def faketime_lib():
    for p in ["/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1"]:
        if os.path.exists(p):
            return p
    return None


class ClockJumper:
    """Jumps the wall clock of processes started with env() through a
    libfaketime timestamp file: +0, then the offsets given, one a second."""

    def __init__(self, work, offsets):
        self.lib = faketime_lib()
        self.file = os.path.join(work, "faketime.rc")
        self.offsets = offsets
        self.seen = []
        with open(self.file, "w") as f:
            f.write("+0\n")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def env(self):
        e = dict(os.environ)
        e.update(
            LD_PRELOAD=self.lib,
            FAKETIME_TIMESTAMP_FILE=self.file,
            FAKETIME_NO_CACHE="1",
            FAKETIME_DONT_FAKE_MONOTONIC="1",
            FAKETIME_DONT_RESET="1",
        )
        return e

    def wall(self):
        out = subprocess.run(["date", "+%s"], env=self.env(), capture_output=True, text=True).stdout.strip()
        return int(out)

    def _run(self):
        for off in self.offsets:
            if self.stop.wait(1.0):
                return
            tmp = self.file + ".tmp"
            with open(tmp, "w") as f:
                f.write(off + "\n")
            os.replace(tmp, self.file)
            self.seen.append((off, self.wall() - int(time.time())))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.thread.join(5)


def clock_jump_timeout(env):
    if faketime_lib() is None:
        return H.skipped("libfaketime not installed (Debian package faketime)")
    env.store.never_answer("/silent")
    dev = env.device()
    dl = tempfile.mkdtemp(prefix="clock-", dir=env.work)
    data = b"x" * 1000
    env.platform.handler = answering(env, dev, lambda: task("clock.bin", data, env.store.url("/silent")))
    with ClockJumper(env.work, ["+6h", "-3h", "+30d", "-1d", "+0"]) as cj:
        r = H.run_device(env.broker.port, dev, ["--timeout", "4", "download", "--dir", dl, "--wait", "10"], env=cj.env(), limit=60)
        seen = list(cj.seen)
    env.platform.handler = None
    finals = env.platform.wait_final(dev)
    jumps = [off for off, d in seen if abs(d) > 3000]
    if not jumps:
        raise H.CheckFailed(f"the wall clock never jumped (libfaketime not effective?): {seen}")
    if not (r.rc == 1 and "timed out (--timeout 4 s)" in r.err):
        raise H.CheckFailed(f"exit {r.rc}: {r.err[-400:]}")
    # Not before the limit (a forward jump must not count as time spent);
    # the upper bound only keeps a hang from passing.
    if r.elapsed < 4.0:
        raise H.CheckFailed(f"timed out after {r.elapsed:.1f}s of monotonic time, before the 4 s limit")
    if r.elapsed >= 40:
        raise H.CheckFailed(f"took {r.elapsed:.1f}s")
    return f"wall clock jumped {', '.join(jumps)}; exit 1 'timed out' after {r.elapsed:.1f}s monotonic (limit 4 s), report {finals[-1]['progress']['result_msg'] if finals else None!r}"


def clock_jump_slow_download(env):
    if faketime_lib() is None:
        return H.skipped("libfaketime not installed (Debian package faketime)")
    data = os.urandom(5 << 20)
    env.store.serve("/slowclock", data, rate=1_000_000)
    dev = env.device()
    dl = tempfile.mkdtemp(prefix="clock2-", dir=env.work)
    env.platform.handler = answering(env, dev, lambda: task("slow.bin", data, env.store.url("/slowclock")))
    with ClockJumper(env.work, ["+10h", "-10h", "+400d", "-400d", "+2h"]) as cj:
        r = H.run_device(env.broker.port, dev, ["--timeout", "20", "download", "--dir", dl, "--wait", "10"], env=cj.env(), limit=90)
        seen = list(cj.seen)
    env.platform.handler = None
    jumps = [off for off, d in seen if abs(d) > 3000]
    if not jumps:
        raise H.CheckFailed(f"the wall clock never jumped: {seen}")
    if r.rc != 0:
        raise H.CheckFailed(f"exit {r.rc}: {r.err[-500:]}")
    if open(os.path.join(dl, "slow.bin"), "rb").read() != data:
        raise H.CheckFailed('expected: open(os.path.join(dl, "slow.bin"), "rb").read() == data')
    return f"a {r.elapsed:.1f}s download (5 MiB at 1 MB/s, --timeout 20) while the wall clock jumped {', '.join(jumps)}: exit 0, verified, no spurious timeout"


def cases(env, run):
    run.case("disk full during a download", disk_full, env)
    for t in range(TRIALS):
        run.case(f"SIGKILL during a download, rerun (trial {t + 1}/{TRIALS})", kill_download, env, t)
    for t in range(TRIALS):
        run.case(f"SIGKILL during an upload, rerun (trial {t + 1}/{TRIALS})", kill_upload, env, t)
    run.case("broker killed and restarted during an upload", broker_restart_during_upload, env)
    run.case("clock jumps: --timeout fires on monotonic time", clock_jump_timeout, env)
    run.case("clock jumps: slow download, no spurious timeout", clock_jump_slow_download, env)


if __name__ == "__main__":
    print(f"seed {SEED}, {TRIALS} trials per kill test")
    H.run_cases("hostile_e2e_faults", Env, cases)
