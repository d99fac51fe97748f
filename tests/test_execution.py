"""End-to-end execution through the real orchestrator, real subprocesses and a SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ProjectDir, out, param

pytestmark = pytest.mark.slow

WRITE_OUT = """
import os, pathlib, sys
name = os.environ["SCORELINE_STEP"]
for key, value in os.environ.items():
    if key.startswith("SCORELINE_OUTPUT_"):
        pathlib.Path(value, "result.txt").write_text(name)
print("ran", name)
"""


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met before the deadline")


def statuses(project: ProjectDir, execution_id: str) -> dict[str, str]:
    return {s.step_name: s.status for s in project.client().steps(execution_id)}


def test_failing_script_records_error_and_marks_dependents_not_run(project: ProjectDir) -> None:
    ok = project.script("ok.py", WRITE_OUT)
    boom = project.script(
        "boom.py",
        """
        print("loading the data")
        raise ValueError("column 'rings' is missing")
    """,
    )
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "A", "kind": "processing", "script": ok, "outputs": ["x"]},
                {
                    "name": "B",
                    "kind": "processing",
                    "script": boom,
                    "inputs": {"x": out("A", "x")},
                    "outputs": ["y"],
                },
                {"name": "C", "kind": "processing", "script": ok, "inputs": {"y": out("B", "y")}},
                {"name": "D", "kind": "processing", "script": ok, "depends_on": ["C"]},
            ],
        }
    )
    execution = project.client().start("P", wait=True)
    assert execution.status == "Failed"
    assert execution.failure_reason is not None
    assert "step 'B' failed" in execution.failure_reason
    steps = {s.step_name: s for s in project.client().steps(execution.id)}
    assert steps["A"].status == "Succeeded"
    assert steps["B"].status == "Failed"
    assert steps["B"].failure_reason == (
        "script exited with code 1: ValueError: column 'rings' is missing"
    )
    assert steps["B"].error_detail is not None
    assert "loading the data" in steps["B"].error_detail
    assert "Traceback" in steps["B"].error_detail
    assert steps["B"].metadata["errorSource"] == "user"
    assert steps["C"].status == "NotRun"
    assert steps["C"].failure_reason == "upstream step 'B' Failed"
    assert steps["D"].status == "NotRun"
    logs = project.client().logs(execution.id, "B")
    assert "column 'rings' is missing" in logs[0].text


def test_parallel_branches_overlap_in_time(project: ProjectDir) -> None:
    # Each branch waits until the other has started, so they can only succeed together.
    script = project.script(
        "meet.py",
        """
        import os, pathlib, time
        here = pathlib.Path(os.environ["SCORELINE_PROJECT_DIR"])
        me = os.environ["SCORELINE_STEP"]
        other = {"Left": "Right", "Right": "Left"}[me]
        (here / f"{me}.started").touch()
        deadline = time.time() + 20
        while not (here / f"{other}.started").exists():
            assert time.time() < deadline, "the other branch never started"
            time.sleep(0.01)
    """,
    )
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "Left", "kind": "processing", "script": script},
                {"name": "Right", "kind": "processing", "script": script},
            ],
        }
    )
    execution = project.client().start("P", wait=True)
    assert execution.status == "Succeeded"
    steps = {s.step_name: s for s in project.client().steps(execution.id)}
    left, right = steps["Left"], steps["Right"]
    assert left.started_at
    assert right.started_at
    assert left.ended_at
    assert right.ended_at
    assert left.started_at < right.ended_at
    assert right.started_at < left.ended_at


def test_cache_hit_on_identical_rerun_and_miss_after_input_change(project: ProjectDir) -> None:
    (project.root / "data" / "in.csv").write_text("a\n1\n")
    script = project.script(
        "copy.py",
        """
        import os, pathlib, shutil
        src = pathlib.Path(os.environ["SCORELINE_INPUT_RAW"], "in.csv")
        shutil.copy(src, pathlib.Path(os.environ["SCORELINE_OUTPUT_CLEAN"], "out.csv"))
    """,
    )
    project.pipeline(
        {
            "name": "P",
            "parameters": [{"name": "InputData", "type": "String", "default": "data/in.csv"}],
            "steps": [
                {
                    "name": "Copy",
                    "kind": "processing",
                    "script": script,
                    "inputs": {"raw": param("InputData")},
                    "outputs": ["clean"],
                    "cache": {"enabled": True, "expire_after": "PT1H"},
                }
            ],
        }
    )
    client = project.client()
    first = client.start("P", wait=True)
    second = client.start("P", wait=True)
    (project.root / "data" / "in.csv").write_text("a\n2\n")
    third = client.start("P", wait=True)
    s1, s2, s3 = (client.steps(e.id)[0] for e in (first, second, third))
    assert s1.cache_hit_source is None
    assert s2.cache_hit_source == s1.id
    assert s2.outputs == s1.outputs
    assert s3.cache_hit_source is None
    assert s3.cache_key != s1.cache_key
    uri = s3.outputs["clean"]["uri"]
    assert client.artifacts.read_bytes(uri + "/out.csv") == b"a\n2\n"


def test_retry_runs_only_failed_and_not_run_steps(project: ProjectDir) -> None:
    ok = project.script("ok.py", WRITE_OUT)
    flaky = project.script(
        "flaky.py",
        """
        import os, pathlib
        if not pathlib.Path(os.environ["SCORELINE_PROJECT_DIR"], "fixed").exists():
            raise SystemExit("not fixed yet")
        pathlib.Path(os.environ["SCORELINE_OUTPUT_Y"], "y.txt").write_text("y")
    """,
    )
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "A", "kind": "processing", "script": ok, "outputs": ["x"]},
                {
                    "name": "B",
                    "kind": "processing",
                    "script": flaky,
                    "inputs": {"x": out("A", "x")},
                    "outputs": ["y"],
                },
                {"name": "C", "kind": "processing", "script": ok, "inputs": {"y": out("B", "y")}},
            ],
        }
    )
    client = project.client()
    execution = client.start("P", wait=True)
    assert execution.status == "Failed"
    before = {s.step_name: s for s in client.steps(execution.id)}
    assert before["B"].failure_reason == "script exited with code 1: not fixed yet"
    (project.root / "fixed").touch()
    retried = project.cli("executions", "retry", execution.id, "--wait")
    assert "Succeeded" in retried.stdout
    after = {s.step_name: s for s in client.steps(execution.id)}
    assert client.execution(execution.id).status == "Succeeded"
    assert after["A"].attempt == 1
    assert after["A"].started_at == before["A"].started_at
    assert after["B"].attempt == 2
    assert after["B"].status == "Succeeded"
    assert after["C"].attempt == 2
    assert after["C"].status == "Succeeded"


def test_retry_policy_retries_a_failing_task(project: ProjectDir) -> None:
    script = project.script(
        "third_time.py",
        """
        import os, sys
        attempt = int(os.environ["SCORELINE_ATTEMPT"])
        sys.exit(0 if attempt == 3 else f"attempt {attempt} failed")
    """,
    )
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {
                    "name": "A",
                    "kind": "processing",
                    "script": script,
                    "retry": {"max_attempts": 3, "interval_seconds": 0.05, "backoff_rate": 2},
                },
            ],
        }
    )
    client = project.client()
    execution = client.start("P", wait=True)
    assert execution.status == "Succeeded"
    (step,) = client.steps(execution.id)
    assert step.attempt == 3
    assert [a["failureReason"] for a in step.metadata["previousAttempts"]] == [
        "script exited with code 1: attempt 1 failed",
        "script exited with code 1: attempt 2 failed",
    ]
    assert [
        e.detail["currentStepStatus"]
        for e in client.events(execution_id=execution.id)
        if e.detail.get("stepName") == "A"
    ] == ["Starting", "Executing", "Starting", "Executing", "Starting", "Executing", "Succeeded"]


SLOW = """
import os, pathlib, time
pathlib.Path(os.environ["SCORELINE_PROJECT_DIR"], os.environ["SCORELINE_STEP"] + ".running").touch()
time.sleep(60)
"""


def test_stop_terminates_running_steps(project: ProjectDir) -> None:
    slow = project.script("slow.py", SLOW)
    ok = project.script("ok.py", WRITE_OUT)
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "Slow", "kind": "processing", "script": slow, "outputs": ["x"]},
                {
                    "name": "After",
                    "kind": "processing",
                    "script": ok,
                    "inputs": {"x": out("Slow", "x")},
                },
            ],
        }
    )
    started = project.cli_json("run", "P")
    execution_id = started["id"]
    wait_for(lambda: (project.root / "Slow.running").exists())
    project.cli("executions", "stop", execution_id)
    client = project.client()
    final = wait_for(
        lambda: (
            client.execution(execution_id).status in ("Stopped",) and client.execution(execution_id)
        ),
        timeout=30,
    )
    assert final.failure_reason == "stopped on request"
    assert statuses(project, execution_id) == {"Slow": "Stopped", "After": "NotRun"}
    types = [
        e.detail.get("currentPipelineExecutionStatus")
        for e in client.events(execution_id=execution_id)
        if "currentPipelineExecutionStatus" in e.detail
    ]
    assert types == ["Executing", "Stopping", "Stopped"]


def test_event_sequence_is_complete_and_ordered(project: ProjectDir) -> None:
    ok = project.script("ok.py", WRITE_OUT)
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "A", "kind": "processing", "script": ok, "outputs": ["x"]},
                {"name": "B", "kind": "processing", "script": ok, "inputs": {"x": out("A", "x")}},
            ],
        }
    )
    execution = project.client().start("P", wait=True)
    events = project.cli_json("events", "list", "--execution", execution.id)
    seen = [
        (
            e["detail"].get("stepName"),
            e["detail"].get("currentStepStatus") or e["detail"]["currentPipelineExecutionStatus"],
        )
        for e in events
    ]
    assert seen == [
        (None, "Executing"),
        ("A", "Starting"),
        ("A", "Executing"),
        ("A", "Succeeded"),
        ("B", "Starting"),
        ("B", "Executing"),
        ("B", "Succeeded"),
        (None, "Succeeded"),
    ]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)
    first = events[1]
    assert first["source"] == "scoreline"
    assert first["detail-type"] == "Pipeline Execution Step Status Change"
    assert first["detail"]["pipelineName"] == "P"
    assert first["detail"]["previousStepStatus"] is None
    assert events[2]["detail"]["previousStepStatus"] == "Starting"
    assert events[-1]["detail-type"] == "Pipeline Execution Status Change"
    assert events[-1]["detail"]["previousPipelineExecutionStatus"] == "Executing"


def test_step_timeout_fails_the_step_and_kills_it(project: ProjectDir) -> None:
    slow = project.script("slow.py", SLOW)
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "Slow", "kind": "processing", "script": slow, "timeout_seconds": 0.5}
            ],
        }
    )
    client = project.client()
    execution = client.start("P", wait=True)
    assert execution.status == "Failed"
    (step,) = client.steps(execution.id)
    assert step.failure_reason == "timed out after 0.5 s"
    assert step.metadata["errorSource"] == "user"


def test_killed_orchestrator_is_detected_on_next_start(project: ProjectDir) -> None:
    slow = project.script("slow.py", SLOW)
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "Slow", "kind": "processing", "script": slow},
            ],
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoreline", "--project", str(project.root), "run", "P", "--wait"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    marker = project.root / "Slow.running"
    wait_for(marker.exists)
    step_pid = int(
        wait_for(
            lambda: (
                project.client().steps(project.client().executions()[0].id)[0].process or ""
            ).partition(":")[2]
        )
    )
    # `run --wait` only watches: the orchestrator is its own process, and that is killed.
    owner = project.client().executions()[0].owner or ""
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)
    listed = project.cli_json("executions", "list")
    assert listed[0]["status"] == "Failed"
    assert proc.wait(timeout=60) == 1, "the watcher sees the run end, and says it failed"
    assert listed[0]["failure_reason"].startswith("orchestrator lost")
    execution_id = listed[0]["id"]
    assert statuses(project, execution_id) == {"Slow": "Failed"}
    (step,) = project.client().steps(execution_id)
    assert step.failure_reason == "orchestrator lost while the step was Executing"
    wait_for(
        lambda: (
            not Path(f"/proc/{step_pid}").exists()
            or "Z" in Path(f"/proc/{step_pid}/stat").read_text().rpartition(")")[2][:3]
        )
    )


def test_run_wait_itself_closes_an_execution_whose_orchestrator_died(
    project: ProjectDir,
) -> None:
    """No other command and no ``serve`` runs recovery here: the watcher must, or it waits
    forever (as it did when an orchestrator failed at import)."""
    slow = project.script("slow.py", SLOW)
    project.pipeline(
        {"name": "P", "steps": [{"name": "Slow", "kind": "processing", "script": slow}]}
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoreline", "--project", str(project.root), "run", "P", "--wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    wait_for((project.root / "Slow.running").exists)
    owner = project.client().executions()[0].owner or ""
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)
    assert proc.wait(timeout=30) == 1
    assert "orchestrator lost" in (proc.stdout.read() if proc.stdout else "")


def test_a_step_dies_with_its_orchestrator_at_once(project: ProjectDir) -> None:
    slow = project.script("slow.py", SLOW)
    project.pipeline({"name": "P", "steps": [{"name": "Slow", "kind": "processing",
                                              "script": slow}]})  # fmt: skip
    execution_id = project.cli_json("run", "P")["id"]
    client = project.client()

    def step_process() -> str:
        steps = client.steps(execution_id)
        return (steps[0].process or "").partition(":")[2] if steps else ""

    step_pid = int(wait_for(step_process, 60))
    owner = wait_for(lambda: client.execution(execution_id).owner, 60)
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)

    def gone() -> bool:
        stat = Path(f"/proc/{step_pid}/stat")
        return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] == "Z"

    wait_for(gone, 2.0)  # no recovery has run: the kernel ended it with its parent


def test_detached_run_finishes_and_outputs_are_per_execution(project: ProjectDir) -> None:
    ok = project.script("ok.py", WRITE_OUT)
    project.pipeline(
        {
            "name": "P",
            "steps": [
                {"name": "A", "kind": "processing", "script": ok, "outputs": ["x"]},
            ],
        }
    )
    first = project.cli_json("run", "P")["id"]
    second = project.cli_json("run", "P")["id"]
    client = project.client()
    for execution_id in (first, second):
        wait_for(lambda e=execution_id: client.execution(e).status == "Succeeded")
    uris = {client.steps(e)[0].outputs["x"]["uri"] for e in (first, second)}
    assert len(uris) == 2
    assert all(
        f"/executions/{e}/A/x" in u
        for e, u in zip(
            (first, second),
            [client.steps(e)[0].outputs["x"]["uri"] for e in (first, second)],
            strict=True,
        )
    )


def test_training_step_gets_the_sagemaker_contract(project: ProjectDir) -> None:
    (project.root / "data" / "train.csv").write_text("1,2\n")
    script = project.script(
        "train.py",
        """
        import argparse, json, os, pathlib
        parser = argparse.ArgumentParser()
        parser.add_argument("--max_depth", type=int)
        parser.add_argument("--eta", type=float)
        args = parser.parse_args()
        seen = {
            "args": vars(args),
            "channel": sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])),
            "hps": json.loads(os.environ["SM_HPS"]),
            "output_data": os.path.isdir(os.environ["SM_OUTPUT_DATA_DIR"]),
        }
        pathlib.Path(os.environ["SM_MODEL_DIR"], "seen.json").write_text(json.dumps(seen))
    """,
    )
    project.pipeline(
        {
            "name": "T",
            "steps": [
                {
                    "name": "Train",
                    "kind": "training",
                    "script": script,
                    "inputs": {"train": "data/train.csv"},
                    "hyperparameters": {"max_depth": 4, "eta": 0.2},
                },
            ],
        }
    )
    client = project.client()
    execution = client.start("T", wait=True)
    assert execution.status == "Succeeded"
    (step,) = client.steps(execution.id)
    seen = json.loads(client.artifacts.read_bytes(step.outputs["model"]["uri"] + "/seen.json"))
    assert seen == {
        "args": {"max_depth": 4, "eta": 0.2},
        "channel": ["train.csv"],
        "hps": {"eta": "0.2", "max_depth": "4"},
        "output_data": True,
    }


def test_parameter_precedence_defaults_file_then_command_line(project: ProjectDir) -> None:
    ok = project.script("ok.py", WRITE_OUT)
    project.pipeline(
        {
            "name": "P",
            "parameters": [
                {"name": "A", "type": "Integer", "default": 1},
                {"name": "B", "type": "Float", "default": 1.0},
                {"name": "C", "type": "String", "default": "default"},
            ],
            "steps": [{"name": "S", "kind": "processing", "script": ok}],
        }
    )
    (project.root / "pipelines" / "P.params.yaml").write_text(
        "Parameters:\n  B: 2.5\n  C: from-file\n"
    )
    run = project.cli_json("run", "P", "--wait", "-p", "C=from-cli")
    assert run["parameters"] == {"A": 1, "B": 2.5, "C": "from-cli"}
    (project.root / "pipelines" / "P.params.yaml").write_text("Parameters:\n  B: lots\n")
    bad = project.cli("run", "P", check=False)
    assert bad.stderr.strip() == "error: parameter 'B': expects Float, got 'lots'"


def test_idempotency_token_returns_the_first_execution(project: ProjectDir) -> None:
    ok = project.script("ok.py", WRITE_OUT)
    project.pipeline({"name": "P", "steps": [{"name": "A", "kind": "processing", "script": ok}]})
    first = project.cli_json("run", "P", "--wait", "--client-request-token", "abc")
    again = project.cli_json("run", "P", "--client-request-token", "abc")
    assert again["id"] == first["id"]
    assert len(project.client().executions()) == 1


STAMP = """
import os, sys, time
stamps, index = sys.argv[1], sys.argv[2]
def stamp(what):
    with open(stamps, "a") as log:  # one short append per line: lines never interleave
        log.write(f"{index} {what} {time.time()}\\n")
