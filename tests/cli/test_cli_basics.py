"""The command line as a user meets it: discovery, listing, showing, and honest errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from tests.conftest import cairn_cli, git, run_python


def make_runs(root: Path, n: int = 2) -> None:
    done = run_python(textwrap.dedent(f"""
        import cairn
        for i in range({n}):
            with cairn.init(name=f"r{{i}}", params={{"lr": 0.1 * (i + 1), "model": "rf"}}):
                cairn.log({{"acc": 0.5 + i / 10, "loss": 1.0 - i / 10}})
    """), cwd=root)
    assert done.returncode == 0, done.stderr


def test_help_lists_every_command(workdir: Path) -> None:
    done = cairn_cli("--help", cwd=workdir)
    assert done.returncode == 0
    for name in ("init", "run", "snapshot", "ls", "show", "logs", "diff", "fsck"):
        assert f"  {name} " in done.stdout


def test_init_goes_to_the_git_root(workdir: Path) -> None:
    git(workdir, "init", "-q")
    sub = workdir / "src" / "deep"
    sub.mkdir(parents=True)
    done = cairn_cli("init", cwd=sub)
    assert done.returncode == 0, done.stderr
    assert (workdir / ".cairn" / "cairn.db").exists()
    assert not (sub / ".cairn").exists()


def test_commands_find_the_project_by_walking_up(workdir: Path) -> None:
    make_runs(workdir, 1)
    sub = workdir / "a" / "b"
    sub.mkdir(parents=True)
    done = cairn_cli("ls", "--json", cwd=sub)
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in json.loads(done.stdout)] == ["r0"]


def test_cairn_dir_overrides_discovery(workdir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "store" / ".cairn"
    done = cairn_cli("init", cwd=workdir, env={"CAIRN_DIR": str(elsewhere)})
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "cairn.db").exists()
    assert not (workdir / ".cairn").exists()


def test_a_missing_project_is_created_and_announced_once(workdir: Path) -> None:
    first = cairn_cli("ls", cwd=workdir)
    second = cairn_cli("ls", cwd=workdir)
    assert "created a new project" in first.stderr
    assert "created a new project" not in second.stderr
    assert (workdir / ".cairn").is_dir()


def test_ls_table_and_json(workdir: Path) -> None:
    make_runs(workdir, 3)
    table = cairn_cli("ls", cwd=workdir)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert "lr" in lines[0] and "acc" in lines[0] and "model" not in lines[0]  # only what varies
    assert lines[1].split()[0] == "3"  # newest first
    rows = json.loads(cairn_cli("ls", "--json", cwd=workdir).stdout)
    assert [r["number"] for r in rows] == [3, 2, 1]
    for key in ("id", "number", "name", "status", "started_at", "duration_s", "params",
                "metrics"):
        assert key in rows[0]
    assert rows[0]["metrics"]["acc"] == 0.7


def test_ls_filter_sort_and_limit(workdir: Path) -> None:
    make_runs(workdir, 4)
    done = cairn_cli("ls", "--filter", "metrics.acc > 0.55 and params.model = rf", "--sort",
                     "metrics.acc", "--limit", "2", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert [r["number"] for r in json.loads(done.stdout)] == [2, 3]


def test_show_json_has_the_fixed_keys(workdir: Path) -> None:
    make_runs(workdir, 1)
    done = cairn_cli("show", "last", "--json", cwd=workdir)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    for key in ("id", "number", "name", "status", "exit_code", "command", "started_at",
                "ended_at", "duration_s", "params", "metrics", "tags", "code", "env", "host",
                "inputs", "outputs", "artifacts", "lineage"):
        assert key in info, key
    assert info["params"] == {"lr": 0.1, "model": "rf"}
    assert set(info["lineage"]) == {"parent", "forked_from", "reproduces"}


def test_show_readable(workdir: Path) -> None:
    make_runs(workdir, 1)
    done = cairn_cli("show", "r0", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert "run 1" in done.stdout and "finished" in done.stdout and "acc" in done.stdout


def test_unknown_run_is_one_line_and_exit_2(workdir: Path) -> None:
    make_runs(workdir, 1)
    done = cairn_cli("show", "nope", cwd=workdir)
    assert done.returncode == 2
    assert done.stderr.startswith("cairn: error: no run matches 'nope'")
    assert "Traceback" not in done.stderr


def test_malformed_filter_points_at_the_column(workdir: Path) -> None:
    make_runs(workdir, 1)
    done = cairn_cli("ls", "--filter", "metrics.acc >> 1", cwd=workdir)
    assert done.returncode == 2
    assert "column" in done.stderr and "^" in done.stderr
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(workdir: Path) -> None:
    make_runs(workdir, 1)
    done = cairn_cli("--debug", "show", "nope", cwd=workdir)
    assert done.returncode != 0
    assert "Traceback" in done.stderr


def test_a_folder_cairn_cannot_write_to(tmp_path: Path) -> None:
    done = cairn_cli("ls", cwd=Path("/proc"))
    assert done.returncode == 5, done.stderr
    assert "cannot create a cairn project" in done.stderr
    assert "Traceback" not in done.stderr


def test_records_survive_bad_commands(workdir: Path) -> None:
    make_runs(workdir, 2)
    before = cairn_cli("ls", "--json", cwd=workdir).stdout
    for args in (("show", "zzzz"), ("ls", "--filter", "(("), ("diff", "1", "9")):
        assert cairn_cli(*args, cwd=workdir).returncode != 0
    assert cairn_cli("ls", "--json", cwd=workdir).stdout == before


def test_fsck_names_a_corrupt_object(workdir: Path) -> None:
    (workdir / "data").mkdir()
    (workdir / "data" / "a.txt").write_text("hello world\n")
    (workdir / "data" / "b.txt").write_text("second file\n")
    assert cairn_cli("snapshot", "-i", "data", cwd=workdir).returncode == 0
    ok = cairn_cli("fsck", cwd=workdir)
    assert ok.returncode == 0 and "all intact" in ok.stdout

    from cairn.objects.hashing import hash_bytes

    oid = hash_bytes(b"hello world\n")
    blob = workdir / ".cairn" / "objects" / oid[:2] / oid[2:]
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0x01
    blob.write_bytes(bytes(data))
    bad = cairn_cli("fsck", "--json", cwd=workdir)
    assert bad.returncode == 3
    assert json.loads(bad.stdout)["corrupt"] == [oid]
    readable = cairn_cli("fsck", cwd=workdir)
    assert f"corrupt {oid}" in readable.stdout
