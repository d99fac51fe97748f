"""The reference's three pipelines on the real Abalone data, end to end through the command
line: training with registration, tuning, approval, and inference with monitoring. Every test
runs embedded (SQLite, a local folder, the local executor); the story (train, tune, approve,
infer with monitoring, breach, retrain) and the artifact checks, marked ``team_tier``, also
run on the team tier (a real PostgreSQL database, artifacts in a real S3-compatible bucket,
steps on a real Ray head with two worker processes), with the same project files: only the
URIs change."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest

from scoreline.client import Client
from scoreline.examples import copy_example
from tests.test_serve import wait_for

pytestmark = pytest.mark.slow

GROUP = "poc-mpg"


class Abalone:
    """An `init --example abalone` project, driven through the real command line."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.trainings = 0
        copy_example("abalone", root)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "scoreline", "--project", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "SCORELINE_USER": "tester"},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def run(self, pipeline: str, *params: str, check: bool = True) -> dict[str, Any]:
        args = [item for p in params for item in ("-p", p)]
        result = self.cli("run", pipeline, "--wait", "--json", *args, check=check)
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    def client(self) -> Client:
        return Client.open(self.root)

    def train_and_approve(self) -> int:
        """A new version, approved: each call splits the data with its own seed, so the
        model differs (the registry returns the existing version for the same content)."""
        self.trainings += 1
        execution = self.run("TrainingPipeline", f"SplitSeed={1000 + self.trainings}")
        version = int(step(execution, "ModelRegisterStep")["metadata"]["ModelPackageVersion"])
        self.cli("models", "approve", GROUP, str(version), "-m", "reviewed")
        return version


def step(execution: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in execution["steps"] if s["step_name"] == name)


def read_predictions(client: Client, execution: dict[str, Any]) -> list[float]:
    uri = step(execution, "BatchInferenceStep")["outputs"]["predictions"]["uri"]
    files = [f for f in client.artifacts.folder(uri).files if f.path.endswith(".csv")]
    text = client.artifacts.read_bytes(f"{uri}/{files[0].path}").decode()
    return [float(v) for v in text.splitlines()]


@pytest.fixture(scope="module", params=["embedded", "team"])
def project(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Abalone]:
    root = tmp_path_factory.mktemp("abalone") / "project"
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "team":  # only URIs change: the environment says where things are
            from tests.servers import new_database, use_s3

            use_s3(patch, request.getfixturevalue("s3_environment"))
            patch.setenv(
                "SCORELINE_STORE", new_database(request.getfixturevalue("postgres_server_url"))
            )
            patch.setenv("SCORELINE_ARTIFACTS", f"s3://landing/{root.parent.name}")
            patch.setenv("SCORELINE_RAY_ADDRESS", request.getfixturevalue("ray_address"))
        yield Abalone(root)


@pytest.fixture(scope="module")
def approved(project: Abalone) -> int:
    """A trained and approved first version."""
    return project.train_and_approve()


