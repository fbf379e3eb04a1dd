#!/usr/bin/env python3
"""A client of the public PetAvatar API for scripts/bench-serve (standard library only).

It does what the web page and `petavatar submit` do: GET /presigned-url, the multipart upload to
the presigned form, POST /process, then GET /status until the job is done.

    client.py setup BASE KEY PHOTO                  one job, waits; prints {"job_id": ...}
    client.py sequential BASE KEY PHOTO N           N jobs one after another: submit -> completed
    client.py concurrent BASE KEY PHOTO N           N submissions at once; all must complete

Each mode prints one JSON object on stdout; progress goes to stderr.
"""

import http.client
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime

TIMEOUT_S = 120.0
# How often the concurrent mode's poller sweeps the pending jobs (the web page polls every 0.5 s).
CONCURRENT_POLL_S = 0.2


class ApiError(Exception):
    pass


def request(method, url, key=None, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    if key is not None:
        req.add_header("x-api-key", key)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            raw = res.read()
            return res.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raise ApiError(f"{method} {url} -> {e.code}: {e.read()[:300]!r}") from e


def multipart(fields, file_bytes, filename, content_type):
    """The presigned form: its fields in order, then `file` last, as S3 wants it."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + file_bytes
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def submit(base, key, photo_bytes):
    """Presigned URL -> upload -> /process. Returns the job id."""
    _, presigned = request("GET", f"{base}/presigned-url?content_type=image/png", key)
    upload_url = urllib.parse.urljoin(base + "/", presigned["upload_url"])
    body, ctype = multipart(presigned["upload_fields"], photo_bytes, "photo.png", "image/png")
    status, _ = request("POST", upload_url, body=body, headers={"content-type": ctype})
    if status not in (200, 201, 204):
        raise ApiError(f"upload answered {status}")
    request(
        "POST",
        f"{base}/process",
        key,
        body=json.dumps({"s3_uri": presigned["s3_uri"]}).encode(),
        headers={"content-type": "application/json"},
    )
    return presigned["job_id"]


class StatusPoller:
    """GET /status on one keep-alive connection, as a browser polls (a new connection per poll
    cost this client more CPU than the server spent answering, on a 2-core machine where the
    client's CPU is taken from the jobs)."""

    def __init__(self, base, key):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.key = u.hostname, u.port, key
        self.conn = None

    def get(self, job_id):
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request("GET", f"/status/{job_id}", headers={"x-api-key": self.key})
                res = self.conn.getresponse()
                raw = res.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if res.status != 200:
                raise ApiError(f"GET /status/{job_id} -> {res.status}: {raw[:300]!r}")
            return json.loads(raw)


def wait(poller, job_id, interval_s):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        s = poller.get(job_id)
        if s["status"] in ("completed", "failed"):
            return s
        time.sleep(interval_s)
    raise ApiError(f"job {job_id} not done after {TIMEOUT_S} s")


def execution_ms(base, job_id):
    """The engine's own duration of the job's execution (startDate -> stopDate).

    The job reads `completed` as soon as RecordResult has written it, a moment before the
    execution itself ends, so this waits for the execution's stopDate."""
    deadline = time.monotonic() + 10.0
    while True:
        _, body = request("GET", f"{base}/api/executions/{job_id}")
        ex = body["execution"]
        if "stopDate" in ex:
            return (ex["stopDate"] - ex["startDate"]) * 1000.0
        if time.monotonic() > deadline:
            raise ApiError(f"execution of {job_id} still {ex.get('status')} 10 s after the job completed")
        time.sleep(0.005)


def percentile(values, p):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100.0 * len(ordered)) - 1))
    return ordered[index]


def summary(values):
    return {
        "n": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "p95": percentile(values, 95),
        "max": max(values),
    }


def cmd_setup(base, key, photo):
    job_id = submit(base, key, photo)
    final = wait(StatusPoller(base, key), job_id, 0.05)
    if final["status"] != "completed":
        raise ApiError(f"setup job failed: {final}")
    return {"job_id": job_id}


def cmd_sequential(base, key, photo, n):
    client_ms, engine_ms = [], []
    poller = StatusPoller(base, key)
    for i in range(n):
        t0 = time.perf_counter()
        job_id = submit(base, key, photo)
        final = wait(poller, job_id, 0.005)
        elapsed = (time.perf_counter() - t0) * 1000.0
        if final["status"] != "completed":
            raise ApiError(f"job {job_id} failed: {final}")
        client_ms.append(elapsed)
        engine_ms.append(execution_ms(base, job_id))
        print(f"  job {i + 1}/{n}: submit->completed {elapsed:.0f} ms", file=sys.stderr)
    return {"submit_to_completed_ms": summary(client_ms), "execution_ms": summary(engine_ms)}


def cmd_concurrent(base, key, photo, n):
    barrier = threading.Barrier(n)
    job_ids, errors = [None] * n, []
    submitted_at = [0.0] * n

    def one(i):
        barrier.wait()
        try:
            job_ids[i] = submit(base, key, photo)
            submitted_at[i] = time.perf_counter()
        except Exception as e:  # noqa: BLE001 - every failure is reported, none hidden
            errors.append(f"submit {i}: {e}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0_epoch = time.time()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    submit_s = time.perf_counter() - t0

    # One poller for all jobs, every CONCURRENT_POLL_S. A job's finish time is the server's own
    # `updated_at` of its terminal status (same machine, same clock), not when the poller saw
    # it: a poller fast enough to time the jobs itself took a third of a core from them (and
    # got less when 100 jobs ran at once, so it timed the two ways of scheduling differently).
    pending = {i for i in range(n) if job_ids[i]}
    finished_at, seen_at, outcome = {}, {}, {}
    deadline = time.monotonic() + TIMEOUT_S
    poller = StatusPoller(base, key)
    while pending and time.monotonic() < deadline:
        for i in list(pending):
            s = poller.get(job_ids[i])
            if s["status"] in ("completed", "failed"):
                finished_at[i] = datetime.fromisoformat(s["updated_at"]).timestamp() - t0_epoch
                seen_at[i] = time.perf_counter() - t0
                outcome[i] = s["status"] if s["status"] == "completed" else f"failed: {s.get('error')}"
                pending.discard(i)
        if pending:
            time.sleep(CONCURRENT_POLL_S)
    wall_s = time.perf_counter() - t0
    completed = sum(1 for o in outcome.values() if o == "completed")
    failed = [o for o in outcome.values() if o != "completed"]
    latencies = [finished_at[i] * 1000.0 for i in finished_at]
    last_done = max(finished_at.values()) if finished_at else float("nan")
    return {
        "submitted": sum(1 for j in job_ids if j),
        "completed": completed,
        "failed": failed[:5],
        "submit_errors": errors[:5],
        "timed_out": len(pending),
        "submit_phase_s": submit_s,
        "wall_s": last_done,
        "jobs_per_s": completed / last_done if finished_at else 0.0,
        "start_to_completed_ms": summary(latencies) if latencies else None,
        "poll_wall_s": wall_s,
        "last_seen_done_s": max(seen_at.values()) if seen_at else None,
    }


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    mode, base, key, photo_path = argv[1:5]
    with open(photo_path, "rb") as f:
        photo = f.read()
    base = base.rstrip("/")
    if mode == "setup":
        out = cmd_setup(base, key, photo)
    elif mode == "sequential":
        out = cmd_sequential(base, key, photo, int(argv[5]))
    elif mode == "concurrent":
        out = cmd_concurrent(base, key, photo, int(argv[5]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
