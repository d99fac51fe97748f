"""``scoreline demo``: the Abalone example end to end — train, approve, score with
monitoring — and a summary of what happened and where the outputs are."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from scoreline.cli import render
from scoreline.cli.executions import print_execution
from scoreline.client import Client
from scoreline.examples import copy_example
from scoreline.settings import PROJECT_FILE
from scoreline.store import ExecutionRecord


def run_demo(directory: Path | None) -> None:
    """Init the Abalone example (unless present), run TrainingPipeline, approve the new
    version, run InferencePipeline with the ground truth, and summarise."""
    root = (directory or Path(tempfile.mkdtemp(prefix="scoreline-demo-"))).resolve()
    if not (root / PROJECT_FILE).exists():
        copy_example("abalone", root)
    render.console.print(f"Demo project: {root}")
    client = Client.open(root)

    render.console.rule("1. TrainingPipeline: preprocess, baseline, train, evaluate, register")
    training = client.start("TrainingPipeline", wait=True)
    print_execution(training, client.steps(training.id))
    registered = _metadata(client, training, "ModelRegisterStep")
    if training.status != "Succeeded" or "ModelPackageVersion" not in registered:
        raise SystemExit(1)
    group, version = registered["ModelPackageGroupName"], registered["ModelPackageVersion"]

    render.console.rule("2. Approval")
    status = client.model(group, version).approval_status
    if registered.get("reusedExistingVersion"):
        render.console.print(
            f"This run trained the same model as version {version} (same model and "
            "preprocessing content), so no new version was registered."
        )
    if status == "PendingManualApproval":
        render.console.print(
            f"A person reviews the new version's metrics and approves it:\n"
            f"  scoreline models show {group} {version}\n"
            f"  scoreline models approve {group} {version} -m 'test MSE within bounds'\n"
            "The demo approves it for you now."
        )
        client.set_model_status(group, version, "Approved", "approved by scoreline demo")
    else:
        render.console.print(f"Version {version} is {status} already.")

    render.console.rule("3. InferencePipeline: latest Approved model, data and model quality")
    inference = client.start(
        "InferencePipeline", {"GroundTruthData": "data/ground-truth.csv"}, wait=True
    )
    print_execution(inference, client.steps(inference.id))
    _summary(client, group, version, inference)
    if inference.status != "Succeeded":
        raise SystemExit(1)
    render.console.print(
        f"Try: scoreline --project {root} models list | executions list | "
        f"executions show {inference.id} | events list"
    )


def _metadata(client: Client, execution: ExecutionRecord, step: str) -> dict[str, Any]:
    for record in client.steps(execution.id):
        if record.step_name == step:
            return dict(record.metadata)
    return {}


def _output(client: Client, execution: ExecutionRecord, step: str, output: str) -> str:
    for record in client.steps(execution.id):
        if record.step_name == step and output in record.outputs:
            return str(record.outputs[output]["uri"])
    return "-"


def _summary(client: Client, group: str, version: int, inference: ExecutionRecord) -> None:
    model = client.model(group, version)
    test_mse = model.metrics.get("regression_metrics", {}).get("mse", {}).get("value")
    scored = _metadata(client, inference, "BatchInferenceStep")
    quality = _metadata(client, inference, "ModelQualityCheckStep")
    data_quality = _metadata(client, inference, "DataQualityCheckStep")

    def number(value: object) -> str:
        return f"{value:.4f}" if isinstance(value, int | float) else "-"

    render.table(
        "Summary",
        ["", ""],
        [
            ("Model version", f"{group}/{version} ({model.approval_status})"),
            ("Test MSE (training)", number(test_mse)),
            ("Inference MSE", number(quality.get("mse"))),
            (
                "Model quality",
                "passed" if quality.get("model_quality_passed") else "breach (alert recorded)",
            ),
            ("Rows scored", f"{scored.get('scored', 0)} of {scored.get('rows', 0)}"),
            ("Data-quality violations", str(data_quality.get("violations", "-"))),
            ("Predictions", _output(client, inference, "BatchInferenceStep", "predictions")),
            ("Monitoring reports", _output(client, inference, "DataQualityCheckStep", "report")),
        ],
    )
