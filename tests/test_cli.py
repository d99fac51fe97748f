"""The command line as a user runs it: one-line errors, --verbose, JSON shapes, demo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ProjectDir
from tests.test_serve import wait_for

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
        unknown.stderr.strip() == "error: --example: unknown example 'nope' "
        "(available: abalone, classifier, sagemaker-abalone)"
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
            "file": "pipelines/P.yaml",
            "latest_version": 1,
            "updated_at": project.cli_json("pipelines", "list")[0]["updated_at"],
            "broken": None,
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
    for _ in range(2):
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
        # A second run trains the same model: it finds version 1, already approved.
        assert "Model version           │ poc-mpg/1 (Approved)" in result.stdout
        assert "model poc-mpg/1 (Approved, latest Approved)" in result.stdout
        assert "Rows scored             │ 4177 of 4177" in result.stdout
    assert "same model and preprocessing content" in result.stdout
    assert "Version 1 is Approved already." in result.stdout


def _leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [(path, command)]
    return [
        leaf
        for name, sub in sorted(subcommands.items())
        if not sub.hidden
        for leaf in _leaves(sub, (*path, name))
    ]


def _main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    from scoreline.cli.app import main

    monkeypatch.setattr(sys, "argv", ["scoreline", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    return int(ended.value.code or 0), capsys.readouterr().err


def test_every_command_answers_usage_errors_with_one_line_and_the_usage(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Walk every command: an unknown option, a missing argument and a value of the wrong
    type each give `error: ...` plus `usage: ...`, exit 2, no traceback (main() in process,
    the code path of the real command; test_usage_errors_in_a_real_process checks that)."""
    import typer

    from scoreline.cli.app import app

    monkeypatch.chdir(tmp_path)  # no project here: nothing may get past parsing
    leaves = _leaves(typer.main.get_command(app))
    assert len(leaves) > 30
    cases: list[list[str]] = [["--no-such-option"]]
    for path, command in leaves:
        cases.append([*path, "--no-such-option"])
        required = [p for p in command.params if p.param_type_name == "argument" and p.required]
        if required:
            cases.append(list(path))
        for param in command.params:
            annotation = getattr(param, "type_descriptor", None)
            numeric = annotation is not None and annotation.annotation in (int, float)
            if param.param_type_name == "option" and numeric:
                cases.append([*path, param.opts[0], "abc"])
    for args in cases:
        code, err = _main(args, monkeypatch, capsys)
        lines = err.strip().splitlines()
        assert code == 2, (args, err)
        assert len(lines) == 2, (args, err)
        assert lines[0].startswith("error: "), (args, err)
        named = " ".join(a for a in args if not a.startswith("-") and a != "abc")
        assert lines[1].startswith(f"usage: scoreline {named}".strip()), (args, err)
        assert "Traceback" not in err


