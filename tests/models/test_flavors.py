"""Each flavor: saved to a model folder, loaded back, predicting exactly as the original did."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cairn.errors import InvalidInput
from cairn.models.flavors.base import detect_flavor
from cairn.models.loading import load_model_dir
from cairn.models.packaging import META_FILE, save_model_dir
from tests.conftest import run_python


class Doubler:
    """A plain object with predict: the generic flavor."""

    def predict(self, rows: Any) -> Any:
        return np.asarray(rows, dtype=float).sum(axis=1) * 2


def saved(model: Any, tmp_path: Path, **kwargs: Any) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path / "model"
    meta = save_model_dir(model, folder, **kwargs)
    assert json.loads((folder / META_FILE).read_text()) == meta
    return folder, meta


def test_sklearn_pipeline_is_stored_with_skops(tmp_path: Path, iris: tuple[Any, Any],
                                               iris_pipeline: Any) -> None:
    X, _y = iris
    folder, meta = saved(iris_pipeline, tmp_path, example=X.head(5), profile_data=X)
    assert meta["flavor"] == "sklearn"
    assert meta["flavor_info"]["format"] == "skops" and not meta["pickle"]
    assert (folder / "model.skops").is_file() and not (folder / "model.pkl").exists()
    assert meta["task"] == "classification"
    assert {"scikit-learn", "numpy", "scipy", "skops", "pandas"} <= set(meta["requirements"])
    assert meta["python"].count(".") == 2 and meta["created_at"] > 0
    loaded = load_model_dir(folder)
    assert loaded.task == "classification" and loaded.classes_ == [0, 1, 2]
    np.testing.assert_array_equal(loaded.predict(X), iris_pipeline.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), iris_pipeline.predict_proba(X))
    assert loaded.profile is not None and loaded.profile["rows"] == 150
    assert loaded.example[0] == X.iloc[0].to_dict()
    records = X.head(3).to_dict(orient="records")  # what a JSON request carries
    np.testing.assert_array_equal(loaded.predict(records), iris_pipeline.predict(X.head(3)))


def test_sklearn_logistic_regression_on_arrays(tmp_path: Path, iris: tuple[Any, Any]) -> None:
    from sklearn.linear_model import LogisticRegression

    X = iris[0].to_numpy()
    y = iris[1].to_numpy()
    model = LogisticRegression(max_iter=500).fit(X, y)
    folder, meta = saved(model, tmp_path, example=X[:5])
    assert meta["signature"] == {"type": "tensor", "shape": [-1, 4], "dtype": "float64"}
    loaded = load_model_dir(folder)
    np.testing.assert_array_equal(loaded.predict(X.tolist()), model.predict(X))
    assert isinstance(loaded.native, LogisticRegression)


def test_a_regressor_is_a_regression_task_without_probabilities(tmp_path: Path,
                                                                 iris: tuple[Any, Any]) -> None:
    from sklearn.linear_model import Ridge

    X, _ = iris
    model = Ridge().fit(X.drop(columns="petal_width"), X["petal_width"])
    folder, _meta = saved(model, tmp_path, example=X.drop(columns="petal_width").head())
    loaded = load_model_dir(folder)
    assert loaded.task == "regression"
    assert not hasattr(loaded, "predict_proba") and not hasattr(loaded, "classes_")


class Shift:
    """A custom transformer: skops would not load it without trust, so pickle is used."""

    def fit(self, X: Any, y: Any = None) -> Shift:
        return self

    def transform(self, X: Any) -> Any:
        return np.asarray(X) + 1.0


def test_custom_sklearn_types_fall_back_to_pickle_with_the_reason(
        tmp_path: Path, iris: tuple[Any, Any]) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, y = iris[0].to_numpy(), iris[1].to_numpy()
    model = make_pipeline(Shift(), LogisticRegression(max_iter=500)).fit(X, y)
    folder, meta = saved(model, tmp_path)
    assert meta["pickle"] and meta["flavor_info"]["format"] in ("cloudpickle", "pickle")
    assert "Shift" in meta["flavor_info"]["pickle_reason"]
    np.testing.assert_array_equal(load_model_dir(folder).predict(X), model.predict(X))


def test_pyfunc_objects_and_plain_functions(tmp_path: Path) -> None:
    folder, meta = saved(Doubler(), tmp_path / "a", example=[[1.0, 2.0]])
    assert meta["flavor"] == "pyfunc" and meta["pickle"]
    assert load_model_dir(folder).predict([[1, 2], [3, 4]]).tolist() == [6.0, 14.0]

    def negate(rows: Any) -> Any:
        return [-sum(r) for r in rows]

    folder, meta = saved(negate, tmp_path / "b")
    assert meta["flavor_info"]["call"] == "call" and meta["signature"] is None
    assert load_model_dir(folder).predict([[1, 2]]) == [-3]


def test_pyfunc_defined_in_a_script_loads_in_another_process(tmp_path: Path) -> None:
    done = run_python(textwrap.dedent(f"""
        from pathlib import Path
        from cairn.models.packaging import save_model_dir
        class Scaler:
            def predict(self, rows):
                return [r[0] * 10 for r in rows]
        save_model_dir(Scaler(), Path({str(tmp_path / 'm')!r}), example=[[1.0]])
    """), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    loaded = run_python(
        f"from cairn.models.loading import load_model_dir\n"
        f"print([float(v) for v in load_model_dir({str(tmp_path / 'm')!r}).predict([[2.5]])])",
        cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[25.0]"


def test_detection_reads_module_names_without_importing_libraries(tmp_path: Path) -> None:
    done = run_python(textwrap.dedent("""
        import sys
        for name in ("xgboost", "lightgbm", "torch", "onnx", "sklearn"):
            sys.modules[name] = None  # any import of these now fails
        from cairn.models.flavors.base import detect_flavor
        found = []
        for module in ("xgboost.sklearn", "lightgbm.sklearn", "torch.nn.modules.linear",
                       "onnx.onnx_ml_pb2", "sklearn.linear_model._base"):
            cls = type("M", (), {"__module__": module, "predict": lambda self, x: x})
            found.append(detect_flavor(cls()))
        print(" ".join(found))
    """), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["xgboost", "lightgbm", "torch", "onnx", "sklearn"]


def test_objects_that_are_not_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no predict method and is not callable"):
        detect_flavor({"weights": [1, 2]})
    with pytest.raises(InvalidInput, match="unknown model flavor 'keras'"):
        save_model_dir(Doubler(), tmp_path / "m", flavor="keras")


# -- optional libraries: tested where installed ---------------------------------------------
def test_torch_module_as_torchscript(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    folder, meta = saved(net, tmp_path, example=X[:2])
    assert meta["flavor"] == "torch" and meta["flavor_info"]["format"] == "torchscript"
    assert not meta["pickle"] and "torch" in meta["requirements"]
    loaded = load_model_dir(folder)
    with torch.no_grad():
        expected = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(loaded.predict(X.tolist()), expected, rtol=1e-5)


def test_torch_state_dict_with_an_importable_class(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    (tmp_path / "netdef.py").write_text(textwrap.dedent("""
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(3, 1)

            def forward(self, x, *extra):  # *extra defeats TorchScript
                return self.layer(x)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import netdef

    net = netdef.Net()
    folder, meta = saved(net, tmp_path / "out")
    assert meta["flavor_info"]["format"] == "state_dict"
    assert meta["flavor_info"]["loader"] == "netdef:Net"
    X = np.ones((2, 3), dtype=np.float32)
    with torch.no_grad():
        expected = net(torch.as_tensor(X)).numpy()
    np.testing.assert_allclose(load_model_dir(folder).predict(X), expected)


