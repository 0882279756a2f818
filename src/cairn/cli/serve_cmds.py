"""``cairn serve`` (a registered model behind HTTP) and ``cairn monitor`` (how it is doing)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from cairn._util.fmt import fmt_value
from cairn.cli.opening import open_project
from cairn.cli.render import console, print_json
from cairn.model_server.protocols import DEFAULT_MAX_ROWS

if TYPE_CHECKING:
    from rich.table import Table

    from cairn.model_server.state import ServeAuth
    from cairn.monitoring.report import Deployment
    from cairn.project import Project
    from cairn.store.core import MetaStore

SPARK = "▁▂▃▄▅▆▇█"


@click.command()
@click.argument("ref", metavar="NAME@VERSION_OR_ALIAS")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 exposes the model to the network).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host is NAME (e.g. behind a proxy); repeatable.")
@click.option("--port", "-p", type=int, default=8000, show_default=True)
@click.option("--workers", "-w", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes, each with its own copy of the model.")
@click.option("--batch-max-size", type=click.IntRange(min=1), metavar="N",
              help="Score up to N concurrent rows in one call to the model (off by default).")
@click.option("--batch-max-latency-ms", type=click.FloatRange(min=0), metavar="MS",
              help="How long a request may wait for others to batch with (default 2).")
@click.option("--no-prediction-log", "no_log", is_flag=True,
              help="Do not log predictions (feedback and drift then have nothing to use).")
@click.option("--max-rows", type=click.IntRange(min=1), default=DEFAULT_MAX_ROWS,
              show_default=True, metavar="N",
              help="Most rows one request may hold; more are refused with 413.")
@click.option("--auth/--no-auth", "auth", default=None,
              help="Require a token of `cairn server token create` on every endpoint but "
                   "health checks (reader role; writer for /feedback). Off by default, but "
                   "on for /feedback when --host is not localhost, unless --no-auth.")
def serve(ref: str, host: str, port: int, workers: int, batch_max_size: int | None,
          batch_max_latency_ms: float | None, no_log: bool, max_rows: int,
          auth: bool | None, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Serve a registered model over HTTP until interrupted.

    \b
    POST /predict       {"inputs": [[...], ...]} -> predictions and prediction_ids
    POST /invocations   MLflow's format (dataframe_split, instances, text/csv, ...)
    POST /v2/models/NAME/infer   the Open Inference Protocol v2
    POST /feedback      {"prediction_id": ..., "label": ...}
    GET  /monitor       live metrics and drift (JSON) · GET /metrics (Prometheus)

    Bodies must be sent as application/json (or text/csv to /invocations). Listening on
    anything but localhost makes /feedback need a writer's token (`--no-auth` turns that
    off); `--auth` makes every endpoint need one. Tokens are those of `cairn server`.

    An alias is resolved when the server starts: after moving it, restart the server.
    """
    from cairn._http.guard import HostRule
    from cairn._http.launch import listen
    from cairn.model_server.startup import ServeConfig, pin_ref, run

    access = serve_auth(host, auth)
    project, store = open_project(reap=False)
    if access.any:
        from cairn.store.accounts import list_users

        if not list_users(store.db):
            print("cairn · no users yet, so no token will be accepted: cairn server user add "
                  "NAME --role writer, then cairn server token create NAME",
                  file=sys.stderr, flush=True)
    store.close()
    pinned, described = pin_ref(project, ref)
    sock = listen(host, port)
    if workers > 1:  # fail here, in one sentence, rather than once per worker
        _check_loads(project, pinned)
    shown = f"[{host}]" if ":" in host else host
    port = sock.getsockname()[1]
    tokens = ("tokens needed" if access.predictions else
              "tokens needed for /feedback" if access.feedback else "no tokens needed")
    print(f"cairn · serving {described} on http://{shown}:{port} · {workers} worker"
          f"{'s' if workers > 1 else ''} · {tokens} · POST /predict · GET /monitor · "
          "Ctrl-C stops", file=sys.stderr, flush=True)
    run(project, ServeConfig(ref=pinned, batch_max_size=batch_max_size,
                             batch_max_latency_ms=batch_max_latency_ms,
                             log_predictions=not no_log, max_rows=max_rows, auth=access),
        sock, workers=workers, hosts=HostRule(bind=host, allowed=allowed_hosts))


def serve_auth(host: str, auth: bool | None) -> ServeAuth:
    """Which endpoints need a token: all but health checks with ``--auth``, none with
    ``--no-auth``; without either, ``/feedback`` alone as soon as the server listens beyond
    localhost, since labels are what ``cairn retrain`` trains the next model on."""
    from cairn.model_server.state import ServeAuth

    if auth is None:
        from cairn._http.guard import is_loopback

        return ServeAuth(feedback=not is_loopback(host))
    return ServeAuth(predictions=auth, feedback=auth)


def _check_loads(project: Project, ref: str) -> None:
    from cairn.models.loading import load_version
    from cairn.store.core import open_store

    store = open_store(project)
    try:
        load_version(project, store, ref)
    finally:
        store.close()


@click.command()
@click.argument("ref", metavar="NAME[@VERSION_OR_ALIAS]")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--window", "-n", type=click.IntRange(1, 1_000_000), default=500,
              show_default=True, help="Live metrics over the last N labelled predictions.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="…and over the labelled predictions of the last T min.")
