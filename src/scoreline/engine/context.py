"""The running execution as seen by expressions: parameters, variables, outputs, files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scoreline.artifacts import ArtifactStore
from scoreline.engine.locations import DataRoots
from scoreline.errors import StepError
from scoreline.pipeline.expressions import Scalar
from scoreline.pipeline.model import PipelineDefinition
from scoreline.store import MetadataStore
from scoreline.store.records import ExecutionRecord, StepRecord


class ExecutionContext:
    """Implements :class:`scoreline.pipeline.expressions.Resolver` for one execution."""

    def __init__(
        self,
        execution: ExecutionRecord,
        definition: PipelineDefinition,
        artifacts: ArtifactStore,
        project_root: Path,
        steps: dict[str, StepRecord],
        store: MetadataStore | None = None,
        data_roots: DataRoots | None = None,
    ) -> None:
        self.execution = execution
        self.definition = definition
        self.artifacts = artifacts
        self.project_root = project_root
        self.data_roots = data_roots or DataRoots(project_root, [artifacts.root])
        self.steps = steps
        self.store = store
        """The metadata store, for inline steps (they run on the orchestrator's thread)."""

    def parameter(self, name: str) -> Scalar:
        return self.execution.parameters[name]  # type: ignore[no-any-return]

    def execution_variable(self, name: str) -> str:
        if name == "PIPELINE_EXECUTION_ID":
            return self.execution.id
        if name == "PIPELINE_NAME":
            return self.execution.pipeline_name
        if name == "START_DATETIME":
            return self.execution.created_at.isoformat().replace("+00:00", "Z")
        return datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def step_output(self, step: str, output: str) -> str:
        record = self.steps.get(step)
        if record is None or output not in record.outputs:
            raise StepError(f"output '{output}' of step '{step}' is not available")
        return str(record.outputs[output]["uri"])

    def property_file(self, step: str, name: str) -> Any:
        spec = next(
            pf for pf in self.definition.step(step).declared_property_files() if pf.name == name
        )
        uri = f"{self.step_output(step, spec.output)}/{spec.path}"
        try:
            return json.loads(self.artifacts.read_bytes(uri))
        except json.JSONDecodeError as exc:
            raise StepError(f"property file is not valid JSON ({exc.msg})", where=uri) from None

    def execution_output(self, execution_id: str, step: str, output: str) -> str:
        """An output of a step of another execution of this project."""
        where = f"execution {execution_id or '(empty)'}"
        if self.store is None or not execution_id:
            raise StepError("no earlier execution to read from", where=where)
        self.store.get_execution(execution_id)
        try:
            record = next(s for s in self.store.get_steps(execution_id) if s.step_name == step)
        except StopIteration:
            raise StepError(f"has no step '{step}'", where=where) from None
        if output not in record.outputs:
            raise StepError(
                f"step '{step}' has no output '{output}' (it is {record.status})", where=where
            )
        return str(record.outputs[output]["uri"])

    def model_of(self, execution_id: str) -> dict[str, Any]:
        """The model version an execution resolved or registered, if any."""
        if execution_id == self.execution.id:
            return model_in(self.steps.values())
        return model_in(self.store.get_steps(execution_id)) if self.store else {}

    def resolve_location(self, value: str, where: str = "input", confined: bool = True) -> str:
        """An input given as a path or URI: relative paths are relative to the project root.
        A ``confined`` location (one that a parameter decides) outside the project's data
        roots is refused; the definition's own paths are the project author's choice."""
        if confined:
            return self.data_roots.resolve(value, where)
        if "://" in value or value.startswith("/"):
            return value
        return str((self.project_root / value).resolve())


def model_in(records: Iterable[StepRecord]) -> dict[str, Any]:
    """``ModelPackageGroupName`` and ``ModelPackageVersion`` of the model version that a
    resolve_model or register_model step of these records chose, if any."""
    for record in records:
        if "ModelPackageVersion" in record.metadata:
            return {
                "ModelPackageGroupName": record.metadata["ModelPackageGroupName"],
                "ModelPackageVersion": record.metadata["ModelPackageVersion"],
            }
    return {}
