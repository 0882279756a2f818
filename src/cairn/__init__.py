"""cairn: record, rebuild, share and deploy quantitative work.

This module exports the SDK only; ``tests/test_public_api.py`` pins the list.
"""

from cairn.sdk.api import (
    active_run,
    finish,
    init,
    log,
    log_artifact,
    log_params,
    set_tags,
)
from cairn.sdk.run import Run

__version__ = "0.1.0"

__all__ = [
    "Run",
    "__version__",
    "active_run",
    "finish",
    "init",
    "log",
    "log_artifact",
    "log_params",
    "set_tags",
]
