"""A small HTTP load client: threads, one keep-alive connection each, standard library only.

Run as its own process (``python http_load.py < request.json``), so the client's work never
shares an interpreter with a server. The request names the host and port and one entry per
client thread::

    {"host": "127.0.0.1", "port": 8000, "requests": 50, "warmup": 3,
     "clients": [{"method": "POST", "path": "/predict", "bodies": ["{...}"],
                  "headers": {"Content-Type": "application/json"}}, ...],
     "collect": "prediction_ids"}

Each client sends ``warmup`` unmeasured requests, then waits on a barrier with the others and
sends ``requests`` more, cycling through its ``bodies``; ``__I__`` in a body is replaced by
the request's number, so every request can carry distinct steps. A response is an error
unless its status is 2xx. ``collect`` gathers that key's list from every JSON response.
The answer, on stdout as JSON: requests, errors, wall seconds, requests/s, p50/p99 (ms), the
first error, and what was collected.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import threading
import time
from typing import Any


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    spec = json.load(sys.stdin)
    clients: list[dict[str, Any]] = spec["clients"]
    count, warmup = int(spec["requests"]), int(spec.get("warmup", 0))
    collect = spec.get("collect")
    barrier = threading.Barrier(len(clients) + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    collected: list[Any] = []
    ends: list[float] = []

    def send(conn: http.client.HTTPConnection, client: dict[str, Any], i: int,
             measured: bool) -> None:
        bodies = client.get("bodies") or [None]
        body = bodies[i % len(bodies)]
        if body is not None:
            body = body.replace("__I__", str(i)).encode()
        start = time.perf_counter()
        try:
            conn.request(client["method"], client["path"], body=body,
                         headers=client.get("headers", {}))
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if measured:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            return
        elapsed = time.perf_counter() - start
        if not measured:
            return
        with lock:
            if 200 <= resp.status < 300:
                latencies.append(elapsed)
                if collect:
                    collected.extend(json.loads(data).get(collect) or [])
            else:
                errors.append(f"HTTP {resp.status}: {data[:200].decode(errors='replace')}")

    def worker(client: dict[str, Any], offset: int) -> None:
        conn = http.client.HTTPConnection(spec["host"], int(spec["port"]), timeout=60)
        try:
            for i in range(warmup):
                send(conn, client, 1_000_000_000 + offset + i, measured=False)
        finally:
            barrier.wait()
        for i in range(count):
            send(conn, client, offset + i, measured=True)
        with lock:
            ends.append(time.perf_counter())
        conn.close()

    threads = [threading.Thread(target=worker, args=(c, n * count), daemon=True)
               for n, c in enumerate(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = (max(ends) if ends else time.perf_counter()) - start
    done = len(latencies)
    json.dump({
        "requests": done + len(errors), "ok": done, "errors": len(errors), "wall_s": wall,
        "rps": done / wall if wall > 0 else 0.0,
        "p50_ms": statistics.median(latencies) * 1e3 if latencies else 0.0,
        "p99_ms": _percentile(latencies, 0.99) * 1e3,
        "first_error": errors[0] if errors else "", "collected": collected,
    }, sys.stdout)


if __name__ == "__main__":
    main()