def test_usage_errors_in_a_real_process(tmp_path: Path) -> None:
    for args, first in (
        (["run"], "error: Missing argument 'PIPELINE'."),
        (["executions", "lst"], "error: No such command 'lst'. Did you mean 'list'?"),
        (["run", "X", "--foo"], "error: No such option: --foo"),
        (["serve", "--port", "70000"], "error: Invalid value for '--port': Input should be less"),
        (["serve", "-e", "dev"], "error: No such option: -e (-e goes before the command"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "scoreline", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 2, result.stderr
        assert lines[0].startswith(first), result.stderr
        assert lines[1].startswith("usage: scoreline "), result.stderr


def test_help_shows_no_type_after_a_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scoreline", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert "<bool>" not in result.stdout
    assert "PIPELINE" in result.stdout


def test_a_classification_quality_step_is_shown_by_its_own_metrics(project: ProjectDir) -> None:
    (project.root / "data" / "predicted.csv").write_text("1\n0\n1\n1\n")
    (project.root / "data" / "truth.csv").write_text("1\n0\n0\n1\n")
    project.pipeline(
        {
            "name": "Q",
            "steps": [
                {
                    "name": "Quality",
                    "kind": "quality_check",
                    "check_type": "model_quality",
                    "problem_type": "binary_classification",
                    "predictions": "data/predicted.csv",
                    "ground_truth": "data/truth.csv",
                    "thresholds": {"accuracy": 0.5},
                }
            ],
        }
    )
    run = project.cli("run", "Q", "--wait")
    assert "accuracy 0.7500 vs 0.5: passed" in run.stdout
    execution = project.cli_json("executions", "list")[0]["id"]
    shown = project.cli("executions", "show", execution)
    assert "accuracy 0.7500 vs 0.5: passed" in shown.stdout


def test_events_list_shows_every_event_type_newest_first_with_paging(
    project: ProjectDir,
) -> None:
    from scoreline.types import DetailType

    store = project.client().store
    details: dict[str, dict[str, Any]] = {
        DetailType.STEP_STATUS: {"pipelineName": "P", "pipelineExecutionId": "e1",
                                 "stepName": "A", "currentStepStatus": "Failed",
                                 "failureReason": "boom"},
        DetailType.EXECUTION_STATUS: {"pipelineName": "P", "pipelineExecutionId": "e1",
                                      "currentPipelineExecutionStatus": "Failed"},
        DetailType.MODEL_PACKAGE_STATE: {"ModelPackageGroupName": "g", "ModelPackageVersion": 2,
                                         "ModelApprovalStatus": "Approved", "UpdatedBy": "ann"},
        DetailType.OBJECT_CREATED: {"trigger": "t", "uri": "s3://b/k.csv",
                                    "object": {"key": "k.csv"}},
        DetailType.DATA_QUALITY_VIOLATION: {"pipelineName": "P", "pipelineExecutionId": "e1",
                                            "stepName": "Q", "violations": 3},
        DetailType.MODEL_QUALITY_VIOLATION: {"pipelineName": "P", "pipelineExecutionId": "e1",
                                             "stepName": "M", "metrics": {"mse": 9.5}},
        # A retraining a rule started: the decision names the execution, not its pipeline.
        DetailType.RULE_DECISION: {"rule": "retrain", "decision": "started",
                                   "reason": "matched", "pipelineExecutionId": "e2",
                                   "targetPipeline": "TrainingPipeline"},
        DetailType.SCHEDULED: {"schedule": "nightly", "scheduledTime": "2026-12-01T00:00:00"},
        DetailType.DEPLOYMENT_APPLIED: {"env": "dev", "actor": "ann", "changes": [{}]},
        DetailType.DEPLOYMENT_DESTROYED: {"env": "dev", "actor": "ann", "changes": []},
        "API Write": {"actor": "token:ops", "method": "POST", "path": "/api/v1/tokens",
                      "status": 201},
        "API Requests Refused": {"count": 1000, "since": "2026-12-01T00:00:00"},
        "Something Custom": {"anything": [1, 2], "text": "x" * 300},
    }  # fmt: skip
    for detail_type, detail in details.items():
        store.append_event(str(detail_type), detail)
    shown = project.cli("events", "list", "--limit", "100", env={"COLUMNS": "250"}).stdout
    for expected in (
        "P/e1/A: boom",
        "model g/2 by ann",
        "s3://b/k.csv (trigger t)",
        "rule retrain: TrainingPipeline → e2",
        "schedule nightly",
        "environment dev by ann: 1 change(s)",
        "token:ops POST /api/v1/tokens → 201",
        "1000 refused request(s)",
        "anything=[1, 2]",
    ):
        assert expected in shown, expected
    assert shown.index("Something Custom") < shown.index("Pipeline Execution Step Status")

    newest = project.cli("events", "list", "--limit", "5", env={"COLUMNS": "250"}).stdout
    assert "8 older event(s): scoreline events list --before" in newest
    page = project.cli_json("events", "list", "--limit", "5")
    assert [e["seq"] for e in page] == [9, 10, 11, 12, 13], "JSON: in the order they happened"
    older = project.cli_json("events", "list", "--limit", "5", "--before", "9")
    assert [e["seq"] for e in older] == [4, 5, 6, 7, 8]
    typed = project.cli_json("events", "list", "--type", "API Write", "--since", "1h")
    assert [e["detail-type"] for e in typed] == ["API Write"]
    assert project.cli_json("events", "list", "--since", "2999-01-01") == []
    bad = project.cli("events", "list", "--since", "yesterday", check=False)
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: --since: 'yesterday' is neither a time nor a duration")


def test_pipelines_show_gives_each_value_and_where_it_comes_from(tmp_path: Path) -> None:
    from scoreline.examples import copy_example

    root = tmp_path / "abalone"
    copy_example("abalone", root)
    env = (root / "envs" / "dev.yaml").read_text()
    (root / "envs" / "dev.yaml").write_text(env + "\naccuracy_mse_threshold: 7.5\n")

    def show(name: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "scoreline", "--project", str(root), "pipelines", "show",
             name, "--json"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)

    quality = show("ModelQualityPipeline")
    by_name = {p["name"]: p for p in quality["parameters"]}
    assert by_name["AccuracyMseThreshold"]["value"] == 7.5
    assert by_name["AccuracyMseThreshold"]["source"] == (
        "${accuracy_mse_threshold} from envs/dev.yaml"
    )
    assert by_name["InferenceExecutionId"]["source"] == "required (-p)"
    assert quality["steps"][0]["reads_parameters"] == ["GroundTruthData"], (
        "an execution id selects an output; it names no file"
    )
    inference = {p["name"]: p for p in show("InferencePipeline")["parameters"]}
    assert inference["AccuracyMseThreshold"] == {
        "name": "AccuracyMseThreshold",
        "type": "Float",
        "value": 10.0,
        "source": "pipelines/InferencePipeline.params.yaml",
        "description": "",
    }, "the parameter file pins the value runs use"
    steps = {s["name"]: s for s in show("InferencePipeline")["steps"]}
    assert steps["ModelQualityCheckStep"]["depends_on"] == [
        "BatchInferenceStep",
        "GroundTruthAvailableCond",
    ]


def test_relative_file_parameters_are_the_current_folders_and_must_exist(
    project: ProjectDir,
) -> None:
    script = project.script(
        "count.py",
        """
        import os, pathlib
        (source,) = pathlib.Path(os.environ["SCORELINE_INPUT_RAW"]).iterdir()
        print("rows", len(source.read_text().split()))
        """,
    )
    project.pipeline(
        {
            "name": "P",
            "parameters": [{"name": "InputData", "type": "String", "default": "data/x.csv"}],
            "steps": [
                {"name": "Count", "kind": "processing", "script": script,
                 "inputs": {"raw": {"expr": "parameter", "name": "InputData"}}},
            ],
        }
    )  # fmt: skip
    batch = project.root / "data" / "batch"
    batch.mkdir()
    (batch / "today.csv").write_text("1\n2\n3\n")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scoreline", "run", "P", "--wait", "--json", *args],
            capture_output=True,
            text=True,
            cwd=batch,
        )

    done = run("-p", "InputData=today.csv")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["parameters"]["InputData"] == "data/batch/today.csv"
    missing = run("-p", "InputData=yesterday.csv")
    assert missing.returncode == 1
    assert missing.stderr.startswith(
        f"error: parameter 'InputData': 'yesterday.csv' does not exist (looked for "
        f"{batch / 'yesterday.csv'} and {project.root / 'yesterday.csv'})"
    )
    from_root = run("-p", "InputData=data/batch/today.csv")
    assert from_root.returncode == 0, "a path under the project folder means that, as before"
    default_missing = run()
    assert default_missing.returncode == 1, "the default data/x.csv does not exist either"
    assert len(project.client().executions()) == 2, "refused runs leave no execution"


def _waiting_pipeline(project: ProjectDir) -> None:
    script = project.script(
        "wait.py",
        """
        import json, os, pathlib, time
        progress = pathlib.Path(os.environ["SCORELINE_PROGRESS_FILE"])
        partial = progress.with_name(".progress.tmp")
        partial.write_text(json.dumps({"unit": "rows", "done": 500, "total": 1000}))
        os.replace(partial, progress)
        go = pathlib.Path(os.environ["SCORELINE_PROJECT_DIR"], "go")
        while not go.exists():
            time.sleep(0.05)
        """,
    )
    project.pipeline({"name": "W", "steps": [{"name": "Wait", "kind": "processing",
                                              "script": script}]})  # fmt: skip


def test_run_wait_shows_live_progress_and_ctrl_c_stops_watching_not_the_run(
    project: ProjectDir,
) -> None:
    import pty
    import signal

    _waiting_pipeline(project)
    leader, follower = pty.openpty()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "scoreline", "--project", str(project.root), "run", "W", "--wait"],
        stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
    )  # fmt: skip
    os.close(follower)
    screen = b""

    def shown() -> bool:
        nonlocal screen
        screen += os.read(leader, 65536)
        return b"Wait" in screen and b"Executing" in screen and b"500 of 1,000 rows (50%)" in screen

    wait_for(shown, 60, "the live table with the step's progress")
    assert b"Execution " in screen
    watcher.send_signal(signal.SIGINT)
    _, err = watcher.communicate(timeout=30)
    os.close(leader)
    assert watcher.returncode == 130
    (execution,) = project.client().executions()
    assert err.decode().strip() == (
        f"Stopped watching; execution {execution.id} goes on. Follow it: scoreline executions "
        f"show {execution.id} --follow; stop it: scoreline executions stop {execution.id}"
    )
    assert "Traceback" not in err.decode()
    (project.root / "go").touch()
    client = project.client()
    wait_for(lambda: client.execution(execution.id).status == "Succeeded", 60, "the run")


