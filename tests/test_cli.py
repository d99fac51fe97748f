"""The command line as a user runs it: one-line errors, --verbose, JSON shapes, demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ProjectDir

WRITE_OUT = 'print("hello from", __import__("os").environ["SCORELINE_STEP"])\n'


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scoreline", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("init", "run", "demo", "executions", "pipelines", "events", "models"):
        assert command in result.stdout


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; sys.argv=['scoreline','--help']\n"
        "from scoreline.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy','alembic','pydantic','fsspec','numpy','pyarrow',"
        "'xgboost','optuna','fastapi','uvicorn','httpx','jinja2','apprise') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "HEAVY []" in result.stdout


def test_errors_are_one_line_and_verbose_adds_the_traceback(project: ProjectDir) -> None:
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "A", "kind": "processing", "script": "scripts/a.py", "depends_on": ["Z"]}
            ],
        }
    )
    result = project.cli("run", "P", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {project.root}/pipelines/P.yaml: step 'A': depends on unknown step 'Z'"
    ]
    assert "Traceback" not in result.stderr
    verbose = project.cli("--verbose", "run", "P", check=False)
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "Nope"), "error: no pipeline named 'Nope' in the project (declared pipelines: P)"),
        (
            ("run", "P", "-p", "Missing=1"),
            "error: pipeline 'P': unknown parameter 'Missing' (its parameters: N)",
        ),
        (("run", "P", "-p", "N=abc"), "error: parameter 'N': expects Integer, got 'abc'"),
        (("run", "P", "-p", "oops"), "error: -p: 'oops' is not Name=Value"),
        (
            ("executions", "show", "nope"),
            "error: no execution 'nope' (see `scoreline executions list`)",
        ),
    ],
)
def test_bad_input_gets_one_clear_line(
    project: ProjectDir, args: tuple[str, ...], message: str
) -> None:
    project.script("a.py", WRITE_OUT)
    project.pipeline(
        {
            "name": "P",
            "parameters": [{"name": "N", "type": "Integer", "default": 1}],
            "steps": [{"name": "A", "kind": "processing", "script": "scripts/a.py"}],
        }
    )
    result = project.cli(*args, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == message


def test_missing_project_says_what_to_do(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scoreline", "--project", str(tmp_path), "pipelines", "list"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: {tmp_path}: no scoreline.yaml found "
        "(run `scoreline init DIR` or pass --project DIR)"
    )


def test_init_creates_a_project_once(tmp_path: Path) -> None:
    target = tmp_path / "new"
    scoreline = [sys.executable, "-m", "scoreline"]
    created = subprocess.run([*scoreline, "init", str(target)], capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    listed = subprocess.run(
        [*scoreline, "--project", str(target), "pipelines", "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [p["name"] for p in json.loads(listed.stdout)]
    assert names == [
        "InferencePipeline",
        "ModelQualityPipeline",
        "TrainingPipeline",
        "TrainingWHPOPipeline",
    ]
    for scaffold in ("scoreline.yaml", "envs/dev.yaml", "scripts/training.py"):
        assert (target / scaffold).is_file(), scaffold
    for data in ("training-data.csv", "inference-data.csv", "ground-truth.csv"):
        assert len((target / "data" / data).read_text().splitlines()) == 4177
    assert "CC BY 4.0" in (target / "data" / "README.md").read_text()
    again = subprocess.run([*scoreline, "init", str(target)], capture_output=True, text=True)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"error: {target}: already holds a scoreline.yaml (choose an empty folder)"
    )
    unknown = subprocess.run(
        [*scoreline, "init", str(tmp_path / "x"), "--example", "nope"],
        capture_output=True,
        text=True,
    )
    assert (
        unknown.stderr.strip()
        == "error: --example: unknown example 'nope' (available: abalone, sagemaker-abalone)"
    )


@pytest.mark.slow
def test_listing_commands_have_stable_json(project: ProjectDir) -> None:
    project.script("a.py", WRITE_OUT)
    project.pipeline(
        {"name": "P", "steps": [{"name": "A", "kind": "processing", "script": "scripts/a.py"}]}
    )
    run = project.cli_json("run", "P", "--wait")
    assert set(run) >= {
        "id",
        "pipeline_name",
        "pipeline_version",
        "status",
        "parameters",
        "created_at",
        "ended_at",
        "failure_reason",
        "steps",
    }
    assert run["status"] == "Succeeded"
    assert project.cli_json("pipelines", "list") == [
        {
            "name": "P",
            "declared": True,
            "latest_version": 1,
            "updated_at": project.cli_json("pipelines", "list")[0]["updated_at"],
        }
    ]
    listed = project.cli_json("executions", "list")
    assert [e["id"] for e in listed] == [run["id"]]
    shown = project.cli_json("executions", "show", run["id"])
    step = shown["steps"][0]
    assert set(step) == {
        "id",
        "execution_id",
        "step_name",
        "step_kind",
        "status",
        "attempt",
        "started_at",
        "ended_at",
        "failure_reason",
        "error_detail",
        "outputs",
        "metadata",
        "log_uri",
        "cache_key",
        "cache_hit_source",
        "process",
    }
    assert step["started_at"].endswith("Z")
    logs = project.cli("executions", "logs", run["id"], "--step", "A")
    assert "hello from A" in logs.stdout
    events = project.cli_json("events", "list")
    assert set(events[0]) == {"id", "seq", "time", "source", "detail-type", "resources", "detail"}


@pytest.mark.slow
def test_make_demo_runs_twice(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {**os.environ, "DEMO_DIR": str(tmp_path / "demo")}
    for run in (1, 2):
        result = subprocess.run(
            ["make", "--no-print-directory", "demo"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Summary" in result.stdout
        # A second run trains and approves a new version, which inference then picks up.
        assert f"Model version           │ poc-mpg/{run} (Approved)" in result.stdout
        assert f"model poc-mpg/{run} (Approved, latest Approved)" in result.stdout
        assert "Rows scored             │ 4177 of 4177" in result.stdout
