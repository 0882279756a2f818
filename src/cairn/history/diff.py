"""Two runs side by side: params, metrics, code, packages, data and host (``cairn diff``)."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.history.describe import load_json_object, load_text_object
from cairn.objects.base import ObjectStore
from cairn.store import runs as run_store
from cairn.store.artifacts import ArtifactRow, list_artifacts
from cairn.store.core import MetaStore
from cairn.store.metrics import latest_metrics
from cairn.store.record_parts import CodeState, Environment, Host, StoredTree

_MISSING = object()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def side_by_side(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, _MISSING), b.get(key, _MISSING)
        row: dict[str, Any] = {
            "key": key, "a": None if va is _MISSING else va, "b": None if vb is _MISSING else vb,
            "same": va is not _MISSING and vb is not _MISSING and _same(va, vb),
        }
        if va is _MISSING or vb is _MISSING:
            row["only_in"] = "a" if vb is _MISSING else "b"
        elif isinstance(va, (int, float)) and isinstance(vb, (int, float)) \
                and not isinstance(va, bool) and not isinstance(vb, bool):
            row["delta"] = vb - va
        rows.append(row)
    return rows


def package_changes(a: Mapping[str, str], b: Mapping[str, str]) -> dict[str, Any]:
    return {
        "added": {k: b[k] for k in sorted(set(b) - set(a))},
        "removed": {k: a[k] for k in sorted(set(a) - set(b))},
        "changed": {k: [a[k], b[k]] for k in sorted(set(a) & set(b)) if a[k] != b[k]},
        "same": sum(1 for k in set(a) & set(b) if a[k] == b[k]),
    }


def artifact_files(objects: ObjectStore | None, art: ArtifactRow) -> dict[str, str]:
    """Path → oid of each file a declared artifact holds (``""`` for a single file)."""
    if not art.is_tree:
        return {"": art.oid}
    if objects is None:
        return {}
    from cairn.objects.tree import read_tree

    try:
        return {e.path: e.oid for e in read_tree(objects, art.oid).entries}
    except Exception:
        return {}


def file_changes(objects: ObjectStore | None, a: list[ArtifactRow],
                 b: list[ArtifactRow]) -> list[dict[str, Any]]:
    """Declared files that differ, down to the files inside folders."""
    by_a = {x.path: x for x in a}
    by_b = {x.path: x for x in b}
    out: list[dict[str, Any]] = []
    for path in sorted(set(by_a) | set(by_b)):
        xa, xb = by_a.get(path), by_b.get(path)
        if xa is None or xb is None:
            out.append({"path": path, "status": "added" if xa is None else "removed",
                        "a_oid": xa.oid if xa else None, "b_oid": xb.oid if xb else None})
            continue
        if xa.oid == xb.oid:
            out.append({"path": path, "status": "same", "a_oid": xa.oid, "b_oid": xb.oid})
            continue
        fa, fb = artifact_files(objects, xa), artifact_files(objects, xb)
        inner = [
            {"path": "/".join(p for p in (path, sub) if p),
             "status": "added" if sub not in fa else "removed" if sub not in fb else "changed",
             "a_oid": fa.get(sub), "b_oid": fb.get(sub)}
            for sub in sorted(set(fa) | set(fb)) if fa.get(sub) != fb.get(sub)
        ]
        out.extend(inner or [{"path": path, "status": "changed", "a_oid": xa.oid,
                              "b_oid": xb.oid}])
    return out


def _commit_diff(root: Path | None, a: str | None, b: str | None) -> str | None:
    """``git diff --stat`` between two recorded commits, when this repository has both."""
    if root is None or not a or not b or a == b:
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "diff", "--stat", a, b],
                              capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def _patch_files(patch: str | None) -> list[str]:
    if not patch:
        return []
    return sorted({line[len("diff --git a/"):].split(" b/", 1)[0]
                   for line in patch.splitlines() if line.startswith("diff --git a/")})


def _code_fields(code: CodeState | None) -> dict[str, Any]:
    if code is None:
        return {"commit": None, "branch": None, "dirty": None}
    return {"commit": code.commit, "branch": code.branch, "dirty": code.dirty}


def _tree_oid(tree: StoredTree | None) -> str | None:
    return tree.oid if tree is not None else None


def code_changes(objects: ObjectStore | None, a: CodeState | None, b: CodeState | None,
                 repo_root: Path | None) -> dict[str, Any]:
    shown_a, shown_b = _code_fields(a), _code_fields(b)
    diff_a, diff_b = (a.diff_oid if a else None), (b.diff_oid if b else None)
    patch_a, patch_b = load_text_object(objects, diff_a), load_text_object(objects, diff_b)
    return {
        "a": shown_a,
        "b": shown_b,
        "same_commit": shown_a["commit"] == shown_b["commit"],
        "same_uncommitted": diff_a == diff_b,
        "same_untracked": _tree_oid(a.untracked if a else None)
        == _tree_oid(b.untracked if b else None),
        "same_source": _tree_oid(a.snapshot if a else None)
        == _tree_oid(b.snapshot if b else None),
        "commit_diff": _commit_diff(repo_root, shown_a["commit"], shown_b["commit"]),
        "uncommitted_files": {"a": _patch_files(patch_a), "b": _patch_files(patch_b)},
    }


def _packages(objects: ObjectStore | None, env: Environment | None) -> dict[str, str]:
    if env is None:
        return {}
    if env.packages:
        return dict(env.packages)
    doc = load_json_object(objects, env.packages_oid) or {}
    packages = doc.get("packages", doc) if isinstance(doc, dict) else {}
    return {str(k): str(v) for k, v in packages.items()}


def diff_runs(store: MetaStore, a: run_store.RunRow, b: run_store.RunRow,
              objects: ObjectStore | None = None, repo_root: Path | None = None) -> dict[str, Any]:
    params = run_store.get_params(store, [a.id, b.id])
    metrics = latest_metrics(store, [a.id, b.id])
    env_a, env_b = a.record.env, b.record.env
    host_a, host_b = a.record.host, b.record.host
    arts_a, arts_b = list_artifacts(store, a.id), list_artifacts(store, b.id)

    def of(kind: str, arts: list[ArtifactRow]) -> list[ArtifactRow]:
        return [x for x in arts if x.kind == kind]

    return {
        "a": {"id": a.id, "number": a.number, "name": a.name, "status": a.status,
              "command": a.command},
        "b": {"id": b.id, "number": b.number, "name": b.name, "status": b.status,
              "command": b.command},
        "params": side_by_side(params[a.id], params[b.id]),
        "metrics": side_by_side(metrics[a.id], metrics[b.id]),
        "code": code_changes(objects, a.record.code, b.record.code, repo_root),
        "python": [_python(env_a), _python(env_b)],
        "packages": package_changes(_packages(objects, env_a), _packages(objects, env_b)),
        "inputs": file_changes(objects, of("input", arts_a), of("input", arts_b)),
        "outputs": file_changes(objects, of("output", arts_a), of("output", arts_b)),
        "host": [r for r in side_by_side(_flat(host_a), _flat(host_b)) if not r["same"]],
        "env_vars": [r for r in side_by_side(a.record.env_vars, b.record.env_vars)
                     if not r["same"]],
    }


def _python(env: Environment | None) -> str | None:
    """The recorded Python version; None when no interpreter was recorded."""
    return env.python_version or None if env is not None else None


def _flat(host: Host | None) -> dict[str, Any]:
    d = host.to_json() if host is not None else {}
    return {k: (str(v) if isinstance(v, (list, dict)) else v) for k, v in d.items()}
