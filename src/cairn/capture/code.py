"""The code a run used: git state where there is a repository, a source snapshot elsewhere.

Speed matters because this runs before every tracked command: an unchanged repository is
captured with two git processes started together (``git status`` for commit, branch, changes
and untracked files; ``git config`` for the remote); ``git diff`` only runs when tracked files
changed. Everything stored is content-addressed and produced deterministically, so capturing
an unchanged repository again stores nothing new.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cairn.capture.envvars import redact_url
from cairn.objects.base import ObjectStore
from cairn.settings import DEFAULT_SOURCE_SIZE_LIMIT
from cairn.store.record_parts import CodeState, SkippedFile, StoredTree

if TYPE_CHECKING:
    from cairn.objects.statcache import StatCache

MiB = 1 << 20
DEFAULT_SIZE_LIMIT = DEFAULT_SOURCE_SIZE_LIMIT  # [capture] source_size_limit

#: Folders never part of a code snapshot, whatever the ignore files say.
ALWAYS_SKIP = frozenset({".cairn", ".git", ".venv", "__pycache__", "node_modules"})
IGNORE_FILES = (".gitignore", ".cairnignore")

#: Outside git, files in these formats are data, not source: a snapshot of "the code" of a
#: folder full of arrays, checkpoints or images would otherwise copy all of them into the store.
#: Declare them with ``-i``/``-o`` to record them as data.
DATA_SUFFIXES = frozenset({
    ".bin", ".npy", ".npz", ".pt", ".pth", ".ckpt", ".safetensors", ".h5", ".hdf5", ".pkl",
    ".pickle", ".joblib", ".parquet", ".feather", ".arrow", ".tfrecord", ".onnx", ".pb",
    ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".png", ".jpg", ".jpeg", ".gif",
    ".bmp", ".tif", ".tiff", ".webp", ".mp3", ".mp4", ".wav", ".flac", ".avi", ".mov",
    ".db", ".sqlite", ".sqlite3",
})

_GIT_TIMEOUT_S = 60.0
# git never even walks these (a .cairn/ or .venv/ missing from .gitignore would otherwise
# cost a listing of thousands of files); tracked files inside them are not checked either.
_SKIP_PATHSPECS = tuple(f":(exclude,glob)**/{name}/**" for name in sorted(ALWAYS_SKIP))
_DIFF_ARGS = (
    "diff", "--binary", "--no-color", "--no-ext-diff", "--no-textconv", "--no-renames",
    "--src-prefix=a/", "--dst-prefix=b/",
)  # fmt: skip


def capture_code(
    root: Path,
    store: ObjectStore,
    *,
    size_limit: int = DEFAULT_SIZE_LIMIT,
    stat_cache: StatCache | None = None,
    exclude: Iterable[Path] = (),
) -> CodeState:
    """Record the code under ``root``: git state inside a repository, else a source snapshot.

    Files larger than ``size_limit`` (untracked files in git, any file outside it) are
    listed in ``skipped`` but not stored. ``exclude`` names files or folders that are not code
    (a run's declared inputs and outputs, stored as data on their own). Never raises for a
    missing or broken git: the snapshot is taken instead, with a warning.
    """
    root = Path(root).absolute()
    warnings: list[str] = []
    top = find_git_root(root)
    if top is not None:
        git = shutil.which("git")
        if git is None:
            warnings.append("git is not installed; recording a snapshot of the files instead")
        else:
            state = _capture_git(git, top, store, size_limit, stat_cache, warnings,
                                 _excluder(top, exclude))
            if state is not None:
                return state
    return _capture_snapshot(root, store, size_limit, stat_cache, warnings,
                             _excluder(root, exclude))


def _excluder(top: Path, paths: Iterable[Path]) -> Callable[[str], bool]:
    """A test for paths relative to ``top`` that lie at or under one of ``paths``."""
    prefixes: list[str] = []
    for path in paths:
        try:
            prefixes.append(Path(path).absolute().relative_to(top).as_posix())
        except ValueError:
            continue  # outside the project: never part of the code anyway
    if not prefixes:
        return lambda rel: False
    return lambda rel: any(rel == p or rel.startswith(p + "/") for p in prefixes)


def find_git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (a folder, or a file for
    worktrees and submodules), found without starting git."""
    for folder in (start, *start.parents):
        if os.path.lexists(folder / ".git"):
            return folder
    return None


# -- git ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitStatus:
    commit: str | None
    branch: str | None
    dirty: bool
    untracked: tuple[str, ...]


def parse_status(out: bytes) -> GitStatus:
    """Parse ``git status --porcelain=v2 --branch -z`` output."""
    commit = branch = None
    dirty = False
    untracked: list[str] = []
    entries = out.split(b"\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if entry.startswith(b"# branch.oid "):
            value = entry[len(b"# branch.oid ") :].decode()
            commit = None if value == "(initial)" else value
        elif entry.startswith(b"# branch.head "):
            value = entry[len(b"# branch.head ") :].decode("utf-8", "surrogateescape")
            branch = None if value == "(detached)" else value
        elif entry.startswith(b"? "):
            untracked.append(os.fsdecode(entry[2:]))
        elif entry[:2] in (b"1 ", b"u "):
            dirty = True
        elif entry.startswith(b"2 "):
            dirty = True
            i += 1  # a rename's original path follows in its own field
    return GitStatus(commit, branch, dirty, tuple(sorted(untracked)))


def pick_remote(out: bytes) -> str | None:
    """``origin``'s URL, else the first remote's, from ``git config -z --get-regexp``."""
    urls: dict[str, str] = {}
    for item in out.split(b"\0"):
        key, _, value = item.decode("utf-8", "surrogateescape").partition("\n")
        m = re.fullmatch(r"remote\.(.+)\.url", key)
        if m and m.group(1) not in urls:
            urls[m.group(1)] = value
    url = urls.get("origin") or next(iter(urls.values()), None)
    return redact_url(url, strip=True) if url else None


def _git(git: str, top: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [git, *args], cwd=top, capture_output=True, timeout=_GIT_TIMEOUT_S, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _first_line(err: bytes) -> str:
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[0] if lines else "no message"


def _capture_git(
    git: str,
    top: Path,
    store: ObjectStore,
    size_limit: int,
    stat_cache: StatCache | None,
    warnings: list[str],
    excluded: Callable[[str], bool],
) -> CodeState | None:
    try:
        remotes = subprocess.Popen(
            [git, "config", "-z", "--get-regexp", r"^remote\..*\.url$"],
            cwd=top, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as exc:
        warnings.append(f"git could not be started ({exc}); recording a snapshot instead")
        return None
    try:
        status = _git(
            git, top, "status", "--porcelain=v2", "--branch", "-z",
            "--untracked-files=all", "--no-renames", "--", ".", *_SKIP_PATHSPECS,
        )  # fmt: skip
        remote_out, _ = remotes.communicate(timeout=_GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        remotes.kill()
        remotes.communicate()
        warnings.append(f"git failed in {top} ({exc}); recording a snapshot instead")
        return None
    if status.returncode != 0:
        warnings.append(
            f"git failed in {top}: {_first_line(status.stderr)}; recording a snapshot instead"
        )
        return None
    parsed = parse_status(status.stdout)

    diff_oid, diff_size = None, 0
    if parsed.dirty:
        base = parsed.commit or _empty_tree(git, top)
        diff = _git(git, top, *_DIFF_ARGS, base, "--") if base else None
        if diff is None or diff.returncode != 0:
            reason = _first_line(diff.stderr) if diff is not None else "no base to compare"
            warnings.append(f"the uncommitted changes could not be recorded: {reason}")
        elif diff.stdout:
            diff_oid, diff_size = store.put_bytes(diff.stdout), len(diff.stdout)

    nested = [p for p in parsed.untracked if p.endswith("/")]
    if nested:
        warnings.append(
            f"{len(nested)} nested repositories were not recorded: {', '.join(nested[:3])}"
        )
    untracked_files = [
        p
        for p in parsed.untracked
        if not p.endswith("/") and not ALWAYS_SKIP.intersection(p.split("/"))
        and not excluded(p)
    ]
    keep, skipped = _split_by_size(top, untracked_files, size_limit, warnings)
    untracked = _snapshot(store, top, keep, stat_cache, warnings) if keep else None
    return CodeState(
        kind="git",
        root=str(top),
        commit=parsed.commit,
        branch=parsed.branch,
        remote=pick_remote(remote_out) if remotes.returncode == 0 else None,
        dirty=parsed.dirty,
        diff_oid=diff_oid,
        diff_size=diff_size,
        untracked=untracked,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
    )


def _empty_tree(git: str, top: Path) -> str | None:
    """The empty tree's id in this repository's hash (a repository with no commits yet)."""
    out = _git(git, top, "hash-object", "-t", "tree", "--stdin")
    if out.returncode != 0:
        return None
    return out.stdout.decode().strip() or None


# -- snapshot outside git -----------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    """One line of an ignore file, relative to the folder ``base`` ("" for the root)."""

    base: str
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool

    def matches(self, rel: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        if self.base:
            if not rel.startswith(self.base + "/"):
                return False
            rel = rel[len(self.base) + 1 :]
        return self.regex.fullmatch(rel) is not None


def _glob_regex(pattern: str) -> str:
    """Translate a gitignore glob: ``*`` and ``?`` stop at ``/``, ``**`` crosses folders."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            body = "^" + body[1:] if body.startswith("!") else body
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end + 1
        elif pattern[i] == "\\" and i + 1 < n:
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def parse_ignore(text: str, base: str = "") -> list[IgnoreRule]:
    """The rules of one ``.gitignore``-style file found in folder ``base``."""
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        if negate or line.startswith("\\"):
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        body = _glob_regex(line.lstrip("/"))
        regex = re.compile(body if anchored else "(?:.*/)?" + body, re.DOTALL)
        rules.append(IgnoreRule(base, regex, negate, dir_only))
    return rules


def _ignored(rules: list[IgnoreRule], rel: str, is_dir: bool) -> bool:
    ignored = False
    for rule in rules:
        if rule.matches(rel, is_dir):
            ignored = not rule.negate
    return ignored


def iter_source_files(root: Path) -> Iterator[tuple[str, int]]:
    """``(relative path, size)`` of each file and symbolic link under ``root`` that the
    ignore files keep, in sorted order; links are not followed."""
    yield from _walk(root, "", [])


def _walk(folder: Path, rel: str, rules: list[IgnoreRule]) -> Iterator[tuple[str, int]]:
    local = list(rules)
    for name in IGNORE_FILES:
        try:
            local.extend(parse_ignore((folder / name).read_text(errors="replace"), rel))
        except OSError:
            pass
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        child = f"{rel}/{entry.name}" if rel else entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                if entry.name in ALWAYS_SKIP or _ignored(local, child, True):
                    continue
                yield from _walk(Path(entry.path), child, local)
            elif not _ignored(local, child, False):
                st = entry.stat(follow_symlinks=False)  # a link is recorded as a link
                if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                    yield child, st.st_size
        except OSError:
            continue


def _capture_snapshot(
    root: Path,
    store: ObjectStore,
    size_limit: int,
    stat_cache: StatCache | None,
    warnings: list[str],
    excluded: Callable[[str], bool],
) -> CodeState:
    keep: list[str] = []
    skipped: list[SkippedFile] = []
    data_files = 0
    for rel, size in iter_source_files(root):
        if excluded(rel):
            continue
        if os.path.splitext(rel)[1].lower() in DATA_SUFFIXES:
            data_files += 1
            continue
        if size > size_limit:
            skipped.append(SkippedFile(rel, size))
        else:
            keep.append(rel)
    _warn_skipped(skipped, size_limit, warnings)
    if data_files:
        warnings.append(
            f"{data_files} data files (arrays, checkpoints, images, archives) were left out of "
            "the source snapshot; declare them with -i or -o to record them"
        )
    return CodeState(
        kind="snapshot",
        root=str(root),
        snapshot=_snapshot(store, root, keep, stat_cache, warnings),
        skipped=tuple(skipped),
        warnings=tuple(warnings),
    )


def _split_by_size(
    top: Path, paths: Iterable[str], size_limit: int, warnings: list[str]
) -> tuple[list[str], list[SkippedFile]]:
    keep: list[str] = []
    skipped: list[SkippedFile] = []
    for rel in paths:
        try:
            size = os.lstat(top / rel).st_size
        except OSError:
            continue  # gone since git listed it, or a dangling link
        if size > size_limit:
            skipped.append(SkippedFile(rel, size))
        else:
            keep.append(rel)
    _warn_skipped(skipped, size_limit, warnings)
    return keep, skipped


def _warn_skipped(skipped: list[SkippedFile], size_limit: int, warnings: list[str]) -> None:
    if not skipped:
        return
    names = ", ".join(s.path for s in skipped[:3]) + (", …" if len(skipped) > 3 else "")
    warnings.append(
        f"{len(skipped)} file(s) larger than {size_limit / MiB:g} MiB were not stored "
        f"({names}); declare data with -i/--input or add them to .cairnignore"
    )


def _snapshot(
    store: ObjectStore,
    root: Path,
    rel_paths: list[str],
    stat_cache: StatCache | None,
    warnings: list[str],
) -> StoredTree | None:
    """A tree of ``rel_paths``; a file deleted meanwhile is dropped, never an error."""
    from cairn.errors import NotFound
    from cairn.objects.tree import snapshot_paths  # the tree layer is only needed here

    for _ in range(3):
        try:
            ref = snapshot_paths(store, root, rel_paths, stat_cache=stat_cache)
            return StoredTree(oid=ref.oid, size=ref.size, count=ref.count)
        except NotFound:
            rel_paths = [p for p in rel_paths if os.path.lexists(root / p)]
    warnings.append(f"files under {root} kept changing; they were not recorded")
    return None