stamp("start")
time.sleep(0.8)
stamp("end")
"""


def test_executions_beyond_the_limit_wait_their_turn_oldest_first(project: ProjectDir) -> None:
    (project.root / "scoreline.yaml").write_text(
        "name: test\nexecutor: {max_workers: 4, max_concurrent_executions: 2}\n"
    )
    stamps = project.root / "stamps.txt"
    script = project.script("stamp.py", STAMP)
    project.pipeline(
        {
            "name": "P",
            "parameters": [{"name": "Index", "type": "String", "default": "0"}],
            "steps": [
                {
                    "name": "Stamp",
                    "kind": "processing",
                    "script": script,
                    "arguments": [str(stamps), param("Index")],
                }
            ],
        }
    )
    client = project.client()
    records = [client.start("P", {"Index": str(i)}) for i in range(6)]
    started = [r.id for r in records]
    assert [r.status for r in records] == ["Executing"] * 2 + ["Pending"] * 4
    waiting = [client.store.queue_position(client.execution(e)) for e in started[2:]]
    waiting = [p for p in waiting if p is not None]  # some may have had their turn by now
    assert waiting == list(range(1, len(waiting) + 1))
    extra = client.start("P", {"Index": "9"})
    stopped = client.stop(extra.id)  # waiting: stopped at once, it never runs
    assert (stopped.status, stopped.failure_reason) == ("Stopped", "stopped before its turn came")
    shown = project.cli_json("executions", "show", started[5])
    if shown["status"] == "Pending":  # a busy machine may have given it its turn already
        assert 1 <= shown["queue_position"] <= 4
    wait_for(lambda: all(client.execution(e).status == "Succeeded" for e in started), timeout=120)
    events = [line.split() for line in stamps.read_text().splitlines()]
    running, most = 0, 0
    for _, what, _ in sorted(events, key=lambda e: float(e[2])):
        running += 1 if what == "start" else -1
        most = max(most, running)
    assert most <= 2, "at most two executions ran their steps at once"
    began = {int(index): float(at) for index, what, at in events if what == "start"}
    for older in range(6):  # admitted oldest first; two admitted together may start either way
        assert all(began[newer] > began[older] - 0.5 for newer in range(older + 1, 6)), began
