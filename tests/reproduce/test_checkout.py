"""``cairn checkout``: the exact code and data of a run, all or nothing, never in the way."""

from __future__ import annotations

import os
from pathlib import Path

from cairn.objects.local import LocalObjectStore
from tests.conftest import cairn_cli, git
from tests.reproduce.conftest import PYTHON, commit_all, record_run, show, write

SCRIPT = """
    import pathlib
    text = pathlib.Path("data/in.txt").read_text()
    pathlib.Path("out").mkdir(exist_ok=True)
    pathlib.Path("out/result.txt").write_text(text.upper())
"""


def _recorded(repo: Path) -> None:
    """A run with a commit, an uncommitted change, an untracked file, an input, an output."""
    write(repo, "job.py", SCRIPT)
    write(repo, "lib/util.py", "VALUE = 1\n")
    write(repo, "data/in.txt", "hello\n")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    commit_all(repo)
    write(repo, "lib/util.py", "VALUE = 2  # not committed\n")
    write(repo, "notes.md", "untracked notes\n")
    record_run(repo, "-i", "data", "-o", "out", "--", PYTHON, "job.py")


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_checkout_restores_code_diff_untracked_inputs_and_outputs(repo: Path,
                                                                   tmp_path: Path) -> None:
    _recorded(repo)
    status_before = git(repo, "status", "--porcelain")
    head = git(repo, "rev-parse", "HEAD")
    index_before = (repo / ".git" / "index").read_bytes()
    target = tmp_path / "co"

    done = cairn_cli("checkout", "1", "--dir", str(target), cwd=repo)

    assert done.returncode == 0, done.stderr
    files = _listing(target)
    assert files == {
        "README.md": b"a project\n",
        "data/in.txt": b"hello\n",
        "job.py": (repo / "job.py").read_bytes(),
        "lib/util.py": b"VALUE = 2  # not committed\n",
        "notes.md": b"untracked notes\n",
        "out/result.txt": b"HELLO\n",
        "run.sh": b"#!/bin/sh\necho hi\n",
    }
    assert os.access(target / "run.sh", os.X_OK)
    assert f"checked out into {target}" in done.stderr
    # Nothing of the user's changed: working tree, index, HEAD.
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "rev-parse", "HEAD") == head
    assert (repo / ".git" / "index").read_bytes() == index_before


def test_the_default_folder_is_named_after_the_run(repo: Path) -> None:
    write(repo, "a.py", "print(1)\n")
    commit_all(repo)
    record_run(repo, "--name", "base line", "--", PYTHON, "a.py")
    elsewhere = repo.parent / "elsewhere"
    elsewhere.mkdir()

    done = cairn_cli("checkout", "1", cwd=repo)

    assert done.returncode == 0, done.stderr
    assert (repo / "base-line-1" / "a.py").read_text() == "print(1)\n"


def test_a_non_empty_folder_needs_force(repo: Path, tmp_path: Path) -> None:
    write(repo, "a.py", "print(1)\n")
    commit_all(repo)
    record_run(repo, "--", PYTHON, "a.py")
    target = tmp_path / "busy"
    target.mkdir()
    (target / "old.txt").write_text("old")

    refused = cairn_cli("checkout", "1", "--dir", str(target), cwd=repo)
    assert refused.returncode == 1
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert (target / "old.txt").read_text() == "old"

    forced = cairn_cli("checkout", "1", "--dir", str(target), "--force", cwd=repo)
    assert forced.returncode == 0, forced.stderr
    assert sorted(_listing(target)) == ["README.md", "a.py"]


def test_force_never_replaces_the_project_itself(repo: Path) -> None:
    write(repo, "a.py", "print(1)\n")
    commit_all(repo)
    record_run(repo, "--", PYTHON, "a.py")

    done = cairn_cli("checkout", "1", "--dir", str(repo), "--force", cwd=repo)

    assert done.returncode == 1
    assert "will not replace it" in done.stderr and "Traceback" not in done.stderr
    assert (repo / "a.py").exists() and (repo / ".cairn" / "cairn.db").exists()


def _siblings(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_corrupt_object_fails_naming_it_and_leaves_nothing(repo: Path, tmp_path: Path
                                                              ) -> None:
    _recorded(repo)
    oid = next(f["oid"] for f in show(repo, "1")["inputs"])
    store = LocalObjectStore(repo / ".cairn" / "objects")
    from cairn.objects.tree import read_tree

    blob = read_tree(store, oid).entries[0].oid
    path = store.path_for(blob)
    path.chmod(0o644)
    path.write_bytes(b"HELLO\n")  # same size, other bytes
    parent = tmp_path / "parent"
    parent.mkdir()

    done = cairn_cli("checkout", "1", "--dir", str(parent / "co"), cwd=repo)

    assert done.returncode == 3
    assert blob in done.stderr and "data/in.txt" in done.stderr and "corrupt" in done.stderr
    assert "Traceback" not in done.stderr
    assert _siblings(parent) == []


def test_a_missing_object_fails_naming_it_and_leaves_nothing(repo: Path, tmp_path: Path
                                                              ) -> None:
    _recorded(repo)
    oid = next(f["oid"] for f in show(repo, "1")["outputs"])
    store = LocalObjectStore(repo / ".cairn" / "objects")
    from cairn.objects.tree import read_tree

    blob = read_tree(store, oid).entries[0].oid
    store.delete(blob)
    parent = tmp_path / "parent"
    parent.mkdir()

    done = cairn_cli("checkout", "1", "--dir", str(parent / "co"), cwd=repo)

    assert done.returncode == 2
    assert blob in done.stderr and "out/result.txt" in done.stderr
    assert "missing" in done.stderr and "Traceback" not in done.stderr
    assert _siblings(parent) == []


def test_a_commit_missing_from_the_repository_is_named_with_its_remote(
    tmp_path: Path, monkeypatch: object
) -> None:
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    write(upstream, "a.py", "print(1)\n")
    commit_all(upstream, "first")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    write(clone, "a.py", "print(2)\n")
    commit_all(clone, "local only")
    assert cairn_cli("init", cwd=clone).returncode == 0
    record_run(clone, "--", PYTHON, "a.py")
    commit = show(clone, "1")["code"]["commit"]
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    git(clone, "reflog", "expire", "--expire=now", "--all")
    git(clone, "gc", "-q", "--prune=now")

    done = cairn_cli("checkout", "1", "--dir", str(tmp_path / "co"), cwd=clone)

    assert done.returncode == 2
    assert commit[:12] in done.stderr and str(upstream) in done.stderr
    assert "not in the local repository" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "co").exists()


def test_outside_git_the_source_snapshot_is_restored(workdir: Path, tmp_path: Path) -> None:
    write(workdir, "calc.py", "print(6 * 7)\n")
    write(workdir, "pkg/mod.py", "X = 1\n")
    record_run(workdir, "--", PYTHON, "calc.py")
    target = tmp_path / "co"

    done = cairn_cli("checkout", "1", "--dir", str(target), cwd=workdir)

    assert done.returncode == 0, done.stderr
    assert _listing(target) == {"calc.py": b"print(6 * 7)\n", "pkg/mod.py": b"X = 1\n"}


def test_a_snapshot_run_can_be_checked_out(repo: Path, tmp_path: Path) -> None:
    write(repo, "data/a.csv", "1,2\n")
    assert cairn_cli("snapshot", "-m", "before", "-i", "data", cwd=repo).returncode == 0

    done = cairn_cli("checkout", "1", "--dir", str(tmp_path / "co"), cwd=repo)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "co" / "data" / "a.csv").read_text() == "1,2\n"
