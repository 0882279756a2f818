"""The background writer behind ``cairn.log``: the training loop never waits on disk.

``Run.log`` only appends ``(step, time, values)`` to a deque. This thread wakes every half
second (or when the deque passes a threshold), turns the entries into per-key series and
hands them to a sink in one transaction. When the sink fails (store gone, disk full), it warns
once, keeps the points and retries; what still cannot be written at the end is spilled to a
JSON file so that nothing is silently lost.
"""

from __future__ import annotations

import json
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


class MetricWriter:
    """Owns the deque of pending points and the thread that flushes it."""

    def __init__(
        self,
        sink: Sink,
        *,
        spill_path: Path | None = None,
        tick: Callable[[], None] | None = None,
        tick_every_s: float = 5.0,
    ) -> None:
        self.queue: deque[Entry] = deque()
        self.wake = threading.Event()
        self._sink = sink
        self._spill_path = spill_path
        self._tick = tick
        self._tick_every_s = tick_every_s
        self._stop = False
        self._pending: dict[str, Series] = {}
        self._warned = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="cairn-writer", daemon=True)
        self._thread.start()

    # -- the thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        last_tick = time.monotonic()
        while True:
            self.wake.wait(FLUSH_INTERVAL_S)
            self.wake.clear()
            if self._stop:
                return
            self.flush()
            if self._tick is not None and time.monotonic() - last_tick >= self._tick_every_s:
                last_tick = time.monotonic()
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
        grouped: dict[str, tuple[list[int], list[Any], list[int]]] = {}
        pop = queue.popleft
        for _ in range(n):
            step, t, entry = pop()
            ms = int(t * 1000)
            for key, value in entry.items():
                g = grouped.get(key)
                if g is None:
                    g = grouped[key] = ([], [], [])
                g[0].append(step)
                g[1].append(value)
                g[2].append(ms)
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
        """Stop the thread and return what is left unwritten (the caller writes it last)."""
        self._stop = True
        self.wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
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
