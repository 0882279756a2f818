"""The layers of settings, their checks, and the one TOML reader, on real files."""

from __future__ import annotations

import textwrap
import time

import pytest

from cairn.errors import InvalidInput
from cairn.project import Project
from cairn.settings import (
    MAX_HEARTBEAT_INTERVAL_S,
    RemoteSpec,
    Settings,
    load_settings,
    user_config_path,
)
from tests.conftest import PYTHON, cairn_cli, run_python


def _user_config(text: str) -> None:
    path = user_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_defaults_without_any_file(project: Project) -> None:
    assert load_settings(project.store_dir) == Settings()
    assert load_settings(None) == Settings()


def test_project_file_over_user_file_and_variables_over_both(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    _user_config("""
        [capture]
        env = ["FROM_USER"]
        sys_interval = 2
        [limits]
        params = 10
        tags = 11
    """)
    project.config_path.write_text(textwrap.dedent("""
        [capture]
        sys_interval = 3
        [limits]
        params = 20
    """))
    got = load_settings(project.store_dir)
    assert (got.sys_metrics_interval_s, got.max_params, got.max_tags) == (3.0, 20, 11)
    assert got.capture_env == ("FROM_USER",)  # the project file sets no list: the user's stays
    monkeypatch.setenv("CAIRN_SYS_INTERVAL", "0.5")
    monkeypatch.setenv("CAIRN_MAX_PARAMS", "30")
    monkeypatch.setenv("CAIRN_CAPTURE_ENV", "A,B_*")
    got = load_settings(project.store_dir)
    assert (got.sys_metrics_interval_s, got.max_params) == (0.5, 30)
    assert got.capture_env == ("FROM_USER", "A", "B_*")  # the variable adds to the list
    assert load_settings(None).max_params == 30  # no project: the user's file and variables


def test_remotes_are_typed_and_what_is_not_a_remote_is_skipped(project: Project) -> None:
    project.config_path.write_text(textwrap.dedent("""
        [remote.team]
        url = "http://127.0.0.1:5005"
        [remote.lake]
        url = "s3://bucket/cairn"
        [remote.lake.options]
        endpoint_url = "http://127.0.0.1:9000"
        [remote.broken]
        name = "no url"
    """))
    assert load_settings(project.store_dir).remotes == (
        RemoteSpec("lake", "s3://bucket/cairn", {"endpoint_url": "http://127.0.0.1:9000"}),
        RemoteSpec("team", "http://127.0.0.1:5005"),
    )


def test_server_max_upload_is_parsed_when_asked(project: Project,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project.config_path.write_text('[server]\nmax_upload = "2MiB"\n')
    assert load_settings(project.store_dir).server_max_upload == 2 * 1024 * 1024
    monkeypatch.setenv("CAIRN_SERVER_MAX_UPLOAD", "1000")
    assert load_settings(project.store_dir).server_max_upload == 1000
    monkeypatch.setenv("CAIRN_SERVER_MAX_UPLOAD", "lots")
    settings = load_settings(project.store_dir)  # a typo here does not stop `cairn run`
    with pytest.raises(InvalidInput, match="'lots' is not a size"):
        _ = settings.server_max_upload


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("CAIRN_SYS_INTERVAL", "often", "CAIRN_SYS_INTERVAL or \\[capture\\] sys_interval"),
    ("CAIRN_SYS_INTERVAL", "0", "above 0"),
    ("CAIRN_HEARTBEAT_INTERVAL", "60", "at most 15"),
    ("CAIRN_MAX_TAGS", "0", "CAIRN_MAX_TAGS or \\[limits\\] tags must be a whole number"),
])
def test_a_bad_value_is_one_sentence_naming_where_it_came_from(
        project: Project, monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
        says: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidInput, match=says):
        load_settings(project.store_dir)


def test_a_bad_key_in_a_file_names_the_key(project: Project) -> None:
    project.config_path.write_text("[capture]\nsource_size_limit = -1\n")
    with pytest.raises(InvalidInput, match="\\[capture\\] source_size_limit must be a whole "
                                           "number of 0 or more"):
        load_settings(project.store_dir)


def test_config_and_credentials_files_that_do_not_parse_say_so_alike(project: Project) -> None:
    """One TOML reader: the config file and the credentials file fail with one sentence."""
    from cairn.remote.config import credentials_path, token_for

    project.config_path.write_text("[capture\n")
    with pytest.raises(InvalidInput, match=f"the config file {project.config_path} does not"):
        load_settings(project.store_dir)
    credentials_path().parent.mkdir(parents=True, exist_ok=True)
    credentials_path().write_text("[servers\n")
    with pytest.raises(InvalidInput, match=f"the config file {credentials_path()} does not"):
        token_for("http://127.0.0.1:5005")


def test_the_heartbeat_bound_leaves_room_before_a_run_counts_as_crashed() -> None:
    from cairn.store.runs import HEARTBEAT_TIMEOUT_MS

    assert MAX_HEARTBEAT_INTERVAL_S * 4 * 1000 <= HEARTBEAT_TIMEOUT_MS


_WAIT_FOR_A_BEAT = """
    import os, sqlite3, time
    db = sqlite3.connect(os.path.join({where}, "cairn.db"))
    def beat():
        return db.execute("SELECT heartbeat_at FROM runs").fetchone()[0]
    {start}
    first, deadline = beat(), time.monotonic() + 3
    while beat() == first and time.monotonic() < deadline:
        time.sleep(0.05)
    print("beat" if beat() != first else "silent")
"""


@pytest.mark.parametrize("how", ["cairn run", "the SDK"])
def test_one_heartbeat_interval_for_cairn_run_and_the_sdk(project: Project, how: str) -> None:
    """``[run] heartbeat_interval`` sets the beat of runs made either way (5 s by default)."""
    project.config_path.write_text("[run]\nheartbeat_interval = 0.2\n")
    if how == "cairn run":
        script = _WAIT_FOR_A_BEAT.format(where="os.environ['CAIRN_DIR']", start="")
        (project.root / "wait.py").write_text(textwrap.dedent(script))
        done = cairn_cli("run", "--", PYTHON, "wait.py", cwd=project.root)
    else:
        script = _WAIT_FOR_A_BEAT.format(where="'.cairn'", start="import cairn; cairn.init()")
        done = run_python(textwrap.dedent(script), cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "beat" in done.stdout.split()


def test_the_sdk_keeps_the_default_beat(project: Project) -> None:
    script = _WAIT_FOR_A_BEAT.format(where="'.cairn'", start="import cairn; cairn.init()")
    started = time.monotonic()
    done = run_python(textwrap.dedent(script).replace("+ 3", "+ 1.5"), cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["silent"] and time.monotonic() - started >= 1.5
