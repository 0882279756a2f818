"""Model serving: the same scikit-learn LogisticRegression on iris behind ``cairn serve`` and
``mlflow models serve``.

cairn's model is stored with ``cairn.log_model`` and registered (``cairn model register
RUN:model --name iris``), then served as ``cairn serve iris@1``; MLflow's is the same model
(same data, same ``random_state``) written with ``mlflow.sklearn.save_model`` in MLflow's venv
and served with ``mlflow models serve -m DIR --env-manager local``. Both run one worker on
127.0.0.1, started once per case before any measurement.

Requests are single rows: cairn ``POST /predict {"inputs": [[…]]}``, MLflow ``POST
/invocations`` with ``dataframe_split``. They come from a separate load-client process
(``probes/http_load.py``, keep-alive, one connection per client thread), which on a 2-core
machine shares the CPUs with the server, for both tools alike.

A second case compares cairn with and without its prediction log (``--no-prediction-log``);
a third times ``/feedback``, labels for earlier predictions, in batches.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Context, Side
from benchmarks.procs import Failed, base_env, run_command, run_probe
from benchmarks.scenarios.common import cairn_store, count, fresh, rate, seconds
from benchmarks.scenarios.web import JSON, Lazy, Server, free_port, load

ROW = [5.1, 3.5, 1.4, 0.2]
FEEDBACK_BATCH = 100


class _Models:
    """cairn's registered model and MLflow's model folder, made once for the scenario."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.cairn: tuple[Path, dict[str, str]] | None = None
        self.mlflow: Path | None = None
        self.errors: dict[str, Exception] = {}

    def cairn_model(self) -> tuple[Path, dict[str, str]]:
        if "cairn" in self.errors:
            raise self.errors["cairn"]
        if self.cairn is None:
            try:
                cwd, env = cairn_store(self.ctx, "serving-cairn")
                run = run_probe(self.ctx.cairn, "cairn_probe", "log_iris", {}, cwd=cwd, env=env,
                                timeout=self.ctx.timeout)["run"]
                run_command([self.ctx.cairn.script("cairn"), "model", "register",
                             f"{run:.0f}:model", "--name", "iris"], cwd=cwd,
                            env=base_env(env), timeout=self.ctx.timeout)
            except Exception as exc:
                self.errors["cairn"] = exc
                raise
            self.cairn = cwd, env
        return self.cairn

    def mlflow_model(self) -> Path:
        if "mlflow" in self.errors:
            raise self.errors["mlflow"]
        if self.mlflow is None:
            try:
                self.ctx.mlflow.check()
                folder = fresh(self.ctx, "serving-mlflow")
                run_probe(self.ctx.mlflow, "mlflow_probe", "save_iris",
                          {"path": str(folder / "model")}, cwd=folder, env={},
                          timeout=self.ctx.timeout)
            except Exception as exc:
                self.errors["mlflow"] = exc
                raise
            self.mlflow = folder / "model"
        return self.mlflow


def _cairn_server(ctx: Context, models: _Models, *extra: str) -> Server:
    cwd, env = models.cairn_model()
    port = free_port()
    return Server("cairn serve", [ctx.cairn.script("cairn"), "serve", "iris@1", "--host",
                                  "127.0.0.1", "--port", str(port), *extra],
                  cwd=cwd, env=env, port=port, ready_path="/monitor", timeout=120)


