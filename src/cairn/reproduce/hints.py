"""Likely causes of a divergence, from what the two records show.

A diverged run is only useful with a lead to follow. These are the usual suspects that can
be seen without reading the code: no seed anywhere, ``PYTHONHASHSEED`` not fixed, other
package versions, another Python, other hardware, other thread counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from cairn.store.record import RunRecord
from cairn.store.record_parts import Host

_SEED_NAME = re.compile(r"seed|random[_-]?state|rng", re.IGNORECASE)
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "NUMEXPR_NUM_THREADS", "CUBLAS_WORKSPACE_CONFIG", "CUDA_VISIBLE_DEVICES")


def _has_seed(params: Mapping[str, Any], env_vars: Mapping[str, str]) -> bool:
    names = [*params, *(k for k in env_vars if k != "PYTHONHASHSEED")]
    return any(_SEED_NAME.search(name.rsplit(".", 1)[-1]) for name in names)


def _gpus(host: Host) -> list[str]:
    return sorted(g.name for g in host.gpus)


def determinism_hints(
    *,
    params: Mapping[str, Any],
    original_record: RunRecord,
    reproduced_record: RunRecord,
    package_mismatches: Sequence[Mapping[str, Any]],
    python_recorded: str | None,
    python_used: str | None,
) -> list[str]:
    """Sentences naming what may explain a divergence, most likely first."""
    hints: list[str] = []
    env_a = original_record.env_vars
    env_b = reproduced_record.env_vars
    if not _has_seed(params, env_a):
        hints.append("no seed among the params or environment variables: an unseeded "
                     "random number generator gives different numbers on every run")
    if not env_a.get("PYTHONHASHSEED"):
        hints.append("PYTHONHASHSEED was not set for the original run, so set and dict "
                     "ordering of strings may have differed")
    if package_mismatches:
        shown = ", ".join(
            f"{m['name']} {m['recorded']} → {m.get('used') or 'missing'}"
            for m in package_mismatches[:5]
        )
        more = f" and {len(package_mismatches) - 5} more" if len(package_mismatches) > 5 else ""
        hints.append(f"{len(package_mismatches)} package(s) differ from the record: "
                     f"{shown}{more}")
    if python_recorded and python_used and python_recorded != python_used:
        hints.append(f"another Python: {python_recorded} recorded, {python_used} used")
    host_a = original_record.host
    host_b = reproduced_record.host
    if host_a is not None and host_b is not None:
        for a, b, what in ((host_a.machine, host_b.machine, "CPU architecture"),
                           (host_a.cpu_model, host_b.cpu_model, "CPU")):
            if a and b and a != b:
                hints.append(f"a different {what}: {a} recorded, {b} here")
        if _gpus(host_a) != _gpus(host_b):
            a = ", ".join(_gpus(host_a)) or "none"
            b = ", ".join(_gpus(host_b)) or "none"
            hints.append(f"different GPUs: {a} recorded, {b} here")
    changed = [v for v in _THREAD_VARS if env_a.get(v) != env_b.get(v)]
    if changed:
        hints.append("thread or device settings differ: " + ", ".join(
            f"{v} {env_a.get(v) or 'unset'} → {env_b.get(v) or 'unset'}" for v in changed
        ))
    return hints
