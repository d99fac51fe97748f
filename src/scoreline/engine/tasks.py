"""What an executor is asked to run, and what it hands back: plain data only.

A :class:`Task` carries everything needed to run one attempt of a step without the metadata
store (DESIGN §3 rule 2), so the same task can run in a thread here or on a remote worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["succeeded", "failed", "stopped"]


@dataclass(frozen=True)
class Task:
    """One attempt of a script step."""

    execution_id: str
    step_name: str
    attempt: int
    command: list[str]
    environment: dict[str, str]
    cwd: str
    work_dir: str
    artifact_root: str
    inputs: dict[str, str] = field(default_factory=dict)
    """Input name → URI (file or folder) to copy into ``work_dir/input/<name>``."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Output name → artifact key the folder ``work_dir/output/<name>`` is committed to."""
    log_key: str = ""
    timeout_seconds: float | None = None
    token: str = ""
    """Marks the step's processes (``SCORELINE_STEP_TOKEN``) so orphans can be found."""


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
