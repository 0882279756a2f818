"""Restoring a run's code, inputs and outputs into a folder (``cairn checkout``).

Everything is written into a temporary folder beside the destination and renamed into place
at the end, so a missing or corrupt object, a diff that no longer applies or an interrupt
leaves nothing half-written. Every restored file is rehashed against its recorded id: a
damaged object fails the checkout with its id and path named.

Code in git is exported from the project's own repository through a temporary index
(``git read-tree`` + ``git checkout-index --prefix``): the user's working tree, index, HEAD
and branches are never touched. The recorded uncommitted diff is then applied with ``git
apply`` outside any repository, and the untracked files are restored from their tree.
Nothing is ever written through a symbolic link: every folder below the temporary folder is
opened without following links, so a link restored from one tree (or made by the diff) with
a declared input or output under it is refused, and so is a link the diff or a tree would
leave pointing out of the checkout. Links from the commit itself are git's own checkout.
Files are reflinked from the store where the file system allows it and copied otherwise;
they are never hard-linked, since a hard link shares the store's read-only file, and a later
``chmod`` or in-place write in the checkout would change the stored object.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import CairnError, Conflict, Corrupt, NotFound, PermissionDenied
from cairn.objects.base import ObjectStore
from cairn.objects.hashing import hash_bytes, hash_file
from cairn.objects.tree import Tree, links_leading_out, restore_blob, restore_tree
from cairn.project import Project
from cairn.reproduce.plan import DataFile, ReproPlan

Progress = Callable[[int, int], None]
"""Called with (bytes restored, bytes in total) while data is restored."""

_GIT_TIMEOUT_S = 300.0
_FSCK_HINT = "cairn fsck lists every damaged or missing object"


@dataclass(frozen=True)
class CheckoutResult:
    """Where the run was restored and what was written."""

    dir: Path
    base: Path  # the folder that corresponds to the project root
    code_files: int
    data_files: int
    data_bytes: int
    warnings: tuple[str, ...]


def default_dir(plan: ReproPlan, parent: Path) -> Path:
    """``<parent>/<name>-<number>``, or ``run-<number>`` for an unnamed run."""
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in (plan.run.name or "run"))
    return parent / f"{name.strip('.') or 'run'}-{plan.run.number}"


def check_destination(project: Project, dest: Path, *, force: bool) -> None:
    """Refuse a destination that holds files, unless ``force``; never the project itself."""
    if dest.exists() and not dest.is_dir():
        raise Conflict(f"{dest} is a file; checkout needs a folder")
    if not dest.is_dir() or not any(dest.iterdir()):
        return
    if not force:
        raise Conflict(
            f"{dest} is not empty; a checkout there would mix its files with the run's",
            hint="choose another --dir, or add --force to replace that folder",
        )
    real = dest.resolve()
    for held in (project.root.resolve(), project.store_dir.resolve(), Path.home().resolve()):
        if held == real or real in held.parents:
            raise Conflict(f"{dest} holds {held}; --force will not replace it")
    for marker in (".git", ".cairn"):
        if (real / marker).exists():
            raise Conflict(f"{dest} holds a {marker} folder (someone's working tree); "
                           "--force will not replace it")


def checkout(
    project: Project,
    objects: ObjectStore,
    plan: ReproPlan,
    dest: Path,
    *,
    force: bool = False,
    with_outputs: bool = True,
    progress: Progress | None = None,
) -> CheckoutResult:
    """Restore ``plan``'s run into ``dest``; all or nothing."""
    dest = Path(os.path.abspath(dest))
    check_destination(project, dest, force=force)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.cairn-", dir=dest.parent))
    except OSError as exc:
        raise PermissionDenied(f"cannot create a folder in {dest.parent}: {exc.strerror}") from exc
    try:
        warnings = list(plan.warnings)
        code_files, committed = _restore_code(project, objects, plan, tmp, warnings)
        base = tmp / plan.project_rel if plan.project_rel else tmp
        data = plan.data if with_outputs else plan.inputs
        data_bytes = _restore_data(objects, data, base, progress, tmp)
        _refuse_outward_links(tmp, committed, "{} is a link leading out of the checkout")
        _move_into_place(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final_base = dest / plan.project_rel if plan.project_rel else dest
    return CheckoutResult(dest, final_base, code_files, len(data), data_bytes, tuple(warnings))


def _move_into_place(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` to ``dest``; a forced, non-empty ``dest`` is swapped out, then removed."""
    try:
        os.rename(tmp, dest)  # replaces an empty folder atomically
        return
    except OSError:
        if not dest.is_dir():
            raise
    old = dest.parent / f".{dest.name}.cairn-old-{uuid.uuid4().hex[:8]}"
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old, ignore_errors=True)


# -- code -------------------------------------------------------------------------------------
def _restore_code(
    project: Project, objects: ObjectStore, plan: ReproPlan, dest: Path, warnings: list[str]
) -> tuple[int, dict[str, str]]:
    """The number of code files restored, and the links the commit itself holds."""
    code = plan.code
    committed: dict[str, str] = {}
    if code is None:
        return 0, committed
    if code.kind == "git":
        if code.commit:
            _export_commit(project, code.root, code.commit, code.remote, dest)
            committed = _links_under(dest)
        if code.diff_oid:
            _apply_diff(objects, code.diff_oid, code.commit, dest)
            _refuse_outward_links(dest, committed, "the recorded uncommitted changes make {} "
                                                   "a link leading out of the checkout")
        if code.untracked is not None:
            restore_verified(objects, code.untracked.oid, dest, "untracked file")
        if (dest / ".gitmodules").exists():
            warnings.append("the repository has submodules; they are not restored")
    elif code.snapshot is not None:
        restore_verified(objects, code.snapshot.oid, dest, "source file")
    # Large files left out of the code are often declared data, restored from their own record.
    declared = [f"{plan.project_rel}/{d.path}".lstrip("/") for d in plan.data]
    missing = [s.path for s in code.skipped
               if not any(s.path == d or s.path.startswith(d + "/") for d in declared)]
    if missing:
        names = ", ".join(missing[:3]) + (", …" if len(missing) > 3 else "")
        warnings.append(f"{len(missing)} file(s) were too large to record and are "
                        f"missing from the checkout: {names}")
    return sum(len(files) for _, _, files in os.walk(dest)), committed


def _links_under(top: Path) -> dict[str, str]:
    """Every symbolic link below ``top`` (never followed), by relative path, with its target."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(top):
        for name in files + dirs:
            full = os.path.join(folder, name)
            if os.path.islink(full):
                found[os.path.relpath(full, top)] = os.readlink(full)
    return found


def _refuse_outward_links(top: Path, committed: dict[str, str], sentence: str) -> None:
    """Refuse links below ``top`` that end outside it, except those the commit holds as is.

    Judged on the folder as written, so links chained through links are followed as the
    system would (``links_leading_out``); ``sentence`` names the first with ``{}``.
    """
    added = [rel for rel, target in _links_under(top).items() if committed.get(rel) != target]
    outward = links_leading_out(top, added)
    if outward:
        raise Conflict(sentence.format(os.path.relpath(outward[0], top)))


def _git(repo: Path, *args: str, env: dict[str, str] | None = None,
         data: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    git = shutil.which("git")
    if git is None:
        raise NotFound("git is not installed; it is needed to restore code recorded in git")
    prefix = [git] if cwd is not None else [git, "-C", str(repo)]
    return subprocess.run(
        [*prefix, *args], cwd=cwd, env=env, input=data, capture_output=True,
        timeout=_GIT_TIMEOUT_S, check=False,
    )


def _first_line(err: bytes) -> str:
    lines = err.decode(errors="replace").strip().splitlines()
    return lines[0] if lines else "no message"


def _repository(project: Project, recorded_root: str) -> Path | None:
    """The local repository that should hold the run's commit."""
    from cairn.capture.code import find_git_root

    candidates = [find_git_root(project.root)]
    if recorded_root:
        candidates.append(find_git_root(Path(recorded_root)))
    for repo in candidates:
        if repo is not None and repo.exists():
            return repo
    return None


def _export_commit(
    project: Project, recorded_root: str, commit: str, remote: str | None, dest: Path
) -> None:
    source = f"; it was recorded from {remote}" if remote else ""
    repo = _repository(project, recorded_root)
    if repo is None:
        raise NotFound(
            f"the run's code is commit {commit[:12]}, and there is no git repository at "
            f"{project.root} to take it from{source}",
            hint=f"clone {remote} there first" if remote else None,
        )
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise NotFound(
            f"commit {commit[:12]} is not in the local repository {repo}{source}",
            hint=f"fetch it first: git -C {repo} fetch {remote or 'origin'}",
        )
    with tempfile.TemporaryDirectory(prefix="cairn-index-") as scratch:
        env = dict(os.environ, GIT_INDEX_FILE=os.path.join(scratch, "index"))
        for name in ("GIT_DIR", "GIT_WORK_TREE"):
            env.pop(name, None)
        for args in (("read-tree", commit),
                     ("checkout-index", "--all", "--force", f"--prefix={dest}{os.sep}")):
            done = _git(repo, *args, env=env)
            if done.returncode != 0:
                raise CairnError(f"git could not export commit {commit[:12]} from {repo}: "
                                 f"{_first_line(done.stderr)}")


def _apply_diff(objects: ObjectStore, oid: str, commit: str | None, dest: Path) -> None:
    patch = _object_bytes(objects, oid, "the uncommitted changes")
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(dest.parent))
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)
    done = _git(dest, "apply", "--binary", "--whitespace=nowarn", "-", env=env, data=patch,
                cwd=dest)
    if done.returncode != 0:
        base = f"commit {commit[:12]}" if commit else "an empty repository"
        raise Corrupt(f"the recorded uncommitted changes do not apply to {base}: "
                      f"{_first_line(done.stderr)}")


def _object_bytes(objects: ObjectStore, oid: str, what: str) -> bytes:
    try:
        data = objects.get_bytes(oid)
    except NotFound as exc:
        raise NotFound(f"object {oid} ({what}) is missing from the store", hint=_FSCK_HINT) \
            from exc
    if hash_bytes(data) != oid:
        raise Corrupt(f"object {oid} ({what}) is corrupt: its bytes do not match its id",
                      hint=_FSCK_HINT)
    return data


# -- trees and data ---------------------------------------------------------------------------
def load_tree(objects: ObjectStore, oid: str, kind: str, prefix: str = "") -> Tree:
    """The tree ``oid``, after checking its manifest and that every file it lists is stored.

    Errors name the object and the file it holds: ``{kind} {prefix}{path}``.
    """
    folder = prefix.rstrip("/")
    data = _object_bytes(objects, oid, f"the file list of {kind}s" + (f" in {folder}"
                                                                      if folder else ""))
    try:
        tree = Tree.from_bytes(data)
    except Corrupt as exc:
        raise Corrupt(f"object {oid} ({kind}s{' ' + folder if folder else ''}) is not a "
                      f"usable tree: {exc.message}", hint=_FSCK_HINT) from exc
    missing = set(objects.missing(list({e.oid for e in tree.entries})))
    for entry in tree.entries:
        if entry.oid in missing:
            raise NotFound(
                f"object {entry.oid} ({kind} {prefix}{entry.path}) is missing from the store",
                hint=_FSCK_HINT,
            )
    return tree


def restore_verified(
    objects: ObjectStore, oid: str, dest: Path, kind: str, prefix: str = "",
    progress: Progress | None = None, within: Path | None = None,
) -> Tree:
    """Restore a tree under ``dest`` (never through a link below ``within``) and rehash it."""
    tree = load_tree(objects, oid, kind, prefix)
    restore_tree(objects, oid, dest, progress=progress, within=within)
    for entry in tree.entries:
        if entry.is_link:
            continue
        if hash_file(dest / entry.path) != entry.oid:
            raise Corrupt(
                f"object {entry.oid} ({kind} {prefix}{entry.path}) is corrupt: its bytes do "
                "not match its id", hint=_FSCK_HINT,
            )
    return tree


def restore_file(objects: ObjectStore, item: DataFile, target: Path, within: Path) -> None:
    """Restore one stored file at ``target`` (never through a link below ``within``), rehashed.

    The checkout is a temporary folder until every file is checked, so a damaged object
    fails it before anything is in place.
    """
    if not objects.has(item.oid):
        raise NotFound(f"object {item.oid} ({item.kind} {item.path}) is missing from the store",
                       hint=_FSCK_HINT)
    size = objects.size(item.oid)
    restore_blob(objects, item.oid, size, target, within=within)
    if hash_file(target) != item.oid:
        raise Corrupt(f"object {item.oid} ({item.kind} {item.path}) is corrupt: its bytes do "
                      "not match its id", hint=_FSCK_HINT)


def _restore_data(
    objects: ObjectStore, items: tuple[DataFile, ...], base: Path, progress: Progress | None,
    within: Path,
) -> int:
    total = sum(item.size for item in items)
    done = 0
    for item in items:
        target = base / item.path
        if item.is_tree:
            offset = done

            def report(sub: int, _total: int, offset: int = offset) -> None:
                if progress is not None:
                    progress(offset + sub, total)

            restore_verified(objects, item.oid, target, item.kind, item.path + "/", report,
                             within)
        else:
            restore_file(objects, item, target, within)
        done += item.size
        if progress is not None:
            progress(done, total)
    return total
