"""Remotes in .cairn/config.toml and tokens in the user's credentials file."""

from __future__ import annotations

import stat

import pytest

from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.project import Project
from cairn.remote.config import (
    add_remote,
    credentials_path,
    get_remote,
    list_remotes,
    remove_remote,
    save_token,
    token_for,
)
from tests.conftest import cairn_cli


def test_remotes_are_added_listed_and_removed_keeping_the_rest(alice: Project) -> None:
    alice.config_path.write_text('# my settings\n[capture]\nenv = ["MY_SEED"]\n')
    add_remote(alice, "team", "http://127.0.0.1:5005/")
    add_remote(alice, "lake", "s3://bucket/cairn", {"endpoint_url": "http://127.0.0.1:9000"})
    assert [(r.name, r.url) for r in list_remotes(alice)] == [
        ("lake", "s3://bucket/cairn"), ("team", "http://127.0.0.1:5005")]
    assert get_remote(alice, "lake").options == {"endpoint_url": "http://127.0.0.1:9000"}
    with pytest.raises(Conflict):
        add_remote(alice, "team", "http://elsewhere:5005")
    remove_remote(alice, "lake")
    assert [r.name for r in list_remotes(alice)] == ["team"]
    text = alice.config_path.read_text()
    assert text.startswith('# my settings\n[capture]\nenv = ["MY_SEED"]\n')
    assert "lake" not in text and "endpoint_url" not in text
    with pytest.raises(NotFound):
        remove_remote(alice, "lake")


def test_the_default_remote(alice: Project) -> None:
    with pytest.raises(NotFound, match="no remote yet"):
        get_remote(alice, None)
    add_remote(alice, "team", "http://127.0.0.1:5005")
    assert get_remote(alice, None).name == "team"
    add_remote(alice, "lake", "file:///tmp/lake")
    with pytest.raises(InvalidInput, match="several remotes"):
        get_remote(alice, None)
    add_remote(alice, "origin", "http://127.0.0.1:6006")
    assert get_remote(alice, None).name == "origin"


def test_a_folder_becomes_a_file_url_and_bad_names_are_refused(
    alice: Project, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(alice.root)
    spec = add_remote(alice, "here", "lake-folder")
    assert spec.url == f"file://{alice.root / 'lake-folder'}"
    for bad in ("has space", "-dash", "a/b"):
        with pytest.raises(InvalidInput):
            add_remote(alice, bad, "http://x")


def test_tokens_are_kept_private_per_server(alice: Project) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True)
    path.write_text("")
    path.chmod(0o644)
    save_token("http://127.0.0.1:5005/", "cairn_one")
    save_token("https://cairn.example.com/?project=x", "cairn_two")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_for("http://127.0.0.1:5005") == "cairn_one"
    assert token_for("https://cairn.example.com") == "cairn_two"
    assert token_for("http://127.0.0.1:6006") is None


def test_remote_commands(alice: Project) -> None:
    assert cairn_cli("remote", "add", "team", "http://127.0.0.1:5005",
                     cwd=alice.root).returncode == 0
    listed = cairn_cli("remote", "ls", cwd=alice.root)
    assert "team  http://127.0.0.1:5005  (not logged in)" in listed.stdout
    dup = cairn_cli("remote", "add", "team", "http://x:1", cwd=alice.root)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    assert cairn_cli("remote", "rm", "team", cwd=alice.root).returncode == 0
    gone = cairn_cli("remote", "rm", "team", cwd=alice.root)
    assert gone.returncode == 2 and "no remote named 'team'" in gone.stderr
