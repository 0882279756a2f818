"""The model folder: the flavor's files plus ``cairn-model.json``, the example and the profile.

::

    model/
      cairn-model.json   {"format": 1, "flavor": "sklearn", "flavor_info": {…},
                          "signature": {…}, "task": "classification",
                          "requirements": {"scikit-learn": "1.5.2", …}, "python": "3.11.9",
                          "created_at": <ms>, "example": "example.json",
                          "profile": "profile.json", "pickle": false}
      example.json       the input example, as {"columns": [...], "data": [[...]]} or
                         {"data": [...]}
      profile.json       the training-data profile (see ``profile``)
      model.skops        (or the flavor's own files)

The folder is stored as one tree object, so a model's oid names its exact bytes.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from cairn._util.ids import now_ms
from cairn.errors import Corrupt, InvalidInput, NotFound
from cairn.models.flavors.base import detect_flavor, get_flavor, type_roots
from cairn.models.profile import build_profile
from cairn.models.signature import Signature, as_frame_or_none, infer_signature

META_FILE = "cairn-model.json"
EXAMPLE_FILE = "example.json"
PROFILE_FILE = "profile.json"
FORMAT = 1
EXAMPLE_ROWS = 100  # an example is for reading and testing, not a data set


def save_model_dir(
    model: Any,
    folder: Path,
    *,
    flavor: str | None = None,
    example: Any | None = None,
    profile_data: Any | None = None,
) -> dict[str, Any]:
    """Write the model folder; return its ``cairn-model.json`` content."""
    name = flavor or detect_flavor(model)
    chosen = get_flavor(name)
    chosen.require()
    signature = infer_signature(example) if example is not None else None
    folder.mkdir(parents=True, exist_ok=True)
    info = chosen.save(model, folder, example)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "flavor": name,
        "flavor_info": info,
        "signature": signature.to_json() if signature is not None else None,
        "task": chosen.task(model),
        "requirements": requirements(
            (*chosen.requirements(info), *_packages_of(model, example, profile_data))
        ),
        "python": platform.python_version(),
        "created_at": now_ms(),
        "pickle": chosen.uses_pickle(info),
        "example": None,
        "profile": None,
    }
    if example is not None:
        _write_json(folder / EXAMPLE_FILE, example_json(example))
        meta["example"] = EXAMPLE_FILE
    data = profile_data if profile_data is not None else example
    if data is not None:
        _write_json(folder / PROFILE_FILE, build_profile(data))
        meta["profile"] = PROFILE_FILE
    _write_json(folder / META_FILE, meta, sort_keys=True)
    return meta


def read_meta(folder: Path) -> dict[str, Any]:
    """The folder's ``cairn-model.json``; ``NotFound``/``Corrupt`` when absent or unreadable."""
    path = folder / META_FILE
    if not path.is_file():
        raise NotFound(f"{folder} is not a cairn model folder: it has no {META_FILE}")
    meta = _read_json(path)
    if not isinstance(meta, dict) or "flavor" not in meta:
        raise Corrupt(f"{path} does not describe a model")
    if int(meta.get("format", 0)) > FORMAT:
        raise InvalidInput(f"{path} was written by a newer cairn (format {meta['format']})",
                           hint="upgrade cairn to load this model")
    return meta


def read_signature(meta: Mapping[str, Any]) -> Signature | None:
    raw = meta.get("signature")
    return Signature.from_json(raw) if raw else None


def read_profile(folder: Path, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    name = meta.get("profile")
    if not name or not (folder / str(name)).is_file():
        return None
    data = _read_json(folder / str(name))
    return data if isinstance(data, dict) else None


def read_example(folder: Path, meta: Mapping[str, Any]) -> Any:
    """The input example as the server would receive it: records, or rows of values."""
    name = meta.get("example")
    if not name or not (folder / str(name)).is_file():
        return None
    data = _read_json(folder / str(name))
    if isinstance(data, dict) and "columns" in data:
        return [dict(zip(data["columns"], row, strict=True)) for row in data["data"]]
    return data.get("data") if isinstance(data, dict) else data


# -- pieces ----------------------------------------------------------------------------------
def example_json(example: Any) -> dict[str, Any]:
    """An example as JSON: split orientation for tables, nested lists for arrays."""
    frame = as_frame_or_none(example)
    if frame is not None:
        head = frame.head(EXAMPLE_ROWS)
        rows = [[_plain(v) for v in row] for row in head.itertuples(index=False, name=None)]
        return {"columns": [str(c) for c in head.columns], "data": rows}
    from cairn.models.signature import as_array

    array = as_array(example)[:EXAMPLE_ROWS]
    return {"data": _plain(array.tolist())}


def _plain(value: Any) -> Any:
    """JSON-safe values: NumPy scalars unwrapped, NaN as null, dates as ISO text."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        try:
            value = item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def requirements(packages: Iterable[str]) -> dict[str, str]:
    """Installed versions of the given distributions, skipping those not installed."""
    found: dict[str, str] = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return dict(sorted(found.items()))


def _packages_of(*objects: Any) -> list[str]:
    """Distributions providing the modules the given objects' types come from."""
    roots: set[str] = set()
    for obj in objects:
        if obj is not None:
            roots |= type_roots(obj)
    roots -= {"builtins", "__main__", "abc", "typing", "collections", "cairn"}
    if not roots:
        return []
    dists = metadata.packages_distributions()
    return sorted({d for root in roots for d in dists.get(root, [])})


def _write_json(path: Path, data: Any, *, sort_keys: bool = False) -> None:
    """Keys keep their order (features stay in column order), except where asked."""
    text = json.dumps(data, indent=1, sort_keys=sort_keys, allow_nan=False, default=_plain)
    path.write_text(text + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Corrupt(f"cannot read {path}: {exc}") from exc
