"""The labelled prediction log of a model, exported as training data.

Rows are read in the order the predictions were made (``created_at``, then id) in pages, so
exporting a long log keeps memory flat. The newest ``holdout`` labelled rows are not written:
they are kept aside to compare the retrained model with the current one on data neither
was trained on. A row logged as a record (``{"age": 31, …}``) gives its values by column
name; a row logged as a list gives them by position.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import MissingExtra
from cairn.objects.base import ObjectStore
from cairn.store.db import Database
from cairn.store.predictions import LabelledText, labelled_page, newest_labelled

FORMATS = ("csv", "parquet")
LABEL_NAMES = ("target", "label", "y", "class")
DEFAULT_LABEL = "target"
_PAGE = 5_000


@dataclass(frozen=True)
class LabelledRow:
    id: str
    created_at: int
    inputs: Any
    label: Any


@dataclass(frozen=True)
class FeedbackData:
    """What was exported (``path``, ``rows``) and what was held out."""

    path: Path
    columns: tuple[str, ...]
    label_column: str
    rows: int
    holdout: tuple[LabelledRow, ...]
    first_at: int | None
    last_at: int | None


def default_holdout(labelled: int) -> int:
    """A fifth of the labelled rows, at most 500, at least one."""
    return max(1, min(500, labelled // 5))


def _row(r: LabelledText) -> LabelledRow:
    return LabelledRow(r[0], r[1], json.loads(r[2]), json.loads(r[3]))


def _row_as_text(r: LabelledText) -> LabelledRow:
    """Numbers kept as the JSON text the client sent: exact, and written twice as fast."""
    return LabelledRow(r[0], r[1], json.loads(r[2], parse_float=str, parse_int=str),
                       json.loads(r[3], parse_float=str, parse_int=str))


def newest(db: Database, model: str, n: int) -> list[LabelledRow]:
    """The ``n`` newest labelled predictions, oldest of them first."""
    if n <= 0:
        return []
    return [_row(r) for r in reversed(newest_labelled(db, model, n))]


def _older_than(db: Database, model: str, bound: LabelledRow | None) -> Iterator[LabelledRow]:
    """Every labelled prediction made before ``bound`` (all of them when None), in order,
    with numbers as text."""
    after: tuple[int, str] | None = None
    before = None if bound is None else (bound.created_at, bound.id)
    while True:
        page = [_row_as_text(r) for r in labelled_page(db, model, after=after, before=before,
                                                       limit=_PAGE)]
        yield from page
        if len(page) < _PAGE:
            return
        after = (page[-1].created_at, page[-1].id)


def feature_columns(signature: Mapping[str, Any] | None, sample: Any) -> list[str]:
    """Column names from the model's signature, else from a logged row."""
    if signature and signature.get("type") == "columns":
        return [str(c["name"]) for c in signature.get("columns") or []]
    if signature and signature.get("type") == "tensor":
        shape = signature.get("shape") or []
        if len(shape) == 2 and int(shape[1]) > 0:
            return [str(i) for i in range(int(shape[1]))]
    if isinstance(sample, Mapping):
        return [str(k) for k in sample]
    if isinstance(sample, list):
        return [str(i) for i in range(len(sample))]
    return ["0"]


def feature_values(inputs: Any, columns: Sequence[str]) -> list[Any]:
    """One logged row's values in column order (missing values are None)."""
    if isinstance(inputs, Mapping):
        return [inputs.get(c) for c in columns]
    values = list(inputs) if isinstance(inputs, list) else [inputs]
    return (values + [None] * len(columns))[:len(columns)]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def guess_label_column(objects: ObjectStore, inputs: Sequence[tuple[str, str, bool]],
                       columns: Sequence[str]) -> str | None:
    """The label's name in the training data: the one extra column of a CSV input that holds
    every feature column. ``inputs`` are (path, oid, is_tree) of the training run."""
    from cairn.objects.tree import read_tree

    files: list[str] = []
    for path, oid, is_tree in inputs:
        if not is_tree:
            if path.lower().endswith(".csv"):
                files.append(oid)
            continue
        try:
            entries = read_tree(objects, oid).entries
        except Exception:  # an unreadable tree only means no guess from it
            continue
        files += [e.oid for e in entries if e.path.lower().endswith(".csv")][:20]
    wanted = set(columns)
    for oid in files:
        header = _header(objects, oid)
        if not wanted or not wanted <= set(header):
            continue
        extras = [h for h in header if h not in wanted]
        if len(extras) == 1:
            return extras[0]
        for name in LABEL_NAMES:
            if name in extras:
                return name
    return None


def _header(objects: ObjectStore, oid: str) -> list[str]:
    try:
        with objects.open(oid) as fh:
            first = fh.readline(65_536).decode("utf-8", errors="replace")
    except Exception:  # a missing object only means no guess from it
        return []
    return next(csv.reader([first]), [])


def require_format(fmt: str) -> None:
    """Refuse a format that cannot be written here, before anything else happens."""
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401 - pandas needs it to write Parquet
        except ImportError as exc:
            missing = MissingExtra("pyarrow", "parquet")
            missing.hint = "pip install pyarrow, or use --format csv"
            raise missing from exc


def export(db: Database, model: str, path: Path, columns: Sequence[str], label_column: str,
           holdout: int, fmt: str = "csv") -> FeedbackData:
    """Write every labelled prediction but the newest ``holdout`` to ``path``."""
    require_format(fmt)
    kept = newest(db, model, holdout)
    header = [*columns, label_column]
    span: dict[str, int] = {}  # when the first and the last exported predictions were made

    def rows() -> Iterator[list[Any]]:
        for row in _older_than(db, model, kept[0] if kept else None):
            span.setdefault("first", row.created_at)
            span["last"] = row.created_at
            yield [*feature_values(row.inputs, columns), row.label]

    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "parquet":
        import pandas as pd

        frame = pd.DataFrame(list(rows()), columns=header)
        frame.to_parquet(path, index=False)
        count = len(frame)
    else:
        count = 0
        with path.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for values in rows():
                writer.writerow([_cell(v) for v in values])
                count += 1
    return FeedbackData(path, tuple(columns), label_column, count, tuple(kept),
                        span.get("first"), span.get("last"))
