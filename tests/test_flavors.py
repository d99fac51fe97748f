"""The contract every model flavor keeps, each checked against its own library: load and
verify, read the input schema off the model, predict on streamed chunks exactly as the
library predicts in memory (row order kept), and answer a bad or unsafe file with one line.

Scoring runs the batch transform step's own runner, in this process."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoreline.data.flavors import detect_flavor, load_model
from scoreline.errors import ArtifactError, DataError, ScorelineError
from scoreline.runners import batch_transform
from tests.models import FLAVORS, PROBLEMS, TOLERANCE, Trained, frame, train


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame()


@pytest.fixture(scope="module")
def models(data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Trained]:
    root = tmp_path_factory.mktemp("models")
    return {
        f"{flavor}-{problem}": train(flavor, problem, data, root / f"{flavor}-{problem}")
        for flavor in FLAVORS
        for problem in PROBLEMS
    }


def score(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: Path,
    rows: pd.DataFrame,
    **config: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run the batch transform runner on ``rows`` written as CSV with a header."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    rows.to_csv(inputs / "batch.csv", index=False)
    out = tmp_path / "out"
    monkeypatch.setenv("SCORELINE_INPUT_DATA", str(inputs))
    monkeypatch.setenv("SCORELINE_INPUT_MODEL", str(model.parent))
    monkeypatch.setenv("SCORELINE_OUTPUT_PREDICTIONS", str(out))
    monkeypatch.delenv("SCORELINE_INPUT_PREPROCESSING", raising=False)
    metadata = batch_transform.main({"header": True, "threads": 1, **config})
    return pd.read_csv(out / "batch.csv", keep_default_na=False), metadata


def _probability_columns(trained: Trained) -> list[str]:
    assert trained.classes is not None
    return [f"proba_{c}" for c in trained.classes]


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("flavor", FLAVORS)
def test_scores_streamed_chunks_as_the_library_predicts(
    flavor: str,
    problem: str,
    models: dict[str, Trained],
    data: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained = models[f"{flavor}-{problem}"]
    shuffled = data.sample(frac=1.0, random_state=3)  # row order must be the input's
    rows = shuffled[["id", *trained.inputs]]
    out, metadata = score(tmp_path, monkeypatch, trained.path, rows, id_column="id")
    assert metadata["modelFlavor"] == flavor
    assert metadata["problemType"] == problem
    assert metadata["rows"] == len(data)
    assert out["id"].tolist() == shuffled["id"].tolist()
    expected = trained.expected[shuffled.index.to_numpy()]
    tolerance = TOLERANCE.get(flavor, 1e-6)
    if problem == "regression":
        assert list(out.columns) == ["id", "prediction"]
        np.testing.assert_allclose(out["prediction"], expected, rtol=0, atol=tolerance)
        return
    columns = _probability_columns(trained)
    assert list(out.columns) == ["id", "prediction", *columns]
    np.testing.assert_allclose(out[columns].to_numpy(), expected, rtol=0, atol=tolerance)
    labels = np.asarray(trained.classes, dtype=object)[expected.argmax(axis=1)]
    assert out["prediction"].astype(str).tolist() == [str(v) for v in labels]


def test_a_binary_threshold_and_output_columns_are_the_steps_choice(
    models: dict[str, Trained],
    data: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained = models["sklearn-binary"]
    out, _ = score(
        tmp_path,
        monkeypatch,
        trained.path,
        data[trained.inputs],
        threshold=0.8,
        outputs=["prediction"],
    )
    assert list(out.columns) == ["prediction"]
    positive = trained.expected[:, 1] >= 0.8
    assert out["prediction"].tolist() == np.where(positive, "yes", "no").tolist()
    assert 0 < positive.sum() < (trained.expected[:, 1] >= 0.5).sum()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_model_file_tells_its_inputs_and_classes(
    flavor: str, models: dict[str, Trained]
) -> None:
    trained = models[f"{flavor}-multiclass"]
    model = load_model(trained.path.parent, threads=1)
    assert model.info.problem_type == "multiclass"
    assert list(model.info.classes or ()) == trained.classes
    assert list(model.info.features or ()) == trained.inputs
    assert detect_flavor(trained.path) == flavor


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_changed_file_is_refused_by_its_checksum(
    flavor: str, models: dict[str, Trained], tmp_path: Path
) -> None:
    trained = models[f"{flavor}-regression"]
    with pytest.raises(ArtifactError, match="checksum mismatch") as caught:
        load_model(trained.path.parent, sha256="0" * 64, threads=1)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_file_that_is_not_a_model_is_one_line(
    flavor: str, models: dict[str, Trained], tmp_path: Path
) -> None:
    broken = tmp_path / models[f"{flavor}-regression"].path.name
    broken.write_bytes(b"\x00garbage, not a model\n" * 10)
    with pytest.raises(ArtifactError, match=f"not a valid {flavor} model") as caught:
        load_model(tmp_path, threads=1)
    assert "\n" not in str(caught.value)
    assert str(broken) in str(caught.value)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_pickle_is_refused_under_every_flavors_name(
    flavor: str, models: dict[str, Trained], tmp_path: Path
) -> None:
    disguised = tmp_path / models[f"{flavor}-regression"].path.name
    disguised.write_bytes(pickle.dumps({"model": "anything"}))
    with pytest.raises(ArtifactError, match="is a pickle"):
        load_model(tmp_path, threads=1)
    plain = tmp_path / "model.pkl"
    plain.write_bytes(b"not even a pickle")
    with pytest.raises(ArtifactError, match="is a pickle"):
        detect_flavor(plain)


def test_a_missing_input_column_is_one_line(
    models: dict[str, Trained],
    data: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trained = models["sklearn-binary"]
    with pytest.raises(DataError, match="column 'f3' is missing from the header"):
        score(tmp_path, monkeypatch, trained.path, data[["f0", "f1", "f2", "f4", "plan"]])


class Doubler:
    """A user's own transformer: a type skops does not trust by default."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return x * 2