def _mlflow_server(ctx: Context, models: _Models) -> Server:
    model = models.mlflow_model()
    port = free_port()
    return Server("mlflow models serve", [
        ctx.mlflow.script("mlflow"), "models", "serve", "-m", str(model), "--env-manager",
        "local", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=model.parent, env={"PATH": f"{ctx.mlflow.bin}:{base_env()['PATH']}"}, port=port,
        ready_path="/ping", timeout=180)


CAIRN_PREDICT = {"method": "POST", "path": "/predict", "headers": JSON,
                 "bodies": [json.dumps({"inputs": [ROW]})]}
MLFLOW_PREDICT = {"method": "POST", "path": "/invocations", "headers": JSON,
                  "bodies": [json.dumps({"dataframe_split": {
                      "columns": ["sepal length (cm)", "sepal width (cm)",
                                  "petal length (cm)", "petal width (cm)"],
                      "data": [ROW]}})]}


def _measure(ctx: Context, server: Server, client: dict[str, Any], single: int,
             concurrent: int, clients: int) -> dict[str, float]:
    one = load(ctx.cairn, server.port, [client], single, warmup=5)
    many = load(ctx.cairn, server.port, [client] * clients, concurrent, warmup=2)
    for got in (one, many):
        if got["ok"] == 0:
            raise Failed(f"every request failed: {got['first_error']}")
    return {"rps_1": one["rps"], "p50_1": one["p50_ms"] / 1e3, "rps_n": many["rps"],
            "p99_n": many["p99_ms"] / 1e3, "errors": float(one["errors"] + many["errors"])}


def _figures(clients: int) -> tuple[Any, ...]:
    return (rate("rps_1", "1 client: single-row predictions/s", "requests"),
            seconds("p50_1", "1 client: p50"),
            rate("rps_n", f"{clients} clients: predictions/s", "requests"),
            seconds("p99_n", f"{clients} clients: p99"),
            count("errors", "errors (failed requests)"))


def cases(ctx: Context) -> Iterator[Case]:
    models = _Models(ctx)
    clients = 16
    single, concurrent = ctx.size(300, 3_000), ctx.size(40, 300)
    cairn = Lazy(lambda: _cairn_server(ctx, models))
    quiet = Lazy(lambda: _cairn_server(ctx, models, "--no-prediction-log"))
    mlflow = Lazy(lambda: _mlflow_server(ctx, models))
    sizes = (f"1 client: {single:,} sequential requests after 5 unmeasured; {clients} "
             f"clients: {concurrent:,} requests each")
    try:
        yield Case(
            "predict, iris LogisticRegression", _figures(clients),
            Side("cairn", lambda: _measure(ctx, cairn.get(), CAIRN_PREDICT, single,
                                           concurrent, clients)),
            Side("mlflow", lambda: _measure(ctx, mlflow.get(), MLFLOW_PREDICT, single,
                                            concurrent, clients)),
            note=f"cairn serve iris@1 (POST /predict, predictions logged) vs mlflow models "
                 f"serve --env-manager local (POST /invocations, dataframe_split); {sizes}; "
                 "one worker each",
        )
        mlflow.stop()
        yield Case(
            "prediction log overhead", _figures(clients),
            Side("cairn", lambda: _measure(ctx, cairn.get(), CAIRN_PREDICT, single,
                                           concurrent, clients)),
            Side("cairn --no-prediction-log",
                 lambda: _measure(ctx, quiet.get(), CAIRN_PREDICT, single, concurrent,
                                  clients)),
            note=f"cairn serve with its prediction log (the default) against "
                 f"--no-prediction-log: a ratio under 1 is the log's cost; {sizes}",
        )
        quiet.stop()
        labels = ctx.size(2_000, 20_000)

        def feedback() -> dict[str, float]:
            server = cairn.get()
            got = load(ctx.cairn, server.port, [CAIRN_PREDICT], labels, warmup=0,
                       collect="prediction_ids")
            ids = got["collected"]
            if len(ids) < labels:
                raise Failed(f"only {len(ids)} of {labels} predictions answered an id")
            bodies = [json.dumps({"feedback": [{"prediction_id": p, "label": 0}
                                               for p in ids[i:i + FEEDBACK_BATCH]]})
                      for i in range(0, len(ids), FEEDBACK_BATCH)]
            fb = load(ctx.cairn, server.port, [{"method": "POST", "path": "/feedback",
                                                "headers": JSON, "bodies": bodies}],
                      len(bodies), warmup=0)
            return {"labels_per_s": fb["rps"] * FEEDBACK_BATCH, "p50": fb["p50_ms"] / 1e3,
                    "errors": float(fb["errors"])}

        yield Case(
            "feedback", (rate("labels_per_s", f"labels/s, batches of {FEEDBACK_BATCH}",
                              "labels"),
                         seconds("p50", "p50 per batch"), count("errors", "errors")),
            Side("cairn", feedback),
            note=f"{labels:,} predictions made first (not timed), then their labels sent to "
                 f"POST /feedback in batches of {FEEDBACK_BATCH} from 1 client; no anchor "
                 "(mlflow models serve takes no feedback)",
        )
    finally:
        for server in (cairn, quiet, mlflow):
            server.stop()
