"""`init --example sagemaker-abalone` end to end: the reference's pipelines with SageMaker-style
scripts, unchanged, in a Python environment built from their requirements.txt (real uv, real
PyPI packages), their hard-coded /opt/ml/processing paths bound in real mount namespaces, and
two inference executions at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from scoreline.client import Client
from scoreline.engine import mounts
from scoreline.examples import EXAMPLES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(mounts.namespace_command()[0] is None, reason="no mount namespaces"),
]

GROUP = "poc-mpg"
PROCESSING_SCRIPTS = (
    "training_preprocessing.py",
    "evaluation.py",
    "scoring_preprocessing.py",
    "data_check_preprocessing.py",
    "inference_evaluation.py",
)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scoreline-cache")


class Project:
    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.env = {**os.environ, "SCORELINE_CACHE_DIR": str(cache), "SCORELINE_USER": "tester"}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "scoreline",
                "init",
                "--example",
                "sagemaker-abalone",
                str(root),
            ],
            capture_output=True,
            text=True,
            env=self.env,
        )
        assert result.returncode == 0, result.stderr

    def cli(self, *args: str) -> Any:
        result = subprocess.run(
            [sys.executable, "-m", "scoreline", "--project", str(self.root), *args, "--json"],
            capture_output=True,
            text=True,
            timeout=600,
            env=self.env,
        )
        assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
        return json.loads(result.stdout)

    def wait(self, execution_id: str) -> dict[str, Any]:
        client = Client.open(self.root)
        deadline = time.monotonic() + 600
        while client.store.get_execution(execution_id).status in ("Executing", "Stopping"):
            assert time.monotonic() < deadline, f"execution {execution_id} did not finish"
            time.sleep(0.2)
        return self.cli("executions", "show", execution_id)  # type: ignore[no-any-return]


def step(execution: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in execution["steps"] if s["step_name"] == name)


def read(root: Path, uri: str, name: str) -> str:
    return Client.open(root).artifacts.read_bytes(f"{uri}/{name}").decode()


def test_sagemaker_scripts_train_register_and_score_unchanged(
    tmp_path: Path, cache_dir: Path
) -> None:
    project = Project(tmp_path / "sm", cache_dir)
    scripts = project.root / "scripts"
    for name in PROCESSING_SCRIPTS:  # the scripts really hard-code the container paths
        text = (scripts / name).read_text()
        assert '"/opt/ml/processing"' in text
        assert "SCORELINE" not in text
        assert text == (EXAMPLES / "sagemaker-abalone" / "scripts" / name).read_text()

    training = project.cli("run", "TrainingPipeline", "--wait")
    assert training["status"] == "Succeeded", training
    prep = step(training, "TrainingPreProcessStep")
    python = prep["metadata"]["pythonEnvironment"]
    assert python["kind"] == "requirements"
    assert python["requirements"] == "scripts/requirements.txt"
    assert step(training, "TrainingEval")["metadata"]["pythonEnvironment"]["reused"] is True
    model_files = {f["path"] for f in step(training, "TrainingStep")["outputs"]["model"]["files"]}
    assert model_files == {"model.joblib", "model.tar.gz"}
    evaluation = json.loads(
        read(project.root, step(training, "TrainingEval")["outputs"]["evaluation"]["uri"],
             "evaluation.json")
    )  # fmt: skip
    assert 0 < evaluation["regression_metrics"]["mse"]["value"] <= 10.0
    registered = step(training, "ModelRegisterStep")["metadata"]
    assert registered["ModelPackageVersion"] == 1
    project.cli("models", "approve", GROUP, "1", "-m", "reviewed")

    # two inference executions at once, on different batches
    subset = project.root / "data" / "subset"
    subset.mkdir()
    rows = (project.root / "data" / "inference-data.csv").read_text().splitlines()[:1000]
    truth = (project.root / "data" / "ground-truth.csv").read_text().splitlines()[:1000]
    (subset / "inference-data.csv").write_text("\n".join(rows) + "\n")
    (subset / "ground-truth.csv").write_text("\n".join(truth) + "\n")
    started = [
        project.cli("run", "InferencePipeline"),
        project.cli(
            "run",
            "InferencePipeline",
            "-p",
            "InputData=data/subset/inference-data.csv",
            "-p",
            "GroundTruthData=data/subset/ground-truth.csv",
            "-p",
            "AccuracyMseThreshold=100",
        ),
    ]
    full, part = (project.wait(e["id"]) for e in started)
    assert full["created_at"] < part["ended_at"]
    assert part["created_at"] < full["ended_at"]
    for execution, count, threshold in ((full, 4177, 10.0), (part, 1000, 100.0)):
        assert execution["status"] == "Succeeded", execution
        assert step(execution, "CreateModelStep")["metadata"]["ModelPackageVersion"] == 1
        transform = step(execution, "BatchInferenceStep")
        assert transform["metadata"]["files"] == [
            {
                "input": "inference-data-processed.csv",
                "output": "inference-data-processed.csv.out",
                "records": count,
            }
        ]
        out = read(project.root, transform["outputs"]["predictions"]["uri"],
                   "inference-data-processed.csv.out")  # fmt: skip
        assert len(json.loads(out)) == count  # one JSON array: the batch fits one request
        combined = step(execution, "DataCheckPreProcessingStep")["outputs"]
        combined_csv = read(project.root, combined["inference-data-combined"]["uri"],
                            "inference-data-combined.csv")  # fmt: skip
        assert len(combined_csv.splitlines()) == count
        quality = step(execution, "ModelQualityCalcStep")["outputs"]["model-quality-report"]
        report = json.loads(read(project.root, quality["uri"], "inference-evaluation.json"))
        assert report["model_quality_passed"] is True
        assert report["mse_threshold"] == threshold
        assert step(execution, "DataQualityCheckStep")["status"] == "Succeeded"
    assert not Path("/opt/ml").exists()

    tuning = project.cli("run", "TrainingWHPOPipeline", "--wait")
    assert tuning["status"] == "Succeeded", tuning
    trials = step(tuning, "HPTuning")["metadata"]
    assert len(trials["trials"]) == 2
    assert all(t["value"] > 0 for t in trials["trials"])  # parsed from "MSE = <value>"
    assert step(tuning, "ModelRegisterStep")["metadata"]["ModelPackageVersion"] == 2
