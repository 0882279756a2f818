"""The web UI's model pages: the registry, each model's versions, its deployment, a prediction.

Pages: ``/models``, ``/models/{name}``, ``/models/{name}/deployment`` (live metrics, drift
and the prediction log of one version: ``?version=`` picks it, ``window``, ``minutes`` and
``drift_window`` size the windows as ``GET /monitor`` takes them, ``page`` and ``n`` page
the predictions) and ``/predictions/{id}``. The app factory includes ``router`` beside the
runs pages' router, with the same reader dependency; rendering and errors go through the
same helpers, so a bad name or number is a page with one sentence and its status.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from cairn.server.ui import models_deployment, models_views
from cairn.server.ui.routes import _app, _page, _partial
from cairn.server.ui.routes import _html as _runs_html
from cairn.server.ui.views import positive_int

router = APIRouter(include_in_schema=False)


def _html(request: Request, template: str, **context: Any) -> HTMLResponse:
    """A page of the runs pages' kind, with the alias order at hand for its badges."""
    return _runs_html(request, template, ordered=models_views.ordered_aliases, **context)


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> Response:
    def build() -> Response:
        rows = models_views.models_page(_app(request).store)
        return _html(request, "models.html", rows=rows)
    return _page(request, build)


@router.get("/models/{name}", response_class=HTMLResponse)
def model_page(request: Request, name: str) -> Response:
    def build() -> Response:
        data = models_views.model_page(_app(request).store, name)
        return _html(request, "model.html", data=data, model=data.model)
    return _page(request, build)


@router.get("/models/{name}/deployment", response_class=HTMLResponse)
def deployment_page(request: Request, name: str, version: str | None = None,
                    window: str | None = None, minutes: str | None = None,
                    drift_window: str | None = None, page: str | None = None,
                    n: str | None = None) -> Response:
    """Live metrics, drift and recent predictions of one served version."""
    def build() -> Response:
        app = _app(request)
        settings = models_deployment.monitor_settings(window, minutes, drift_window)
        page_no = positive_int(page, "page", 1)
        per_page = positive_int(n, "n", models_views.PER_PAGE, models_views.MAX_PER_PAGE)
        data = models_deployment.deployment_page(
            app.store, app.objects, name, version=version.strip() if version else None,
            settings=settings, page=page_no, per_page=per_page)
        query = {"version": data.version.version, "window": window, "minutes": minutes,
                 "drift_window": drift_window, "n": n}
        kept = {k: v for k, v in query.items() if v not in (None, "")}
        template = ("deployment_predictions.html" if _partial(request, "predictions-area")
                    else "deployment.html")
        return _html(request, template, data=data, model=data.model, kept=kept)
    return _page(request, build)


@router.get("/predictions/{prediction_id}", response_class=HTMLResponse)
def prediction_page(request: Request, prediction_id: str) -> Response:
    """One prediction, and the chain from it to the code and data that made its model."""
    def build() -> Response:
        from cairn.server.ui.models_prediction import prediction_page as load

        app = _app(request)
        data = load(app.store, app.objects, prediction_id.strip())
        return _html(request, "deployment_prediction.html", data=data)
    return _page(request, build)