def test_inference_before_any_approval_fails_saying_what_to_do(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    fresh = Abalone(tmp_path_factory.mktemp("fresh") / "project")
    execution = fresh.run("InferencePipeline", check=False)
    assert execution["status"] == "Failed"
    assert step(execution, "ResolveModelStep")["failure_reason"] == (
        f"no Approved version in model package group '{GROUP}' (approve one with "
        f"`scoreline models approve {GROUP} VERSION`, or pin a version with -p ModelVersion=N)"
    )
    assert step(execution, "BatchInferenceStep")["status"] == "NotRun"


@pytest.mark.team_tier
def test_training_registers_a_pending_version_with_baseline_and_lineage(project: Abalone) -> None:
    execution = project.run("TrainingPipeline")
    assert execution["status"] == "Succeeded"
    version = step(execution, "ModelRegisterStep")["metadata"]["ModelPackageVersion"]
    model = json.loads(project.cli("models", "show", GROUP, str(version), "--json").stdout)
    assert model["approval_status"] == "PendingManualApproval"
    assert model["metrics"]["regression_metrics"]["mse"]["value"] <= 5.5
    assert {"standard_deviation", "value"} <= set(model["metrics"]["regression_metrics"]["mse"])
    assert set(model["metrics"]["regression_metrics"]) == {"mse", "rmse", "mae", "r2"}
    assert len(model["artifact_sha256"]) == 64
    assert [f["name"] for f in model["input_schema"]["features"]][:2] == ["length", "diameter"]
    lineage = model["lineage"]
    assert lineage["pipelineExecutionId"] == execution["id"]
    assert lineage["userId"] == "a12345"  # EmpId, from envs/dev.yaml user_id
    assert set(lineage["scripts"]) == {
        "scripts/training_preprocessing.py",
        "scripts/training.py",
        "scripts/evaluation.py",
    }
    assert any(uri.endswith("training-data.csv") for uri in lineage["inputs"])
    client = project.client()
    statistics = json.loads(client.artifacts.read_bytes(model["baseline"]["statistics"]))
    constraints = json.loads(client.artifacts.read_bytes(model["baseline"]["constraints"]))
    assert [f["name"] for f in statistics["features"]][:2] == ["sex", "length"]
    assert statistics["dataset"]["item_count"] == 2923  # the 70 % training split
    assert (
        constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1
    )
    listed = json.loads(project.cli("models", "list", GROUP, "--json").stdout)
    assert version in [m["version"] for m in listed]


def test_a_model_above_the_threshold_is_not_registered_and_the_run_fails(
    project: Abalone,
) -> None:
    before = len(project.client().models(GROUP))
    execution = project.run("TrainingPipeline", "AccuracyMseThreshold=1.0", check=False)
    assert execution["status"] == "Failed"
    reason = execution["failure_reason"]
    assert reason.startswith("model not registered: test MSE 5.")
    assert reason.endswith("is above AccuracyMseThreshold 1.0")
    assert step(execution, "ModelRegisterStep")["status"] == "Skipped"
    assert len(project.client().models(GROUP)) == before


@pytest.mark.team_tier
def test_tuning_records_every_trial_and_registers_the_best(project: Abalone) -> None:
    execution = project.run("TrainingWHPOPipeline", "MaxJobs=4", "MaxParallelJobs=2")
    assert execution["status"] == "Succeeded", execution["failure_reason"]
    tuning = step(execution, "HPTuning")
    trials = tuning["metadata"]["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert all(set(t["hyperparameters"]) == {"max_depth", "eta", "num_round"} for t in trials)
    best = min(trials, key=lambda t: t["value"])
    assert tuning["metadata"]["bestTrial"]["number"] == best["number"]
    client = project.client()
    recorded = json.loads(
        client.artifacts.read_bytes(tuning["outputs"]["trials"]["uri"] + "/trials.json")
    )
    assert len(recorded["trials"]) == 4
    version = step(execution, "ModelRegisterStep")["metadata"]["ModelPackageVersion"]
    model = client.model(GROUP, version)
    assert model.artifact_uri == tuning["outputs"]["model"]["uri"]
    assert model.lineage["pipelineName"] == "TrainingWHPOPipeline"
    assert model.metrics["regression_metrics"]["mse"]["value"] <= 5.5


def test_tuning_reports_trials_done_and_the_best_value_while_it_runs(project: Abalone) -> None:
    if os.environ.get("SCORELINE_RAY_ADDRESS"):
        pytest.skip("on Ray a step's progress file stays on its worker (see architecture)")
    client = project.client()
    execution = client.start("TrainingWHPOPipeline", {"MaxJobs": 6, "MaxParallelJobs": 1})
    seen: list[dict[str, Any]] = []

    def ended() -> bool:
        for record in client.steps(execution.id):
            if record.step_name == "HPTuning" and "progress" in record.metadata:
                seen.append(record.metadata["progress"])
        return client.execution(execution.id).status in ("Succeeded", "Failed")

    wait_for(ended, 300, "the tuning run", every=0.05)
    assert client.execution(execution.id).status == "Succeeded"
    assert seen, "no progress was reported while the trials ran"
    assert {(p["unit"], p["total"], p["metric"]) for p in seen} == {("trials", 6, "validation:mse")}
    assert all(1 <= p["done"] <= 6 and isinstance(p["best"], float) for p in seen)
    final = next(s for s in client.steps(execution.id) if s.step_name == "HPTuning")
    assert "progress" not in final.metadata, "a finished step keeps its results, not progress"


@pytest.mark.team_tier
def test_inference_uses_a_version_approved_later_without_redeploying(
    project: Abalone, approved: int
) -> None:
    first = project.run("InferencePipeline", "GroundTruthData=data/ground-truth.csv")
    assert first["status"] == "Succeeded"
    resolved = step(first, "ResolveModelStep")["metadata"]
    assert (resolved["ModelPackageVersion"], resolved["resolvedBy"]) == (
        approved,
        "latest Approved",
    )
    newer = project.train_and_approve()
    second = project.run("InferencePipeline", "GroundTruthData=data/ground-truth.csv")
    assert step(second, "ResolveModelStep")["metadata"]["ModelPackageVersion"] == newer
    assert first["pipeline_version"] == second["pipeline_version"]

    quality = step(second, "ModelQualityCheckStep")["metadata"]
    assert quality["model_quality_passed"] is True
    assert quality["mse"] < quality["mse_threshold"] == 10.0
    client = project.client()
    report = step(second, "ModelQualityCheckStep")["outputs"]["report"]["uri"]
    evaluation = json.loads(client.artifacts.read_bytes(report + "/evaluation.json"))
    assert evaluation["regression_metrics"]["mse"]["value"] == quality["mse"]
    assert evaluation["model_quality_passed"] is True
    data_report = step(second, "DataQualityCheckStep")["outputs"]["report"]["uri"]
    violations = json.loads(
        client.artifacts.read_bytes(data_report + "/constraint_violations.json")
    )
    assert "violations" in violations
    assert step(second, "BatchInferenceStep")["metadata"]["scored"] == 4177


def test_without_ground_truth_model_quality_is_skipped_with_a_reason(
    project: Abalone, approved: int
) -> None:
    execution = project.run("InferencePipeline")
    assert execution["status"] == "Succeeded"
    skipped = step(execution, "ModelQualityCheckStep")
    assert skipped["status"] == "Skipped"
    assert skipped["failure_reason"] == "condition 'GroundTruthAvailableCond' evaluated to False"


def test_a_batch_with_one_sex_value_scores_like_the_full_batch(
    project: Abalone, approved: int
) -> None:
    rows = (project.root / "data" / "inference-data.csv").read_text().splitlines()
    males = [i for i, row in enumerate(rows) if row.startswith("M,")]
    (project.root / "data" / "males.csv").write_text("\n".join(rows[i] for i in males) + "\n")
    version = f"ModelVersion={approved}"
    full = project.run("InferencePipeline", version)
    only = project.run("InferencePipeline", version, "InputData=data/males.csv")
    assert only["status"] == "Succeeded"
    client = project.client()
    everything = read_predictions(client, full)
    assert read_predictions(client, only) == [everything[i] for i in males]


def test_a_malformed_row_fails_the_run_naming_file_row_and_column(
    project: Abalone, approved: int
) -> None:
    rows = (project.root / "data" / "inference-data.csv").read_text().splitlines()[:5]
    fields = rows[2].split(",")
    fields[1] = "x.5"
    rows[2] = ",".join(fields)
    (project.root / "data" / "broken.csv").write_text("\n".join(rows) + "\n")
    result = project.cli(
        "run",
        "InferencePipeline",
        "-p",
        "InputData=data/broken.csv",
        "--wait",
        "--json",
        check=False,
    )
    assert result.returncode == 1, "a failed run exits 1"
    execution = json.loads(result.stdout)
    assert execution["status"] == "Failed"
    reason = step(execution, "BatchInferenceStep")["failure_reason"]
    assert reason.startswith("broken.csv, row 3, column 'length': 'x.5' is not a number")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the input has no rows to score"),
        (b"M,0.4,0.3,0.1,0.5,0.2,0.1,\xff\n", "row 1, column 'shell_weight': holds bytes"),
        (b"M,0.4,0.3,0.1,0.5,0.2,0.1,inf\n", "row 1, column 'shell_weight': 'inf' is not a"),
    ],
)
def test_an_empty_or_undecodable_input_fails_its_steps_in_one_line(
    project: Abalone, approved: int, content: bytes, reason: str
) -> None:
    (project.root / "data" / "bad-input.csv").write_bytes(content)
    execution = project.run(
        "InferencePipeline", "InputData=data/bad-input.csv", f"ModelVersion={approved}",
        check=False,
    )  # fmt: skip
    assert execution["status"] == "Failed"
    failed = step(execution, "BatchInferenceStep")
    assert reason in failed["failure_reason"], failed["failure_reason"]
    assert "\n" not in failed["failure_reason"]
    assert "runner crashed" not in execution["failure_reason"]


