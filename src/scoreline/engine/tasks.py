"""What an executor is asked to run, and what it hands back: plain data only.

A :class:`Task` carries everything needed to run one attempt of a step without the metadata
store (DESIGN §3 rule 2), so the same task can run in a thread here or on a remote worker.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scoreline.types import channel_env_name

Outcome = Literal["succeeded", "failed", "stopped"]
TASK_CONFIG_ENV = "SCORELINE_TASK_CONFIG"
"""Environment variable holding a built-in step's resolved configuration (JSON)."""
STEP_PYTHON = "{step-python}"
"""Stands in a :attr:`Task.command` for the step's Python, which the executor resolves."""
STEP_PYTHON_ENV = "SCORELINE_STEP_PYTHON"
"""Environment variable giving that Python to the step (the tuner runs trials with it)."""
MODEL_ARCHIVE = "model.tar.gz"


@dataclass(frozen=True)
class Task:
    """One attempt of a script step. ``command`` items equal to :data:`STEP_PYTHON` become
    the step's Python: scoreline's own, ``python["interpreter"]``, or the cached virtual
    environment of ``python["requirements"]``."""

    execution_id: str
    step_name: str
    attempt: int
    command: list[str]
    environment: dict[str, str]
    cwd: str
    work_dir: str
    artifact_root: str
    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The artifact store's fsspec options by protocol (an endpoint, a region; no secrets)."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Input name → URI (file or folder) to copy into ``work_dir/input/<name>``."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Output name → artifact key the folder ``work_dir/output/<name>`` is committed to."""
    log_key: str = ""
    result_key: str = ""
    """Where the :class:`TaskResult` of a successful attempt is written, after its outputs."""
    timeout_seconds: float | None = None
    token: str = ""
    """Marks the step's processes (``SCORELINE_STEP_TOKEN``) so orphans can be found."""
    python: dict[str, str] = field(default_factory=dict)
    container_paths: dict[str, str] = field(default_factory=dict)
    """Absolute path the script uses → the working folder it must show (a mount namespace)."""
    archive_outputs: tuple[str, ...] = ()
    """Outputs also published as ``model.tar.gz`` inside themselves (SageMaker's model)."""
    cpus: float = 1.0
    memory_mb: int | None = None


@dataclass(frozen=True)
class TaskResult:
    """How an attempt ended. ``error_source`` keeps user faults apart from scoreline's."""

    outcome: Outcome
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_uri: str | None = None
    exit_code: int | None = None
    failure_reason: str | None = None
    error_detail: str | None = None
    error_source: Literal["user", "system"] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    """What the step wrote to ``SCORELINE_METADATA_FILE``; ``failureReason`` names its fault."""


def training_environment(
    channels: dict[str, Path],
    model_dir: Path,
    output_dir: Path | None,
    hyperparameters: dict[str, str],
    cpus: int | None = None,
) -> dict[str, str]:
    """SageMaker's training-container variables, so existing training scripts run unchanged."""
    env = {f"SM_CHANNEL_{channel_env_name(name)}": str(path) for name, path in channels.items()}
    env.update(
        SM_CHANNELS=json.dumps(sorted(channels)),
        SM_MODEL_DIR=str(model_dir),
        SM_HPS=json.dumps(hyperparameters, sort_keys=True),
        SM_CURRENT_HOST="algo-1",
        SM_HOSTS=json.dumps(["algo-1"]),
        SM_NUM_CPUS=str(cpus or os.cpu_count() or 1),
    )
    if output_dir is not None:
        env["SM_OUTPUT_DATA_DIR"] = str(output_dir)
    return env


def hyperparameter_arguments(hyperparameters: dict[str, str]) -> list[str]:
    """Hyperparameters as ``--name value`` arguments."""
    args: list[str] = []
    for name, value in hyperparameters.items():
        args += [f"--{name}", value]
    return args
