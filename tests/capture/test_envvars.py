"""Allow-listed environment variables and secret redaction."""

from __future__ import annotations

import pytest

from cairn.capture.envvars import capture_env_vars, looks_secret, redact_url


def test_only_allow_listed_variables_are_kept() -> None:
    environ = {
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "4",
        "CUDA_VISIBLE_DEVICES": "1",
        "HOME": "/home/me",
        "PATH": "/usr/bin",
        "CAIRN_PROFILE": "fast",
        "CAIRN_RUN_ID": "abc",
        "SHELL": "/bin/bash",
    }
    assert capture_env_vars(environ) == {
        "CAIRN_PROFILE": "fast",
        "CUDA_VISIBLE_DEVICES": "1",
        "OMP_NUM_THREADS": "4",
        "PYTHONHASHSEED": "0",
    }


def test_extra_patterns_extend_the_list() -> None:
    environ = {"MY_SEED": "3", "HF_HOME": "/cache", "HF_TOKEN": "hf_abc", "OTHER": "x"}
    got = capture_env_vars(environ, ["MY_SEED", "HF_*"])
    assert got == {"HF_HOME": "/cache", "HF_TOKEN": "***", "MY_SEED": "3"}


@pytest.mark.parametrize(
    "name",
    ["CAIRN_TOKEN", "CAIRN_API_KEY", "CAIRN_SECRET", "CAIRN_DB_PASSWORD", "CAIRN_PASSWD",
     "CAIRN_CREDENTIALS", "CAIRN_AUTH", "cairn_token"],
)  # fmt: skip
def test_secret_names_are_redacted(name: str) -> None:
    assert looks_secret(name)
    if name.startswith("CAIRN_"):
        assert capture_env_vars({name: "hunter2"}) == {name: "***"}


def test_credentials_in_url_values_are_redacted() -> None:
    environ = {
        "CAIRN_DB": "postgresql://cairn:hunter2@db.internal:5432/runs",
        "CAIRN_REMOTE": "https://ghp_abcdef@github.com/x/y.git",
        "PYTHONPATH": "/src:/lib",
    }
    assert capture_env_vars(environ) == {
        "CAIRN_DB": "postgresql://cairn:***@db.internal:5432/runs",
        "CAIRN_REMOTE": "https://***@github.com/x/y.git",
        "PYTHONPATH": "/src:/lib",
    }


@pytest.mark.parametrize(
    ("value", "redacted", "stripped"),
    [
        ("https://user:tok@host/p", "https://user:***@host/p", "https://host/p"),
        ("https://tok@host/p", "https://***@host/p", "https://host/p"),
        ("ssh://git@host/p.git", "ssh://git@host/p.git", "ssh://git@host/p.git"),
        ("ssh://me:pw@host/p.git", "ssh://me:***@host/p.git", "ssh://host/p.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git", "git@github.com:a/b.git"),
        ("https://host/p?x=a@b", "https://host/p?x=a@b", "https://host/p?x=a@b"),
        ("s3://bucket/key", "s3://bucket/key", "s3://bucket/key"),
        ("https://u:p@ss@host", "https://u:***@host", "https://host"),
        ("a=http://u:p@h1 b=redis://:pw@h2", "a=http://u:***@h1 b=redis://:***@h2",
         "a=http://h1 b=redis://h2"),
    ],
)  # fmt: skip
def test_redact_url(value: str, redacted: str, stripped: str) -> None:
    assert redact_url(value) == redacted
    assert redact_url(value, strip=True) == stripped
