"""Data: ``cairn snapshot -i PATH`` vs ``dvc add PATH`` on one big file and on a folder of
many small files: the first time, again unchanged, and after changing 10 files.

The data is written once per session and hard-linked into a new workspace for every sample
(changes replace files, so the source stays intact). It is therefore in the page cache for
both tools, as it is right after a training script writes it. Each sample starts after
``os.sync()``, so that neither tool waits behind the other's unwritten data.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import Case, Context, Figure, Side, SideFn, human_bytes
from benchmarks.procs import base_env, time_command
from benchmarks.scenarios.common import fresh, seconds

FILE_KIB = 4
CHANGED = 10


def _figures(size: int, files: int) -> tuple[Figure, ...]:
    mb, n = human_bytes(size), f"{files:,} files"
    return (
        seconds("file_first_s", f"{mb} file, first time"),
        Figure("file_first_gbps", f"{mb} file, first time, throughput", "GB/s",
               higher_is_better=True),
        seconds("file_again_s", f"{mb} file, unchanged"),
        seconds("dir_first_s", f"{n} × {FILE_KIB} KiB, first time"),
        seconds("dir_again_s", f"{n}, unchanged"),
        seconds("dir_changed_s", f"{n}, {CHANGED} changed"),
    )


def _make_source(root: Path, size: int, files: int) -> Path:
    source = root / "data"
    (source / "files").mkdir(parents=True)
    block = os.urandom(1 << 20)
    with open(source / "big.bin", "wb") as f:
        for offset in range(0, size, len(block)):
            # vary each block so no tool can dedupe or compress its way through
            f.write(offset.to_bytes(8, "little") + block[8 : min(len(block), size - offset)])
    payload = os.urandom(files * FILE_KIB * 1024)
    for i in range(files):
        start = i * FILE_KIB * 1024
        (source / "files" / f"f{i:06d}.bin").write_bytes(payload[start : start + FILE_KIB * 1024])
    return source


def _workspace(ctx: Context, source: Path, tool: str) -> Path:
    ws = fresh(ctx, f"data-{tool}")
    shutil.copytree(source, ws / "data", copy_function=os.link)
    return ws


def _dvc_template(ctx: Context) -> Path:
    """A ``.dvc`` folder from ``dvc init --no-scm`` with analytics off, made once a session."""
    template = ctx.scratch / "dvc-template"
    if not (template / ".dvc" / "config").exists():
        shutil.rmtree(template, ignore_errors=True)
        template.mkdir()
        cli, env = ctx.dvc.script("dvc"), base_env()
        for setup in (["init", "--no-scm", "-q"], ["config", "core.analytics", "false"]):
            time_command([cli, *setup], cwd=template, env=env, timeout=ctx.timeout)
    return template / ".dvc"


def _change(folder: Path, files: int) -> None:
    for i in range(CHANGED):
        path = folder / f"f{i * (files // CHANGED):06d}.bin"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(os.urandom(FILE_KIB * 1024))
        os.replace(tmp, path)  # a new inode: the hard-linked source is not touched


def _side(ctx: Context, source: Path, size: int, files: int, tool: str) -> SideFn:
    def run() -> dict[str, float]:
        t = ctx.cairn if tool == "cairn" else ctx.dvc
        t.check()
        ws = _workspace(ctx, source, tool)
        if tool == "cairn":
            env = base_env({"CAIRN_DIR": str(ws / ".cairn")})
            cli = t.script("cairn")

            def add(path: str, step: str) -> float:
                return time_command([cli, "snapshot", "-m", step, "-i", path], cwd=ws, env=env,
                                    timeout=ctx.timeout)
        else:
            env = base_env()
            cli = t.script("dvc")
            shutil.copytree(_dvc_template(ctx), ws / ".dvc")

            def add(path: str, step: str) -> float:
                return time_command([cli, "add", "-q", path], cwd=ws, env=env,
                                    timeout=ctx.timeout)

        # Start with nothing waiting to be written back: the previous sample's (the other
        # tool's) unsynced writes would otherwise slow down whichever tool calls fsync.
        os.sync()
        try:
            out = {"file_first_s": add("data/big.bin", "file first")}
            out["file_first_gbps"] = size / out["file_first_s"] / 1e9
            out["file_again_s"] = add("data/big.bin", "file again")
            out["dir_first_s"] = add("data/files", "folder first")
            out["dir_again_s"] = add("data/files", "folder again")
            _change(ws / "data" / "files", files)
            out["dir_changed_s"] = add("data/files", "folder changed")
        finally:
            shutil.rmtree(ws, ignore_errors=True)
        return out

    return run


def cases(ctx: Context) -> Iterator[Case]:
    size, files = ctx.size(200_000_000, 1_000_000_000), ctx.size(2_000, 20_000)
    source = _make_source(fresh(ctx, "data-source"), size, files)
    try:
        yield Case(
            "add data", _figures(size, files),
            Side("cairn", _side(ctx, source, size, files, "cairn")),
            Side("dvc", _side(ctx, source, size, files, "dvc")),
            note="whole commands: cairn snapshot -m MSG -i PATH vs dvc add PATH, run in a "
                 "folder holding only the data (no git); cairn's snapshot also records the "
                 "folder's code state, dvc add does not; target: at least 1 GB/s for new data",
        )
    finally:
        shutil.rmtree(source.parent, ignore_errors=True)
