"""Executions that survive faults: a crash between committing outputs and recording them, a
paused orchestrator past its lease (fencing), a retry of a lost execution (no false alarm),
a PostgreSQL restart while executions run. Real processes, signals and servers."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from scoreline.store.tables import utcnow
from scoreline.types import DetailType, ExecutionStatus, StepStatus
from tests.conftest import ProjectDir, out
from tests.test_execution import wait_for

pytestmark = pytest.mark.slow

# Each run of a step appends a line to runs/<execution>-<step>.txt when it completes, so a
# test can tell how often its work really happened. The first attempt of a step named in
# BLOCK_FIRST waits (marked ".running") until it is killed; with WAIT_FOR, until that file
# exists.
WORK = """
import os, pathlib, sys, time
root = pathlib.Path(os.environ["SCORELINE_PROJECT_DIR"])
step, attempt = os.environ["SCORELINE_STEP"], os.environ["SCORELINE_ATTEMPT"]
execution = os.environ["SCORELINE_EXECUTION_ID"]
if step in os.environ.get("BLOCK_FIRST", "").split(",") and attempt == "1":
    (root / f"{step}.running").write_text(str(os.getpid()))
    time.sleep(300)
if os.environ.get("WAIT_FOR") and attempt == "1":
    (root / f"{step}.running").write_text(str(os.getpid()))
    while not (root / os.environ["WAIT_FOR"]).exists():
        time.sleep(0.05)
time.sleep(float(os.environ.get("STEP_SECONDS", "0")))
for key, value in os.environ.items():
    if key.startswith("SCORELINE_OUTPUT_"):
        pathlib.Path(value, "result.txt").write_text(step)
(root / "runs").mkdir(exist_ok=True)
with open(root / "runs" / f"{execution}-{step}.txt", "a") as runs:
    runs.write(attempt + "\\n")
print("done", step, attempt)
"""


def chain(project: ProjectDir, environment: dict[str, str] | None = None) -> None:
    """Pipeline P: A -> B -> C, each a WORK step with one output."""
    script = project.script("work.py", WORK)
    steps: list[dict[str, Any]] = []
    for name, upstream in (("A", None), ("B", "A"), ("C", "B")):
        step: dict[str, Any] = {
            "name": name,
            "kind": "processing",
            "script": script,
            "outputs": ["out"],
            "environment": environment or {},
        }
        if upstream:
            step["inputs"] = {"up": out(upstream, "out")}
        steps.append(step)
    project.pipeline({"name": "P", "steps": steps})


def settings(project: ProjectDir, extra: str) -> None:
    path = project.root / "scoreline.yaml"
    path.write_text(path.read_text() + extra)


def runs(project: ProjectDir, execution_id: str) -> dict[str, int]:
    """How many times each step's work completed in ``execution_id``."""
    found = {}
    for path in (project.root / "runs").glob(f"{execution_id}-*.txt"):
        found[path.stem.split("-", 1)[1]] = len(path.read_text().splitlines())
    return found


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def execution_statuses(project: ProjectDir, execution_id: str) -> list[str]:
    """The execution's status events, oldest first."""
    events = project.client().events(execution_id=execution_id, limit=10_000)
    return [
        e.detail["currentPipelineExecutionStatus"]
        for e in events
        if e.detail_type == DetailType.EXECUTION_STATUS
    ]


def retry_wait(project: ProjectDir, execution_id: str) -> str:
    project.cli("executions", "retry", execution_id, "--wait", check=False)
    return project.client().execution(execution_id).status


def lease_expired(project: ProjectDir, execution_id: str, lease: float) -> bool:
    beat = project.client().execution(execution_id).heartbeat_at
    return beat is not None and utcnow() - beat > timedelta(seconds=lease)


def test_crash_between_commit_and_status_is_completed_by_retry(project: ProjectDir) -> None:
    chain(project)
    started = project.cli("run", "P", "--json", env={"SCORELINE_TEST_CRASH": "after-commit:B"})
    execution_id = json.loads(started.stdout)["id"]
    # The orchestrator killed itself after B's outputs were committed, before recording it.
    wait_for(lambda: project.cli_json("executions", "show", execution_id)["status"] == "Failed")
    steps = {s.step_name: s for s in project.client().steps(execution_id)}
    assert steps["B"].status == "Failed"
    assert steps["B"].failure_reason == "orchestrator lost while the step was Executing"
    assert runs(project, execution_id) == {"A": 1, "B": 1}

    assert retry_wait(project, execution_id) == "Succeeded"
    steps = {s.step_name: s for s in project.client().steps(execution_id)}
    assert runs(project, execution_id) == {"A": 1, "B": 1, "C": 1}, "B's work was reused"
    assert steps["B"].status == "Succeeded"
    assert steps["B"].attempt == 1
    assert steps["B"].metadata["adoptedCommittedOutputs"] is True
    uri = steps["B"].outputs["out"]["uri"]
    assert uri.endswith(f"executions/{execution_id}/B/out")
    assert project.client().artifacts.read_bytes(f"{uri}/result.txt") == b"B"