def test_a_skops_type_outside_the_trusted_list_is_refused_by_name(tmp_path: Path) -> None:
    import skops.io
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    rows = np.random.default_rng(0).normal(size=(50, 3))
    model = make_pipeline(Doubler(), Ridge()).fit(rows, rows.sum(axis=1))
    skops.io.dump(model, tmp_path / "model.skops")
    name = f"{Doubler.__module__}.Doubler"
    with pytest.raises(ArtifactError, match=f"not trusted: {name}") as caught:
        load_model(tmp_path, threads=1)
    assert "--trust" in str(caught.value)
    loaded = load_model(tmp_path, threads=1, trusted=[name])
    np.testing.assert_allclose(loaded.predict(rows), model.predict(rows), rtol=0, atol=1e-12)


def test_an_unknown_flavor_lists_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ScorelineError, match=r"unknown flavor 'h2o'.*catboost, lightgbm"):
        load_model(tmp_path, flavor="h2o")


def test_a_project_model_beside_its_sagemaker_archive_is_scored_natively(
    models: dict[str, Trained], tmp_path: Path
) -> None:
    """A training step writes model.json and, for SageMaker-style scripts, model.tar.gz."""
    (tmp_path / "model.json").write_bytes(models["xgboost-regression"].path.read_bytes())
    (tmp_path / "model.tar.gz").write_bytes(b"an archive")
    assert load_model(tmp_path, threads=1).flavor == "xgboost"


THREADS = {  # where each library keeps the thread count it was given
    "xgboost": lambda m: int(
        json.loads(m.booster.save_config())["learner"]["generic_param"]["nthread"]
    ),
    "lightgbm": lambda m: m.threads,
    "catboost": lambda m: m.threads,
    "onnx": lambda m: m.session.get_session_options().intra_op_num_threads,
    "sklearn": lambda m: m.threads,
}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_model_predicts_with_the_threads_it_is_given(
    flavor: str, models: dict[str, Trained]
) -> None:
    for threads in (1, 3):
        model = load_model(models[f"{flavor}-binary"].path.parent, threads=threads)
        assert THREADS[flavor](model) == threads


def test_a_sagemaker_archive_entry_outside_its_folder_is_refused(tmp_path: Path) -> None:
    import io
    import tarfile

    from scoreline.model_import import sagemaker_source

    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        entry = tarfile.TarInfo("../escaped.json")
        entry.size = 2
        tar.addfile(entry, io.BytesIO(b"{}"))
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    with pytest.raises(ArtifactError, match=r"unsafe entry '\.\./escaped\.json'"):
        sagemaker_source(archive, None, unpacked)
    assert not (tmp_path / "escaped.json").exists()
