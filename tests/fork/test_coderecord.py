"""A fork's code record: the rewritten params file is where a checkout will find it."""

from __future__ import annotations

from pathlib import Path

from cairn.capture.code import capture_code
from cairn.fork.coderecord import with_changed_files
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import read_tree
from tests.conftest import git


def _repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('hi')\n")
    (root / "params.yaml").write_text("lr: 0.1\nsteps: 4\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")


def _applied(root: Path, patch: bytes, tmp: Path) -> Path:
    """The committed tree with ``patch`` applied, in a fresh clone."""
    clone = tmp / "clone"
    git(tmp, "clone", "-q", str(root), str(clone))
    (tmp / "fork.patch").write_bytes(patch)
    git(clone, "apply", "--binary", str(tmp / "fork.patch"))
    return clone


def test_a_tracked_file_gets_its_diff_section_replaced(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _repo(root)
    (root / "train.py").write_text("print('changed')\n")
    (root / "params.yaml").write_text("lr: 0.2\nsteps: 4\n")  # already changed once
    objects = LocalObjectStore(tmp_path / "objects")
    code = capture_code(root, objects)
    rewritten = tmp_path / "new.yaml"
    rewritten.write_text("lr: 0.5\nsteps: 4\n")

    forked = with_changed_files(objects, code, root, {"params.yaml": rewritten})

    assert forked.dirty and forked.diff_oid != code.diff_oid
    clone = _applied(root, objects.get_bytes(forked.diff_oid or ""), tmp_path)
    assert (clone / "params.yaml").read_text() == "lr: 0.5\nsteps: 4\n"
    assert (clone / "train.py").read_text() == "print('changed')\n"


def test_a_staged_new_file_is_recorded_as_new(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _repo(root)
    (root / "conf.json").write_text('{"k": 1}\n')
    git(root, "add", "conf.json")
    objects = LocalObjectStore(tmp_path / "objects")
    code = capture_code(root, objects)
    rewritten = tmp_path / "conf.json"
    rewritten.write_text('{"k": 2}\n')

    forked = with_changed_files(objects, code, root, {"conf.json": rewritten})

    clone = _applied(root, objects.get_bytes(forked.diff_oid or ""), tmp_path)
    assert (clone / "conf.json").read_text() == '{"k": 2}\n'


def test_an_untracked_file_gets_a_new_blob_in_the_untracked_tree(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    _repo(root)
    (root / "local.toml").write_text("lr = 0.1\n")
    objects = LocalObjectStore(tmp_path / "objects")
    code = capture_code(root, objects)
    assert code.untracked is not None
    rewritten = tmp_path / "local.toml"
    rewritten.write_text("lr = 0.3\n")

    forked = with_changed_files(objects, code, root, {"local.toml": rewritten})

    assert forked.diff_oid == code.diff_oid is None
    assert forked.untracked is not None
    entries = {e.path: e for e in read_tree(objects, forked.untracked.oid).entries}
    assert objects.get_bytes(entries["local.toml"].oid) == b"lr = 0.3\n"
