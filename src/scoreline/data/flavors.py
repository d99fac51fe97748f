"""Model flavors: how a model file is recognised, verified, loaded and asked to predict.

Every flavor loads a format that cannot run code on load, and answers one question the same
way: for a batch of inputs, the values (regression) or the class probabilities
(classification). XGBoost (JSON/UBJ), LightGBM (its text model), CatBoost (``.cbm``) and
ONNX are plain formats; scikit-learn models come as skops files, loaded with an explicit
list of trusted types. The ``sagemaker`` flavor is a ``model.tar.gz`` served by its own
inference script, accepted only from the project's own training steps. A pickle is never
loaded, whatever its name. Flavors are pluggable by short name (:mod:`scoreline.plugins`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from scoreline import plugins
from scoreline.data.io import ColumnKind
from scoreline.errors import ArtifactError, first_line

ProblemType = Literal["regression", "binary", "multiclass"]
PROBLEM_TYPES: tuple[ProblemType, ...] = ("regression", "binary", "multiclass")


@dataclass(frozen=True)
class ModelInfo:
    """What scoring needs to know about a model, read off the model file (and completed by
    what the registry recorded)."""

    problem_type: ProblemType = "regression"
    classes: tuple[Any, ...] | None = None
    """Class labels of a classifier, in the order of its probability columns."""
    features: tuple[str, ...] | None = None
    """Input column names, where the model file names them."""
    takes_columns: bool = False
    """The model carries its own preprocessing and is given the raw input columns by name
    (a scikit-learn pipeline fitted on a data frame, an ONNX graph with one input per
    column) rather than a numeric matrix."""
    kinds: dict[str, ColumnKind] = field(default_factory=dict)
    """How to read each input column (numeric unless said otherwise)."""

    def to_dict(self) -> dict[str, Any]:
        """The part of a registered version's ``input_schema`` that describes the model."""
        return {
            "problemType": self.problem_type,
            "classes": list(self.classes) if self.classes is not None else None,
            "takesColumns": self.takes_columns,
        }

    def completed(self, schema: dict[str, Any]) -> ModelInfo:
        """This info with what the registry recorded filled in (classes a booster does not
        store, column kinds inferred from a sample)."""
        info = self
        classes = schema.get("classes")
        if classes and info.problem_type != "regression":
            info = replace(info, classes=tuple(classes))
        recorded = {
            f["name"]: f.get("type", "numeric")
            for f in schema.get("features", [])
            if isinstance(f, dict) and "name" in f
        }
        if info.takes_columns and recorded:
            kinds: dict[str, ColumnKind] = {
                n: "numeric" if recorded.get(n) == "numeric" else "string" for n in recorded
            }
            info = replace(info, kinds={**info.kinds, **kinds})
        return info


class Model(Protocol):
    """A loaded model."""

    flavor: str
    info: ModelInfo

    def predict(self, inputs: Any) -> np.ndarray:
        """Regression: one value per row (or a column per output); classification: one
        probability per class, in ``info.classes`` order. ``inputs`` is a float matrix, or
        a record batch of the raw columns when ``info.takes_columns``."""
        ...


class ModelFlavor(Protocol):
    flavor: str
    files: tuple[str, ...]
    """File names inside a model folder, the first being the one a registration writes."""
    suffixes: tuple[str, ...]
    """File name endings by which a file given on its own is recognised."""
    extra: str
    """The ``pip install 'scoreline[extra]'`` that brings the flavor's library."""

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> Model: ...


PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".sav", ".dill")


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def flavor_names() -> list[str]:
    """Every registered flavor, in the order a model folder is searched: built-ins first,
    ``sagemaker`` (an archive beside a project's own model file) last among them."""
    return list(plugins.targets("flavors"))


def flavor_class(flavor: str) -> type[ModelFlavor]:
    cls: type[ModelFlavor] = plugins.load("flavors", flavor, ArtifactError)
    return cls


