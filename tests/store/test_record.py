"""The run record: typed reading, and writing back exactly what was read.

Records outlive the cairn that wrote them: a store holds records from older versions (keys
missing) and, once a newer cairn has pushed to a shared server, from newer ones (keys this
version has never heard of). Both must read, and a change this version makes (a finish that
adds outputs, a fork note, a pulled copy's origin) must leave everything else as it was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cairn.history.describe import describe_run
from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.remote.bundle import export_run, import_bundle
from cairn.reproduce.plan import load_plan
from cairn.store import runs as run_store
from cairn.store.core import MetaStore, open_store
from cairn.store.record import ForkNote, NotStored, Origin, RunRecord
from cairn.store.record_parts import CodeState, Environment, LockFile

# A record as the first cairn wrote it: no diff_size, skipped, remote or snapshot in the
# code; no prefix, base_prefix, direct_urls, lock_files or packages_oid in the environment;
# no redacted, not_stored, params_file or metrics_file at all.
OLD_RECORD: dict[str, Any] = {
    "argv": ["python", "train.py", "--lr", "0.1"],
    "code": {"branch": "main", "commit": "3f2a9c1" + "0" * 33, "diff_oid": None,
             "dirty": False, "kind": "git", "root": "/home/ana/churn", "untracked": None,
             "warnings": []},
    "env": {"executable": "/usr/bin/python3", "implementation": "CPython",
            "packages": {"numpy": "1.26.4", "scikit-learn": "1.4.2"},
            "platform": "Linux-6.5-x86_64", "python_version": "3.11.7"},
    "env_vars": {"OMP_NUM_THREADS": "4", "PYTHONHASHSEED": "1234"},
    "host": {"cpu_count": 8, "cpu_model": "AMD EPYC", "gpus": [{"name": "A100"}],
             "hostname": "box", "machine": "x86_64", "os": "Linux"},
    "source": "run",
    "warnings": [],
}

# A record from a newer cairn: a section, a nested key and a list item key unknown here.
NEWER_RECORD: dict[str, Any] = {
    **copy.deepcopy(OLD_RECORD),
    "sweep": {"id": "s-17", "trial": 4},
}
NEWER_RECORD["code"]["notebook"] = {"path": "explore.ipynb", "cell": 12}
NEWER_RECORD["host"]["gpus"][0]["uuid"] = "GPU-8c1f"


def stored_text(store: MetaStore, run_id: str) -> dict[str, Any]:
    row = store.db.query_one("SELECT record FROM runs WHERE id = ?", (run_id,))
    assert row is not None
    doc: dict[str, Any] = json.loads(row[0])
    return doc


def update_record(store: MetaStore, run_id: str,
                  change: Callable[[RunRecord], RunRecord]) -> None:
    with store.db.write() as w:
        run_store.update_record(w, run_id, change)


def run_with_raw_record(store: MetaStore, doc: dict[str, Any]) -> str:
    """A finished run whose record column holds ``doc`` as another version wrote it."""
    with store.db.write() as w:
        run = run_store.create_run(w, store.project_id, command=["python", "train.py"],
                                   status="finished", cwd="/home/ana/churn")
        w.execute("UPDATE runs SET record = ? WHERE id = ?", (json.dumps(doc), run.id))
    return run.id


@pytest.fixture
def store(project: Project) -> MetaStore:
    opened = open_store(project)
    yield opened
    opened.close()


def test_an_old_record_reads_typed_and_writes_back_unchanged() -> None:
    record = RunRecord.from_json(OLD_RECORD)

    assert record.source == "run" and record.argv[-1] == "0.1"
    assert record.code is not None and record.code.kind == "git"
    assert record.code.commit == OLD_RECORD["code"]["commit"] and record.code.diff_size == 0
    assert record.env is not None and record.env.packages["numpy"] == "1.26.4"
    assert record.env.lock_files == () and record.env.packages_oid is None
    assert record.host is not None and record.host.gpus[0].name == "A100"
    assert record.host.gpus[0].memory_mb is None and record.host.ram_bytes is None
    assert record.redacted == () and record.not_stored == () and record.params_file is None
    assert record.to_json() == OLD_RECORD  # no key the old cairn did not write is added


def test_an_old_record_in_a_store_is_shown_and_planned(store: MetaStore,
                                                       project: Project) -> None:
    run = run_store.get_run(store, run_with_raw_record(store, OLD_RECORD))

    shown = describe_run(store, run, LocalObjectStore(project.objects_dir))
    assert shown["code"] == {**OLD_RECORD["code"], "remote": None, "diff": None}
    assert shown["env"] == {**OLD_RECORD["env"], "python": "3.11.7"}
    assert shown["host"] == OLD_RECORD["host"]
    assert shown["env_vars"] == OLD_RECORD["env_vars"]
    assert shown["redacted"] == [] and shown["not_stored"] == [] and shown["warnings"] == []
    plan = load_plan(project, store, LocalObjectStore(project.objects_dir), run)
    assert plan.code is not None and plan.code.commit == OLD_RECORD["code"]["commit"]
    assert plan.environment is not None and plan.environment.python_version == "3.11.7"
    assert plan.env_vars == OLD_RECORD["env_vars"] and plan.secrets == ()


def test_unknown_keys_survive_a_change_and_the_write_back(store: MetaStore) -> None:
    run_id = run_with_raw_record(store, NEWER_RECORD)
    refused = NotStored("out/model.pkl", "the disk is full")

    update_record(store, run_id, lambda r: replace(
        r, not_stored=(refused,), warnings=(*r.warnings, "the output could not be stored")))
    update_record(store, run_id, lambda r: replace(
        r, fork=ForkNote(from_run="ab" * 16, from_number=1, set={"lr": "0.2"})))

    got = stored_text(store, run_id)
    added = {"not_stored", "warnings", "fork"}
    assert {k: v for k, v in got.items() if k not in added} == \
        {k: v for k, v in NEWER_RECORD.items() if k not in added}
    assert got["sweep"] == {"id": "s-17", "trial": 4}
    assert got["code"]["notebook"] == {"path": "explore.ipynb", "cell": 12}
    assert got["host"]["gpus"][0]["uuid"] == "GPU-8c1f"
    assert got["not_stored"] == [{"path": "out/model.pkl", "reason": "the disk is full"}]
    assert got["warnings"] == ["the output could not be stored"]
    assert got["fork"]["from"] == "ab" * 16 and got["fork"]["set"] == {"lr": "0.2"}
    record = run_store.get_run(store, run_id).record
    assert record.extra == {"sweep": {"id": "s-17", "trial": 4}}
    assert record.code is not None and record.code.extra == {"notebook": NEWER_RECORD[
        "code"]["notebook"]}


def test_unknown_keys_travel_in_a_bundle(store: MetaStore, project: Project,
                                         tmp_path: Path) -> None:
    run = run_store.get_run(store, run_with_raw_record(store, NEWER_RECORD))
    objects = LocalObjectStore(project.objects_dir)
    other = Project(root=tmp_path / "bob", store_dir=tmp_path / "bob" / ".cairn")
    other.store_dir.mkdir(parents=True)
    target = open_store(other)
    try:
        with target.db.write() as w:
            imported = import_bundle(w, target, objects, export_run(store, objects, run).doc,
                                     origin=Origin("team", "http://team.example", run.number))
        got = stored_text(target, imported.run.id)
        with target.db.write() as w:
            again = import_bundle(w, target, objects, export_run(store, objects, run).doc)
    finally:
        target.close()
    assert got == {**NEWER_RECORD, "origin": {"number": 1, "remote": "team",
                                              "url": "http://team.example"}}
    assert not again.changed  # the copy is the same content: the record compares equal


def test_a_value_this_version_cannot_read_is_kept_and_reads_as_absent(
        store: MetaStore, project: Project) -> None:
    odd = {**OLD_RECORD, "host": "box-7", "origin": ["team"], "warnings": None}
    run_id = run_with_raw_record(store, odd)

    record = run_store.get_run(store, run_id).record
    assert record.host is None and record.origin is None and record.warnings == ()
    shown = describe_run(store, run_store.get_run(store, run_id),
                         LocalObjectStore(project.objects_dir))
    assert shown["host"] == {} and shown["warnings"] == []
    update_record(store, run_id, lambda r: replace(r, params_file="params.yaml"))
    assert stored_text(store, run_id) == {**odd, "params_file": "params.yaml"}


def test_a_record_built_here_writes_only_what_it_holds() -> None:
    assert RunRecord(source="sdk", argv=("train.py",)).to_json() == {
        "argv": ["train.py"], "source": "sdk"}
    assert RunRecord().to_json() == {}
    locks = (LockFile("uv.lock", "cd" * 32),)
    assert RunRecord(env=Environment.lock_files_only(locks)).to_json() == {
        "env": {"lock_files": [{"oid": "cd" * 32, "path": "uv.lock"}]}}
    assert Environment.lock_files_only(()).to_json() == {}
    code = CodeState("git", "/r").to_json()  # a section built here has every key
    assert code["commit"] is None and code["skipped"] == [] and code["diff_size"] == 0


def test_a_stored_package_list_is_kept_by_its_oid() -> None:
    env = Environment(python_version="3.12.1", packages={"numpy": "2.0.0"},
                      packages_oid="ef" * 32)
    written = RunRecord(env=env).to_json()["env"]
    assert "packages" not in written and written["packages_oid"] == "ef" * 32
    inline = RunRecord(env=replace(env, packages_oid=None)).to_json()["env"]
    assert inline["packages"] == {"numpy": "2.0.0"}


def test_the_origin_is_replaced_whole() -> None:
    record = RunRecord.from_json({**OLD_RECORD, "origin": {"remote": "a", "url": None,
                                                           "number": 3}})
    assert record.with_origin(None).to_json() == OLD_RECORD
    assert record.with_origin(Origin("b")).to_json()["origin"] == {
        "number": None, "remote": "b", "url": None}
    unreadable = RunRecord.from_json({**OLD_RECORD, "origin": "a"})
    assert unreadable.with_origin(None).to_json() == OLD_RECORD
