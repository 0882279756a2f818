"""The background writer behind ``cairn.log``: the training loop never waits on disk.

``Run.log`` only appends ``(step, time, values)`` to a deque. This thread wakes every half
second (or when the deque passes a threshold), turns the entries into per-key series and
hands them to a sink in one transaction. When the sink fails (store gone, disk full), it warns
once, keeps the points and retries; what still cannot be written at the end is spilled to a
JSON file so that nothing is silently lost.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cairn.store.series import Series

FLUSH_INTERVAL_S = 0.5
WAKE_AT = 8192
Entry = tuple[int, float, dict[str, Any]]
Sink = Callable[[dict[str, Series]], None]


def warn(message: str) -> None:
    print(f"cairn: warning: {message}", file=sys.stderr, flush=True)


def _group(batch: list[Entry]) -> dict[str, tuple[list[int], list[Any], list[int]]]:
    """Entries to per-key columns. A training loop logs the same keys every time, so that case
    is done column-wise (several times faster); mixed key sets fall back to a per-point loop."""
    if not batch:
        return {}
    steps = [e[0] for e in batch]
    times = [int(e[1] * 1000) for e in batch]
    keys = batch[0][2].keys()
    if all(e[2].keys() == keys for e in batch):
        return {key: (steps, [e[2][key] for e in batch], times) for key in keys}
    grouped: dict[str, tuple[list[int], list[Any], list[int]]] = {}
    for step, ms, (_s, _t, values) in zip(steps, times, batch, strict=True):
        for key, value in values.items():
            g = grouped.get(key)
            if g is None:
                g = grouped[key] = ([], [], [])
            g[0].append(step)
            g[1].append(value)
            g[2].append(ms)
    return grouped


class _Flusher:
    """One daemon thread per process flushes every open run's points.

    A thread per run would cost a thread start (up to a GIL switch interval, ~1 ms) and a join
    for each run; a process that creates thousands of runs would spend most of its time there.
    """

    def __init__(self) -> None:
        self.wake = threading.Event()
        self._writers: set[MetricWriter] = set()
        self._lock = threading.Lock()
        self._pid = 0

    def add(self, writer: MetricWriter) -> None:
        with self._lock:
            self._writers.add(writer)
            if self._pid != os.getpid():  # first use, or a forked child without the thread
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="cairn-writer", daemon=True).start()

    def remove(self, writer: MetricWriter) -> None:
        with self._lock:
            self._writers.discard(writer)

    def _loop(self) -> None:
        me = os.getpid()
        while self._pid == me:
            self.wake.wait(FLUSH_INTERVAL_S)
            self.wake.clear()
            with self._lock:
                writers = list(self._writers)
            for writer in writers:
                writer.flush()
                writer.maybe_tick()


_flusher = _Flusher()


class MetricWriter:
    """The pending points of one run; the shared flusher thread writes them."""

    def __init__(
        self,
        sink: Sink,
        *,
        spill_path: Path | None = None,
        tick: Callable[[], None] | None = None,
        tick_every_s: float,
    ) -> None:
        self.queue: deque[Entry] = deque()
        self.wake = _flusher.wake
        self._sink = sink
        self._spill_path = spill_path
        self._tick = tick
        self._tick_every_s = tick_every_s
        self._last_tick = time.monotonic()
        self._pending: dict[str, Series] = {}
        self._warned = False
        self._lock = threading.Lock()
        _flusher.add(self)

    def maybe_tick(self) -> None:
        if self._tick is None or time.monotonic() - self._last_tick < self._tick_every_s:
            return
        self._last_tick = time.monotonic()
        try:
            self._tick()
        except Exception as exc:  # liveness is best effort; never kill the thread
            self._warn_once(f"cannot update the run's heartbeat ({exc})")

    def drain(self) -> dict[str, Series]:
        """Move queued entries into per-key series (merged with any unflushed ones)."""
        queue = self.queue
        n = len(queue)
        if n == 0 and not self._pending:
            return {}
        pop = queue.popleft
        batch = [pop() for _ in range(n)]
        grouped = _group(batch)
        series, self._pending = self._pending, {}
        for key, (steps, vals, times) in grouped.items():
            s = series.get(str(key))
            if s is None:
                series[str(key)] = Series(array("q", steps), array("d", vals), array("q", times))
            else:
                s.steps.extend(steps)
                s.values.extend(vals)
                s.times.extend(times)
        return series

    def flush(self) -> bool:
        """Write what is queued; on failure keep it for the next try. True when all written."""
        with self._lock:
            series = self.drain()
            if not series:
                return True
            try:
                self._sink(series)
            except Exception as exc:
                self._warn_once(
                    f"cannot write metrics to the store ({exc}); keeping them and retrying"
                )
                self._pending = series
                return False
            return True

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warn(message)

    # -- the end ----------------------------------------------------------------------------
    def close(self) -> dict[str, Series]:
        """Leave the flusher and return what is left unwritten (the caller writes it last)."""
        _flusher.remove(self)
        with self._lock:
            return self.drain()

    def spill(self, series: dict[str, Series]) -> Path | None:
        """Keep points that could not reach the store in a local JSON file."""
        if not series or self._spill_path is None:
            return None
        data = {
            key: {"steps": s.steps.tolist(), "values": [repr(v) for v in s.values],
                  "times": s.times.tolist()}
            for key, s in series.items()
        }
        try:
            self._spill_path.parent.mkdir(parents=True, exist_ok=True)
            self._spill_path.write_text(json.dumps(data))
        except OSError as exc:
            warn(f"lost {sum(len(s) for s in series.values())} metric points: {exc}")
            return None
        warn(f"the store could not be reached; metrics were kept in {self._spill_path}")
        return self._spill_path