def test_a_retry_of_a_step_with_stale_outputs_writes_beside_them(project: ProjectDir) -> None:
    """Outputs committed without the attempt's result (a crash in between): the next
    attempt runs again and writes to its own folder, never into the committed one."""
    chain(project)
    execution_id = project.cli_json("run", "P", "--wait")["id"]
    client = project.client()
    b = {s.step_name: s for s in client.steps(execution_id)}["B"]
    result = client.artifacts.root + f"/executions/{execution_id}/B/logs/attempt-1.result.json"
    Path(result).unlink()
    client.store.update_step(b.id, status=StepStatus.FAILED, failure_reason="crashed")
    client.store.set_execution_status(execution_id, ExecutionStatus.FAILED)
    partial = Path(client.artifacts.root) / "executions" / execution_id / "B" / "out.tmp-dead"
    partial.mkdir()  # what a commit killed half-way leaves
    (partial / "part.bin").write_bytes(b"x")

    assert retry_wait(project, execution_id) == "Succeeded"
    b = {s.step_name: s for s in client.steps(execution_id)}["B"]
    assert (b.status, b.attempt) == ("Succeeded", 2)
    assert b.outputs["out"]["uri"].endswith(f"executions/{execution_id}/B/attempt-2/out")
    assert runs(project, execution_id) == {"A": 1, "B": 2, "C": 1}
    assert not partial.exists(), "swept before the step ran again"
    work = project.root / ".scoreline" / "work" / execution_id
    work.mkdir(parents=True, exist_ok=True)  # a failed attempt's folder, kept until the end
    assert client.sweep_work() >= 1
    assert not work.exists()


def test_retry_of_a_lost_execution_raises_no_false_alarm(project: ProjectDir) -> None:
    """`executions retry --wait` does what this test does step by step."""
    lease = 2.0
    settings(project, f"lease_seconds: {lease}\n")
    chain(project, {"BLOCK_FIRST": "B"})
    execution_id = project.cli_json("run", "P")["id"]
    wait_for((project.root / "B.running").exists, 60)
    owner = project.client().execution(execution_id).owner or ""
    os.kill(int(owner.split(":")[1]), signal.SIGKILL)
    assert project.cli_json("executions", "show", execution_id)["status"] == "Failed"
    assert execution_statuses(project, execution_id) == ["Executing", "Failed"]
    wait_for(lambda: lease_expired(project, execution_id, lease), 30)

    # A retry first makes the execution Executing again; recovery running at that moment
    # (a `serve`, another command) must judge it by a fresh lease, not the lost run's.
    client = project.client()
    client.store.set_execution_status(execution_id, ExecutionStatus.EXECUTING)
    assert client.recover() == []
    assert client.run_execution(execution_id).status == "Succeeded"
    assert execution_statuses(project, execution_id) == [
        "Executing",
        "Failed",
        "Executing",
        "Succeeded",
    ], "no Failed event (and so no Failed mail) for the retry"


def test_an_orchestrator_paused_past_its_lease_is_fenced(project: ProjectDir) -> None:
    lease = 2.0
    settings(project, f"lease_seconds: {lease}\n")
    chain(project, {"BLOCK_FIRST": "B"})
    execution_id = project.cli_json("run", "P")["id"]
    marker = project.root / "B.running"
    wait_for(marker.exists, 60)
    step_pid = int(marker.read_text())
    orchestrator = int((project.client().execution(execution_id).owner or "").split(":")[1])
    os.kill(orchestrator, signal.SIGSTOP)
    try:
        wait_for(lambda: lease_expired(project, execution_id, lease), 30)
        # Recovery (in the retry) declares it lost and kills its step; the retry completes.
        assert retry_wait(project, execution_id) == "Succeeded"
        assert not alive(step_pid)
        recorded = [(s.step_name, s.status, s.attempt) for s in project.client().steps(
            execution_id)]  # fmt: skip
        events = len(project.client().events(execution_id=execution_id, limit=10_000))
    finally:
        os.kill(orchestrator, signal.SIGCONT)
    wait_for(lambda: not alive(orchestrator), 60)
    assert runs(project, execution_id) == {"A": 1, "B": 1, "C": 1}
    assert [(s.step_name, s.status, s.attempt) for s in project.client().steps(execution_id)] == (
        recorded
    )
    assert len(project.client().events(execution_id=execution_id, limit=10_000)) == events, (
        "the fenced orchestrator recorded nothing more"
    )
    assert project.client().execution(execution_id).status == "Succeeded"
    log = project.root / ".scoreline" / "logs" / f"orchestrator-{execution_id}.log"
    assert "no longer run by this orchestrator" in log.read_text()


