"""Environments (YAML and the reference's .tfvars), plan / apply / destroy, and the generated
CI templates run with gitlab-ci-local and linted with actionlint."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scoreline.client import Client
from tests.conftest import REPO

TOOLS = REPO / "tools" / "node_modules" / ".bin"

TFVARS = """\
# The reference's dev_env.tfvars
bucket_name            = ".scoreline/bucket" # a local folder here
bucket_prefix          = "pipeline_shared/batch-scoring"
bucket_train_prefix    = "training/data/raw"
bucket_inf_prefix      = "batch-scoring/data/raw"
email_recipient        = ["recipient-1@example.com", "recipient-2@example.com"]
user_id                = "a12345"
model_package_group_name = "poc-mpg"
kms_key                = "arn:aws:kms:us-east-1:111122223333:key/1234abcd"
role_arn               = "arn:aws:iam::111122223333:role/sagemaker"
sg_id                  = "sg-0a12b3c45b67de8f9"
subnet_id              = "subnet-01a23bcdef45ghij6"
accuracy_mse_threshold = "10.0"
notification_function_name = "pipeline-notification-lambda"
pipeline_inf           = "InferencePipeline"
pipeline_train         = "TrainingPipeline"
pipeline_trainwhpo     = "TrainingWHPOPipeline"
recreate_pipelines     = "true"
upload_inference_data  = "false"
upload_training_data   = true
custom_notification_config = [
  {
    step_name           = "ModelRegisterStep"
    step_status         = "Succeeded"
    step_custom_message = "A new model version is waiting for approval."
  },
  # evaluation failures need someone too
  {
    step_name   = "TrainingEval"
    step_status = "Failed"
    step_msg    = "Model evaluation failed."
  }
]
"""


def scoreline(
    root: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scoreline", "--project", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    made = subprocess.run(
        [sys.executable, "-m", "scoreline", "init", str(root)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    return root


def test_a_tfvars_file_in_the_references_format_loads_with_its_sources(project: Path) -> None:
    (project / "envs" / "staging.tfvars").write_text(TFVARS)
    shown = scoreline(project, "config", "show", "-e", "staging", "--json")
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    variables = {k: (v["value"], v["source"]) for k, v in data["variables"].items()}
    source = "envs/staging.tfvars"
    assert variables["upload_training_data"] == (True, source)
    assert variables["recreate_pipelines"] == (True, source)
    assert variables["upload_inference_data"] == (False, source)
    assert variables["accuracy_mse_threshold"] == (10.0, source)
    assert variables["email_recipient"] == (
        ["recipient-1@example.com", "recipient-2@example.com"],
        source,
    )
    assert variables["bucket_ground_truth_prefix"][1] == "default"
    config, _ = variables["custom_notification_config"]
    assert [c["step_name"] for c in config] == ["ModelRegisterStep", "TrainingEval"]
    assert config[1]["step_msg"] == "Model evaluation failed."
    assert "role_arn" not in variables
    aws = [w for w in data["warnings"] if "AWS-only" in w]
    assert len(aws) == 4
    table = scoreline(project, "config", "show", "-e", "staging")
    assert table.stderr.count("is AWS-only") == 4
    assert "envs/staging.tfvars" in table.stdout


def test_bad_environment_values_are_one_line_errors(project: Path) -> None:
    (project / "envs" / "bad.tfvars").write_text('upload_training_data = "maybe"\n')
    result = scoreline(project, "config", "show", "-e", "bad")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: envs/bad.tfvars: upload_training_data: variable 'upload_training_data' is "
        "'maybe'; expected bool"
    )
    missing = scoreline(project, "plan", "-e", "nowhere")
    assert missing.returncode == 1
    assert "no environment file for 'nowhere'" in missing.stderr
    (project / "envs" / "nan.tfvars").write_text('accuracy_mse_threshold = "nan"\n')
    nan = scoreline(project, "config", "show", "-e", "nan")
    assert nan.returncode == 1
    assert nan.stderr.strip() == (
        "error: envs/nan.tfvars: accuracy_mse_threshold: variable 'accuracy_mse_threshold' "
        "is 'nan'; expected float"
    )
    by_hand = scoreline(project, "run", "TrainingPipeline", "-p", "AccuracyMseThreshold=nan")
    assert by_hand.returncode == 1
    assert by_hand.stderr.strip().startswith(
        "error: parameter 'AccuracyMseThreshold': expects a finite Float, got 'nan'"
    )


def test_plan_apply_change_and_destroy(project: Path) -> None:
    store = {"SCORELINE_STORE": f"sqlite:///{project / 'deploy.db'}"}
    first = scoreline(project, "plan", "--detailed-exitcode", "--json", env=store)
    assert first.returncode == 2, first.stderr
    changes = json.loads(first.stdout)
    assert {c["action"] for c in changes} == {"create"}
    assert {(c["kind"], c["name"]) for c in changes} >= {
        ("pipeline", "TrainingPipeline"),
        ("trigger", "training-data"),
        ("rule", "retrain-on-model-quality-breach"),
        ("model_group", "poc-mpg"),
    }
    refused = scoreline(project, "apply", env=store)
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith("(pass --auto-approve)")
    applied = scoreline(project, "apply", "--auto-approve", env=store)
    assert applied.returncode == 0, applied.stderr
    assert "training-data.csv (the triggers start its pipeline)" in applied.stdout
    assert scoreline(project, "plan", "--detailed-exitcode", env=store).returncode == 0

    dev = project / "envs" / "dev.yaml"
    dev.write_text(
        dev.read_text().replace("accuracy_mse_threshold: 10.0", "accuracy_mse_threshold: 7.5")
    )
    changed = scoreline(project, "plan", "--detailed-exitcode", "--json", env=store)
    assert changed.returncode == 2
    updates = json.loads(changed.stdout)
    assert {c["action"] for c in updates} == {"update"}
    fields = {c["name"]: c["fields"] for c in updates}
    assert fields["TrainingPipeline"] == ["parameters[AccuracyMseThreshold].default: 10.0 -> 7.5"]
    # The plan says what runs will use: InferencePipeline's parameter file pins the value.
    assert fields["InferencePipeline"] == [
        "parameters[AccuracyMseThreshold].default: 10.0 -> 7.5 "
        "(runs use 10.0: pinned by pipelines/InferencePipeline.params.yaml)"
    ]
    text = scoreline(project, "plan", env=store).stdout
    assert "~ pipeline TrainingPipeline" in text
    assert "Plan: 0 to create, 4 to update, 0 to delete." in text
    reapplied = scoreline(project, "apply", "--auto-approve", env=store)
    assert reapplied.returncode == 0, reapplied.stderr
    assert "training-data.csv" not in reapplied.stdout, "unchanged data is not uploaded again"

    params = project / "pipelines" / "InferencePipeline.params.yaml"
    params.write_text(params.read_text().replace("AccuracyMseThreshold: 10.0", "#"))
    data = project / "data" / "training-data.csv"
    data.write_text(data.read_text() + data.read_text().splitlines()[1] + "\n")
    edited = json.loads(scoreline(project, "plan", "--json", env=store).stdout)
    assert {(c["action"], c["kind"], c["name"]) for c in edited} == {
        ("update", "parameter_file", "InferencePipeline"),
        ("update", "upload", "training"),
    }
    by_kind = {c["kind"]: c["fields"] for c in edited}
    assert by_kind["parameter_file"] == ["values.AccuracyMseThreshold: 10.0 -> (none)"]
    assert [f.split(":")[0] for f in by_kind["upload"]] == ["sha256"]
    uploaded = scoreline(project, "apply", "--auto-approve", env=store)
    assert "training-data.csv (the triggers start its pipeline)" in uploaded.stdout

    config = yaml.safe_load((project / "scoreline.yaml").read_text())
    config["notifications"]["subjects"] = "reference"
    (project / "scoreline.yaml").write_text(yaml.safe_dump(config))
    notified = json.loads(scoreline(project, "plan", "--json", env=store).stdout)
    assert [(c["kind"], c["fields"]) for c in notified] == [
        ("notification_settings", ['subjects: "scoreline" -> "reference"'])
    ]

    os.environ.update(store)
    try:
        client = Client.open(project)
        config = (project / "scoreline.yaml").read_text()
        (project / "scoreline.yaml").write_text(config.replace("training-data*.csv", "x*.csv"))
        assert client.triggers()[1].pattern == "training-data*.csv", "serve uses what is applied"
        events = client.events(detail_type="Deployment Applied")
        assert events[0].detail["actor"]
        assert len(events[0].detail["changes"]) == len(changes)
        assert len(events) == 3
    finally:
        for key in store:
            os.environ.pop(key)

    destroyed = scoreline(project, "destroy", "--auto-approve", env=store)
    assert destroyed.returncode == 0, destroyed.stderr
    again = json.loads(scoreline(project, "plan", "--json", env=store).stdout)
    assert {c["action"] for c in again} == {"create"}
    registered = json.loads(scoreline(project, "pipelines", "list", "--json", env=store).stdout)
    assert all(p["latest_version"] is None for p in registered), "nothing apply made is left"


def test_recreate_pipelines_false_keeps_deployed_pipelines(project: Path) -> None:
    store = {"SCORELINE_STORE": f"sqlite:///{project / 'deploy.db'}"}
    assert scoreline(project, "apply", "--auto-approve", env=store).returncode == 0
    dev = project / "envs" / "dev.yaml"
    text = dev.read_text().replace("recreate_pipelines: true", "recreate_pipelines: false")
    dev.write_text(text.replace("accuracy_mse_threshold: 10.0", "accuracy_mse_threshold: 8.0"))
    blocked = scoreline(project, "apply", "--auto-approve", env=store)
    assert blocked.returncode == 1
    assert blocked.stderr.strip().startswith(
        "error: pipeline InferencePipeline is deployed and would change"
    )


@pytest.mark.slow
def test_the_generated_gitlab_pipeline_runs_and_the_github_workflow_lints(project: Path) -> None:
    if not (TOOLS / "gitlab-ci-local").exists() or shutil.which("rsync") is None:
        pytest.fail("run `make tools/node_modules/.installed` (gitlab-ci-local, rsync)")
    git = ["git", "-c", "user.email=ci@example.test", "-c", "user.name=ci"]
    for command in (
        [*git, "init", "-q"],
        [*git, "add", "-A"],
        [*git, "commit", "-qm", "init"],
        ["git", "update-ref", "refs/remotes/origin/main", "HEAD"],
        ["git", "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"],
    ):
        subprocess.run(command, cwd=project, check=True, capture_output=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    run = subprocess.run(
        [
            str(TOOLS / "gitlab-ci-local"),
            "--force-shell-executor",
            "--shell-isolation",
            "--manual",
            "apply",
            "--manual",
            "destroy",
            "--variable",
            f"SCORELINE_STORE=sqlite:///{project / 'ci.db'}",
            "--color=false",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    for job in ("test", "plan", "apply", "destroy"):
        assert f"PASS  {job}" in run.stdout
    assert re.search(r"Applied \d+ change\(s\) to 'dev'", run.stdout)
    lint = subprocess.run(
        ["node", str(REPO / "tools" / "lint-workflow.mjs"), ".github/workflows/scoreline.yml"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
