"""One served model version and everything a worker keeps about it while it runs."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cairn._util.ids import now_ms
from cairn.errors import NotFound
from cairn.model_server.batching import MicroBatcher
from cairn.model_server.feedback import FeedbackWriter
from cairn.model_server.metrics_text import RequestMetrics
from cairn.model_server.model_io import ModelRunner
from cairn.model_server.predictions import PredictionLog, new_prediction_id
from cairn.model_server.protocols import DEFAULT_MAX_ROWS
from cairn.models.registry import model_id as registered_model_id
from cairn.monitoring.drift import profile_features
from cairn.monitoring.report import Deployment, MonitorSettings, monitor_report
from cairn.store.predictions import LogRow

if TYPE_CHECKING:
    from cairn.models.loading import LoadedModel
    from cairn.project import Project
    from cairn.store.core import MetaStore
    from cairn.store.credentials import TokenChecker

log = logging.getLogger("cairn.model_server")

MONITOR_CACHE_S = 1.0


@dataclass(frozen=True)
class ServeAuth:
    """Which endpoints need an API token of ``cairn server``'s accounts: predictions and
    reads need the reader role, ``/feedback`` the writer role. Health checks never do, so a
    load balancer can probe without one."""

    predictions: bool = False
    feedback: bool = False

    @property
    def any(self) -> bool:
        return self.predictions or self.feedback

    def needs_token(self, role: str) -> bool:
        """Whether a request needing ``role`` (reader or writer) must bring a token."""
        return self.feedback if role == "writer" else self.predictions


@dataclass(frozen=True)
class ServeOptions:
    batch_max_size: int | None = None
    batch_max_latency_ms: float | None = None
    log_predictions: bool = True
    max_body_bytes: int = 16 * 1024 * 1024
    log_queue_size: int = 100_000
    max_rows: int = DEFAULT_MAX_ROWS
    auth: ServeAuth = ServeAuth()


class ServedModel:
    """The loaded model, its prediction log and this worker's counters."""

    def __init__(self, project: Project, store: MetaStore, model: LoadedModel,
                 options: ServeOptions) -> None:
        self.project = project
        self.store = store
        self.model = model
        self.options = options
        self.name = str(model.name)
        self.version = int(model.version or 0)
        self.runner = ModelRunner(model)
        self.spec = self.runner.spec
        self.model_id = registered_model_id(store, self.name)
        self.requests = RequestMetrics()
        self.tokens: TokenChecker | None = None
        if options.auth.any:
            from cairn.store.credentials import TokenChecker

            self.tokens = TokenChecker(store.db)
        self.log = PredictionLog(store.db, max_queue=options.log_queue_size,
                                 spill_dir=project.store_dir / "serving")
        self.log.enabled = options.log_predictions
        self.feedback = FeedbackWriter(store.db, self.model_id, flush=self.log.flush)
        self.batcher: MicroBatcher | None = None
        if options.batch_max_size and options.batch_max_size > 1:
            self.batcher = MicroBatcher(self.runner.predict, max_size=options.batch_max_size,
                                        max_latency_ms=options.batch_max_latency_ms or 2.0)
        self.deployment = Deployment(
            name=self.name, model_id=self.model_id, version=self.version, task=model.task,
            profile=profile_features(model.profile),
            feature_names=model.signature.feature_names if model.signature else [],
            classes=_classes(model),
        )
        self._monitor_cache: dict[tuple[Any, ...], tuple[float, dict[str, Any], int]] = {}
        self._monitor_lock = threading.Lock()
        self.changes = 0  # predictions and labels seen by this worker, to know a cache is stale
        self.output_datatype = self._warm_up()

    def _warm_up(self) -> str | None:
        """Score the logged example once: the first real request then pays no lazy setup,
        and the OIP metadata can name the output's datatype."""
        from cairn.model_server.protocols import oip_output

        try:
            outputs = self.runner.warm_up(self.model.example)
        except Exception as exc:  # a model that cannot score its own example still serves
            log.warning("cairn: the model's logged example does not score: %s", exc)
            return None
        return None if outputs is None else str(oip_output("predict", outputs)["datatype"])

    # -- predicting -------------------------------------------------------------------------------
    async def predict(self, rows: list[list[Any]]) -> tuple[list[Any], list[str]]:
        """Predictions and their ids; the log rows are queued, never waited for."""
        started = time.perf_counter()
        if self.batcher is not None:
            outputs = await self.batcher.submit(rows)
        else:
            outputs = self.runner.predict(rows)
        latency_ms = (time.perf_counter() - started) * 1000
        ids = [new_prediction_id() for _ in rows]
        self.requests.predictions += len(rows)
        self.changes += 1
        if self.log.enabled:  # plain values: the log's writer encodes them, a batch at a time
            at, model_id, version = now_ms(), self.model_id, self.version
            entries: list[LogRow] = [
                (pid, model_id, version, at, row, out, latency_ms)
                for pid, row, out in zip(ids, self.runner.logged_inputs(rows), outputs,
                                         strict=True)
            ]
            self.log.record(entries)
        return outputs, ids

    def check_token(self, token: str | None, role: str) -> None:
        """Refuse a request without a token of ``cairn server``'s accounts (401) or whose user
        lacks ``role`` in this project (403). Asked afresh each time: a revoked or expired token
        is refused on its next request."""
        from cairn.errors import PermissionDenied, Unauthenticated
        from cairn.store.accounts import allows

        assert self.tokens is not None
        if token is None:
            raise Unauthenticated("this model server needs an API token, sent as "
                                  "Authorization: Bearer TOKEN",
                                  hint="an admin makes one: cairn server token create USER")
        user = self.tokens.user_for(token)
        if user is None:
            raise Unauthenticated("the API token is not valid (unknown, expired or revoked)")
        held = self.tokens.role(user, self.store.project_id)
        if not allows(held, role):
            has = f"is a {held} of" if held else "has no role in"
            raise PermissionDenied(
                f"{user.name} {has} project {self.store.project_name!r}; this needs the "
                f"{role} role",
                hint=f"an admin can grant it: cairn server user add {user.name} --role {role}")

    def check_name(self, name: str, version: str | None = None) -> None:
        if name != self.name:
            raise NotFound(f"this server serves the model {self.name!r}, not {name!r}")
        if version is not None and version != str(self.version):
            raise NotFound(f"this server serves {self.name} version {self.version}, "
                           f"not {version}")

    # -- reading the log back ---------------------------------------------------------------------
    def monitor(self, settings: MonitorSettings | None = None) -> dict[str, Any]:
        """The monitor report, including this worker's latest predictions; reused for up to
        a second while this worker has seen nothing new (scrapers may call it often)."""
        settings = settings or MonitorSettings()
        key = (settings.labelled_window, settings.minutes_window, settings.drift_window)
        with self._monitor_lock:
            now = time.monotonic()
            hit = self._monitor_cache.get(key)
            if hit is not None and now - hit[0] < MONITOR_CACHE_S and hit[2] == self.changes:
                return hit[1]
            changes = self.changes
            self.log.flush(timeout=2.0)
            report = monitor_report(self.store.db, self.deployment, settings)
            report["log"] = self.log_stats()
            self._monitor_cache[key] = (now, report, changes)
            return report

    def log_stats(self) -> dict[str, int]:
        return {"written": self.log.written, "dropped": self.log.dropped,
                "pending": self.log.pending, "spilled": self.log.spilled,
                "enabled": int(self.log.enabled)}

    def metadata(self) -> dict[str, Any]:
        return {"model": self.name, "version": self.version, "flavor": self.model.flavor,
                "task": self.model.task, "run_id": self.model.run_id,
                "signature": self.runner.signature}


def _classes(model: LoadedModel) -> list[Any] | None:
    try:
        return list(model.classes_)
    except AttributeError:
        return None