def refuse_pickle(path: Path) -> None:
    """A pickle (by name or by content) is refused: loading one runs whatever it holds."""
    with path.open("rb") as handle:
        head = handle.read(2)
    if path.suffix.lower() in PICKLE_SUFFIXES or (
        len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    ):
        raise ArtifactError(
            "the model file is a pickle, which runs code when loaded; scoreline loads only "
            "formats that cannot",
            where=str(path),
            hint="save scikit-learn models with skops (skops.io.dump) or convert them to ONNX; "
            "save boosters in their own format (XGBoost .json/.ubj, LightGBM .txt, CatBoost "
            ".cbm)",
        )


def detect_flavor(path: Path) -> str:
    """The flavor of a model file given on its own, by its name and first bytes."""
    refuse_pickle(path)
    name = path.name.lower()
    for flavor in flavor_names():
        cls = flavor_class(flavor)
        if name in cls.files or name.endswith(cls.suffixes):
            return flavor
    if name.endswith(".txt"):
        with path.open("rb") as handle:
            if handle.read(5) == b"tree\n":
                return "lightgbm"
    known = ", ".join(s for n in flavor_names() for s in flavor_class(n).suffixes)
    raise ArtifactError(
        "cannot tell the model's flavor from its file name",
        where=str(path),
        hint=f"known endings: {known}; or name the flavor with --flavor",
    )


def model_file(folder: Path, flavor: str | None = None) -> tuple[str, Path]:
    """The flavor and model file inside ``folder`` (the flavor is detected when not given)."""
    for name in [flavor] if flavor else flavor_names():
        cls = flavor_class(name)
        for candidate in cls.files:
            if (folder / candidate).is_file():
                return name, folder / candidate
    expected = ", ".join(f for n in flavor_names() for f in flavor_class(n).files)
    raise ArtifactError(
        "no model file in the model folder",
        where=str(folder),
        hint=f"a training script must save one of: {expected} (pickle is not accepted)",
    )


def model_digest(folder: Path, flavor: str | None = None) -> str:
    """sha256 of the model file: what the registry records and checks on load."""
    return _file_digest(model_file(folder, flavor)[1])


def load_model(
    folder: Path,
    flavor: str | None = None,
    sha256: str | None = None,
    threads: int = 0,
    trusted: Sequence[str] = (),
) -> Model:
    """Load the model in ``folder`` (or the model file ``folder``), verifying its sha256 when
    one is expected; ``trusted`` lists the types a skops file may hold beyond skops' own."""
    name, path = (
        (flavor or detect_flavor(folder), folder)
        if folder.is_file()
        else model_file(folder, flavor)
    )
    refuse_pickle(path)
    if sha256 is not None:
        actual = _file_digest(path)
        if actual != sha256:
            raise ArtifactError(
                f"model file checksum mismatch: expected {sha256[:12]}…, found {actual[:12]}…",
                where=str(path),
                hint="the registered artifact was changed after registration; re-register it",
            )
    return flavor_class(name).load(path, threads or os.cpu_count() or 1, trusted)


@contextmanager
def _library(flavor: Any, path: Path) -> Iterator[None]:
    """Turns a missing library into an install hint and a load failure into one line."""
    try:
        yield
    except ImportError as exc:
        raise ArtifactError(
            f"the {flavor.flavor} flavor needs {exc.name or 'its library'}, which is not installed",
            where=str(path),
            hint=f"pip install 'scoreline[{flavor.extra}]'",
        ) from None
    except ArtifactError:
        raise
    except Exception as exc:
        first = first_line(exc)
        raise ArtifactError(
            f"not a valid {flavor.flavor} model ({first[:300]})", where=str(path)
        ) from None


def _two_columns(positive: np.ndarray) -> np.ndarray:
    """Probabilities of both classes from the positive class's."""
    positive = positive.reshape(-1).astype(np.float64, copy=False)
    return np.column_stack([1.0 - positive, positive])


def _classes(problem: ProblemType, count: int) -> tuple[Any, ...] | None:
    if problem == "regression":
        return None
    return tuple(range(2 if problem == "binary" else count))