def test_run_wait_prints_step_changes_when_piped_and_can_stop_on_interrupt(
    project: ProjectDir,
) -> None:
    import signal

    _waiting_pipeline(project)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "scoreline", "--project", str(project.root), "run", "W",
         "--wait", "--stop-on-interrupt"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watcher.stdout is not None
    first = watcher.stdout.readline()  # one line per change when not a terminal
    assert first.rstrip().endswith("Wait: Executing"), first
    watcher.send_signal(signal.SIGINT)
    out, err = watcher.communicate(timeout=60)
    assert watcher.returncode == 1
    (execution,) = project.client().executions()
    assert execution.status == "Stopped"
    assert err.startswith(f"Stopping execution {execution.id}...")
    assert f"Execution {execution.id} of W v1: Stopped" in out


def test_a_broken_pipeline_file_stops_only_its_own_pipelines(project: ProjectDir) -> None:
    ok = project.script("ok.py", "print('ok')\n")
    project.pipeline({"name": "Good", "steps": [{"name": "A", "kind": "processing", "script": ok}]})
    project.pipeline(
        {
            "name": "Loop",
            "steps": [{"name": "A", "kind": "processing", "script": ok, "depends_on": ["A"]}],
        }
    )
    project.pipeline(
        {
            "name": "Lost",
            "steps": [{"name": "B", "kind": "processing", "script": "scripts/missing.py"}],
        }
    )
    assert project.cli_json("run", "Good", "--wait")["status"] == "Succeeded"
    listed = {r["file"]: r for r in project.cli_json("pipelines", "list")}
    assert listed["pipelines/Loop.yaml"]["name"] is None
    assert listed["pipelines/Loop.yaml"]["broken"].endswith(
        "Loop.yaml: step 'A': depends on itself (remove 'A' from depends_on)"
    )
    looped = project.cli("run", "Loop", check=False)
    assert looped.returncode == 1
    assert "depends on itself" in looped.stderr
    lost = project.cli("run", "Lost", check=False)
    assert lost.returncode == 1
    assert lost.stderr.strip() == (
        "error: pipeline 'Lost', step 'B': script 'scripts/missing.py' not found (paths in a "
        "pipeline are relative to the project root)"
    )
    assert [e["pipeline_name"] for e in project.cli_json("executions", "list")] == ["Good"]
    plan = project.cli("plan", check=False)
    assert plan.returncode == 1, "plan refuses a broken file rather than deleting its pipelines"
    assert "depends on itself" in plan.stderr