@pytest.mark.team_tier
def test_executions_survive_postgresql_restarts(project: ProjectDir) -> None:
    from tests.servers import PostgresCluster, new_database

    cluster = PostgresCluster()
    cluster.start()
    try:
        settings(project, f"store: {new_database(cluster.url)}\n")
        chain(project, {"STEP_SECONDS": "1.5"})
        ids = [project.cli_json("run", "P")["id"] for _ in range(5)]
        client = project.client()
        for _ in range(3):
            before = sum(len(runs(project, i)) for i in ids)
            wait_for(lambda b=before: sum(len(runs(project, i)) for i in ids) > b, 60)
            cluster.restart()
        wait_for(
            lambda: (
                all(client.execution(i).status == "Succeeded" for i in ids)
                or any(client.execution(i).status == "Failed" for i in ids)
            ),
            180,
            0.5,
        )
        for execution_id in ids:
            execution = client.execution(execution_id)
            assert execution.status == "Succeeded", execution.failure_reason
            assert runs(project, execution_id) == {"A": 1, "B": 1, "C": 1}
            assert {s.attempt for s in client.steps(execution_id)} == {1}
            statuses = execution_statuses(project, execution_id)
            if statuses[0] == "Pending":  # beyond the run queue's limit, it waited its turn
                statuses.pop(0)
            assert statuses == ["Executing", "Succeeded"], "each status change once"
            transitions = Counter(
                (e.detail["stepName"], e.detail["attempt"], e.detail["currentStepStatus"])
                for e in client.events(execution_id=execution_id, limit=10_000)
                if "stepName" in e.detail
            )
            assert max(transitions.values()) == 1, transitions
        client.close()
    finally:
        cluster.remove()


