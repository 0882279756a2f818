"""Everything recorded about one run, as one JSON-ready dict (``cairn show --json``, the API).

The run's ``record`` holds what capture gathered; the large parts (package lists, diffs) are
objects, loaded here only when asked for.
"""

from __future__ import annotations

import json
from typing import Any

from cairn._util.timefmt import iso_ms
from cairn.objects.base import ObjectStore
from cairn.store import runs as run_store
from cairn.store.artifacts import list_artifacts
from cairn.store.core import MetaStore
from cairn.store.metrics import latest_metrics, point_counts
from cairn.store.record_parts import encode


def load_json_object(objects: ObjectStore | None, oid: str | None) -> Any:
    if objects is None or not oid:
        return None
    try:
        return json.loads(objects.get_bytes(oid))
    except Exception:
        return None


def load_text_object(objects: ObjectStore | None, oid: str | None) -> str | None:
    if objects is None or not oid:
        return None
    try:
        return objects.get_bytes(oid).decode("utf-8", errors="replace")
    except Exception:
        return None


def describe_run(
    store: MetaStore, run: run_store.RunRow, objects: ObjectStore | None = None,
    *, with_diff: bool = True, with_packages: bool = True,
) -> dict[str, Any]:
    """The full record of ``run``; the SPEC fixes the top-level keys."""
    params = run_store.get_params(store, [run.id])[run.id]
    tags = run_store.get_tags(store, [run.id])[run.id]
    metrics = latest_metrics(store, [run.id])[run.id]
    record = run.record
    code = record.code.to_json() if record.code is not None else {}
    for key in ("commit", "branch", "remote", "dirty"):
        code.setdefault(key, None)
    if with_diff:
        code["diff"] = load_text_object(objects, record.code.diff_oid if record.code else None)
    else:
        code.setdefault("diff", None)
    env = record.env.to_json(inline_packages=False) if record.env is not None else {}
    env.setdefault("python", env.get("python_version"))
    if with_packages and "packages" not in env:
        doc = load_json_object(objects, record.env.packages_oid if record.env else None) or {}
        env["packages"] = doc.get("packages", {}) if isinstance(doc, dict) else {}
        env["direct_urls"] = doc.get("direct_urls", {}) if isinstance(doc, dict) else {}
    artifacts = list_artifacts(store, run.id)

    def files(kind: str) -> list[dict[str, Any]]:
        return [
            {"path": a.path, "oid": a.oid, "size": a.size, "is_tree": a.is_tree}
            for a in artifacts if a.kind == kind
        ]

    return {
        "id": run.id,
        "number": run.number,
        "name": run.name,
        "status": run.status,
        "exit_code": run.exit_code,
        "message": run.message,
        "command": run.command,
        "cwd": run.cwd,
        "started_at": iso_ms(run.started_at),
        "ended_at": iso_ms(run.ended_at),
        "duration_s": run.duration_s,
        "verdict": run.verdict,
        "created_by": run.created_by,
        "hostname": run.hostname,
        "source": record.source,
        "params": params,
        "metrics": metrics,
        "metric_points": point_counts(store, run.id),
        "tags": tags,
        "code": code,
        "env": env,
        "host": record.host.to_json() if record.host is not None else {},
        "env_vars": dict(record.env_vars),
        "inputs": files("input"),
        "outputs": files("output"),
        "artifacts": files("artifact") + files("model"),
        "logs": files("log"),
        "lineage": run_store.get_lineage(store, run.id),
        "children": [
            {"relation": rel, "id": rid} for rel, rid in run_store.get_children(store, run.id)
        ],
        "reproduction": encode(record.reproduction),
        "warnings": list(record.warnings),
        "redacted": encode(record.redacted),  # secret arguments left out of the record
        "not_stored": encode(record.not_stored),  # outputs a full disk refused
    }