@pytest.mark.team_tier
def test_concurrent_inference_runs_never_share_an_output_path(
    project: Abalone, approved: int
) -> None:
    ids = [project.cli("run", "InferencePipeline", "--json").stdout for _ in range(2)]
    started = [json.loads(text)["id"] for text in ids]
    client = project.client()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        records = [client.execution(i) for i in started]
        if all(r.status in ("Succeeded", "Failed", "Stopped") for r in records):
            break
        time.sleep(0.2)
    assert [r.status for r in records] == ["Succeeded", "Succeeded"]
    uris = {
        s.outputs["predictions"]["uri"]
        for i in started
        for s in client.steps(i)
        if s.step_name == "BatchInferenceStep"
    }
    assert len(uris) == 2
    assert all(started[0] in uri or started[1] in uri for uri in uris)


@pytest.mark.team_tier
def test_a_model_file_changed_after_registration_is_refused(
    project: Abalone, approved: int
) -> None:
    client = project.client()
    model = client.model(GROUP, approved)
    fs, path = fsspec.core.url_to_fs(f"{model.artifact_uri}/model.json")
    original = fs.cat_file(path)
    try:
        fs.pipe_file(path, original.replace(b"0", b"1", 1))
        execution = project.run("InferencePipeline", f"ModelVersion={approved}", check=False)
    finally:
        fs.pipe_file(path, original)
    assert execution["status"] == "Failed"
    assert (
        "sha256 mismatch for 'model.json'"
        in step(execution, "BatchInferenceStep")["failure_reason"]
    )