@pytest.mark.team_tier
def test_a_database_outage_while_sending_does_not_send_twice() -> None:
    """The database goes down while a message is being sent (the receiver stops it before
    answering, and starts it again 2 s later): "sent" is still recorded, once."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from scoreline.events.notify import Notifier
    from scoreline.settings import NotificationSettings
    from scoreline.store import MetadataStore
    from tests.servers import PostgresCluster, new_database

    cluster = PostgresCluster()
    cluster.start()
    received: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            cluster.stop()
            threading.Timer(2.0, cluster.start).start()
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = MetadataStore(new_database(cluster.url))
        hook = f"json://127.0.0.1:{server.server_address[1]}/hook"
        notifier = Notifier(store, NotificationSettings(urls=[hook]), {}, lambda e, s: "")
        store.append_event(
            DetailType.EXECUTION_STATUS,
            {"pipelineName": "P", "pipelineExecutionId": "e1",
             "currentPipelineExecutionStatus": "Failed"},
        )  # fmt: skip
        now = utcnow()
        assert notifier.enqueue(now) == 1
        assert len(notifier.deliver(now)) == 1
        (delivery,) = store.deliveries.list()
        assert delivery.status == "sent"
        assert notifier.deliver(now + timedelta(minutes=5)) == []
        assert len(received) == 1
        store.close()
    finally:
        server.shutdown()
        server.server_close()
        cluster.remove()


@pytest.mark.team_tier
def test_steps_that_need_s3_while_it_is_down_fail_as_a_system_fault_and_retry_completes(
    project: ProjectDir, tmp_path: Path
) -> None:
    from tests.servers import SeaweedServer

    server = SeaweedServer(tmp_path / "seaweed")
    server.start()
    try:
        settings(project, f"artifacts: s3://landing/{tmp_path.name}/artifacts\n")
        chain(project, {"WAIT_FOR": "go"})
        execution_id = json.loads(project.cli("run", "P", "--json", env=server.env).stdout)["id"]
        wait_for((project.root / "A.running").exists, 60)
        server.stop()
        (project.root / "go").touch()  # A's work is done while S3 is down
        client = project.client()
        wait_for(lambda: client.execution(execution_id).status == "Failed", 120, 0.2)
        steps = {s.step_name: s for s in client.steps(execution_id)}
        assert steps["A"].status == "Failed"
        assert steps["A"].metadata["errorSource"] == "system"
        assert "the artifact store s3://landing/" in (steps["A"].failure_reason or "")
        assert "could not store the step's results" in (steps["A"].failure_reason or "")
        assert (steps["B"].status, steps["C"].status) == ("NotRun", "NotRun")

        server.start()
        project.cli("executions", "retry", execution_id, "--wait", env=server.env, check=False)
        assert client.execution(execution_id).status == "Succeeded"
        assert {s.step_name: s.status for s in client.steps(execution_id)} == dict.fromkeys(
            "ABC", "Succeeded"
        ), "a retry runs again every step that did not run (C behind B behind A)"
        assert runs(project, execution_id) == {"A": 2, "B": 1, "C": 1}
    finally:
        server.stop()


FILL = """
import os, pathlib
out = pathlib.Path(os.environ["SCORELINE_OUTPUT_OUT"])
(out / "big.bin").write_bytes(os.urandom(1 << 20))
print("wrote 1 MiB")
"""


def in_small_disk(project: ProjectDir, folder: Path, commands: str) -> str:
    """Run shell ``commands`` where ``folder`` is a 256 KiB tmpfs (a private mount
    namespace, so nothing else sees it); returns their output."""
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None:
        pytest.skip("util-linux unshare is not installed")
    mount = f'mkdir -p "{folder}" && mount -t tmpfs -o size=256k tmpfs "{folder}"'
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", mount], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {probe.stderr.decode().strip()}")
    scoreline = f'"{sys.executable}" -m scoreline --project "{project.root}"'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"{mount} && {commands.format(scoreline=scoreline)}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


@pytest.mark.parametrize("full", ["work folder", "artifact root"])
def test_a_full_disk_is_one_line_naming_the_folder_and_blamed_on_the_system(
    project: ProjectDir, full: str
) -> None:
    script = project.script("fill.py", FILL)
    project.pipeline({"name": "P", "steps": [{"name": "Fill", "kind": "processing",
                                              "script": script, "outputs": ["out"]}]})  # fmt: skip
    folder = project.root / ".scoreline" / "work"
    if full == "artifact root":
        folder = project.root / "small-artifacts"
        settings(project, f"artifacts: {folder}\n")
    output = in_small_disk(
        project,
        folder,
        "{scoreline} run P --wait --json; echo '=== leftovers'; "
        f'find "{folder}" -name "*.tmp-*"',
    )
    shown, _, leftovers = output.partition("=== leftovers")
    execution = json.loads(shown)
    assert execution["status"] == "Failed"
    (fill,) = execution["steps"]
    assert fill["failure_reason"].startswith(f"no space left in the {full} {folder}")
    assert " KiB free)" in fill["failure_reason"]
    assert "\n" not in fill["failure_reason"]
    assert fill["metadata"]["errorSource"] == "system"
    assert execution["failure_reason"].startswith("step 'Fill' failed: no space left in")
    assert leftovers.strip() == "", "no half-written folder stays"


def test_a_full_store_folder_is_one_line(project: ProjectDir) -> None:
    script = project.script("work.py", WORK)
    project.pipeline({"name": "P", "steps": [{"name": "A", "kind": "processing",
                                              "script": script}]})  # fmt: skip
    folder = project.root / "db"
    settings(project, f"store: sqlite:///{folder}/meta.db\n")
    output = in_small_disk(
        project,
        folder,
        "{scoreline} executions list >/dev/null 2>&1; "  # the store exists, then the disk fills
        f'dd if=/dev/zero of="{folder}/filler" bs=4k 2>/dev/null; '
        '{scoreline} run P --wait 2>&1; echo "exit=$?"',
    )
    lines = output.strip().splitlines()
    assert lines[-1] == "exit=1", output
    assert len(lines) == 2, output
    assert lines[0].startswith("error: "), output
    full = f"no space left in its folder {folder} (" in lines[0] and " KiB free)" in lines[0]
    assert full or "the metadata store is full" in lines[0], lines[0]
