"""Bring your own model, through the real command line: a model of each flavor trained
here is registered with ``models register``, scored with ``models predict`` and by an
inference pipeline that checks the data against the baseline registered from a sample, and
every prediction equals the model library's own."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ProjectDir, out, param
from tests.models import FLAVORS, TOLERANCE, Trained, frame, train

pytestmark = pytest.mark.slow

CLASSIFIER = {"xgboost": "binary", "lightgbm": "multiclass", "catboost": "binary",
              "onnx": "multiclass", "sklearn": "binary"}  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectDir, pd.DataFrame, Path]:
    project = ProjectDir(tmp_path_factory.mktemp("byo") / "project")
    data = frame(rows=2_000)
    models = tmp_path_factory.mktemp("trained")
    project.pipeline(
        {
            "name": "Inference",
            "parameters": [
                {"name": "Group", "type": "String"},
                {"name": "ModelVersion", "type": "String", "default": ""},
                {"name": "InputData", "type": "String"},
            ],
            "steps": [
                {
                    "name": "Resolve",
                    "kind": "resolve_model",
                    "model_package_group_name": param("Group"),
                    "version": param("ModelVersion"),
                },
                {
                    "name": "DataQuality",
                    "kind": "quality_check",
                    "check_type": "data_quality",
                    "dataset": param("InputData"),
                    "header": True,
                    "baseline_statistics": out("Resolve", "statistics"),
                    "baseline_constraints": out("Resolve", "constraints"),
                },
                {
                    "name": "Score",
                    "kind": "batch_transform",
                    "data": param("InputData"),
                    "model": out("Resolve", "model"),
                    "preprocessing": out("Resolve", "preprocessing"),
                    "header": True,
                    "depends_on": ["DataQuality"],
                },
            ],
        }
    )
    return project, data, models


def _check(result: pd.DataFrame, trained: Trained, order: pd.DataFrame, flavor: str) -> None:
    assert result["id"].tolist() == order["id"].tolist()
    expected = trained.expected[order.index.to_numpy()]
    tolerance = TOLERANCE.get(flavor, 1e-6)
    if trained.classes is None:
        np.testing.assert_allclose(result["prediction"], expected, rtol=0, atol=tolerance)
        return
    columns = [f"proba_{c}" for c in trained.classes]
    np.testing.assert_allclose(result[columns].to_numpy(), expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_model_of_each_flavor_is_registered_and_scored_like_its_library(
    flavor: str, world: tuple[ProjectDir, pd.DataFrame, Path]
) -> None:
    project, data, models = world
    order = data.sample(frac=1.0, random_state=5)
    for problem in ("regression", CLASSIFIER[flavor]):
        group = f"{flavor}-{problem}"
        trained = train(flavor, problem, data, models / group)
        sample = project.root / "data" / f"{group}-sample.csv"
        data[[*trained.inputs, problem]].to_csv(sample, index=False)
        registered = project.cli_json(
            "models", "register", group, str(trained.path), "--sample", str(sample),
            "--target", problem, "--description", f"a {flavor} {problem} model",
        )  # fmt: skip
        assert (registered["version"], registered["flavor"]) == (1, flavor)
        assert registered["input_schema"]["problemType"] == problem
        assert [f["name"] for f in registered["input_schema"]["features"]] == trained.inputs
        assert sorted(registered["baseline"]) == ["constraints", "reference", "statistics"]
        assert Path(registered["baseline"]["reference"]).read_bytes() == sample.read_bytes()

        batch = project.root / "data" / f"{group}-batch.csv"
        order[["id", *trained.inputs]].to_csv(batch, index=False)
        target = project.root / f"{group}-predictions.csv"
        predicted = project.cli(
            "models", "predict", group, "1", "--input", str(batch), "--output", str(target),
            "--id-column", "id",
        )  # fmt: skip
        assert "Succeeded" in predicted.stdout
        _check(pd.read_csv(target, keep_default_na=False), trained, order, flavor)

    unlabelled = project.root / "data" / f"{group}-inputs.csv"  # what the baseline describes
    order[trained.inputs].to_csv(unlabelled, index=False)
    execution = project.client().start(
        "Inference",
        {"Group": group, "ModelVersion": "1", "InputData": str(unlabelled)},
        wait=True,
    )
    assert execution.status == "Succeeded", execution.failure_reason
    steps = {s.step_name: s for s in project.client().steps(execution.id)}
    assert steps["DataQuality"].metadata["violations"] == 0, steps["DataQuality"].metadata
    scored = Path(steps["Score"].outputs["predictions"]["uri"]) / f"{group}-inputs.csv"
    result = pd.read_csv(scored, keep_default_na=False)
    _check(result.assign(id=order["id"].to_numpy()), trained, order, flavor)


def test_registering_twice_and_bad_files_are_one_line(
    world: tuple[ProjectDir, pd.DataFrame, Path],
) -> None:
    project, data, models = world
    trained = train("lightgbm", "regression", data, models / "again")
    first = project.cli_json("models", "register", "again", str(trained.path))
    second = project.cli_json("models", "register", "again", str(trained.path))
    assert (first["version"], second["version"], second["existing"]) == (1, 1, True)

    headerless = project.root / "data" / "headerless.csv"
    data[trained.inputs].to_csv(headerless, index=False, header=False)
    target = project.root / "headerless-out.csv"
    project.cli("models", "predict", "again", "1", "--input", str(headerless), "--no-header",
                "--output", str(target))  # fmt: skip
    np.testing.assert_allclose(  # a headerless input gets headerless predictions
        pd.read_csv(target, header=None)[0], trained.expected, rtol=0, atol=1e-6
    )

    disguised = models / "model.skops"
    disguised.write_bytes(pickle.dumps({"anything": 1}))
    refused = project.cli("models", "register", "again", str(disguised), check=False)
    assert refused.returncode == 1
    assert "is a pickle" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    wrong = project.cli(
        "models", "register", "again", str(trained.path), "--problem-type", "binary", check=False
    )
    assert "is a regression model, not binary" in wrong.stderr

    batch = project.root / "data" / "wrong.csv"
    data[["id", "f0", "f1"]].to_csv(batch, index=False)
    failed = project.cli("models", "predict", "again", "1", "--input", str(batch), check=False)
    assert failed.returncode == 1
    assert "column 'f2' is missing from the header" in failed.stdout
    assert f"{batch}, row 1" in failed.stdout  # the file as given, not its staged copy
    assert "Traceback" not in failed.stdout + failed.stderr
    assert project.cli("models", "list", "--json").returncode == 0
    events = json.loads(project.cli("executions", "list", "--json").stdout)
    assert events[0]["pipeline_name"] == "ModelsPredict"


def _predict_and_compare(
    project: ProjectDir, group: str, rows: pd.DataFrame, expected: np.ndarray, tolerance: float
) -> pd.DataFrame:
    batch = project.root / "data" / f"{group}.csv"
    rows.to_csv(batch, index=False)
    target = project.root / f"{group}-out.csv"
    project.cli("models", "predict", group, "1", "--input", str(batch), "--output", str(target))
    result = pd.read_csv(target, keep_default_na=False)
    scored = result.filter(like="proba_").to_numpy() if expected.ndim == 2 else result["prediction"]
    np.testing.assert_allclose(scored, expected, rtol=0, atol=tolerance)
    return result


def test_mlflow_model_folders_import_and_score_as_mlflow_loads_them(
    world: tuple[ProjectDir, pd.DataFrame, Path], tmp_path: Path
) -> None:
    import catboost
    import lightgbm
    import mlflow
    import onnx
    import xgboost
    from mlflow.models import infer_signature

    from tests.models import FEATURES, _sklearn_pipeline

    project, data, _ = world
    numeric, label = data[FEATURES], (data["binary"] == "yes").astype(int)
    columns = [*FEATURES, "plan"]
    booster = xgboost.XGBClassifier(n_estimators=10, n_jobs=1).fit(numeric, label)
    native = lightgbm.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1},
        lightgbm.Dataset(numeric, data["multiclass"]),
        num_boost_round=10,
    )
    boosted = catboost.CatBoostRegressor(
        iterations=10, verbose=False, thread_count=1, allow_writing_files=False
    )
    boosted.fit(numeric, data["regression"])
    pipeline = _sklearn_pipeline("binary").fit(data[columns], data["binary"])
    graph = train("onnx", "multiclass", data, tmp_path / "onnx-source")
    cases = {  # group: (save, rows scored, expected, tolerance)
        "mlflow-xgboost": (lambda p: mlflow.xgboost.save_model(
            booster, p, signature=infer_signature(numeric)), numeric,
            booster.predict_proba(numeric), 1e-6),
        "mlflow-lightgbm": (lambda p: mlflow.lightgbm.save_model(native, p), numeric,
                            native.predict(numeric), 1e-6),
        "mlflow-catboost": (lambda p: mlflow.catboost.save_model(boosted, p), numeric,
                            boosted.predict(numeric), 1e-6),
        "mlflow-sklearn": (lambda p: mlflow.sklearn.save_model(
            pipeline, p, serialization_format="skops"), data[columns],
            pipeline.predict_proba(data[columns]), 1e-6),
        "mlflow-onnx": (lambda p: mlflow.onnx.save_model(onnx.load(str(graph.path)), p),
                        data[graph.inputs], graph.expected, 1e-4),
    }  # fmt: skip
    for group, (save, rows, expected, tolerance) in cases.items():
        folder = tmp_path / group
        save(str(folder))
        imported = project.cli_json("models", "import", "mlflow", str(folder), "--group", group)
        assert imported["lineage"]["source"] == "mlflow"
        assert imported["lineage"]["mlflowModelUuid"]
        _predict_and_compare(project, group, rows, expected, tolerance)
    assert project.cli_json("models", "show", "mlflow-xgboost", "1")["input_schema"][
        "features"
    ] == [{"name": n, "type": "numeric"} for n in FEATURES]
    assert project.cli_json("models", "show", "mlflow-sklearn", "1")["flavor"] == "sklearn"

    pickled = tmp_path / "pickled"
    mlflow.sklearn.save_model(pipeline, str(pickled), serialization_format="cloudpickle")
    refused = project.cli("models", "import", "mlflow", str(pickled), "--group", "p", check=False)
    assert refused.returncode == 1
    assert "cloudpickle file, which runs code when loaded" in refused.stderr
    assert "serialization_format='skops'" in refused.stderr


def test_a_sagemaker_model_package_imports_with_its_status_and_metrics(
    world: tuple[ProjectDir, pd.DataFrame, Path], tmp_path: Path
) -> None:
    import tarfile

    import xgboost

    from tests.models import FEATURES

    project, data, _ = world
    model = xgboost.XGBRegressor(n_estimators=10, n_jobs=1).fit(data[FEATURES], data["regression"])
    model.get_booster().save_model(tmp_path / "xgboost-model.json")
    (tmp_path / "xgboost-model.json").rename(tmp_path / "xgboost-model")
    archive = tmp_path / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "xgboost-model", arcname="xgboost-model")
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-models/7"
    package = tmp_path / "package.json"
    package.write_text(json.dumps({
        "ModelPackageGroupName": "churn-models",
        "ModelPackageVersion": 7,
        "ModelPackageArn": arn,
        "ModelPackageDescription": "trained by the weekly job",
        "ModelApprovalStatus": "Approved",
        "CreationTime": "2026-11-30T08:00:00Z",
        "InferenceSpecification": {"Containers": [
            {"Image": "xgboost:1.7-1", "ModelDataUrl": "s3://bucket/job/output/model.tar.gz"}]},
        "ModelMetrics": {"ModelQuality": {"Statistics": {
            "ContentType": "application/json", "S3Uri": "s3://bucket/job/evaluation.json"}}},
    }))  # fmt: skip
    imported = project.cli_json("models", "import", "sagemaker", str(archive), "--package",
                                str(package), "--sample", str(_sample(project, data)))  # fmt: skip
    assert (imported["group_name"], imported["approval_status"]) == ("churn-models", "Approved")
    assert imported["description"] == "trained by the weekly job"
    assert imported["lineage"]["modelPackageArn"] == arn
    assert imported["metrics"]["sagemakerModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    _predict_and_compare(
        project, "churn-models", data[FEATURES], model.predict(data[FEATURES]), 1e-6
    )

    pickled = tmp_path / "pickled.tar.gz"
    (tmp_path / "old" / "xgboost-model").parent.mkdir()
    (tmp_path / "old" / "xgboost-model").write_bytes(pickle.dumps(model))
    with tarfile.open(pickled, "w:gz") as tar:
        tar.add(tmp_path / "old" / "xgboost-model", arcname="xgboost-model")
    refused = project.cli("models", "import", "sagemaker", str(pickled), "--group", "old",
                          check=False)  # fmt: skip
    assert refused.returncode == 1
    assert "is a pickle" in refused.stderr


def _sample(project: ProjectDir, data: pd.DataFrame) -> Path:
    from tests.models import FEATURES

    path = project.root / "data" / "numeric-sample.csv"
    data[FEATURES].to_csv(path, index=False)
    return path


def test_a_model_registers_over_the_api_from_the_command_line_elsewhere(
    tmp_path: Path, world: tuple[ProjectDir, pd.DataFrame, Path]
) -> None:
    """``models register`` with ``$SCORELINE_URL`` uploads the file: the server's role rules
    and body limits apply, and what it refuses is the same one line."""
    from tests.test_api import Server

    _, data, _ = world
    project = ProjectDir(tmp_path / "served")
    (project.root / "scoreline.yaml").write_text(
        "name: served\nserver: {max_upload_bytes: 2000000}\n"
    )
    trained = train("lightgbm", "binary", data, tmp_path / "model")
    sample = tmp_path / "sample.csv"
    data[trained.inputs].to_csv(sample, index=False)
    admin = project.cli("tokens", "create", "--role", "admin", "--name", "ops").stdout.strip()
    server = Server(project.root)
    try:
        viewer = server.call("POST", "/tokens", admin, json={"name": "v", "role": "viewer"})
        remote = {"SCORELINE_URL": f"http://127.0.0.1:{server.port}", "SCORELINE_TOKEN": admin}
        elsewhere = ProjectDir(tmp_path / "laptop")  # no project of its own is needed
        registered = elsewhere.cli(
            "models", "register", "uploaded", str(trained.path), "--sample", str(sample),
            "--json", env=remote,
        )  # fmt: skip
        record = json.loads(registered.stdout)
        assert (record["version"], record["flavor"], record["created_by"]) == (
            1, "lightgbm", "token:ops"
        )  # fmt: skip
        assert sorted(record["baseline"]) == ["constraints", "statistics"]
        assert project.client().model("uploaded", 1).input_schema["problemType"] == "binary"

        operator = server.call("POST", "/tokens", admin, json={"name": "o", "role": "operator"})
        as_operator = {**remote, "SCORELINE_TOKEN": operator.json()["token"]}
        trusting = elsewhere.cli("models", "register", "uploaded", str(trained.path), "--trust",
                                 "builtins.eval", env=as_operator, check=False)  # fmt: skip
        assert "only an admin may trust types" in trusting.stderr

        as_viewer = {**remote, "SCORELINE_TOKEN": viewer.json()["token"]}
        denied = elsewhere.cli("models", "register", "uploaded", str(trained.path),
                               env=as_viewer, check=False)  # fmt: skip
        assert "role 'viewer' may not run" in denied.stderr
        anonymous = server.call("POST", "/models/uploaded/versions",
                                files={"model": ("model.lgb", b"x" * 2_100_000)})  # fmt: skip
        assert anonymous.status_code == 413  # over the limit: refused before it is read

        disguised = tmp_path / "model.onnx"
        disguised.write_bytes(pickle.dumps({"anything": 1}))
        refused = elsewhere.cli("models", "register", "uploaded", str(disguised), env=remote,
                                check=False)  # fmt: skip
        assert refused.returncode == 1
        assert "is a pickle" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    finally:
        server.stop()
