"""What the orchestrator does for each step kind.

Task kinds (``processing``, ``training``) become a :class:`Task` for an executor; inline kinds
(``condition``, ``fail``) are decided by the orchestrator itself. Handlers are registered by
kind name and imported lazily, like every pluggable part.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from scoreline.artifacts import execution_key, sha256_file
from scoreline.engine.context import ExecutionContext
from scoreline.engine.executors import METADATA_FILE, PROGRESS_FILE
from scoreline.engine.tasks import (
    STEP_PYTHON,
    Task,
    hyperparameter_arguments,
    training_environment,
)
from scoreline.errors import StepError
from scoreline.pipeline.conditions import check, describe
from scoreline.pipeline.expressions import evaluate
from scoreline.pipeline.steps import (
    ConditionStep,
    FailStep,
    PythonEnvironment,
    ScriptStep,
    StepBase,
    TrainingStep,
    parameter_names,
)
from scoreline.types import channel_env_name


@dataclass(frozen=True)
class InlineResult:
    """Outcome of an inline step: metadata to record, and for ``fail`` the message."""

    metadata: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_message: str | None = None
    branch_taken: bool | None = None


class TaskHandler(Protocol):
    """Turns a step into a task for an executor."""

    def build_task(
        self, step: Any, ctx: ExecutionContext, attempt: int, work_dir: Path
    ) -> Task: ...

    def cache_material(self, step: Any, ctx: ExecutionContext) -> dict[str, Any]: ...


class InlineHandler(Protocol):
    """Decides a step inside the orchestrator."""

    def run_inline(self, step: Any, ctx: ExecutionContext) -> InlineResult: ...


def handler_for(step: StepBase) -> TaskHandler | InlineHandler:
    """The handler the step's kind names (checked when the kind was loaded)."""
    module, _, attr = type(step).handler.partition(":")
    return getattr(importlib.import_module(module), attr)()  # type: ignore[no-any-return]


