"""cairn's entry into a tracked Python child.

``cairn run`` puts this folder first on the child's ``PYTHONPATH``, so Python's ``site``
imports this file at start-up. It first runs the ``sitecustomize`` it shadows (the next one
on ``sys.path``, as if this folder were not there), then, only when ``CAIRN_RUN_ID`` is
set, hands over to ``_cairn_boot``. No error of its own can stop the program.

This file is written so that even an old interpreter (2.7, 3.6) can parse it: type
comments, no f-strings. Such an interpreter only gets the chaining; ``_cairn_boot`` needs
Python 3.7 or later.
"""

import os
import sys


def _debug(what, exc):  # type: (str, BaseException) -> None
    if os.environ.get("CAIRN_DEBUG"):
        try:
            sys.stderr.write("cairn bootstrap: " + what + ": " + repr(exc) + "\n")
        except Exception:
            pass


def _same_folder(a, b):  # type: (str, str) -> bool
    try:
        return os.path.realpath(a or os.curdir) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _chain():  # type: () -> None
    """Run the next ``sitecustomize`` on ``sys.path`` and leave it in ``sys.modules``."""
    here = os.path.dirname(os.path.abspath(__file__))
    from importlib.machinery import PathFinder

    rest = [p for p in sys.path if not _same_folder(p, here)]
    spec = PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    from importlib.util import module_from_spec

    module = module_from_spec(spec)
    ours = sys.modules.get("sitecustomize")
    sys.modules["sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        # What site.py itself does when a sitecustomize fails: say so and carry on.
        if ours is not None:
            sys.modules["sitecustomize"] = ours
        sys.stderr.write(
            "Error in sitecustomize; set PYTHONVERBOSE for traceback:\n"
            + type(exc).__name__
            + ": "
            + str(exc)
            + "\n"
        )


def _start():  # type: () -> None
    if not os.environ.get("CAIRN_RUN_ID") or sys.version_info < (3, 7):
        return
    import _cairn_boot

    _cairn_boot.start()


for _step in (_chain, _start):
    try:
        _step()
    except Exception as _exc:
        _debug(_step.__name__, _exc)
