"""The prediction server: one registered model version behind three protocols.

``create_serving_app`` loads the model once (per worker process) and answers:

- ``POST /predict`` (cairn), ``POST /invocations`` + ``GET /ping`` (MLflow), and the Open
  Inference Protocol v2 under ``/v2``;
- ``POST /feedback`` (ground truth), ``GET /monitor`` (JSON) and ``GET /metrics``
  (Prometheus).

Handlers take the raw ``Request`` and return bytes: bodies are parsed with ``json.loads`` and
checked by ``protocols``, not by pydantic models, so that for a one-row request the model call
is most of the server's time (measured here: about 0.35 ms per request in process, 0.19 ms
of it in scikit-learn's ``predict``). Every error is the JSON error of ``_http.errors``, with a
4xx status for what the client can fix; nothing a client sends stops the server. Body sizes
are checked by the HTTP guard alone, before and while a body streams in.
Reading the store (feedback, monitor, metrics) runs in the thread pool, so it never holds up
predictions on the event loop.

Bodies read as JSON must be sent as ``application/json`` (415 otherwise), which a web page
cannot make a browser send to another site unasked. With ``ServeAuth`` on, each route needs
the role it is registered with (reader for predictions and reads, writer for ``/feedback``),
checked before its body is read; health checks need none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from cairn._http.errors import error_response, status_response
from cairn._http.guard import HostRule, HttpGuard
from cairn.errors import CairnError
from cairn.model_server import protocols as proto
from cairn.model_server.feedback import parse_feedback
from cairn.model_server.metrics_text import CONTENT_TYPE, render
from cairn.model_server.model_io import dumps
from cairn.model_server.state import ServeAuth, ServedModel, ServeOptions
from cairn.monitoring.report import monitor_settings

if TYPE_CHECKING:
    from cairn.project import Project

log = logging.getLogger("cairn.model_server")

Handler = Callable[[Request], Awaitable[Response]]


def create_serving_app(project: Project, ref: str, *, batch_max_size: int | None = None,
                       batch_max_latency_ms: float | None = None,
                       log_predictions: bool = True,
                       max_body_bytes: int | None = None,
                       max_rows: int = proto.DEFAULT_MAX_ROWS,
                       auth: ServeAuth | None = None,
                       hosts: HostRule | None = None) -> FastAPI:
    """A FastAPI app serving the registered model ``ref`` (``NAME@VERSION_OR_ALIAS``);
    ``hosts`` names the ``Host`` values answered (see ``HostRule``)."""
    from cairn.models.loading import load_version
    from cairn.store.core import open_store

    store = open_store(project)
    model = load_version(project, store, ref)
    options = ServeOptions(batch_max_size=batch_max_size,
                           batch_max_latency_ms=batch_max_latency_ms,
                           log_predictions=log_predictions,
                           max_body_bytes=max_body_bytes or ServeOptions.max_body_bytes,
                           max_rows=max_rows, auth=auth or ServeAuth())
    return build_app(ServedModel(project, store, model, options), hosts)


def build_app(served: ServedModel, hosts: HostRule | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        served.log.start()
        try:
            yield
        finally:
            await run_in_threadpool(served.log.close)
            served.store.close()

    app = FastAPI(title=f"cairn · {served.name}@{served.version}", lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    app.state.served = served
    app.add_middleware(HttpGuard, hosts=hosts, body_limit=served.options.max_body_bytes)

    def add(path: str, name: str, handler: Handler, method: str = "GET",
            role: str | None = "reader") -> None:
        app.add_route(path, _guarded(served, name, handler, role), methods=[method], name=name)

    routes = Routes(served)
    add("/", "index", routes.index)
    add("/predict", "predict", routes.predict, "POST")
    add("/invocations", "invocations", routes.invocations, "POST")
    add("/ping", "ping", routes.ping, role=None)
    add("/health", "ping", routes.ping, role=None)
    add("/v2", "v2_server", routes.v2_server, role=None)
    add("/v2/health/live", "v2_live", routes.v2_live, role=None)
    add("/v2/health/ready", "v2_ready", routes.v2_ready, role=None)
    add("/v2/models/{name}", "v2_model", routes.v2_model)
    add("/v2/models/{name}/ready", "v2_model_ready", routes.v2_model_ready, role=None)
    add("/v2/models/{name}/versions/{version}", "v2_model", routes.v2_model)
    add("/v2/models/{name}/infer", "v2_infer", routes.v2_infer, "POST")
    add("/v2/models/{name}/versions/{version}/infer", "v2_infer", routes.v2_infer, "POST")
    add("/feedback", "feedback", routes.feedback, "POST", role="writer")
    add("/monitor", "monitor", routes.monitor)
    add("/metrics", "metrics", routes.metrics)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        message = {404: "no such endpoint; see GET / for the ones this server has",
                   405: "this endpoint does not take that method"}.get(exc.status_code,
                                                                       str(exc.detail))
        return status_response(exc.status_code, message, headers=exc.headers)

    return app


def _guarded(served: ServedModel, name: str, handler: Handler, role: str | None) -> Handler:
    """Check the caller's token when ``role`` needs one, time the handler, count it, and turn
    every failure into a JSON error."""
    metrics = served.requests
    needs_token = role is not None and served.options.auth.needs_token(role)

    async def route(request: Request) -> Response:
        started = time.perf_counter()
        try:
            if needs_token:
                assert role is not None
                await run_in_threadpool(served.check_token, bearer_token(request), role)
            response = await handler(request)
        except CairnError as exc:
            response = error_response(exc)
            metrics.error(name, exc.code)
        except Exception as exc:  # a model or server bug: answer 500 and keep serving
            log.exception("cairn: %s failed", name)
            response = status_response(500, f"the server failed: {exc}", code="internal")
            metrics.error(name, "internal")
        metrics.observe(name, response.status_code, time.perf_counter() - started)
        return response

    route.__name__ = f"cairn_{name}"
    return route


def bearer_token(request: Request) -> str | None:
    """The ``Authorization: Bearer`` token. Unlike ``cairn server``, no cookie is read: a
    browser sends cookies by host, whatever the port, so one set by ``cairn server`` on this
    host would otherwise sign in requests that any page makes to this server."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def json_response(data: Any, status: int = 200) -> Response:
    return Response(dumps(data).encode(), status_code=status, media_type="application/json")