def text(value: Any) -> str:
    """A resolved value as a command-line or environment string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def input_uri(name: str, value: Any, ctx: ExecutionContext, step: StepBase) -> str:
    """The URI an input expression resolves to (relative paths are the project's)."""
    resolved = evaluate(value, ctx)
    if not isinstance(resolved, str) or not resolved:
        raise StepError(
            f"input '{name}' resolved to {resolved!r}, not a path or URI",
            where=f"step '{step.name}'",
        )
    return ctx.resolve_location(
        resolved, f"step '{step.name}': input '{name}'", confined=bool(parameter_names(value))
    )


def base_environment(
    step: StepBase, ctx: ExecutionContext, attempt: int, work_dir: Path, inputs: dict[str, str]
) -> dict[str, str]:
    """What every task gets: the execution's identity and its input/output folders."""
    env: dict[str, str] = {
        "SCORELINE_EXECUTION_ID": ctx.execution.id,
        "SCORELINE_PIPELINE": ctx.execution.pipeline_name,
        "SCORELINE_STEP": step.name,
        "SCORELINE_ATTEMPT": str(attempt),
        "SCORELINE_PROJECT_DIR": str(ctx.project_root),
        "SCORELINE_PARAMETERS": json.dumps(ctx.execution.parameters, sort_keys=True),
        "SCORELINE_METADATA_FILE": str(work_dir / METADATA_FILE),
        "SCORELINE_PROGRESS_FILE": str(work_dir / PROGRESS_FILE),
    }
    for name in inputs:
        env[f"SCORELINE_INPUT_{channel_env_name(name)}"] = str(work_dir / "input" / name)
    for name in step.declared_outputs():
        env[f"SCORELINE_OUTPUT_{channel_env_name(name)}"] = str(work_dir / "output" / name)
    return env


def new_task(
    step: StepBase,
    ctx: ExecutionContext,
    attempt: int,
    work_dir: Path,
    command: list[str],
    environment: dict[str, str],
    inputs: dict[str, str],
    timeout_seconds: float | None,
    **extra: Any,
) -> Task:
    """A task whose declared outputs are committed under the execution's own prefix;
    ``extra`` sets the optional :class:`Task` fields."""
    fields: dict[str, Any] = {
        "cpus": step.resources.cpus if step.resources else 1.0,
        "memory_mb": step.resources.memory_mb if step.resources else None,
        **extra,
    }
    return Task(
        execution_id=ctx.execution.id,
        step_name=step.name,
        attempt=attempt,
        command=command,
        environment=environment,
        cwd=str(work_dir),
        work_dir=str(work_dir),
        artifact_root=ctx.artifacts.root,
        storage_options=ctx.artifacts.options,
        inputs=inputs,
        outputs={
            name: execution_key(ctx.execution.id, step.name, *_attempt_folder(attempt), name)
            for name in step.declared_outputs()
        },
        log_key=execution_key(ctx.execution.id, step.name, "logs", f"attempt-{attempt}.txt"),
        result_key=result_key(ctx.execution.id, step.name, attempt),
        timeout_seconds=timeout_seconds,
        token=f"{ctx.execution.id}/{step.name}/{attempt}",
        **fields,
    )


def _attempt_folder(attempt: int) -> tuple[str, ...]:
    """Where an attempt's outputs go below the step's prefix: the first at the top, a later
    one in its own folder, so that it never meets what an earlier attempt (or a fenced
    orchestrator) committed or left half-written."""
    return () if attempt == 1 else (f"attempt-{attempt}",)


def result_key(execution_id: str, step: str, attempt: int) -> str:
    """Where an attempt's result is written once all its outputs are committed: its
    presence means the attempt succeeded, whether or not its status was recorded."""
    return execution_key(execution_id, step, "logs", f"attempt-{attempt}.result.json")


def python_spec(
    python: PythonEnvironment | None, ctx: ExecutionContext, step: StepBase
) -> dict[str, str]:
    """A step's Python environment for the executor; a requirements file must exist."""
    if python is None:
        return {}
    if python.interpreter is not None:
        return {"interpreter": python.interpreter}
    assert python.requirements is not None
    path = project_file(python.requirements, "requirements file", ctx, step)
    return {"requirements": str(path), "label": python.requirements}


def python_cache_material(spec: dict[str, str]) -> dict[str, str]:
    """What identifies a Python environment: the interpreter, or the requirements' content."""
    if "requirements" in spec:
        return {"requirements_sha256": sha256_file(Path(spec["requirements"]))}
    return dict(spec)


class ScriptHandler:
    """Processing steps: a Python script with input/output folders (DESIGN §5)."""

    def build_task(
        self, step: ScriptStep, ctx: ExecutionContext, attempt: int, work_dir: Path
    ) -> Task:
        script = self._script(step, ctx)
        inputs = {name: input_uri(name, value, ctx, step) for name, value in step.inputs.items()}
        env = base_environment(step, ctx, attempt, work_dir, inputs)
        env.update({k: text(v) for k, v in evaluate(step.environment, ctx).items()})
        env.update(self.extra_environment(step, ctx, work_dir))
        args = [text(a) for a in evaluate(step.arguments, ctx)] + self.extra_arguments(step, ctx)
        command = [STEP_PYTHON, str(script), *args]
        folders = {
            **{name: work_dir / "input" / name for name in step.inputs},
            **{name: work_dir / "output" / name for name in step.declared_outputs()},
        }
        return new_task(
            step,
            ctx,
            attempt,
            work_dir,
            command,
            env,
            inputs,
            step.timeout_seconds,
            python=python_spec(step.python, ctx, step),
            container_paths={
                path: str(folders[name]) for name, path in step.container_paths.items()
            },
            archive_outputs=self.archive_outputs(step),
        )

    def cache_material(self, step: ScriptStep, ctx: ExecutionContext) -> dict[str, Any]:
        """Everything that determines the step's result: script and input content, and the
        resolved configuration (DESIGN §5 caching)."""
        return {
            "kind": step.kind,
            "script_sha256": sha256_file(self._script(step, ctx)),
            "inputs": {
                name: ctx.artifacts.fingerprint(input_uri(name, value, ctx, step))
                for name, value in sorted(step.inputs.items())
            },
            "outputs": sorted(step.declared_outputs()),
            "arguments": evaluate(step.arguments, ctx),
            "environment": evaluate(step.environment, ctx),
            "python": python_cache_material(python_spec(step.python, ctx, step)),
            "container_paths": step.container_paths,
            **self.extra_cache_material(step, ctx),
        }

    def archive_outputs(self, step: ScriptStep) -> tuple[str, ...]:
        return ()

    def extra_environment(
        self, step: ScriptStep, ctx: ExecutionContext, work_dir: Path
    ) -> dict[str, str]:
        return {}

    def extra_arguments(self, step: ScriptStep, ctx: ExecutionContext) -> list[str]:
        return []

    def extra_cache_material(self, step: ScriptStep, ctx: ExecutionContext) -> dict[str, Any]:
        return {}

    def _script(self, step: ScriptStep, ctx: ExecutionContext) -> Path:
        return script_path(step, ctx)


def script_path(step: ScriptStep, ctx: ExecutionContext) -> Path:
    """The step's script, which must exist inside the project."""
    return project_file(step.script, "script", ctx, step)


def project_file(relative: str, what: str, ctx: ExecutionContext, step: StepBase) -> Path:
    """A file a step names relative to the project root, which must exist."""
    path = (ctx.project_root / relative).resolve()
    if not path.is_file():
        raise StepError(
            f"{what} '{relative}' not found",
            where=f"step '{step.name}'",
            hint=f"paths are relative to the project root {ctx.project_root}",
        )
    return path


class TrainingHandler(ScriptHandler):
    """Training steps: the processing contract plus SageMaker's training names."""

    def extra_environment(
        self, step: ScriptStep, ctx: ExecutionContext, work_dir: Path
    ) -> dict[str, str]:
        return training_environment(
            {n: work_dir / "input" / n for n in step.inputs},
            work_dir / "output" / "model",
            work_dir / "output" / "output" if "output" in step.declared_outputs() else None,
            {k: text(v) for k, v in _hyperparameters(step, ctx).items()},
        )

    def extra_arguments(self, step: ScriptStep, ctx: ExecutionContext) -> list[str]:
        return hyperparameter_arguments(
            {k: text(v) for k, v in _hyperparameters(step, ctx).items()}
        )

    def extra_cache_material(self, step: ScriptStep, ctx: ExecutionContext) -> dict[str, Any]:
        return {
            "hyperparameters": _hyperparameters(step, ctx),
            "archive": self.archive_outputs(step),
        }

    def archive_outputs(self, step: ScriptStep) -> tuple[str, ...]:
        assert isinstance(step, TrainingStep)
        return ("model",) if step.model_archive else ()


def _hyperparameters(step: ScriptStep, ctx: ExecutionContext) -> dict[str, Any]:
    assert isinstance(step, TrainingStep)
    values: dict[str, Any] = evaluate(step.hyperparameters, ctx)
    return values


class ConditionHandler:
    """Evaluates the conditions; the orchestrator then runs one branch and skips the other."""

    def run_inline(self, step: ConditionStep, ctx: ExecutionContext) -> InlineResult:
        outcome = all(check(c, ctx) for c in step.conditions)
        return InlineResult(
            metadata={"outcome": outcome, "conditions": [describe(c) for c in step.conditions]},
            branch_taken=outcome,
        )


class FailHandler:
    """Ends the execution as Failed with the step's (resolved) message."""

    def run_inline(self, step: FailStep, ctx: ExecutionContext) -> InlineResult:
        message = str(evaluate(step.error_message, ctx)) or f"reached fail step '{step.name}'"
        return InlineResult(metadata={"errorMessage": message}, fail_message=message)


def cache_key(material: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()
