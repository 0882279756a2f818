"""The code record of a fork whose params file was rewritten.

A fork runs the original's code, so it records the original's code state, except for files
the fork changed (a rewritten params file). Those changes go where ``cairn checkout`` will
find them again, so that ``cairn repro`` of the fork restores exactly the files it ran:

- a file in the untracked tree (or in a source snapshot) gets its new blob in a new tree;
- a file tracked in git gets its own section of the recorded uncommitted diff replaced by
  one made with ``git diff --no-index`` against the committed file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from cairn.errors import CairnError, NotFound
from cairn.objects.base import ObjectStore
from cairn.objects.tree import MODE_EXEC, MODE_FILE, Tree, TreeEntry, read_tree
from cairn.store.record_parts import CodeState, StoredTree

_GIT_TIMEOUT_S = 120.0


def with_changed_files(objects: ObjectStore, code: CodeState, repo: Path | None,
                       files: Mapping[str, Path]) -> CodeState:
    """``code`` with each file (path relative to the code root -> its new content) recorded."""
    for rel, path in files.items():
        if code.kind == "snapshot" and code.snapshot is not None:
            code = replace(code, snapshot=_replace_in_tree(objects, code.snapshot, rel, path))
        elif code.untracked is not None and _in_tree(objects, code.untracked, rel):
            code = replace(code, untracked=_replace_in_tree(objects, code.untracked, rel, path))
        elif code.kind == "git":
            code = _with_patched_file(objects, code, repo, rel, path)
    return code


def _in_tree(objects: ObjectStore, stored: StoredTree, rel: str) -> bool:
    return any(e.path == rel for e in read_tree(objects, stored.oid).entries)


def _replace_in_tree(objects: ObjectStore, stored: StoredTree, rel: str,
                     path: Path) -> StoredTree:
    oid = objects.put_file(path)
    mode = MODE_EXEC if path.stat().st_mode & 0o111 else MODE_FILE
    entries = [e for e in read_tree(objects, stored.oid).entries if e.path != rel]
    entries.append(TreeEntry(rel, oid, path.stat().st_size, mode))
    tree = Tree(tuple(entries))
    return StoredTree(objects.put_bytes(tree.to_bytes()), tree.size, tree.count)


# -- git-tracked files -------------------------------------------------------------------------
def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise NotFound("git is not installed; it is needed to record the fork's changed code")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run([git, *args], cwd=cwd, env=env, capture_output=True,
                          timeout=_GIT_TIMEOUT_S, check=False)


def _committed(repo: Path | None, commit: str | None, rel: str) -> bytes | None:
    """The file as committed, or None when the commit does not hold it."""
    if repo is None or commit is None:
        return None
    done = _git("-C", str(repo), "cat-file", "blob", f"{commit}:{rel}")
    return done.stdout if done.returncode == 0 else None


def _section_path(header: bytes) -> bytes:
    """``diff --git a/x b/x`` -> ``x`` (git quotes odd names; those compare quoted)."""
    rest = header.removeprefix(b"diff --git ")
    half = (len(rest) - 1) // 2
    return rest[half + 1:].removeprefix(b'"').removeprefix(b"b/").rstrip(b'"')


def _sections(patch: bytes) -> list[bytes]:
    if not patch:
        return []
    parts = patch.split(b"\ndiff --git ")
    return [parts[0], *(b"diff --git " + p for p in parts[1:])]


def file_patch(rel: str, old: bytes | None, new: Path) -> bytes:
    """A ``git apply`` section taking ``rel`` from ``old`` (None: absent) to ``new``."""
    mode = new.stat().st_mode & 0o777
    with tempfile.TemporaryDirectory(prefix="cairn-fork-diff-") as scratch:
        root = Path(scratch)
        b_file = root / "b" / rel
        b_file.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(new, b_file)
        os.chmod(b_file, mode)
        a_arg = "/dev/null"
        if old is not None:
            a_file = root / "a" / rel
            a_file.parent.mkdir(parents=True, exist_ok=True)
            a_file.write_bytes(old)
            os.chmod(a_file, mode)
            a_arg = f"a/{rel}"
        done = _git("diff", "--no-index", "--binary", "--no-color", "--no-ext-diff",
                    "--no-textconv", "--no-prefix", a_arg, f"b/{rel}", cwd=root)
    if done.returncode not in (0, 1):
        raise CairnError(f"git could not diff the rewritten {rel}: "
                         f"{done.stderr.decode(errors='replace').strip()}")
    out = done.stdout
    if old is None and out:  # git names the new side twice for a new file
        _header, _, rest = out.partition(b"\n")
        out = f"diff --git a/{rel} b/{rel}".encode() + b"\n" + rest
    return out


def _with_patched_file(objects: ObjectStore, code: CodeState, repo: Path | None, rel: str,
                       path: Path) -> CodeState:
    patch = objects.get_bytes(code.diff_oid) if code.diff_oid else b""
    kept = [s for s in _sections(patch) if not (
        s.startswith(b"diff --git ") and _section_path(s.split(b"\n", 1)[0]) == rel.encode())]
    kept = [s if s.endswith(b"\n") else s + b"\n" for s in kept]
    section = file_patch(rel, _committed(repo, code.commit, rel), path)
    merged = b"".join([*kept, section])
    if not merged.strip():
        return replace(code, diff_oid=None, diff_size=0, dirty=False)
    return replace(code, diff_oid=objects.put_bytes(merged), diff_size=len(merged), dirty=True)