def test_notifications_retry_names_ids_that_are_not_dead_letters(project: ProjectDir) -> None:
    assert project.cli("notifications", "retry").stdout.strip() == "0 delivery(ies) queued again."
    unknown = project.cli("notifications", "retry", "7", check=False)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "error: 1 of the deliveries named are not dead letters (0 queued again) "
        "(see scoreline notifications list --status failed)"
    )


BAD_FILES = [
    (b"", "file is empty"),
    (b"a,b\n", "no rows to profile"),
    (b"a,b\n1,2\n3,\xff\xfe\n", "row 3, column 'b': holds bytes that are not UTF-8 text"),
    (b"a,b\n1,2\n3,inf\n", "row 3, column 'b': 'inf' is not a finite number"),
    (b'a,b\n1,2\n3,"' + b"9" * (1 << 21) + b"\n", "row 3: a field is longer than 1048576"),
    (b"a,b\n1,2\n3,4,5\n", "row 3: expected 2 columns, found 3"),
]


@pytest.mark.parametrize(("content", "message"), BAD_FILES)
def test_a_bad_data_file_is_one_line_in_monitoring_commands(
    tmp_path: Path, content: bytes, message: str
) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "scoreline.yaml").write_text("name: bad-files\n")
    (root / "good.csv").write_text("a,b\n1,2\n3,4\n")
    (root / "bad.csv").write_bytes(content)
    scoreline = [sys.executable, "-m", "scoreline", "--project", str(root), "monitoring"]

    def line(*args: str) -> str:
        done = subprocess.run([*scoreline, *args], capture_output=True, text=True, cwd=root)
        assert done.returncode == 1, done.stdout
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        return done.stderr.strip()

    made = subprocess.run(
        [*scoreline, "baseline", "good.csv", "--header", "--output", "base"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert made.returncode == 0, made.stderr
    assert message in line("baseline", "bad.csv", "--header", "--output", "out")
    assert message in line(
        "check", "bad.csv", "--header", "--baseline", "base", "--output", "checked"
    )


def test_the_field_length_limit_can_be_raised_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "scoreline.yaml").write_text("name: long-fields\n")
    (tmp_path / "long.csv").write_text("a,b\n1," + "x" * (1 << 21) + "\n")
    scoreline = [sys.executable, "-m", "scoreline", "--project", str(tmp_path), "monitoring"]
    command = [*scoreline, "baseline", "long.csv", "--header", "--output", "out"]

    def run(limit: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "SCORELINE_MAX_FIELD_CHARS": limit}
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env)

    refused = run("1048576")
    assert refused.returncode == 1
    assert "row 2: a field is longer than 1048576 characters" in refused.stderr
    assert run("4194304").returncode == 0, "a raised limit reads the file"
    bad = run("lots")
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "error: $SCORELINE_MAX_FIELD_CHARS: 'lots' is not a positive whole number"
    )
