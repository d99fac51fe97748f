"""SageMaker-style scripts run unchanged: container paths in a private mount namespace,
model.tar.gz, inference handlers, step Python environments. Real subprocesses, real
namespaces (util-linux unshare) and a real SQLite store; the scripts use only the standard
library and numpy so these tests need no package installation."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from scoreline.artifacts import write_archive
from scoreline.engine import mounts
from scoreline.pipeline.ml_steps import BatchTransformStep, TuningStep
from scoreline.pipeline.steps import ProcessingStep
from tests.conftest import ProjectDir, out, param

needs_namespaces = pytest.mark.skipif(
    mounts.namespace_command()[0] is None, reason=mounts.namespace_command()[1]
)

# Each of two concurrent steps writes its marker, waits (with a deadline) for the other's,
# then checks it sees only its own input and an empty output folder at the hard-coded paths.
CONTAINER_SCRIPT = """
import os, pathlib, sys, time
me, other, rendezvous = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
base = pathlib.Path("/opt/ml/processing")
assert sorted(os.listdir(base / "output")) == [], os.listdir(base / "output")
(base / "output" / "who.txt").write_text(me)
(rendezvous / me).write_text("here")
deadline = time.monotonic() + 60
while not (rendezvous / other).exists():
    assert time.monotonic() < deadline, "the other step never started"
    time.sleep(0.02)