def test_a_preprocessing_file_edited_with_its_manifest_is_refused(
    project: Abalone, approved: int
) -> None:
    """The manifest only proves a folder is whole; the registry's digest proves it is the
    one registered (an edited file with a rewritten manifest used to be used silently)."""
    client = project.client()
    model = client.model(GROUP, approved)
    assert model.preprocessing_uri
    assert model.artifact_digests
    assert set(model.artifact_digests) >= {"preprocessing", "statistics", "constraints"}
    fs, folder = fsspec.core.url_to_fs(model.preprocessing_uri)
    manifest_path = f"{folder}/_manifest.json"
    original, manifest = fs.cat_file(f"{folder}/preprocessing.json"), fs.cat_file(manifest_path)
    edited = original.rstrip() + b" \n"  # still valid JSON; any edit will do
    files = json.loads(manifest)["files"]
    for entry in files:
        if entry["path"] == "preprocessing.json":
            entry.update(sha256=hashlib.sha256(edited).hexdigest(), size=len(edited))
    try:
        fs.pipe_file(f"{folder}/preprocessing.json", edited)
        fs.pipe_file(manifest_path, json.dumps({"files": files}).encode())
        execution = project.run("InferencePipeline", f"ModelVersion={approved}", check=False)
    finally:
        fs.pipe_file(f"{folder}/preprocessing.json", original)
        fs.pipe_file(manifest_path, manifest)
    assert execution["status"] == "Failed"
    reason = step(execution, "ResolveModelStep")["failure_reason"]
    assert "sha256 mismatch: the preprocessing of model" in reason
    assert "changed after it was recorded" in reason
    assert step(execution, "BatchInferenceStep")["status"] == "NotRun"