class XGBoostModel:
    """XGBoost boosters saved as JSON or UBJ; predicts with ``inplace_predict``."""

    flavor = "xgboost"
    files = ("model.json", "model.ubj")
    suffixes = (".json", ".ubj")
    extra = "xgboost"

    def __init__(self, booster: Any, info: ModelInfo) -> None:
        self.booster = booster
        self.info = info

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> XGBoostModel:
        with _library(cls, path):
            import xgboost

            booster = xgboost.Booster(model_file=str(path))
            learner = json.loads(booster.save_config())["learner"]
        booster.set_param({"nthread": threads})
        objective = str(learner["objective"]["name"])
        if objective == "multi:softmax":
            raise ArtifactError(
                "an XGBoost multi:softmax model predicts labels only",
                where=str(path),
                hint="train with objective multi:softprob to score class probabilities",
            )
        problem: ProblemType = (
            "binary"
            if objective == "binary:logistic"
            else "multiclass"
            if objective == "multi:softprob"
            else "regression"
        )
        count = int(learner["learner_model_param"].get("num_class", "0") or 0)
        names = booster.feature_names
        return cls(
            booster,
            ModelInfo(problem, _classes(problem, count), tuple(names) if names else None),
        )

    def predict(self, inputs: Any) -> np.ndarray:
        result: np.ndarray = self.booster.inplace_predict(inputs, validate_features=False)
        return _two_columns(result) if self.info.problem_type == "binary" else result


class LightGBMModel:
    """LightGBM boosters saved in LightGBM's own text format (``Booster.save_model``)."""

    flavor = "lightgbm"
    files = ("model.lgb", "model.lgb.txt")
    suffixes = (".lgb", ".lgb.txt")
    extra = "lightgbm"

    def __init__(self, booster: Any, info: ModelInfo, threads: int) -> None:
        self.booster = booster
        self.info = info
        self.threads = threads

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> LightGBMModel:
        with _library(cls, path):
            import lightgbm

            booster = lightgbm.Booster(model_file=str(path))
            objective = str(booster.dump_model(num_iteration=0).get("objective", "")).split()
        kind = objective[0] if objective else "regression"
        problem: ProblemType = (
            "binary"
            if kind in ("binary", "cross_entropy")
            else "multiclass"
            if kind.startswith("multiclass")
            else "regression"
        )
        names = tuple(booster.feature_name())
        generic = all(n == f"Column_{k}" for k, n in enumerate(names))
        info = ModelInfo(
            problem,
            _classes(problem, booster.num_model_per_iteration()),
            None if generic else names,
        )
        return cls(booster, info, threads)

    def predict(self, inputs: Any) -> np.ndarray:
        result: np.ndarray = self.booster.predict(inputs, num_threads=self.threads)
        return _two_columns(result) if self.info.problem_type == "binary" else result


class CatBoostModel:
    """CatBoost models saved in CatBoost's binary format (``save_model``, ``.cbm``)."""

    flavor = "catboost"
    files = ("model.cbm",)
    suffixes = (".cbm",)
    extra = "catboost"

    def __init__(self, model: Any, info: ModelInfo, threads: int) -> None:
        self.model = model
        self.info = info
        self.threads = threads

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> CatBoostModel:
        with _library(cls, path):
            import catboost

            model = catboost.CatBoost()
            model.load_model(str(path), format="cbm")
            loss = str(model.get_all_params().get("loss_function", "RMSE"))
            categorical = set(model.get_cat_feature_indices())
            names = tuple(str(n) for n in model.feature_names_)
        problem: ProblemType = (
            "binary"
            if loss in ("Logloss", "CrossEntropy")
            else "multiclass"
            if loss.startswith("MultiClass")
            else "regression"
        )
        labels = getattr(model, "classes_", None)
        classes = (
            tuple(v.item() if hasattr(v, "item") else v for v in labels)
            if problem != "regression" and labels is not None and len(labels)
            else _classes(problem, 0)
        )
        generic = all(n == str(k) for k, n in enumerate(names))
        kinds: dict[str, ColumnKind] = {
            n: "string" if k in categorical else "numeric" for k, n in enumerate(names)
        }
        info = ModelInfo(
            problem,
            classes,
            None if generic else names,
            takes_columns=bool(categorical),
            kinds=kinds if categorical else {},
        )
        return cls(model, info, threads)

    def predict(self, inputs: Any) -> np.ndarray:
        if self.info.takes_columns:
            inputs = inputs.to_pandas()
        kind = "RawFormulaVal" if self.info.problem_type == "regression" else "Probability"
        result: np.ndarray = self.model.predict(
            inputs, prediction_type=kind, thread_count=self.threads
        )
        return result


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(string)": np.object_,
    "tensor(bool)": np.bool_,
}


