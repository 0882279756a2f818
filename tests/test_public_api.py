"""The SDK's public names are a short, explicit list: changing it is a decision, not an accident."""

import cairn


def test_public_names_are_pinned() -> None:
    assert cairn.__all__ == [
        "Run",
        "__version__",
        "active_run",
        "finish",
        "init",
        "load_model",
        "log",
        "log_artifact",
        "log_model",
        "log_params",
        "set_tags",
    ]


def test_every_public_name_exists() -> None:
    for name in cairn.__all__:
        assert hasattr(cairn, name), name
