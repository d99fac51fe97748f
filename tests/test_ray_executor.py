"""The Ray executor on a real local Ray head with two worker processes: steps run as Ray
tasks with their declared resources, never see database credentials, and stop on request."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import ProjectDir

pytestmark = pytest.mark.slow

REPORT = """
import json, os
print(json.dumps({"store": "SCORELINE_STORE" in os.environ,
                  "ray": os.environ.get("SCORELINE_RAY_ADDRESS", "")}))
"""


@pytest.fixture
def on_ray(project: ProjectDir, ray_address: str) -> ProjectDir:
    """A project whose scoreline.yaml names the cluster as its executor."""
    (project.root / "scoreline.yaml").write_text(
        f"name: test\nexecutor: {{kind: ray, address: '{ray_address}', max_workers: 2}}\n"
    )
    return project


def test_steps_run_as_ray_tasks_without_database_credentials(
    on_ray: ProjectDir, ray_address: str
) -> None:
    project = on_ray
    project.script("report.py", REPORT)
    project.pipeline(
        {"name": "R", "steps": [{"name": "S", "kind": "processing", "script": "scripts/report.py"}]}
    )
    # the orchestrator has the store's URL; the step on the cluster must not
    store = {"SCORELINE_STORE": f"sqlite:///{project.root / '.scoreline' / 'scoreline.db'}"}
    execution = json.loads(project.cli("run", "R", "--wait", "--json", env=store).stdout)
    assert execution["status"] == "Succeeded", execution
    (record,) = execution["steps"]
    assert record["process"].startswith("ray:")
    log = project.client().artifacts.read_bytes(record["log_uri"]).decode()
    assert json.loads(log.splitlines()[-1]) == {"store": False, "ray": ray_address}


def test_a_step_asking_for_more_than_the_cluster_has_fails_with_one_line(
    on_ray: ProjectDir,
) -> None:
    project = on_ray
    project.script("report.py", REPORT)
    step = {"name": "Big", "kind": "processing", "script": "scripts/report.py",
            "resources": {"cpus": 64}}  # fmt: skip
    project.pipeline({"name": "R", "steps": [step]})
    execution = json.loads(project.cli("run", "R", "--wait", "--json", check=False).stdout)
    assert execution["steps"][0]["failure_reason"] == (
        "the step asks for 64 CPUs; the Ray cluster has 2 (lower resources.cpus or add nodes)"
    )


def test_stopping_an_execution_stops_its_ray_task(on_ray: ProjectDir) -> None:
    project = on_ray
    project.script("slow.py", "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    step = {"name": "S", "kind": "processing", "script": "scripts/slow.py"}
    project.pipeline({"name": "Slow", "steps": [step]})
    started = json.loads(project.cli("run", "Slow", "--json").stdout)
    client = project.client()
    deadline = time.monotonic() + 120
    while not any(s.status == "Executing" for s in client.steps(started["id"])):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.2)
    stop_requested = time.monotonic()
    project.cli("executions", "stop", started["id"])
    while client.execution(started["id"]).status not in ("Stopped", "Failed"):
        assert time.monotonic() < deadline, "the execution did not stop"
        time.sleep(0.2)
    assert client.execution(started["id"]).status == "Stopped"
    assert time.monotonic() - stop_requested < 30
    token = f"SCORELINE_STEP_TOKEN={started['id']}/S/1".encode()
    assert not _processes_with(token), "the step's process survived"


def test_a_step_dies_with_its_ray_worker(on_ray: ProjectDir) -> None:
    """A worker killed under a running step (its node lost, OOM) takes the step's process
    with it, which crash recovery on the orchestrator's host could not find; the step fails
    with the reason."""
    project = on_ray
    project.script("slow.py", "import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    step = {"name": "S", "kind": "processing", "script": "scripts/slow.py"}
    project.pipeline({"name": "Slow", "steps": [step]})
    started = json.loads(project.cli("run", "Slow", "--json").stdout)
    token = f"SCORELINE_STEP_TOKEN={started['id']}/S/1".encode()
    deadline = time.monotonic() + 120
    while not (found := _processes_with(token)):
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.2)
    (pid,) = found
    worker = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(worker, signal.SIGKILL)
    while _processes_with(token):
        assert time.monotonic() < deadline, "the step's process outlived its worker"
        time.sleep(0.1)
    client = project.client()
    while client.execution(started["id"]).status == "Executing":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.2)
    (record,) = client.steps(started["id"])
    assert record.status == "Failed"
    assert record.failure_reason.startswith("the step's Ray worker was lost: ")


def _processes_with(marker: bytes) -> list[int]:
    """Processes whose environment holds ``marker`` (a step's token)."""
    return [pid for pid, environment in _environments() if marker in environment]


def _environments() -> list[tuple[int, list[bytes]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                found.append((int(entry.name), (entry / "environ").read_bytes().split(b"\0")))
    return found


def test_batch_transform_splits_its_input_across_the_cluster(
    on_ray: ProjectDir, tmp_path: Path
) -> None:
    """Four shares on two workers give byte for byte what one local process writes."""
    import xgboost as xgb

    from scoreline.data.flavors import load_model
    from scoreline.data.io import TableSpec, read_table
    from scoreline.data.preprocess import Preprocessor
    from scoreline.data.transform import TransformOptions, batch_transform
    from scoreline.examples import ABALONE_COLUMNS, EXAMPLES

    project, columns = on_ray, list(ABALONE_COLUMNS)
    kinds = dict.fromkeys(columns, "numeric") | {"sex": "categorical"}
    table = read_table(EXAMPLES / "abalone/data/training-data.csv", TableSpec(columns, kinds))
    pre = Preprocessor.fit(table, columns[1:8], ["sex"], target="rings")
    booster = xgb.train(
        {"max_depth": 3, "nthread": 1, "seed": 0},
        xgb.DMatrix(pre.encode(table).matrix, label=table.column("rings").to_numpy()),
        num_boost_round=10,
    )
    for name in ("model", "preprocessing", "input"):
        (project.root / "data" / name).mkdir()
    booster.save_model(str(project.root / "data/model/model.json"))
    pre.save(project.root / "data/preprocessing")
    rows = "\n".join((EXAMPLES / "abalone/data/inference-data.csv").read_text().split() * 12)
    (project.root / "data/input/rows.csv").write_text(rows + "\n")
    step = {"name": "Score", "kind": "batch_transform", "data": "data/input",
            "model": "data/model", "preprocessing": "data/preprocessing", "shares": 4}  # fmt: skip
    project.pipeline({"name": "T", "steps": [step]})
    execution = json.loads(project.cli("run", "T", "--wait", "--json").stdout)
    assert execution["status"] == "Succeeded", execution
    (record,) = execution["steps"]
    assert record["metadata"]["rows"] == len(rows.splitlines())
    assert record["metadata"]["rayShares"] == 4
    assert {f["path"] for f in record["outputs"]["predictions"]["files"]} == {"rows.csv"}
    scored = project.client().artifacts.read_bytes(
        f"{record['outputs']['predictions']['uri']}/rows.csv"
    )
    options = TransformOptions(spec=pre.input_spec(columns=columns[:8]))
    local = tmp_path / "local"
    batch_transform(project.root / "data/input", load_model(project.root / "data/model"), pre,
                    local, options)  # fmt: skip
    assert scored == (local / "rows.csv").read_bytes()


def test_without_the_ray_extra_the_error_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from scoreline.engine import ray_executor
    from scoreline.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    with pytest.raises(ConfigError) as caught:
        ray_executor.RayExecutor("127.0.0.1:6379")
    assert caught.value.line() == (
        "scoreline.yaml: executor.kind / $SCORELINE_RAY_ADDRESS: the Ray executor needs the "
        "Python package 'ray' (pip install 'scoreline[ray]')"
    )


def test_an_unreachable_cluster_is_one_line_before_anything_starts(project: ProjectDir) -> None:
    from tests.servers import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    (project.root / "scoreline.yaml").write_text(
        f"name: test\nexecutor: {{kind: ray, address: '{address}'}}\n"
    )
    project.script("report.py", REPORT)
    step = {"name": "S", "kind": "processing", "script": "scripts/report.py"}
    project.pipeline({"name": "R", "steps": [step]})
    result = project.cli("run", "R", "--wait", check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        f"error: executor.address / $SCORELINE_RAY_ADDRESS: cannot reach the Ray cluster at "
        f"{address} ("
    )
    assert project.client().executions() == []
