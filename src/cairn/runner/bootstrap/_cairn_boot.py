"""What cairn does inside a tracked Python child; loaded by this folder's ``sitecustomize``.

It records the params a program parses (``argparse``, and ``click`` when the program uses it)
and, at exit, describes the interpreter that actually ran and its installed distributions.
Everything goes into one JSON file at ``$CAIRN_BOOT_OUT``, which ``cairn run`` reads when
the child ends; the child never talks to cairn's store.

Rules that keep it safe to inject into any program:

- stdlib only, and no import of cairn (the child's interpreter may not have it);
- nothing costly at start-up: parsers are hooked when the program imports them (a meta-path
  hook; importing ``argparse`` eagerly would cost ~10 ms), and the interpreter report (a
  scan of ``sys.path``) runs at exit; JSON is written by a small encoder here because
  importing ``json`` pulls in ``re``;
- every hook swallows its own errors (shown on stderr when ``CAIRN_DEBUG`` is set);
- only the first process claims the output file (it removes ``CAIRN_BOOT_OUT`` from its
  environment, so Python grandchildren do not inherit it) and a forked copy never writes.

It must stay importable by Python 3.7+.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

FORMAT_VERSION = 1

_DEBUG = bool(os.environ.get("CAIRN_DEBUG"))
_out_path: str | None = None
_pid = os.getpid()
_path_at_start: list[str] = list(sys.path)
_params: dict[str, Any] = {}
_sources: list[str] = []
_depth = [0]  # nesting of parse calls: a subparser's parse runs inside its parent's


def _debug(what: str, exc: BaseException) -> None:
    if _DEBUG:
        try:
            sys.stderr.write(f"cairn bootstrap: {what}: {exc!r}\n")
        except Exception:
            pass


def start() -> None:
    """Claim the output file and hook the parsers; called once per interpreter."""
    global _out_path
    out = os.environ.pop("CAIRN_BOOT_OUT", None)
    if not out:
        return
    _out_path = os.path.abspath(out)  # the program may change its working folder
    import atexit

    atexit.register(_at_exit)
    pending: dict[str, Callable[[ModuleType], None]] = {}
    for name, patch in (("argparse", _patch_argparse), ("click.core", _patch_click)):
        module = sys.modules.get(name)
        if module is not None:
            _safely(patch, module)
        else:
            pending[name] = patch
    if pending:
        sys.meta_path.insert(0, _PostImportHook(pending))


def _safely(patch: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        patch(module)
    except Exception as exc:
        _debug("hooking " + module.__name__, exc)


class _PostImportHook:
    """A meta-path finder that patches a module right after it is first executed.

    It finds the module's spec with the other finders and wraps that spec's loader instance
    (a fresh one per module for source files), so the loader type stays what it was.
    """

    def __init__(self, targets: dict[str, Callable[[ModuleType], None]]) -> None:
        self.targets = targets

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        patch = self.targets.get(fullname)
        if patch is None:
            return None
        try:
            return self._hooked_spec(fullname, path, target, patch)
        except Exception as exc:
            _debug("finding " + fullname, exc)
            return None

    def _hooked_spec(
        self, fullname: str, path: Any, target: Any, patch: Callable[[ModuleType], None]
    ) -> Any:
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        loader = getattr(spec, "loader", None)
        if spec is None or loader is None or isinstance(loader, type):
            return spec  # nothing to wrap safely (a shared class-level loader)
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            try:
                del loader.exec_module  # back to the class's own method
            except AttributeError:
                pass
            original(module)
            if getattr(module, "__name__", None) == fullname:
                _safely(patch, module)

        loader.exec_module = exec_module
        del self.targets[fullname]
        if not self.targets and self in sys.meta_path:
            sys.meta_path.remove(self)
        return spec


def _wrap(original: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        try:
            setattr(wrapper, attr, getattr(original, attr))
        except AttributeError:
            pass
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    wrapper.__cairn_hook__ = True  # type: ignore[attr-defined]
    return wrapper


def _patch_argparse(argparse: ModuleType) -> None:
    cls = argparse.ArgumentParser
    original = cls.parse_known_args
    if getattr(original, "__cairn_hook__", False):
        return

    def parse_known_args(self: Any, *args: Any, **kwargs: Any) -> Any:
        _depth[0] += 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _depth[0] -= 1
        if _depth[0] == 0:
            try:
                _record("argparse", vars(result[0]))
            except Exception as exc:
                _debug("recording argparse params", exc)
        return result

    cls.parse_known_args = _wrap(original, parse_known_args)


def _patch_click(core: ModuleType) -> None:
    cls = core.Command
    original = cls.parse_args
    if getattr(original, "__cairn_hook__", False):
        return

    def parse_args(self: Any, ctx: Any, args: Any) -> Any:
        result = original(self, ctx, args)
        try:
            _record("click", dict(ctx.params))
        except Exception as exc:
            _debug("recording click params", exc)
        return result

    cls.parse_args = _wrap(original, parse_args)


def _record(source: str, values: dict[str, Any]) -> None:
    """The first complete parse is the program's own; later ones only add new names."""
    plain = {str(k): _plain(v) for k, v in values.items()}
    if not _sources:
        _params.update(plain)
    else:
        for key, value in plain.items():
            _params.setdefault(key, value)
    if source not in _sources:
        _sources.append(source)
    _write(interpreter=None)  # params survive even if the program ends with os._exit


