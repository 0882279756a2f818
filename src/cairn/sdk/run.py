"""The ``Run`` handle returned by ``cairn.init``."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cairn.sdk.writer import WAKE_AT, MetricWriter, warn

if TYPE_CHECKING:
    from cairn.project import Project
    from cairn.store.core import MetaStore
    from cairn.store.series import Series

_now = time.time
_INT64 = 2**63  # steps are stored as int64


def check_values(params: Mapping[Any, Any] | None, what: str) -> None:
    """Refuse params or tags holding text that cannot be stored (``InvalidInput``)."""
    if params:
        from cairn._util.text import require_clean

        require_clean(dict(params), f"the {what}")


def _scalar(key: Any, value: Any) -> float | int:
    """A loggable number from bools, numpy scalars, 0-d arrays and tensors; else TypeError."""
    if not isinstance(key, str):
        raise TypeError(f"metric names must be strings, not {type(key).__name__}: {key!r}")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            got = item()
        except (ValueError, RuntimeError) as exc:
            raise TypeError(
                f"metric {key!r} must be a single number, not an array of many ({exc})"
            ) from None
        if isinstance(got, bool):
            return int(got)
        if isinstance(got, (int, float)):
            return got
    raise TypeError(
        f"metric {key!r} must be a number (int, float, bool, numpy scalar or 0-d tensor), "
        f"not {type(value).__name__}"
    )


def _coerce(values: Mapping[Any, Any]) -> dict[str, float | int]:
    return {key: _scalar(key, value) for key, value in values.items()}


class Run:
    """One tracked run. ``log`` is the hot path: validate, append, return."""

    def __init__(
        self,
        *,
        run_id: str,
        number: int,
        name: str | None,
        store: MetaStore | None,
        project: Project | None,
        joined: bool,
    ) -> None:
        self.id = run_id
        self.number = number
        self.name = name
        self.joined = joined
        self._store = store
        self._project = project
        self._step = 0
        self._finished = False
        from cairn.settings import Settings, load_settings

        self._settings = load_settings(project.store_dir) if project is not None else Settings()
        self._writer = MetricWriter(
            self._write,
            spill_path=(project.runs_dir / run_id / "unwritten-metrics.json") if project else None,
            tick=None if joined or store is None else self._heartbeat,
            tick_every_s=self._settings.heartbeat_interval_s,
        )
        self._queue = self._writer.queue
        self._wake = self._writer.wake
        self._keys: set[str] = set()  # metric keys this process logged to the run
        self._max_keys = self._settings.max_metric_keys

    def __repr__(self) -> str:
        return f"<cairn.Run {self.number} {self.name or self.id[:8]}>"

    # -- metrics ----------------------------------------------------------------------------
    def log(self, values: Mapping[str, Any], step: int | None = None) -> None:
        """Record metric values at ``step`` (default: one more than the last step)."""
        if step is None:
            step = self._step
            self._step = step + 1
        else:
            if type(step) is not int:
                step = int(_scalar("step", step))
            if not -_INT64 <= step < _INT64:
                from cairn.errors import InvalidInput

                raise InvalidInput(f"a step is a 64-bit integer; {step} is out of its range")
            if step >= self._step:
                self._step = step + 1
        for value in values.values():
            kind = type(value)
            if kind is not float and kind is not int:
                data = _coerce(values)
                break
        else:
            data = dict(values)
        if not self._keys.issuperset(data):
            self._add_keys(data)
        queue = self._queue
        queue.append((step, _now(), data))
        if len(queue) >= WAKE_AT:
            self._wake.set()

    def _add_keys(self, data: Mapping[str, Any]) -> None:
        """Check metric names the run has not logged before: text, and the per-run limit."""
        from cairn._util.text import require_text
        from cairn.errors import InvalidInput

        new = [k for k in data if k not in self._keys]
        for key in new:
            if not isinstance(key, str):
                raise TypeError(f"metric names must be strings, not {type(key).__name__}")
            require_text(key, f"the metric name {key!r}")
        if len(self._keys) + len(new) > self._max_keys:
            raise InvalidInput(
                f"this would give run {self.number} {len(self._keys) + len(new):,} metric keys, "
                f"over the limit of {self._max_keys:,} per run; these values were not logged",
                hint="log fewer distinct metric names, or raise [limits] metric_keys")
        self._keys.update(new)

    def _write(self, series: dict[str, Series]) -> None:
        if self._store is None:
            raise OSError("no store is open")
        from cairn.store.metrics import write_series

        with self._store.db.write() as w:
            write_series(w, self.id, series)

    def _heartbeat(self) -> None:
        if self._store is not None:
            from cairn.store.runs import heartbeat

            with self._store.db.write() as w:
                heartbeat(w, [self.id])

    # -- params, tags, artifacts ------------------------------------------------------------
    def log_params(self, params: Mapping[str, Any]) -> None:
        if self._store is None:
            return
        from cairn.store.limits import check_key_budget
        from cairn.store.runs import log_params

        check_values(params, "params")
        limit = self._settings.max_params
        with self._store.db.write() as w:
            check_key_budget(w, "params", self.id, [str(k) for k in params], limit)
            log_params(w, self.id, dict(params))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        if self._store is None:
            return
        from cairn.store.limits import check_key_budget
        from cairn.store.runs import set_tags

        check_values({str(k): str(v) for k, v in tags.items()}, "tags")
        limit = self._settings.max_tags
        with self._store.db.write() as w:
            check_key_budget(w, "tags", self.id, [str(k) for k in tags], limit)
            set_tags(w, self.id, dict(tags))

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> str:
        """Store a file or folder as a content-addressed artifact; return its object id."""
        from cairn.runner.artifacts import add_path

        if self._store is None or self._project is None:
            raise OSError("no store is open, the artifact was not recorded")
        return add_path(self._store, self._project, self.id, Path(path), kind="artifact",
                        name=name).oid

    # -- the end ----------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._finished

    def finish(self, status: str = "finished") -> None:
        """Flush every point and close the run (a joined run's status is its launcher's)."""
        if self._finished:
            return
        self._finished = True
        rest = self._writer.close()
        if self._store is None:
            self._writer.spill(rest)
            return
        try:
            from cairn.store.metrics import write_series
            from cairn.store.runs import finish_run

            with self._store.db.write() as w:
                if rest:
                    write_series(w, self.id, rest)
                if not self.joined:
                    finish_run(w, self.id, status)
        except Exception as exc:
            warn(f"cannot finish run {self.number} in the store ({exc})")
            self._writer.spill(rest)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from cairn.sdk import api

        status = "finished"
        if exc_type is not None:
            status = "killed" if issubclass(exc_type, KeyboardInterrupt) else "failed"
        self.finish(status)
        api._forget(self)