@click.option("--drift-window", type=click.IntRange(1, 1_000_000), default=1000,
              show_default=True, help="Drift over the last N predictions.")
def monitor(ref: str, as_json: bool, window: int, minutes: float, drift_window: int) -> None:
    """Live accuracy/F1 or MAE/RMSE and drift per feature of a served model.

    Without a version, the one that answered the most recent prediction is shown. Read from
    the prediction log, so no server needs to be running.
    """
    from cairn.monitoring.drift import DriftSettings
    from cairn.monitoring.report import MonitorSettings, monitor_report

    project, store = open_project(reap=False)
    dep, described = deployment(project, store, ref)
    settings = MonitorSettings(labelled_window=window, minutes_window=minutes,
                               drift_window=drift_window, drift=DriftSettings())
    report = monitor_report(store.db, dep, settings)
    if as_json:
        print_json(report)
        return
    show_report(report, described)


def deployment(project: Project, store: MetaStore, ref: str) -> tuple[Deployment, str]:
    """The version to watch and what the report needs about it, without loading the model."""
    from cairn.models.loading import materialize
    from cairn.models.packaging import read_meta, read_profile
    from cairn.models.registry import get_version, parse_ref
    from cairn.models.registry import model_id as find_model_id
    from cairn.monitoring.report import deployment_for
    from cairn.store.predictions import latest_version

    name, selector = parse_ref(ref)
    if "@" not in ref and not ref.startswith("models:/"):
        get_version(store, name, "latest")  # a clear error for an unknown model
        served = latest_version(store.db, find_model_id(store, name))
        selector = str(served) if served is not None else "latest"
    mv = get_version(store, name, selector)
    folder = materialize(project, mv.oid)
    meta = read_meta(folder)
    aliases = f" ({', '.join(mv.aliases)})" if mv.aliases else ""
    dep = deployment_for(store, mv, meta, read_profile(folder, meta))
    return dep, f"{mv.ref}{aliases}"


def sparkline(values: list[float | None]) -> str:
    """A row of block characters, lowest to highest; gaps where there is no value."""
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            level = (len(SPARK) // 2 if span <= 1e-12  # a flat line sits mid-height
                     else round((v - low) / span * (len(SPARK) - 1)))
            out.append(SPARK[level])
    return "".join(out)


def show_report(report: dict[str, Any], described: str) -> None:
    from cairn._util.timefmt import ago

    out = console()
    counts = report["counts"]
    last = f" · last {ago(counts['last_at'])}" if counts.get("last_at") else ""
    out.print(f"[bold]{described}[/] · {counts['predictions']:,} predictions · "
              f"{counts['labelled']:,} labelled · {counts['feedback']:,} labels received{last}")
    if not counts["predictions"]:
        out.print("[dim]no predictions logged yet: cairn serve "
                  f"{report['model']}@{report['version']}, then POST /predict[/]")
        return
    out.print(live_table(report))
    drift = report["drift"]
    out.print(f"\n[dim]drift over {drift.get('window', 'recent predictions')}: a feature drifts "
              f"at PSI ≥ {drift['psi_threshold']:g} or p < {drift['alpha']:g}[/]")
    out.print(drift_table(report))
    verdict = drift.get("dataset_drift")
    judged = [f for f in drift["features"].values() if f.get("drifted") is not None]
    drifted = sum(1 for f in judged if f["drifted"])
    if verdict is None:
        out.print(f"[dim]dataset drift: not judged ({drift.get('note') or 'too few predictions'})"
                  "[/]")
    else:
        style = "bold red" if verdict else "green"
        out.print(f"dataset drift: [{style}]{'yes' if verdict else 'no'}[/] "
                  f"({drifted} of {len(judged)} features drifted)")


def live_table(report: dict[str, Any]) -> Table:
    from rich.table import Table

    windows = list(report["live"].items())
    history = report.get("live_history") or []
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False,
                  title_justify="left")
    table.add_column("metric")
    for key, block in windows:
        table.add_column(f"{key.replace('_', ' ')} (n={block['n']})", justify="right",
                         style="magenta")
    table.add_column("trend, oldest → newest", style="cyan")
    names: list[str] = []
    for _key, block in windows:
        names += [m for m in block["metrics"] if m not in names]
    if not names:
        table.add_row("[dim]no labelled predictions yet: POST /feedback[/]",
                      *["-" for _ in windows], "")
    for metric in names:
        trend = sparkline([p["metrics"].get(metric) for p in history])
        table.add_row(metric, *[fmt_value(b["metrics"].get(metric)) for _k, b in windows],
                      trend)
    return table


def drift_table(report: dict[str, Any]) -> Table:
    from rich.table import Table

    drift = report["drift"]
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for header, justify in (("feature", "left"), ("psi", "right"), ("ks / χ²", "right"),
                            ("p-value", "right"), ("drifted", "left"), ("psi trend", "left")):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    history = drift.get("psi_history") or {}
    for name, f in drift["features"].items():
        stat = f.get("ks_statistic", f.get("chi2_statistic"))
        p = f.get("ks_pvalue", f.get("chi2_pvalue"))
        flag = f.get("drifted")
        shown = ("[dim]-[/]" if flag is None else "[bold red]yes[/]" if flag else "[green]no[/]")
        table.add_row(name, fmt_value(f.get("psi"), 3), fmt_value(stat, 3), fmt_value(p, 3),
                      shown, sparkline(history.get(name) or []))
    return table