class Routes:
    """The endpoints; each takes the raw request and answers a Response."""

    def __init__(self, served: ServedModel) -> None:
        self.s = served
        self.max_rows = served.options.max_rows

    async def _json(self, request: Request) -> Any:
        """The body as JSON; refused unread unless it is declared as JSON (see the module)."""
        proto.require_json(request.headers.get("content-type"))
        return proto.load_json(await request.body())

    # -- cairn ----------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return json_response({**self.s.metadata(), "endpoints": [
            "POST /predict", "POST /invocations", "GET /ping", "GET /v2/models/" + self.s.name,
            f"POST /v2/models/{self.s.name}/infer", "POST /feedback", "GET /monitor",
            "GET /metrics"]})

    async def predict(self, request: Request) -> Response:
        body = await self._json(request)
        rows = proto.parse_predict(body, self.s.spec, max_rows=self.max_rows).rows
        outputs, ids = await self.s.predict(rows)
        return json_response({"predictions": outputs, "prediction_ids": ids,
                              "model": self.s.name, "version": self.s.version})

    async def feedback(self, request: Request) -> Response:
        items = parse_feedback(await self._json(request))
        result = await self.s.feedback.submit(items)
        self.s.changes += 1
        return json_response(result.to_json())

    async def monitor(self, request: Request) -> Response:
        q = request.query_params
        settings = monitor_settings(q.get("window"), q.get("minutes"), q.get("drift_window"))
        return json_response(await run_in_threadpool(self.s.monitor, settings))

    async def metrics(self, request: Request) -> Response:
        s = self.s
        try:
            report: dict[str, Any] | None = await run_in_threadpool(s.monitor)
        except CairnError as exc:  # the store is busy or gone: still show this worker's counters
            log.warning("cairn: /metrics without store figures: %s", exc.message)
            report = None
        text = render(model=s.name, version=s.version, flavor=s.model.flavor,
                      requests=s.requests, log_stats=s.log_stats(), monitor=report,
                      batches=s.batcher.batches if s.batcher is not None else None)
        return Response(text.encode(), media_type=CONTENT_TYPE)

    # -- MLflow ---------------------------------------------------------------------------------
    async def invocations(self, request: Request) -> Response:
        content_type = request.headers.get("content-type")
        proto.invocation_media(content_type, self.s.spec)
        raw = await request.body()
        rows = proto.parse_invocations(content_type, raw, self.s.spec,
                                       max_rows=self.max_rows).rows
        outputs, ids = await self.s.predict(rows)
        return json_response({"predictions": outputs, "prediction_ids": ids})

    async def ping(self, request: Request) -> Response:
        return Response(b"\n", media_type="text/plain")

    # -- Open Inference Protocol v2 ------------------------------------------------------------
    async def v2_server(self, request: Request) -> Response:
        from cairn import __version__

        return json_response({"name": "cairn", "version": __version__, "extensions": []})

    async def v2_live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def v2_ready(self, request: Request) -> Response:
        return json_response({"ready": True})

    async def v2_model_ready(self, request: Request) -> Response:
        self.s.check_name(request.path_params["name"])
        return json_response({"name": self.s.name, "ready": True})

    async def v2_model(self, request: Request) -> Response:
        s = self.s
        s.check_name(request.path_params["name"], request.path_params.get("version"))
        spec = s.spec
        if spec is None:
            sig = s.runner.signature or {}
            inputs = [{"name": "input-0", "datatype": proto.oip_datatype(proto.NUMBER),
                       "shape": list(sig.get("shape") or [-1])}]
        elif spec.named:
            inputs = [{"name": c.name, "datatype": proto.oip_datatype(c.kind), "shape": [-1]}
                      for c in spec.columns]
        else:
            inputs = [{"name": "input-0", "datatype": proto.oip_datatype(spec.columns[0].kind),
                       "shape": [-1, spec.width]}]
        return json_response({
            "name": s.name, "versions": [str(s.version)], "platform": f"cairn-{s.model.flavor}",
            "inputs": inputs,
            "outputs": [{"name": o, "datatype": (s.output_datatype or "BYTES") if o == "predict"
                         else "FP64",
                         "shape": [-1] if o == "predict" else [-1, -1]}
                        for o in self._outputs()],
            "parameters": {"run_id": s.model.run_id, "task": s.model.task,
                           "signature": s.runner.signature},
        })

    def _outputs(self) -> list[str]:
        return ["predict", "predict_proba"] if self.s.runner.has_proba else ["predict"]

    async def v2_infer(self, request: Request) -> Response:
        s = self.s
        s.check_name(request.path_params["name"], request.path_params.get("version"))
        body = await self._json(request)
        wanted = proto.oip_requested_outputs(body, self._outputs())
        batch = (proto.parse_oip(body, s.spec, max_rows=self.max_rows) if s.spec is not None
                 else proto.parse_oip_raw(body, max_rows=self.max_rows))
        outputs, ids = await s.predict(batch.rows)
        tensors = []
        for name in wanted:
            values = outputs if name == "predict" else s.runner.predict_proba(batch.rows)
            tensors.append(proto.oip_output(name, values))
        answer: dict[str, Any] = {"model_name": s.name, "model_version": str(s.version),
                                  "outputs": tensors, "parameters": {"prediction_ids": ids}}
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            answer["id"] = body["id"]
        return json_response(answer)