class ONNXModel:
    """ONNX graphs (a converted scikit-learn pipeline, an exported network), run by
    onnxruntime. One 2-D input is fed the feature matrix; one input per column (as
    skl2onnx writes for a pipeline with its own preprocessing) is fed the raw columns. A
    second output of class probabilities (a tensor, or skl2onnx's ZipMap) makes it a
    classifier."""

    flavor = "onnx"
    files = ("model.onnx",)
    suffixes = (".onnx",)
    extra = "onnx"

    def __init__(self, session: Any, info: ModelInfo) -> None:
        self.session = session
        self.info = info
        self.inputs = session.get_inputs()
        self.output = session.get_outputs()[-1 if info.problem_type != "regression" else 0].name

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> ONNXModel:
        with _library(cls, path):
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.log_severity_level = 3
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            labels = _onnx_class_labels(path)
        inputs, outputs = session.get_inputs(), session.get_outputs()
        for item in inputs:
            if item.type not in _ONNX_DTYPES:
                raise ArtifactError(
                    f"ONNX input '{item.name}' has type {item.type}, which scoreline cannot feed",
                    where=str(path),
                    hint=f"inputs may be {', '.join(_ONNX_DTYPES)}",
                )
        classifier = len(outputs) >= 2 and (
            outputs[-1].type.startswith("seq(map(") or len(outputs[-1].shape or []) == 2
        )
        problem: ProblemType = "regression"
        classes: tuple[Any, ...] | None = None
        if classifier:
            width = (outputs[-1].shape or [None, None])[-1]
            count = len(labels) if labels else width if isinstance(width, int) else 0
            problem = "binary" if count == 2 else "multiclass"
            classes = tuple(labels) if labels else _classes(problem, count)
        by_column = len(inputs) > 1 or (len(inputs[0].shape or []) == 2 and inputs[0].shape[1] == 1)
        kinds: dict[str, ColumnKind] = {
            i.name: "string" if i.type == "tensor(string)" else "numeric" for i in inputs
        }
        info = ModelInfo(
            problem,
            classes,
            tuple(i.name for i in inputs) if by_column else None,
            takes_columns=by_column,
            kinds=kinds if by_column else {},
        )
        return cls(session, info)

    def predict(self, inputs: Any) -> np.ndarray:
        if self.info.takes_columns:
            feed = {
                i.name: _onnx_column(inputs.column(i.name), _ONNX_DTYPES[i.type])
                for i in self.inputs
            }
        else:
            item = self.inputs[0]
            feed = {item.name: np.ascontiguousarray(inputs, dtype=_ONNX_DTYPES[item.type])}
        (result,) = self.session.run([self.output], feed)
        if isinstance(result, list):  # ZipMap: one {class: probability} per row
            classes = self.info.classes or ()
            return np.array([[row[c] for c in classes] for row in result], dtype=np.float64)
        values = np.asarray(result)
        if self.info.problem_type == "regression" and values.ndim == 2 and values.shape[1] == 1:
            return values.reshape(-1)
        return values


