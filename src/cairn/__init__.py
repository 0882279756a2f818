"""cairn: record, rebuild, share and deploy quantitative work.

This module exports the SDK only; ``tests/test_public_api.py`` pins the list. Names are
loaded on first use, so ``import cairn`` costs next to nothing and never fails a program.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Run",
    "__version__",
    "active_run",
    "finish",
    "init",
    "load_model",
    "log",
    "log_artifact",
    "log_model",
    "log_params",
    "set_tags",
]

_LAZY = {
    "Run": "cairn.sdk.run",
    "active_run": "cairn.sdk.api",
    "finish": "cairn.sdk.api",
    "init": "cairn.sdk.api",
    "load_model": "cairn.sdk.models",
    "log": "cairn.sdk.api",
    "log_artifact": "cairn.sdk.api",
    "log_model": "cairn.sdk.models",
    "log_params": "cairn.sdk.api",
    "set_tags": "cairn.sdk.api",
}

if TYPE_CHECKING:
    from cairn.sdk.api import (
        active_run,
        finish,
        init,
        log,
        log_artifact,
        log_params,
        set_tags,
    )
    from cairn.sdk.models import load_model, log_model
    from cairn.sdk.run import Run


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'cairn' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
