"""``scoreline demo``: the bundled example project, run end to end, with a summary."""

from __future__ import annotations

import tempfile
from pathlib import Path

from scoreline.cli import render
from scoreline.client import Client
from scoreline.examples import copy_example
from scoreline.settings import PROJECT_FILE


def run_demo(directory: Path | None) -> None:
    """Copy the demo project (unless present), run its pipeline twice, and summarise."""
    root = (directory or Path(tempfile.mkdtemp(prefix="scoreline-demo-"))).resolve()
    if not (root / PROJECT_FILE).exists():
        copy_example("demo", root)
    render.console.print(f"Demo project: {root}")
    client = Client.open(root)

    render.console.rule("1. DemoPipeline with its defaults")
    good = client.start("DemoPipeline", wait=True)
    print_steps(client, good.id)

    render.console.rule("2. DemoPipeline with a threshold the model cannot meet")
    bad = client.start("DemoPipeline", {"MseThreshold": "0.01"}, wait=True)
    print_steps(client, bad.id)

    mse = _mse(client, good.id)
    render.table(
        "Summary",
        ["Execution", "Parameters", "Status", "Test MSE", "Outcome"],
        [
            (
                good.id,
                _params(good.parameters),
                render.status(good.status),
                mse,
                "report published" if good.status == "Succeeded" else good.failure_reason,
            ),
            (
                bad.id,
                _params(bad.parameters),
                render.status(bad.status),
                _mse(client, bad.id),
                bad.failure_reason,
            ),
        ],
    )
    render.console.print(
        f"Outputs are under {client.project.artifact_root}/executions/<execution>/<step>/.\n"
        f"Try: scoreline --project {root} executions list | executions show {good.id} | "
        f"executions logs {good.id} | events list"
    )
    if good.status != "Succeeded" or bad.status != "Failed":
        raise SystemExit(1)


def print_steps(client: Client, execution_id: str) -> None:
    steps = client.steps(execution_id)
    execution = client.execution(execution_id)
    render.console.print(
        f"Execution {execution.id}: {render.status(execution.status)}"
        + (f" — {execution.failure_reason}" if execution.failure_reason else "")
    )
    render.table(
        None,
        ["Step", "Status", "Duration", "Note"],
        [
            (
                s.step_name,
                render.status(s.status),
                render.duration(s.started_at, s.ended_at),
                "cache hit" if s.cache_hit_source else (s.failure_reason or ""),
            )
            for s in steps
        ],
    )


def _params(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if k == "MseThreshold")


def _mse(client: Client, execution_id: str) -> str:
    import json

    for step in client.steps(execution_id):
        if step.step_name == "Evaluate" and "evaluation" in step.outputs:
            uri = step.outputs["evaluation"]["uri"] + "/evaluation.json"
            report = json.loads(client.artifacts.read_bytes(uri))
            return f"{report['regression_metrics']['mse']['value']:.4f}"
    return "-"