def _onnx_column(column: Any, dtype: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(pa.string())
    if dtype is np.object_:
        column = pc.fill_null(column.cast(pa.string()), "")
    values = column.to_numpy(zero_copy_only=False)
    shaped: np.ndarray = values.astype(dtype, copy=False).reshape(-1, 1)
    return shaped


def _onnx_class_labels(path: Path) -> list[Any]:
    """Class labels a converted classifier stores in its nodes (``classlabels_*``)."""
    try:
        import onnx
    except ImportError:
        return []
    graph = onnx.load(str(path), load_external_data=False).graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.name == "classlabels_ints" and attribute.ints:
                return [int(v) for v in attribute.ints]
            if attribute.name == "classlabels_strings" and attribute.strings:
                return [v.decode() for v in attribute.strings]
    return []


_CATEGORICAL_ENCODERS = ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder")


class SklearnModel:
    """scikit-learn estimators and pipelines saved with skops (``skops.io.dump``). Types
    outside skops' trusted defaults are loaded only when listed in ``trusted`` (what the
    registry recorded when the version was registered)."""

    flavor = "sklearn"
    files = ("model.skops",)
    suffixes = (".skops",)
    extra = "sklearn"
    untrusted_hint: ClassVar[str] = "if you trust them, register with --trust TYPE for each"

    def __init__(self, estimator: Any, info: ModelInfo, threads: int) -> None:
        from threadpoolctl import ThreadpoolController

        self.estimator = estimator
        self.info = info
        self.threads = threads
        self.pools = ThreadpoolController()  # finding the libraries once, not per chunk

    @classmethod
    def untrusted_types(cls, path: Path) -> list[str]:
        """Types in the file beyond skops' trusted defaults."""
        with _library(cls, path):
            import skops.io

            return sorted(skops.io.get_untrusted_types(file=path))

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> SklearnModel:
        untrusted = cls.untrusted_types(path)
        refused = [t for t in untrusted if t not in trusted]
        if refused:
            raise ArtifactError(
                f"the skops file holds types that are not trusted: {', '.join(refused)}",
                where=str(path),
                hint=cls.untrusted_hint,
            )
        with _library(cls, path):
            import skops.io

            estimator = skops.io.load(path, trusted=untrusted or None)
        if not hasattr(estimator, "predict"):
            raise ArtifactError(
                f"the skops file holds a {type(estimator).__name__}, which cannot predict",
                where=str(path),
            )
        classes: Any = getattr(estimator, "classes_", None)
        classifier = classes is not None and hasattr(estimator, "predict_proba")
        problem: ProblemType = (
            "regression" if not classifier else "binary" if len(classes) == 2 else "multiclass"
        )
        names = getattr(estimator, "feature_names_in_", None)
        info = ModelInfo(
            problem,
            tuple(v.item() if hasattr(v, "item") else v for v in classes) if classifier else None,
            tuple(str(n) for n in names) if names is not None else None,
            takes_columns=names is not None,
            kinds=_sklearn_kinds(estimator) if names is not None else {},
        )
        return cls(estimator, info, threads)

    def predict(self, inputs: Any) -> np.ndarray:
        if self.info.takes_columns:
            inputs = inputs.to_pandas()
        with self.pools.limit(limits=self.threads):
            if self.info.problem_type == "regression":
                result: np.ndarray = self.estimator.predict(inputs)
            else:
                result = self.estimator.predict_proba(inputs)
        return result


def _sklearn_kinds(estimator: Any) -> dict[str, ColumnKind]:
    """Columns a fitted ColumnTransformer inside the estimator sends to a categorical
    encoder are read as strings; the rest as numbers."""
    kinds: dict[str, ColumnKind] = {}
    stack = [estimator]
    while stack:
        item = stack.pop()
        stack.extend(step for _, step in getattr(item, "steps", []))
        for _, transformer, columns in getattr(item, "transformers_", []):
            last = transformer.steps[-1][1] if hasattr(transformer, "steps") else transformer
            if type(last).__name__ in _CATEGORICAL_ENCODERS and isinstance(columns, list | tuple):
                kinds.update({str(c): "string" for c in columns})
    return kinds


class SageMakerModel:
    """A SageMaker-style ``model.tar.gz``; its inference script loads and serves it."""

    flavor = "sagemaker"
    files = ("model.tar.gz",)
    suffixes = (".tar.gz",)
    extra = "sagemaker"

    @classmethod
    def load(cls, path: Path, threads: int, trusted: Sequence[str] = ()) -> Model:
        raise ArtifactError(
            "a sagemaker-flavor model is served by its inference script",
            where=str(path),
            hint="give the batch_transform step an entry_point (the script with model_fn)",
        )