seen = (base / "input" / "data.txt").read_text()
(base / "output" / "seen.txt").write_text(seen)
assert sorted(os.listdir(base / "output")) == ["seen.txt", "who.txt"]
print("step", me, "saw", seen)
"""


def _container_step(name: str, other: str, rendezvous: Path) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "processing",
        "script": "scripts/container.py",
        "arguments": [name, other, str(rendezvous)],
        "inputs": [{"source": param(f"{name}Data"), "destination": "/opt/ml/processing/input"}],
        "outputs": [{"output_name": "result", "source": "/opt/ml/processing/output"}],
    }


def _two_step_project(project: ProjectDir, tmp_path: Path) -> Path:
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()
    project.script("container.py", CONTAINER_SCRIPT)
    for name in ("A", "B"):
        (project.root / "data" / name).mkdir()
        (project.root / "data" / name / "data.txt").write_text(f"data of {name}")
    project.pipeline(
        {
            "name": "Containers",
            "parameters": [
                {"name": "AData", "type": "String", "default": "data/A"},
                {"name": "BData", "type": "String", "default": "data/B"},
            ],
            "steps": [
                _container_step("A", "B", rendezvous),
                _container_step("B", "A", rendezvous),
            ],
        }
    )
    return rendezvous


@needs_namespaces
@pytest.mark.slow
def test_two_steps_at_once_each_see_only_their_own_container_paths(
    project: ProjectDir, tmp_path: Path
) -> None:
    _two_step_project(project, tmp_path)
    execution = project.cli_json("run", "Containers", "--wait")
    assert execution["status"] == "Succeeded", execution
    client = project.client()
    for record in client.steps(execution["id"]):
        uri = record.outputs["result"]["uri"]
        assert client.artifacts.read_bytes(f"{uri}/who.txt").decode() == record.step_name
        seen = client.artifacts.read_bytes(f"{uri}/seen.txt").decode()
        assert seen == f"data of {record.step_name}"
    assert not Path("/opt/ml").exists(), "the mounts leaked onto the host"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("config", "but mount namespaces are off (set executor.mount_namespaces: auto"),
        ("no-unshare", "but util-linux 'unshare' is not installed (on Linux, install util-linux"),
    ],
)
def test_without_namespaces_the_step_fails_before_it_runs(
    project: ProjectDir, tmp_path: Path, how: str, reason: str
) -> None:
    rendezvous = _two_step_project(project, tmp_path)
    env = {}
    if how == "config":
        (project.root / "scoreline.yaml").write_text(
            "name: test\nexecutor: {max_workers: 2, mount_namespaces: 'off'}\n"
        )
    else:  # a machine without util-linux's unshare
        env["PATH"] = str(tmp_path / "empty")
    result = project.cli("run", "Containers", "--wait", "--json", check=False, env=env)
    assert result.returncode != 0
    assert list(rendezvous.iterdir()) == [], "a script ran without its container paths"
    execution = json.loads(result.stdout)
    for record in execution["steps"]:
        line = record["failure_reason"]
        assert line.startswith(
            "the script uses container paths (/opt/ml/processing/input, /opt/ml/processing/output)"
        )
        assert reason in line
        assert "SCORELINE_INPUT_<NAME>" in line
        assert "\n" not in line


def test_sagemaker_channel_shapes_become_inputs_outputs_and_container_paths() -> None:
    step = ProcessingStep.model_validate(
        {
            "name": "Prep",
            "script": "scripts/p.py",
            "inputs": [
                {"source": "data/x.csv", "destination": "/opt/ml/processing/input"},
                {
                    "source": "data/model",
                    "destination": "/opt/ml/processing/model",
                    "input_name": "trained-model",
                },
            ],
            "outputs": [{"output_name": "scoring-input", "source": "/opt/ml/processing/output"}],
        }
    )
    assert step.inputs == {"input": "data/x.csv", "trained-model": "data/model"}
    assert step.outputs == ["scoring-input"]
    assert step.container_paths == {
        "input": "/opt/ml/processing/input",
        "trained-model": "/opt/ml/processing/model",
        "scoring-input": "/opt/ml/processing/output",
    }


def test_the_python_dsl_takes_sagemakers_processing_input_and_output() -> None:
    from scoreline.pipeline import Parameter, ProcessingInput, ProcessingOutput

    data = Parameter.string("InputData", "data/x.csv")
    step = ProcessingStep(
        name="Prep",
        script="scripts/p.py",
        inputs=[ProcessingInput(source=data.ref(), destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train")],
    )
    assert step.inputs == {"input": data.ref()}
    assert step.container_paths == {
        "input": "/opt/ml/processing/input",
        "train": "/opt/ml/processing/train",
    }


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"container_paths": {"x": "/opt/ml/a"}, "outputs": ["x"]}, None),
        ({"container_paths": {"x": "opt/ml"}, "outputs": ["x"]}, "normalised absolute path"),
        ({"container_paths": {"x": "/proc/ml"}, "outputs": ["x"]}, "system folder"),
        ({"container_paths": {"y": "/opt/ml/a"}, "outputs": ["x"]}, "unknown input/output 'y'"),
        (
            {"container_paths": {"x": "/opt/ml/a", "y": "/opt/ml/a/b"}, "outputs": ["x", "y"]},
            "inside one another",
        ),
        ({"outputs": ["a-b", "a_b"]}, "differ only"),
        (
            {"outputs": [{"output_name": "x", "source": "/opt/x/y", "destination": "s3://b"}]},
            "'destination' is not used",
        ),
    ],
)
def test_container_path_definitions_are_checked(fields: dict[str, Any], message: str) -> None:
    definition = {"name": "S", "script": "s.py", **fields}
    if message is None:
        ProcessingStep.model_validate(definition)
        return
    with pytest.raises(ValidationError, match=message):
        ProcessingStep.model_validate(definition)


def test_tuning_and_plain_batch_transform_refuse_options_they_cannot_honour() -> None:
    with pytest.raises(ValidationError, match="tuning trials do not use container paths"):
        TuningStep.model_validate(
            {
                "name": "T",
                "script": "t.py",
                "ranges": {"d": {"type": "integer", "min": 1, "max": 2}},
                "objective": {"metric_regex": "MSE = (.*)"},
                "container_paths": {"model": "/opt/ml/model"},
            }
        )
    with pytest.raises(ValidationError, match="need an 'entry_point'"):
        BatchTransformStep.model_validate(
            {"name": "B", "data": "d", "model": "m", "output_layout": "sagemaker"}
        )
    with pytest.raises(ValidationError, match="'preprocessing' applies to built-in flavors"):
        BatchTransformStep.model_validate(
            {"name": "B", "data": "d", "model": "m", "entry_point": "i.py", "preprocessing": "p"}
        )


def test_model_archive_is_byte_identical_for_identical_content(tmp_path: Path) -> None:
    digests = []
    for name in ("first", "second"):
        folder = tmp_path / name
        (folder / "code").mkdir(parents=True)
        (folder / "model.json").write_text('{"w": 2}')
        (folder / "code" / "inference.py").write_text("x = 1\n")
        archive = write_archive(folder, "model.tar.gz")
        digests.append(hashlib.sha256(archive.read_bytes()).hexdigest())
        with tarfile.open(archive) as tar:
            assert sorted(tar.getnames()) == ["code/inference.py", "model.json"]
    assert digests[0] == digests[1]


# A model the project trains itself, served by an inference script (no pickle needed here).
TRAIN = """
import json, os
json.dump({"w": 2.0}, open(os.path.join(os.environ["SM_MODEL_DIR"], "model.json"), "w"))
print("MSE = 0.5")
"""
INFERENCE = """
import json, os
import numpy as np

def model_fn(model_dir):
    return json.load(open(os.path.join(model_dir, "model.json")))

def predict_fn(data, model):
    return data.sum(axis=1) * model["w"]