def _plain(value: Any) -> Any:
    """A JSON value: JSON types as they are, paths as strings, code by name, the rest repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '?')}.{value.__qualname__}"
    return repr(value)


def _at_exit() -> None:
    if os.getpid() != _pid:
        return  # a forked copy of the program: the original writes the file
    try:
        report: dict[str, Any] = report_interpreter(_path_at_start)
    except Exception as exc:
        _debug("reporting the interpreter", exc)
        report = {"error": repr(exc)}
    _write(interpreter=report)


def _write(interpreter: dict[str, Any] | None) -> None:
    if _out_path is None or os.getpid() != _pid:
        return
    doc: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "pid": _pid,
        "argv": list(getattr(sys, "argv", [])),
        "params": _params,
        "param_sources": _sources,
        "interpreter": interpreter,
    }
    tmp = f"{_out_path}.{_pid}.tmp"
    try:
        with open(tmp, "w", encoding="ascii") as f:
            f.write(dumps(doc))
        os.replace(tmp, _out_path)
    except Exception as exc:
        _debug("writing " + _out_path, exc)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'
    parts = []
    for c in s:
        code = ord(c)
        if c in _ESCAPES:
            parts.append(_ESCAPES[c])
        elif 0x20 <= code < 0x7F:
            parts.append(c)
        elif code > 0xFFFF:
            code -= 0x10000
            parts.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            parts.append(f"\\u{code:04x}")
    return '"' + "".join(parts) + '"'


def dumps(value: Any) -> str:
    """ASCII JSON of plain values (anything else as its repr); ``json`` costs ~10 ms to
    import in a child that has not loaded ``re``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(float(value))
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, dict):
        return "{" + ",".join(_quote(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return _quote(repr(value))


# The function below is kept identical to cairn.capture.environment.report_interpreter
# (a test compares the two): the child cannot import cairn, and cairn runs it in other
# interpreters by sending its source.


def report_interpreter(path: list[str] | None = None) -> dict[str, Any]:
    """Describe the running interpreter and every distribution importable from ``path``.

    Stdlib only and fast: distributions are found where ``importlib.metadata`` finds them
    (``*.dist-info``, ``*.egg-info`` and ``*.egg`` entries of each folder on the path; the
    first of a name wins, as for imports), but a wheel's version is read from its
    ``.dist-info`` folder name, so hundreds of METADATA files need not be parsed. Names are
    normalised (PEP 503). ``direct_urls`` holds the raw text of each ``direct_url.json``
    (installs from a local folder, an archive URL or a VCS).
    """
    import os
    import sys

    def normalize(name: str) -> str:
        key = name.lower().replace("_", "-").replace(".", "-")
        while "--" in key:
            key = key.replace("--", "-")
        return key

    def headers(meta: str) -> tuple[str, str]:
        name = version = ""
        try:
            with open(meta, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break
                    if not name and line.startswith("Name:"):
                        name = line[5:].strip()
                    elif not version and line.startswith("Version:"):
                        version = line[8:].strip()
        except OSError:
            pass
        return name, version

    packages: dict[str, str] = {}
    direct_urls: dict[str, str] = {}
    for entry in sys.path if path is None else path:
        folder = entry or os.curdir
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for fn in names:
            full = os.path.join(folder, fn)
            wheel = fn.endswith(".dist-info")
            if wheel:
                meta = os.path.join(full, "METADATA")
            elif fn.endswith(".egg-info"):
                meta = full if os.path.isfile(full) else os.path.join(full, "PKG-INFO")
            elif fn.endswith(".egg"):
                meta = os.path.join(full, "EGG-INFO", "PKG-INFO")
            else:
                continue
            name, _, version = fn.rpartition(".")[0].partition("-")
            if not (wheel and version[:1].isdigit() and "-" not in version):
                name, version = headers(meta)
                if not name:
                    continue
            key = normalize(name)
            if key in packages:
                continue
            packages[key] = version
            if wheel:
                try:
                    with open(os.path.join(full, "direct_url.json"), encoding="utf-8") as f:
                        direct_urls[key] = f.read()
                except OSError:
                    pass
    impl = sys.implementation.name
    machine = os.uname().machine if hasattr(os, "uname") else ""
    return {
        "executable": sys.executable,
        "version": sys.version.split()[0],
        "implementation": {"cpython": "CPython", "pypy": "PyPy"}.get(impl, impl),
        "platform": sys.platform + "-" + machine if machine else sys.platform,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "packages": packages,
        "direct_urls": direct_urls,
    }
