"""``cairn.log_model`` in a tracked script, then ``cairn model …`` in real processes."""

from __future__ import annotations

import json
import shutil
import sqlite3
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON, cairn_cli, run_python

TRAIN = textwrap.dedent("""
    import sys
    import cairn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    C = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500)).fit(X, y)
    info = cairn.log_model(model, "model", example=X.head(5), profile_data=X)
    print("logged", info.flavor, info.path, info.oid[:12], ",".join(info.signature.feature_names))
""")

PREDICT = textwrap.dedent("""
    import json, sys
    import cairn
    from sklearn.datasets import load_iris
    X, _ = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    model = cairn.load_model(sys.argv[1])
    direct = model.native.predict(X)
    served = model.predict(X.to_dict(orient="records"))
    print(json.dumps({"version": model.version, "same": (direct == served).all().item(),
                      "task": model.task, "flavor": model.flavor}))
""")


CLEAN_ENV = {"CAIRN_DIR": "", "CAIRN_DB": "", "CAIRN_RUN_ID": "", "CAIRN_PROJECT": ""}


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with two tracked runs that each logged a model (built once per module)."""
    root = tmp_path_factory.mktemp("trained") / "work"
    root.mkdir()
    (root / "train.py").write_text(TRAIN)
    for c in ("1.0", "0.1"):
        done = cairn_cli("run", "--", PYTHON, "train.py", c, cwd=root, env=CLEAN_ENV)
        assert done.returncode == 0, done.stderr
        assert "logged sklearn model" in done.stdout
        assert "sepal_length,sepal_width,petal_length,petal_width" in done.stdout
    return root


@pytest.fixture
def trained(trained_once: Path, workdir: Path) -> Path:
    """A private copy of the trained project, so each test may change it."""
    shutil.copytree(trained_once, workdir, dirs_exist_ok=True)
    return workdir


def cli_json(*args: str, cwd: Path) -> Any:
    done = cairn_cli(*args, "--json", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_register_alias_show_and_load_through_the_cli(trained: Path) -> None:
    done = cairn_cli("model", "register", "1:model", "--name", "churn", cwd=trained)
    assert done.returncode == 0, done.stderr
    assert "registered churn version 1 (run 1, model, sklearn)" in done.stdout
    done = cairn_cli("model", "register", "2", "--name", "churn", cwd=trained)  # PATH implied
    assert "registered churn version 2" in done.stdout
    again = cairn_cli("model", "register", "1:model", "--name", "churn", cwd=trained)
    assert "already churn version 1" in again.stdout

    assert cairn_cli("model", "alias", "churn@1", "production", cwd=trained).returncode == 0
    moved = cairn_cli("model", "alias", "churn@2", "production", cwd=trained)
    assert "churn@production: version 1 → 2" in moved.stdout

    [listed] = cli_json("model", "ls", cwd=trained)
    assert listed["name"] == "churn" and listed["versions"] == 2
    assert listed["aliases"] == {"production": 2}

    shown = cli_json("model", "show", "churn@production", cwd=trained)
    assert isinstance(shown, dict)
    assert (shown["version"], shown["run_number"], shown["flavor"]) == (2, 2, "sklearn")
    assert shown["record"]["signature"]["columns"][0] == {"name": "sepal_length",
                                                          "dtype": "float64"}
    assert "scikit-learn" in shown["record"]["requirements"]

    model = cli_json("model", "show", "churn", cwd=trained)
    assert isinstance(model, dict)
    assert [v["version"] for v in model["versions"]] == [2, 1]
    assert [(m["alias"], m["from_version"], m["to_version"]) for m in model["alias_history"]] \
        == [("production", None, 1), ("production", 1, 2)]

    human = cairn_cli("model", "show", "churn", cwd=trained)
    assert "production: 1 → 2" in human.stdout
    table = cairn_cli("model", "ls", cwd=trained)
    assert "churn" in table.stdout and "production@2" in table.stdout

    for ref, version in (("churn@production", 2), ("models:/churn@1", 1), ("churn", 2)):
        done = run_python(PREDICT.replace("sys.argv[1]", repr(ref)), cwd=trained)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"version": version, "same": True,
                                           "task": "classification", "flavor": "sklearn"}
        assert "warning" not in done.stderr  # skops, and our own model: no pickle warning


@pytest.mark.parametrize(("args", "message", "code"), [
    (("model", "register", "9:model", "--name", "churn"), "no run matches '9'", 2),
    (("model", "register", "1:nothing", "--name", "churn"), "run 1 has no model at 'nothing'",
     2),
    (("model", "register", "1:model", "--name", "no way"), "not a usable model name", 2),
    (("model", "show", "ghost"), "no registered model is named 'ghost'", 2),
    (("model", "show", "churn@5"), "model 'churn' has no version 5", 2),
    (("model", "show", "churn@canary"), "model 'churn' has no alias 'canary'", 2),
    (("model", "alias", "churn@4", "production"), "model 'churn' has no version 4", 2),
    (("model", "alias", "churn@1", "2"), "is not a usable alias", 2),
    (("model", "alias", "churn@1", "latest"), "'latest' always means the highest version", 2),
])
def test_mistakes_are_one_line_and_lose_nothing(trained: Path, args: tuple[str, ...],
                                                message: str, code: int) -> None:
    assert cairn_cli("model", "register", "1", "--name", "churn", cwd=trained).returncode == 0
    assert cairn_cli("model", "alias", "churn@1", "production", cwd=trained).returncode == 0
    done = cairn_cli(*args, cwd=trained)
    assert done.returncode == code, done.stdout + done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith("cairn: error: ") and message in first, done.stderr
    assert "Traceback" not in done.stderr
    [listed] = cli_json("model", "ls", cwd=trained)
    assert listed["versions"] == 1 and listed["aliases"] == {"production": 1}


def test_a_run_with_several_models_needs_a_path(workdir: Path) -> None:
    (workdir / "two.py").write_text(textwrap.dedent("""
        import cairn
        cairn.log_model(lambda rows: [0 for _ in rows], "a")
        cairn.log_model(lambda rows: [1 for _ in rows], "b")
    """))
    assert cairn_cli("run", "--", PYTHON, "two.py", cwd=workdir).returncode == 0
    done = cairn_cli("model", "register", "1", "--name", "m", cwd=workdir)
    assert done.returncode == 2
    assert "run 1 logged several models: a, b" in done.stderr
    assert "as 1:a" in done.stderr
    assert cairn_cli("model", "register", "1:b", "--name", "m", cwd=workdir).returncode == 0


def test_someone_elses_pickled_model_warns_before_loading(workdir: Path) -> None:
    (workdir / "fn.py").write_text(textwrap.dedent("""
        import cairn
        class Threshold:
            def predict(self, rows):
                return [int(r[0] > 1) for r in rows]
        cairn.log_model(Threshold(), "model", example=[[0.5], [2.0]])
    """))
    assert cairn_cli("run", "--", PYTHON, "fn.py", cwd=workdir).returncode == 0
    assert cairn_cli("model", "register", "1", "--name", "t", cwd=workdir).returncode == 0
    code = "import cairn; print(list(cairn.load_model('t@1').predict([[3.0], [0.0]])))"
    mine = run_python(code, cwd=workdir)
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.strip() == "[1, 0]" and "warning" not in mine.stderr
    theirs = run_python(code, cwd=workdir, env={"CAIRN_USER": "mallory"})
    assert theirs.returncode == 0, theirs.stderr
    assert "model t@1 is stored with pickle and comes from the user" in theirs.stderr
    assert "unpickling runs code" in theirs.stderr
    db = sqlite3.connect(workdir / ".cairn" / "cairn.db")
    with db:
        db.execute("""UPDATE runs SET record = json_set(record, '$.origin',
                   json('{"remote": "team", "url": "http://team.example", "number": 1}'))""")
    db.close()
    pulled = run_python(code, cwd=workdir)
    assert "comes from the remote team" in pulled.stderr


def test_export_writes_a_dockerfile_and_a_self_contained_context(trained: Path,
                                                                 tmp_path: Path) -> None:
    assert cairn_cli("model", "register", "1", "--name", "churn", cwd=trained).returncode == 0
    assert cairn_cli("model", "alias", "churn@1", "production", cwd=trained).returncode == 0
    dest = tmp_path / "deploy"
    done = cairn_cli("model", "export", "churn@production", "--dockerfile", str(dest),
                     cwd=trained)
    assert done.returncode == 0, done.stderr
    dockerfile = (dest / "Dockerfile").read_text()
    assert dockerfile.splitlines()[4].startswith("FROM python:3.")
    assert 'CMD ["cairn", "serve", "churn@1", "--host", "0.0.0.0", "--port", "8000"]' \
        in dockerfile
    assert "ENV CAIRN_DIR=/srv/project/.cairn" in dockerfile
    requirements = (dest / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("scikit-learn==") for line in requirements)
    assert (dest / "cairn" / "pyproject.toml").is_file()
    assert (dest / "cairn" / "src" / "cairn" / "models" / "registry.py").is_file()
    assert not list(dest.rglob("__pycache__"))
    # The context's own store serves the same model under the same number and alias.
    env = {"CAIRN_DIR": str(dest / "project" / ".cairn"), "CAIRN_PROJECT": "work"}
    inside = run_python(PREDICT.replace("sys.argv[1]", "'churn@production'"), cwd=dest,
                        env=env)
    assert inside.returncode == 0, inside.stderr
    assert json.loads(inside.stdout)["same"] is True
    assert json.loads(inside.stdout)["version"] == 1
    # Beyond localhost /feedback needs a token: the Dockerfile says how to make one inside.
    assert "docker exec CONTAINER cairn server token create ops" in dockerfile
    for step in (["user", "add", "ops", "--role", "writer"], ["token", "create", "ops"]):
        made = cairn_cli("server", *step, cwd=dest, env=env)
        assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("cairn_")
    again = cairn_cli("model", "export", "churn@1", "--dockerfile", str(dest), cwd=trained)
    assert again.returncode == 1 and "is not empty" in again.stderr
