"""Models of every flavor, trained here by their own libraries, with those libraries' own
predictions as the oracle the scored outputs are compared with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURES = ["f0", "f1", "f2", "f3", "f4"]
PROBLEMS = ("regression", "binary", "multiclass")
FLAVORS = ("xgboost", "lightgbm", "catboost", "onnx", "sklearn")
TOLERANCE = {"onnx": 1e-4}
"""ONNX graphs compute in float32; every other flavor must match to 1e-6."""


def frame(rows: int = 12_000, seed: int = 7) -> pd.DataFrame:
    """Numeric features, a categorical ``plan``, an ``id``, and a target per problem type."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    data["plan"] = rng.choice(["basic", "plus", "pro"], size=rows)
    score = data["f0"] + 0.5 * data["f1"] - data["f2"] + (data["plan"] == "pro") * 0.8
    data["regression"] = score + rng.normal(scale=0.3, size=rows)
    data["binary"] = np.where(score + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    data["multiclass"] = np.digitize(score, [-0.7, 0.7])
    data.insert(0, "id", np.arange(rows) * 3 + 1)
    return data


@dataclass
class Trained:
    """A model file and what its library itself predicts for the rows of ``frame``."""

    path: Path
    expected: np.ndarray
    """Values (regression) or class probabilities, one row per input row."""
    classes: list[Any] | None
    inputs: list[str]


def train(flavor: str, problem: str, data: pd.DataFrame, folder: Path, rounds: int = 20) -> Trained:
    """Fit a model of ``flavor`` for ``problem`` (``rounds`` trees for the boosters) and
    save it in the flavor's format."""
    folder.mkdir(parents=True, exist_ok=True)
    return _TRAINERS[flavor](problem, data, folder, rounds)


def _target(problem: str, data: pd.DataFrame) -> Any:
    if problem == "binary":  # boosters take numbers; "yes" is the positive class
        return (data["binary"] == "yes").astype(int)
    return data[problem]


def _oracle(model: Any, problem: str, rows: Any) -> np.ndarray:
    if problem == "regression":
        return np.asarray(model.predict(rows), dtype=np.float64)
    return np.asarray(model.predict_proba(rows), dtype=np.float64)


def _xgboost(problem: str, data: pd.DataFrame, folder: Path, rounds: int) -> Trained:
    import xgboost

    kind = xgboost.XGBRegressor if problem == "regression" else xgboost.XGBClassifier
    model = kind(n_estimators=rounds, max_depth=3, n_jobs=1, random_state=0)
    model.fit(data[FEATURES], _target(problem, data))
    path = folder / "model.json"
    model.get_booster().save_model(path)
    return Trained(path, _oracle(model, problem, data[FEATURES]), _classes(problem), FEATURES)


def _lightgbm(problem: str, data: pd.DataFrame, folder: Path, rounds: int) -> Trained:
    import lightgbm

    kind = lightgbm.LGBMRegressor if problem == "regression" else lightgbm.LGBMClassifier
    model = kind(n_estimators=rounds, num_leaves=8, n_jobs=1, random_state=0, verbose=-1)
    model.fit(data[FEATURES], _target(problem, data))
    path = folder / "model.lgb"
    model.booster_.save_model(path)
    return Trained(path, _oracle(model, problem, data[FEATURES]), _classes(problem), FEATURES)


def _catboost(problem: str, data: pd.DataFrame, folder: Path, rounds: int) -> Trained:
    import catboost

    kind = catboost.CatBoostRegressor if problem == "regression" else catboost.CatBoostClassifier
    model = kind(
        iterations=rounds, depth=3, thread_count=1, random_seed=0, verbose=False,
        allow_writing_files=False,  # no catboost_info/ in the working folder
    )  # fmt: skip
    columns = [*FEATURES, "plan"]
    model.fit(data[columns], data[problem], cat_features=["plan"])
    path = folder / "model.cbm"
    model.save_model(str(path))
    classes = None if problem == "regression" else list(model.classes_)
    return Trained(path, _oracle(model, problem, data[columns]), classes, columns)


def _sklearn_pipeline(problem: str) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = ColumnTransformer(
        [("num", StandardScaler(), FEATURES), ("cat", OneHotEncoder(), ["plan"])]
    )
    last = Ridge() if problem == "regression" else LogisticRegression(max_iter=500)
    return Pipeline([("encode", encode), ("model", last)])


def _sklearn(problem: str, data: pd.DataFrame, folder: Path, rounds: int) -> Trained:
    import skops.io

    columns = [*FEATURES, "plan"]
    model = _sklearn_pipeline(problem).fit(data[columns], data[problem])
    path = folder / "model.skops"
    skops.io.dump(model, path)
    classes = (
        None
        if problem == "regression"
        else [c.item() if hasattr(c, "item") else c for c in model.classes_]
    )
    return Trained(path, _oracle(model, problem, data[columns]), classes, columns)


def _onnx(problem: str, data: pd.DataFrame, folder: Path, rounds: int) -> Trained:
    """A scikit-learn pipeline converted by skl2onnx: one graph input per column, its own
    scaling and one-hot encoding inside the graph."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    columns = [*FEATURES, "plan"]
    target = _target(problem, data)
    model = _sklearn_pipeline(problem).fit(data[columns], target)
    types = [(c, FloatTensorType([None, 1])) for c in FEATURES]
    types.append(("plan", StringTensorType([None, 1])))
    options = {id(model): {"zipmap": False}} if problem != "regression" else None
    graph = to_onnx(model, initial_types=types, options=options, target_opset=17)
    path = folder / "model.onnx"
    path.write_bytes(graph.SerializeToString())
    return Trained(path, _oracle(model, problem, data[columns]), _classes(problem), columns)


def _classes(problem: str) -> list[Any] | None:
    return {"regression": None, "binary": [0, 1], "multiclass": [0, 1, 2]}[problem]


_TRAINERS: dict[str, Callable[[str, pd.DataFrame, Path, int], Trained]] = {
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "catboost": _catboost,
    "onnx": _onnx,
    "sklearn": _sklearn,
}