def test_approval_commands_check_transitions_and_keep_an_audit_trail(project: Abalone) -> None:
    execution = project.run("TrainingPipeline")
    version = str(step(execution, "ModelRegisterStep")["metadata"]["ModelPackageVersion"])
    rejected = json.loads(
        project.cli("models", "reject", GROUP, version, "-m", "bias found", "--json").stdout
    )
    assert rejected["approval_status"] == "Rejected"
    assert rejected["history"][-1]["actor"] == "tester"
    assert rejected["history"][-1]["comment"] == "bias found"
    again = project.cli("models", "approve", GROUP, version, check=False)
    assert again.returncode == 1
    assert again.stderr.startswith(f"error: model {GROUP}/{version} is Rejected;")
    assert len(again.stderr.strip().splitlines()) == 1
    events = json.loads(
        project.cli("events", "list", "--type", "Model Package State Change", "--json").stdout
    )
    assert events[-1]["detail"]["ModelApprovalStatus"] == "Rejected"
    assert events[-1]["detail"]["ModelPackageVersion"] == int(version)


def _wait(client: Client, execution_id: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.execution(execution_id).status
        if status in ("Succeeded", "Failed", "Stopped"):
            return status
        time.sleep(0.2)
    raise AssertionError(f"execution {execution_id} did not end")


def _decisions(project: Abalone) -> list[dict[str, Any]]:
    events = project.cli("events", "list", "--type", "Rule Decision", "--limit", "1000", "--json")
    return [e["detail"] for e in json.loads(events.stdout)]


@pytest.mark.team_tier
def test_a_breach_retrains_once_and_a_second_breach_in_the_cooldown_is_suppressed(
    project: Abalone, approved: int
) -> None:
    before = len(_decisions(project))
    breach = ("GroundTruthData=data/ground-truth.csv", "AccuracyMseThreshold=1.0")
    first = project.run("InferencePipeline", *breach)
    assert first["status"] == "Succeeded", "a breach is an alert, not an error"
    assert step(first, "ModelQualityCheckStep")["metadata"]["model_quality_passed"] is False
    violations = json.loads(
        project.cli("events", "list", "--type", "Model Quality Violation", "--json").stdout
    )
    assert violations[-1]["detail"]["pipelineExecutionId"] == first["id"]
    assert violations[-1]["detail"]["ModelPackageGroupName"] == GROUP
    assert violations[-1]["detail"]["metrics"]["mse"] > 1.0

    started = _decisions(project)[before:]
    # the realized breach and the estimated one (ModelQualityEstimateStep) both match the
    # rule: the first starts the retraining, the other finds it running
    assert [d["decision"] for d in started] == ["started", "suppressed"]
    assert "still running" in started[1]["reason"] or "cooldown" in started[1]["reason"]
    retraining = started[0]["pipelineExecutionId"]
    client = project.client()
    assert client.execution(retraining).pipeline_name == "TrainingWHPOPipeline"
    assert _wait(client, retraining) == "Succeeded"

    second = project.run("InferencePipeline", *breach)
    assert second["status"] == "Succeeded"
    decisions = _decisions(project)[before:]
    assert [d["decision"] for d in decisions] == ["started"] + ["suppressed"] * 3
    assert decisions[-1]["reason"].startswith("cooldown PT6H after the last start")
    by_rule = [
        e
        for e in client.executions(pipeline="TrainingWHPOPipeline", limit=100)
        if (e.client_request_token or "").startswith("rule:")
    ]
    assert [e.id for e in by_rule] == [retraining]


def test_ground_truth_that_arrives_later_is_checked_against_the_past_run(
    project: Abalone, approved: int
) -> None:
    scored = project.run("InferencePipeline", f"ModelVersion={approved}")
    late = project.run(
        "ModelQualityPipeline",
        f"InferenceExecutionId={scored['id']}",
        "GroundTruthData=data/ground-truth.csv",
    )
    assert late["status"] == "Succeeded", late["failure_reason"]
    check = step(late, "ModelQualityCheckStep")["metadata"]
    assert check["model_quality_passed"] is True
    assert check["sourceModel"] == {"ModelPackageGroupName": GROUP, "ModelPackageVersion": approved}
    history = json.loads(
        project.cli("monitoring", "history", GROUP, "--check", "model_quality", "--json").stdout
    )
    assert history[-1]["execution_id"] == late["id"]
    assert history[-1]["model_version"] == approved
    assert history[-1]["metrics"]["mse"]["value"] == check["mse"]
    shown = json.loads(project.cli("monitoring", "show", scored["id"], "--json").stdout)
    assert [r["check_type"] for r in shown] == ["data_quality", "model_quality_estimate"]
    assert {d["feature_name"] for d in shown[0]["drift"]} >= {"sex", "length"}
    missing = project.run(
        "ModelQualityPipeline",
        "InferenceExecutionId=nope",
        "GroundTruthData=data/ground-truth.csv",
        check=False,
    )
    assert step(missing, "ModelQualityCheckStep")["failure_reason"] == (
        "no execution 'nope' (see `scoreline executions list`)"
    )
    before = len(project.client().executions(limit=1000))
    no_file = project.cli(
        "run", "ModelQualityPipeline", "-p", f"InferenceExecutionId={scored['id']}",
        "-p", "GroundTruthData=x.csv", check=False,
    )  # fmt: skip
    assert no_file.returncode == 1
    assert no_file.stderr.startswith("error: parameter 'GroundTruthData': 'x.csv' does not exist")
    assert len(project.client().executions(limit=1000)) == before, "nothing was started"


def test_an_estimated_breach_retrains_before_the_ground_truth_and_the_realized_result_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SCORELINE_STORE", "SCORELINE_ARTIFACTS", "SCORELINE_RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)  # embedded, whichever tier ran before
    project = Abalone(tmp_path / "project")  # its own rule state: no cooldown from other tests
    version = project.train_and_approve()
    scored = project.run("InferencePipeline", "AccuracyMseThreshold=2.5")  # no ground truth
    assert step(scored, "ModelQualityCheckStep")["status"] == "Skipped"
    estimate = step(scored, "ModelQualityEstimateStep")["metadata"]
    assert estimate["model_quality_passed"] is False
    assert estimate["referenceRows"] == 627, "the registered test split (15% of 4,177 rows)"
    events = project.cli("events", "list", "--type", "Model Quality Estimate Violation", "--json")
    (alert,) = json.loads(events.stdout)
    assert alert["detail"]["pipelineExecutionId"] == scored["id"]
    assert alert["detail"]["ModelPackageGroupName"] == GROUP
    assert alert["detail"]["metrics"]["mse"] == estimate["mse"] > 2.5

    (decision,) = _decisions(project)
    assert decision["decision"] == "started"
    client = project.client()
    assert client.execution(decision["pipelineExecutionId"]).pipeline_name == (
        "TrainingWHPOPipeline"
    )
    assert _wait(client, decision["pipelineExecutionId"]) == "Succeeded"

    def history(*options: str) -> list[dict[str, Any]]:
        shown = project.cli("monitoring", "history", GROUP, *options, "--json").stdout
        return [r for r in json.loads(shown) if r["check_type"].startswith("model_quality")]

    (estimated,) = history()
    assert estimated["check_type"] == "model_quality_estimate"
    assert estimated["model_version"] == version
    band = estimated["metrics"]["mse"]
    assert band["lower"] < band["value"] == estimate["mse"] < band["upper"]

    late = project.run(
        "ModelQualityPipeline",
        f"InferenceExecutionId={scored['id']}",
        "GroundTruthData=data/ground-truth.csv",
        "AccuracyMseThreshold=2.5",
    )
    (realized,) = history()
    assert realized["check_type"] == "model_quality"
    assert realized["execution_id"] == late["id"]
    assert realized["scored_execution_id"] == scored["id"]
    assert [r["check_type"] for r in history("--superseded")] == [
        "model_quality_estimate",
        "model_quality",
    ]