def test_xgboost_classifier_and_booster(tmp_path: Path, iris: tuple[Any, Any]) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, y = iris
    clf = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    folder, meta = saved(clf, tmp_path / "clf", example=X.head())
    assert meta["flavor"] == "xgboost" and meta["flavor_info"]["api"] == "sklearn"
    loaded = load_model_dir(folder)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    assert loaded.task == "classification"

    binary = (y == 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2},
                            xgboost.DMatrix(X, label=binary), num_boost_round=5)
    folder, meta = saved(booster, tmp_path / "booster", example=X.head())
    assert meta["flavor_info"]["api"] == "booster" and meta["task"] == "classification"
    loaded = load_model_dir(folder)
    p = booster.predict(xgboost.DMatrix(X))
    np.testing.assert_array_equal(loaded.predict(X), (p >= 0.5).astype(int))
    np.testing.assert_allclose(loaded.predict_proba(X)[:, 1], p)


def test_lightgbm_classifier(tmp_path: Path, iris: tuple[Any, Any]) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    X, y = iris
    clf = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y)
    folder, meta = saved(clf, tmp_path, example=X.head())
    assert meta["flavor"] == "lightgbm" and meta["task"] == "classification"
    loaded = load_model_dir(folder)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
    assert loaded.classes_ == [0, 1, 2]


def test_onnx_model_runs_with_onnxruntime(tmp_path: Path, iris: tuple[Any, Any]) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    X = iris[0].to_numpy().astype(np.float32)
    model = LogisticRegression(max_iter=500).fit(X, iris[1])
    proto = skl2onnx.to_onnx(model, X[:1])  # zipmap on: probabilities as {class: p} maps
    folder, meta = saved(proto, tmp_path, example=X[:5])
    assert meta["flavor"] == "onnx" and meta["flavor_info"]["inputs"] == ["X"]
    loaded = load_model_dir(folder)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-5)


def test_a_flavor_whose_library_is_missing_says_what_to_install(
        tmp_path: Path, iris: tuple[Any, Any]) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, y = iris
    folder, _ = saved(xgboost.XGBClassifier(n_estimators=2).fit(X, y), tmp_path)
    done = run_python(textwrap.dedent(f"""
        import sys
        sys.modules["xgboost"] = None  # as if it were not installed
        from cairn.errors import MissingExtra
        from cairn.models.loading import load_model_dir
        try:
            load_model_dir({str(folder)!r})
        except MissingExtra as exc:
            print(exc.message)
            print(exc.hint)
    """), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "this needs the Python package 'xgboost', which is not installed",
        "pip install 'cairn[xgboost]'",
    ]
    assert "xgboost" not in sys.modules or sys.modules["xgboost"] is not None
