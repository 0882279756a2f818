"""The scenario registry: every scenario the harness can run, in the order it runs them.

To add one: write
``scenarios/NAME.py`` with ``cases(ctx) -> Iterator[Case]``, register it in ``SCENARIOS``
with the anchors it needs, and take it out of ``PLANNED``.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks import limits
from benchmarks.harness import Scenario
from benchmarks.scenarios import (
    concurrency,
    data,
    ingest,
    repro,
    runs,
    search,
    server,
    serving,
    startup,
)


@dataclass(frozen=True)
class Entry:
    cases: Scenario
    about: str
    anchors: tuple[str, ...]


SCENARIOS: dict[str, Entry] = {
    "startup": Entry(startup.cases, "import, --help, cairn run overhead", ("mlflow",)),
    "logging": Entry(ingest.cases, "cairn.log vs mlflow.log_metric; batched ingest",
                     ("mlflow",)),
    "runs": Entry(runs.cases, "creating runs with params and metrics", ("mlflow",)),
    "search": Entry(search.cases, "cairn ls vs mlflow.search_runs over many runs", ("mlflow",)),
    "concurrency": Entry(concurrency.cases, "4 and 8 processes logging into one store",
                         ("mlflow",)),
    "data": Entry(data.cases, "cairn snapshot -i vs dvc add: big file, many files", ("dvc",)),
    "repro": Entry(repro.cases, "cairn checkout vs cp -r; the repro verdict; warm repro --env venv",
                   ()),
    "server": Entry(server.cases, "cairn server vs mlflow server: search, push, concurrent logging",
                    ("mlflow",)),
    "serving": Entry(serving.cases, "cairn serve vs mlflow models serve; prediction log; feedback",
                     ("mlflow",)),
    "limits": Entry(limits.cases, "BLAKE3, page-cache read, SQLite executemany", ()),
}

PLANNED: dict[str, str] = {
    "pull": "cairn pull vs dvc pull from a remote",
}
