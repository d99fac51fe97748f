"""The classifier example, end to end through the command line: a scikit-learn pipeline
saved with skops is trained, tuned, registered and approved; inference scores class
probabilities equal to the model's own ``predict_proba``, catches drift in a shifted batch
and a breach of classification quality when the truth disagrees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from scoreline.examples import copy_example
from tests.test_api import cli

pytestmark = pytest.mark.slow


def run(root: Path, *args: str) -> dict[str, Any]:
    done = cli(root, *args, "--json")
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def steps(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step_name"]: s for s in execution["steps"]}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_example("classifier", tmp_path_factory.mktemp("classifier") / "project")
    trained = run(root, "run", "ClassifierTraining", "--wait")
    assert trained["status"] == "Succeeded", trained["failure_reason"]
    assert cli(root, "models", "approve", "breast-cancer", "1").returncode == 0
    return root


def test_inference_scores_probabilities_as_the_pipeline_itself_predicts(project: Path) -> None:
    import skops.io

    execution = run(project, "run", "ClassifierInference", "-p",
                    "GroundTruthData=data/ground-truth.csv", "--wait")  # fmt: skip
    assert execution["status"] == "Succeeded", execution["failure_reason"]
    by_name = steps(execution)
    quality = by_name["ModelQuality"]["metadata"]
    assert quality["model_quality_passed"] is True
    assert quality["auc"] > 0.95
    estimate = by_name["QualityEstimate"]["metadata"]  # CBPE, from the probabilities alone
    assert estimate["model_quality_passed"] is True
    for name in ("auc", "accuracy", "f1"):
        assert estimate[name] == pytest.approx(quality[name], abs=0.05), name

    version = json.loads(cli(project, "models", "show", "breast-cancer", "1", "--json").stdout)
    assert version["flavor"] == "sklearn"
    folder = Path(version["artifact_uri"])
    model = skops.io.load(folder / "model.skops")
    rows = pd.read_csv(project / "data" / "inference-data.csv")
    scored = Path(by_name["Score"]["outputs"]["predictions"]["uri"]) / "inference-data.csv"
    result = pd.read_csv(scored)
    assert list(result.columns) == ["prediction", "proba_0", "proba_1"]
    np.testing.assert_allclose(
        result[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(rows), rtol=0, atol=1e-6
    )
    assert result["prediction"].tolist() == model.predict(rows).tolist()


def test_a_shifted_batch_is_drift_and_wrong_truth_is_a_quality_breach(project: Path) -> None:
    rows = pd.read_csv(project / "data" / "inference-data.csv")
    rows["mean_radius"] *= 1.6  # a calibration change at the source
    rows.to_csv(project / "shifted.csv", index=False)
    truth = pd.read_csv(project / "data" / "ground-truth.csv")
    (1 - truth).to_csv(project / "wrong-truth.csv", index=False)
    execution = run(project, "run", "ClassifierInference", "-p", "InputData=shifted.csv",
                    "-p", "GroundTruthData=wrong-truth.csv", "--wait")  # fmt: skip
    assert execution["status"] == "Succeeded", execution["failure_reason"]
    report = Path(steps(execution)["DataQuality"]["outputs"]["report"]["uri"])
    violations = json.loads((report / "constraint_violations.json").read_text())["violations"]
    drifted = {
        v["feature_name"]
        for v in violations
        if v["constraint_check_type"] == "baseline_drift_check"
    }
    assert "mean_radius" in drifted
    quality = steps(execution)["ModelQuality"]["metadata"]
    assert quality["model_quality_passed"] is False
    events = json.loads(
        cli(project, "events", "list", "--type", "Model Quality Violation", "--json").stdout
    )
    assert [e["detail"]["pipelineExecutionArn"].endswith(execution["id"]) for e in events] == [True]


def test_tuning_registers_the_best_trial(project: Path) -> None:
    execution = run(project, "run", "ClassifierTuning", "-p", "MaxJobs=3", "--wait")
    assert execution["status"] == "Succeeded", execution["failure_reason"]
    tune = steps(execution)["Tune"]["metadata"]
    assert len(tune["trials"]) == 3
    registered = steps(execution)["Register"]["metadata"]["ModelPackageVersion"]
    # The breach above made the retraining rule start a tuning of its own, which may
    # register a version before or after this one.
    versions = json.loads(cli(project, "models", "list", "breast-cancer", "--json").stdout)
    assert registered > 1
    assert registered in [v["version"] for v in versions]
    (mine,) = [v for v in versions if v["version"] == registered]
    assert mine["metrics"]["binary_classification_metrics"]["auc"]["value"] > 0.95
