"""Vocabulary shared by every layer: statuses, step kinds, parameter types.

The names are the ones SageMaker Pipelines users already know (DESIGN §2).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class StepStatus(StrEnum):
    """Status of one step of an execution.

    ``Starting`` … ``Stopped`` are SageMaker's. ``Skipped`` marks a step on a condition branch
    that was not taken (or skipped by its own logic, with a reason); ``NotRun`` marks a step
    that could not run because something it depends on failed or was stopped.
    """

    STARTING = "Starting"
    EXECUTING = "Executing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    SKIPPED = "Skipped"
    NOT_RUN = "NotRun"

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STEP


_FINAL_STEP = {
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.STOPPED,
    StepStatus.SKIPPED,
    StepStatus.NOT_RUN,
}


class ExecutionStatus(StrEnum):
    """Status of a pipeline execution: SageMaker's values, and ``Pending`` for an execution
    waiting for its turn in the run queue (``executor.max_concurrent_executions``)."""

    PENDING = "Pending"
    EXECUTING = "Executing"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def is_final(self) -> bool:
        return self in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, ExecutionStatus.STOPPED)


class ApprovalStatus(StrEnum):
    """Approval status of a model version (SageMaker Model Registry's values)."""

    PENDING = "PendingManualApproval"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class ParameterType(StrEnum):
    """Types a pipeline parameter can have."""

    STRING = "String"
    INTEGER = "Integer"
    FLOAT = "Float"
    BOOLEAN = "Boolean"


class DetailType(StrEnum):
    """``detail-type`` values of the events scoreline emits (EventBridge names)."""

    STEP_STATUS = "Pipeline Execution Step Status Change"
    EXECUTION_STATUS = "Pipeline Execution Status Change"
    MODEL_PACKAGE_STATE = "Model Package State Change"
    OBJECT_CREATED = "Object Created"
    DATA_QUALITY_VIOLATION = "Data Quality Violation"
    MODEL_QUALITY_VIOLATION = "Model Quality Violation"
    MODEL_QUALITY_ESTIMATE_VIOLATION = "Model Quality Estimate Violation"
    RULE_DECISION = "Rule Decision"
    SCHEDULED = "Scheduled Event"
    DEPLOYMENT_APPLIED = "Deployment Applied"
    DEPLOYMENT_DESTROYED = "Deployment Destroyed"


VIOLATIONS = (
    DetailType.DATA_QUALITY_VIOLATION,
    DetailType.MODEL_QUALITY_VIOLATION,
    DetailType.MODEL_QUALITY_ESTIMATE_VIOLATION,
)
"""The alerts a quality check emits."""

EVENT_SOURCE = "scoreline"

STARTING_OWNER = "starting"
"""The last part of an execution's owner while its orchestrator process is starting, or
waiting for its turn to run (``host:pid:starting``)."""


def channel_env_name(name: str) -> str:
    """The environment-variable form of an input or output name (``train-data`` →
    ``TRAIN_DATA``), as in ``SCORELINE_INPUT_<NAME>`` and ``SM_CHANNEL_<NAME>``."""
    return name.upper().replace("-", "_")


@dataclass(frozen=True)
class RunQueue:
    """How many executions may run at once: ``total`` in all (0: no limit) and at most
    ``per_pipeline[name]`` of one pipeline."""

    total: int = 0
    per_pipeline: Mapping[str, int] = field(default_factory=dict)

    def admitted(self, running: Counter[str], waiting: Sequence[tuple[str, str]]) -> list[str]:
        """Which of the ``waiting`` (id, pipeline) executions, oldest first, may start now
        while ``running`` (by pipeline) run: in order, skipping one whose pipeline is at its
        limit (it does not hold up the others), until the total is reached."""
        total, per = sum(running.values()), Counter(running)
        admitted = []
        for execution_id, pipeline in waiting:
            if self.total and total >= self.total:
                break
            limit = self.per_pipeline.get(pipeline, 0)
            if limit and per[pipeline] >= limit:
                continue
            admitted.append(execution_id)
            total += 1
            per[pipeline] += 1
        return admitted
