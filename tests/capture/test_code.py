"""Code capture against real git repositories and real folders."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from cairn.capture.code import capture_code, find_git_root, iter_source_files, parse_ignore
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import read_tree
from cairn.store.record_parts import CodeState

from .conftest import count_objects, git, make_repo, write_files

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def tree_paths(store: LocalObjectStore, oid: str) -> list[str]:
    return [e.path for e in read_tree(store, oid).entries]


def test_clean_repository(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "print(1)\n", "lib/util.py": "x = 1\n"})
    head = git(repo, "rev-parse", "HEAD").strip()

    state = capture_code(repo, store)

    assert state.kind == "git"
    assert state.commit == head
    assert state.branch == "main"
    assert state.dirty is False
    assert state.diff_oid is None and state.untracked is None
    assert state.remote is None
    assert state.warnings == ()
    assert CodeState.from_json(state.to_json()) == state


def test_dirty_repository_diff_reapplies(tmp_path: Path, store: LocalObjectStore) -> None:
    binary = bytes(range(256)) * 4
    repo = make_repo(
        tmp_path / "r",
        {"train.py": "lr = 0.1\n", "model.bin": binary, "notes.md": "a\n", ".gitignore": "*.log\n"},
    )
    head = git(repo, "rev-parse", "HEAD").strip()
    write_files(repo, {"train.py": "lr = 0.2\n", "model.bin": binary[::-1]})  # unstaged
    write_files(repo, {"notes.md": "b\n"})
    git(repo, "add", "notes.md")  # staged
    write_files(repo, {"new/data_prep.py": "import os\n", "run.log": "ignored\n"})

    state = capture_code(repo, store)

    assert state.dirty is True
    assert state.diff_oid is not None and state.diff_size > 0
    assert state.untracked is not None
    assert tree_paths(store, state.untracked.oid) == ["new/data_prep.py"]
    # The stored diff turns a clean checkout of the commit into the captured working tree.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "checkout", "-q", head)
    patch = tmp_path / "p.diff"
    patch.write_bytes(store.get_bytes(state.diff_oid))
    git(clone, "apply", "--binary", str(patch))
    for name in ("train.py", "model.bin", "notes.md"):
        assert (clone / name).read_bytes() == (repo / name).read_bytes()


def test_remote_credentials_are_stripped(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": ""})
    git(repo, "remote", "add", "backup", "https://other.example/x.git")
    git(repo, "remote", "add", "origin", "https://alice:s3cret-token@github.com/team/proj.git")

    state = capture_code(repo, store)

    assert state.remote == "https://github.com/team/proj.git"
    assert "s3cret" not in str(state.to_json())


def test_first_remote_when_no_origin(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": ""})
    git(repo, "remote", "add", "upstream", "git@github.com:team/proj.git")
    git(repo, "remote", "add", "zzz", "https://ghp_abc@github.com/team/other.git")
    assert capture_code(repo, store).remote == "git@github.com:team/proj.git"


def test_repository_without_commits(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "print('hi')\n"}, commit=False)
    write_files(repo, {"scratch.py": "pass\n"})

    state = capture_code(repo, store)

    assert state.kind == "git"
    assert state.commit is None
    assert state.branch == "main"
    assert state.dirty is True
    assert state.diff_oid is not None
    assert b"+print('hi')" in store.get_bytes(state.diff_oid)
    assert state.untracked is not None
    assert tree_paths(store, state.untracked.oid) == ["scratch.py"]


def test_capturing_twice_stores_nothing_new(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"train.py": "lr = 0.1\n", "b.py": "b\n"})
    write_files(repo, {"train.py": "lr = 0.3\n", "extra/u.py": "u\n", "extra/v.txt": "v\n"})

    first = capture_code(repo, store)
    stored = count_objects(store)
    second = capture_code(repo, store)

    assert stored >= 4  # diff, two untracked files, their tree
    assert count_objects(store) == stored
    assert first == second


def test_subfolder_finds_repository(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"src/pkg/a.py": "a\n"})
    state = capture_code(repo / "src" / "pkg", store)
    assert state.kind == "git"
    assert Path(state.root) == repo
    assert find_git_root(repo / "src") == repo
    assert find_git_root(tmp_path) != repo


def test_large_untracked_file_is_listed_not_stored(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": ""})
    write_files(repo, {"big.csv": "x" * 5000, "small.py": "s\n"})

    state = capture_code(repo, store, size_limit=1000)

    assert [(s.path, s.size) for s in state.skipped] == [("big.csv", 5000)]
    assert state.untracked is not None
    assert tree_paths(store, state.untracked.oid) == ["small.py"]
    assert any("big.csv" in w for w in state.warnings)


def test_without_git_installed_a_snapshot_is_taken(
    tmp_path: Path, store: LocalObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": "a\n"})
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    state = capture_code(repo, store)

    assert state.kind == "snapshot"
    assert any("git is not installed" in w for w in state.warnings)
    assert state.snapshot is not None
    assert tree_paths(store, state.snapshot.oid) == ["a.py"]  # .git/ is never included


def test_broken_repository_falls_back_to_a_snapshot(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    root = tmp_path / "r"
    write_files(root, {"a.py": "a\n", ".git": "gitdir: /nonexistent/place\n"})

    state = capture_code(root, store)

    assert state.kind == "snapshot"
    assert any("git failed" in w for w in state.warnings)


# -- outside git ----------------------------------------------------------------------------


def test_snapshot_respects_ignore_files(tmp_path: Path, store: LocalObjectStore) -> None:
    root = tmp_path / "proj"
    write_files(
        root,
        {
            ".gitignore": "# comment\n*.log\n!keep.log\nbuild/\n/data\n",
            ".cairnignore": "secrets.env\nnotebooks/**/*.tmp\n",
            "train.py": "t\n",
            "run.log": "x\n",
            "keep.log": "k\n",
            "build/out.o": "o\n",
            "data/raw.csv": "1,2\n",
            "src/data/loader.py": "l\n",  # /data is anchored to the root only
            "src/.gitignore": "generated_*.py\n",
            "src/generated_a.py": "g\n",
            "src/model.py": "m\n",
            "secrets.env": "TOKEN=1\n",
            "notebooks/a/b/x.tmp": "t\n",
            "notebooks/a/b/x.ipynb": "{}\n",
            ".venv/lib/site.py": "v\n",
            "pkg/__pycache__/m.cpython-311.pyc": "c\n",
            "node_modules/x/index.js": "j\n",
            ".cairn/config.toml": "c\n",
        },
    )

    state = capture_code(root, store)

    assert state.kind == "snapshot"
    assert state.snapshot is not None
    assert tree_paths(store, state.snapshot.oid) == [
        ".cairnignore",
        ".gitignore",
        "keep.log",
        "notebooks/a/b/x.ipynb",
        "src/.gitignore",
        "src/data/loader.py",
        "src/model.py",
        "train.py",
    ]
    assert CodeState.from_json(state.to_json()) == state


def test_snapshot_size_limit_warns(tmp_path: Path, store: LocalObjectStore) -> None:
    root = tmp_path / "proj"
    write_files(root, {"train.py": "t\n", "vocab.txt": b"w\n" * 2048})

    state = capture_code(root, store, size_limit=1024)

    assert [(s.path, s.size) for s in state.skipped] == [("vocab.txt", 4096)]
    assert state.snapshot is not None and state.snapshot.count == 1
    assert len(state.warnings) == 1 and "vocab.txt" in state.warnings[0]
    before = count_objects(store)
    assert capture_code(root, store, size_limit=1024) == state
    assert count_objects(store) == before


def test_snapshot_leaves_data_files_out(tmp_path: Path, store: LocalObjectStore) -> None:
    root = tmp_path / "proj"
    write_files(root, {"train.py": "t\n", "weights.pt": b"\0" * 64, "emb/x.npy": b"\1" * 64,
                       "config.yaml": "lr: 1\n"})
    state = capture_code(root, store)
    assert state.snapshot is not None and state.snapshot.count == 2  # train.py, config.yaml
    assert any("2 data files" in w for w in state.warnings)


def test_snapshot_records_links_without_following(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write_files(root, {"a.py": "a\n", "outside/x.py": "x\n"})
    (root / "link_dir").symlink_to(root / "outside")
    (root / "link_file").symlink_to(root / "a.py")
    assert [p for p, _ in iter_source_files(root)] == [
        "a.py", "link_dir", "link_file", "outside/x.py",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "path", "is_dir", "ignored"),
    [
        ("*.py", "a/b/c.py", False, True),
        ("/top.txt", "top.txt", False, True),
        ("/top.txt", "sub/top.txt", False, False),
        ("docs/*.md", "docs/a.md", False, True),
        ("docs/*.md", "docs/x/a.md", False, False),
        ("**/logs", "a/b/logs", True, True),
        ("a/**/z", "a/z", False, True),
        ("a/**/z", "a/b/c/z", False, True),
        ("out/", "out", False, False),
        ("out/", "x/out", True, True),
        ("file[0-9].txt", "file7.txt", False, True),
        ("file[!0-9].txt", "file7.txt", False, False),
    ],
)
def test_ignore_patterns(pattern: str, path: str, is_dir: bool, ignored: bool) -> None:
    (rule,) = parse_ignore(pattern)
    assert rule.matches(path, is_dir) is ignored


def test_recapture_of_unchanged_1000_file_repository_is_fast(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    repo = tmp_path / "big"
    make_repo(repo, {f"pkg{i // 100}/mod{i}.py": f"x = {i}\n" for i in range(1000)})
    capture_code(repo, store)  # the first capture may refresh git's index
    best = min(_timed(lambda: capture_code(repo, store)) for _ in range(5))
    assert best < 0.25, f"re-capture took {best * 1000:.0f} ms"


def _timed(fn: object) -> float:
    assert callable(fn)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_git_status_paths_with_spaces_and_unicode(tmp_path: Path, store: LocalObjectStore) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": ""})
    write_files(repo, {"my file.py": "1\n", "données/é.py": "2\n"})
    state = capture_code(repo, store)
    assert state.untracked is not None
    assert tree_paths(store, state.untracked.oid) == ["données/é.py", "my file.py"]


def test_git_env_is_not_required(tmp_path: Path, store: LocalObjectStore) -> None:
    # capture_code must not depend on the caller's working folder
    make_repo(tmp_path / "r", {"a.py": ""})
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert capture_code(Path("r"), store).kind == "git"
    finally:
        os.chdir(cwd)


def test_tool_folders_and_nested_repositories_are_left_out(
    tmp_path: Path, store: LocalObjectStore
) -> None:
    repo = make_repo(tmp_path / "r", {"a.py": ""})
    write_files(
        repo,
        {
            ".cairn/objects/ab/cdef": "object",
            ".venv/lib/site.py": "v",
            "sub/node_modules/x.js": "j",
            "pkg/__pycache__/m.pyc": "c",
            "pkg/new.py": "n",
        },
    )
    make_repo(repo / "vendor" / "other", {"o.py": "o"})

    state = capture_code(repo, store)

    assert state.untracked is not None
    assert tree_paths(store, state.untracked.oid) == ["pkg/new.py"]
    assert any("vendor/other/" in w for w in state.warnings)