"""


def _handler_project(project: ProjectDir, model: Any = None, **transform: Any) -> None:
    project.script("train.py", TRAIN)
    project.script("inference.py", INFERENCE)
    lines = [f"{i},{i + 1}" for i in range(40)]
    (project.root / "data" / "rows.csv").write_text("\n".join(lines) + "\n")
    project.pipeline(
        {
            "name": "Serve",
            "parameters": [{"name": "Model", "type": "String", "default": ""}],
            "steps": [
                {"name": "Train", "kind": "training", "script": "scripts/train.py"},
                {
                    "name": "Score",
                    "kind": "batch_transform",
                    "data": "data/rows.csv",
                    "model": model or out("Train", "model"),
                    "entry_point": "scripts/inference.py",
                    **transform,
                },
            ],
        }
    )


def _predictions(project: ProjectDir, execution: dict[str, Any], name: str) -> str:
    client = project.client()
    record = next(s for s in client.steps(execution["id"]) if s.step_name == "Score")
    return client.artifacts.read_bytes(f"{record.outputs['predictions']['uri']}/{name}").decode()


@pytest.mark.slow
def test_inference_handlers_answer_mini_batches_in_the_sagemaker_layout(
    project: ProjectDir,
) -> None:
    # about 60 bytes per request: several JSON arrays, one per mini-batch, as SageMaker joins them
    _handler_project(project, output_layout="sagemaker", max_payload_mb=0.00006)
    execution = project.cli_json("run", "Serve", "--wait")
    assert execution["status"] == "Succeeded", execution
    score = next(s for s in execution["steps"] if s["step_name"] == "Score")
    assert score["metadata"]["handlers"] == {
        "model_fn": "script",
        "input_fn": "default",
        "predict_fn": "script",
        "output_fn": "default",
    }
    assert score["metadata"]["requests"] > 1
    text = _predictions(project, execution, "rows.csv.out")
    decoder, values, position = json.JSONDecoder(), [], 0
    while position < len(text):
        array, position = decoder.raw_decode(text, position)
        values.extend(array)
    assert text.startswith("[")
    assert "][" in text
    assert values == [2.0 * (2 * i + 1) for i in range(40)]
    train = next(s for s in execution["steps"] if s["step_name"] == "Train")
    assert {f["path"] for f in train["outputs"]["model"]["files"]} == {"model.json", "model.tar.gz"}


@pytest.mark.slow
def test_inference_handlers_default_layout_is_one_prediction_per_row(project: ProjectDir) -> None:
    _handler_project(project, assemble_with="Line")
    execution = project.cli_json("run", "Serve", "--wait")
    assert execution["status"] == "Succeeded", execution
    lines = _predictions(project, execution, "rows.csv").splitlines()
    assert [float(v) for v in lines] == [2.0 * (2 * i + 1) for i in range(40)]


@pytest.mark.slow
def test_a_model_from_outside_the_project_is_not_loaded(project: ProjectDir) -> None:
    (project.root / "data" / "model").mkdir(parents=True)
    (project.root / "data" / "model" / "model.json").write_text('{"w": 2.0}')
    _handler_project(project, model="data/model")
    execution = json.loads(project.cli("run", "Serve", "--wait", "--json", check=False).stdout)
    score = next(s for s in execution["steps"] if s["step_name"] == "Score")
    assert score["status"] == "Failed"
    assert "must come from this project's own training" in score["failure_reason"]


@pytest.mark.slow
def test_a_missing_interpreter_fails_the_step_with_one_line(project: ProjectDir) -> None:
    project.script("s.py", "print('never')\n")
    project.pipeline(
        {
            "name": "Py",
            "steps": [
                {
                    "name": "S",
                    "kind": "processing",
                    "script": "scripts/s.py",
                    "python": {"interpreter": "/nonexistent/python3"},
                }
            ],
        }
    )
    execution = json.loads(project.cli("run", "Py", "--wait", "--json", check=False).stdout)
    (record,) = execution["steps"]
    assert record["status"] == "Failed"
    assert record["failure_reason"].startswith(
        "interpreter '/nonexistent/python3' does not exist or is not executable"
    )


@pytest.mark.slow
def test_a_failing_handler_is_one_line_naming_the_records_and_writes_nothing(
    project: ProjectDir,
) -> None:
    _handler_project(project)
    project.script("inference.py", INFERENCE + "\n\ndef input_fn(body, content_type):\n"
                   "    raise ValueError('cannot parse this batch')\n")  # fmt: skip
    execution = json.loads(project.cli("run", "Serve", "--wait", "--json", check=False).stdout)
    score = next(s for s in execution["steps"] if s["step_name"] == "Score")
    assert score["status"] == "Failed"
    assert score["failure_reason"] == (
        "input_fn raised ValueError: cannot parse this batch (rows.csv, records 1-40)"
    )
    assert score["outputs"] == {}
    work = project.root / ".scoreline" / "work"
    assert not list(work.rglob("*.partial")), "a half-written output was left behind"
