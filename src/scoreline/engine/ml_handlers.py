"""Handlers of the built-in task kinds. Each runs scoreline's own runner module
(``python -m scoreline.runners.<kind>``) through the executor, with the step's resolved
configuration in ``SCORELINE_TASK_CONFIG``; the runner never sees the metadata store."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from scoreline.artifacts import sha256_file
from scoreline.engine.context import ExecutionContext
from scoreline.engine.handlers import (
    base_environment,
    input_uri,
    new_task,
    project_file,
    python_cache_material,
    python_spec,
    script_path,
    text,
)
from scoreline.engine.tasks import MODEL_ARCHIVE, STEP_PYTHON, TASK_CONFIG_ENV, Task
from scoreline.errors import StepError
from scoreline.pipeline.expressions import ExecutionOutput, StepOutput, Value, evaluate
from scoreline.pipeline.ml_steps import BatchTransformStep, QualityCheckStep, TuningStep
from scoreline.pipeline.steps import StepBase

SAGEMAKER_FLAVOR = "sagemaker"


class _BuiltinHandler:
    """Common shape: named inputs, a JSON configuration, a runner module."""

    runner = ""

    def inputs(self, step: Any, ctx: ExecutionContext) -> dict[str, Value]:
        raise NotImplementedError

    def config(self, step: Any, ctx: ExecutionContext) -> dict[str, Any]:
        raise NotImplementedError

    def command(self, step: Any, ctx: ExecutionContext) -> list[str]:
        return [sys.executable, "-m", f"scoreline.runners.{self.runner}"]

    def task_fields(self, step: Any, ctx: ExecutionContext) -> dict[str, Any]:
        """Optional :class:`Task` fields (the step's Python, archived outputs)."""
        return {}

    def build_task(self, step: Any, ctx: ExecutionContext, attempt: int, work_dir: Path) -> Task:
        inputs = self._input_uris(step, ctx)
        env = base_environment(step, ctx, attempt, work_dir, inputs)
        env[TASK_CONFIG_ENV] = json.dumps(self.config(step, ctx), sort_keys=True)
        return new_task(
            step,
            ctx,
            attempt,
            work_dir,
            self.command(step, ctx),
            env,
            inputs,
            step.timeout_seconds,
            **self.task_fields(step, ctx),
        )

    def cache_material(self, step: Any, ctx: ExecutionContext) -> dict[str, Any]:
        from scoreline import __version__

        return {
            "kind": step.kind,
            "scoreline": __version__,
            "config": self.config(step, ctx),
            "inputs": {
                name: ctx.artifacts.fingerprint(uri)
                for name, uri in sorted(self._input_uris(step, ctx).items())
            },
        }

    def _input_uris(self, step: StepBase, ctx: ExecutionContext) -> dict[str, str]:
        return {
            name: input_uri(name, value, ctx, step)
            for name, value in self.inputs(step, ctx).items()
            if value is not None
        }


def _flag(value: Any, step: StepBase, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise StepError(f"'{field}' resolved to {value!r}, not a boolean", where=f"step '{step.name}'")


def _number(value: Any, step: StepBase, field: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StepError(
            f"'{field}' resolved to {value!r}, not a number", where=f"step '{step.name}'"
        ) from None


class QualityCheckHandler(_BuiltinHandler):
    runner = "quality_check"

    def inputs(self, step: QualityCheckStep, ctx: ExecutionContext) -> dict[str, Value]:
        if step.check_type == "model_quality_estimate":
            assert step.dataset is not None
            assert step.model is not None
            assert step.reference is not None
            estimate: dict[str, Value] = {"dataset": step.dataset, "model": step.model}
            for name, value in (
                ("preprocessing", step.preprocessing),
                ("reference", step.reference),
            ):
                if value is not None and not _not_registered(value, ctx):
                    estimate[name] = value
            return estimate
        if step.check_type == "model_quality":
            assert step.predictions is not None
            assert step.ground_truth is not None
            return {"predictions": step.predictions, "ground_truth": step.ground_truth}
        assert step.dataset is not None
        inputs: dict[str, Value] = {"dataset": step.dataset}
        for name in ("baseline_statistics", "baseline_constraints"):
            value = getattr(step, name)
            if value is not None and evaluate(value, ctx) not in ("", None):
                inputs[name] = value
        return inputs

    def config(self, step: QualityCheckStep, ctx: ExecutionContext) -> dict[str, Any]:
        threshold = evaluate(step.mse_threshold, ctx) if step.mse_threshold is not None else None
        thresholds = {
            name: _number(evaluate(value, ctx), step, f"thresholds.{name}")
            for name, value in step.thresholds.items()
        }
        source = scored = None
        if isinstance(step.predictions, ExecutionOutput):
            scored = str(evaluate(step.predictions.execution, ctx))
            source = ctx.model_of(scored)
        return {
            "source_model": source,
            "scored_execution": scored,
            "thresholds": thresholds,
            "check_type": step.check_type,
            "columns": step.columns,
            "header": step.header,
            "skip_check": _flag(evaluate(step.skip_check, ctx), step, "skip_check"),
            "register_new_baseline": _flag(
                evaluate(step.register_new_baseline, ctx), step, "register_new_baseline"
            ),
            "fail_on_violation": _flag(
                evaluate(step.fail_on_violation, ctx), step, "fail_on_violation"
            ),
            "problem_type": step.problem_type,
            "prediction_column": step.prediction_column,
            "ground_truth_column": step.ground_truth_column,
            "id_column": step.id_column,
            "mse_threshold": None
            if threshold is None
            else _number(threshold, step, "mse_threshold"),
            **(_model_config(step.model, ctx) if step.model is not None else {}),
        }


class BatchTransformHandler(_BuiltinHandler):
    runner = "batch_transform"

    def inputs(self, step: BatchTransformStep, ctx: ExecutionContext) -> dict[str, Value]:
        inputs: dict[str, Value] = {"data": step.data, "model": step.model}
        if step.preprocessing is not None and not _not_registered(step.preprocessing, ctx):
            inputs["preprocessing"] = step.preprocessing
        return inputs

    def command(self, step: BatchTransformStep, ctx: ExecutionContext) -> list[str]:
        if step.entry_point is None:
            return super().command(step, ctx)
        spec = importlib.util.find_spec("scoreline.runners.sagemaker_host")
        assert spec is not None
        assert spec.origin is not None
        return [STEP_PYTHON, spec.origin]

    def task_fields(self, step: BatchTransformStep, ctx: ExecutionContext) -> dict[str, Any]:
        fields: dict[str, Any] = {"python": python_spec(step.python, ctx, step)}
        if step.entry_point is None and step.resources is None:
            fields["cpus"] = 0.0  # on a cluster the shares hold the CPUs; this task waits
        return fields

    def config(self, step: BatchTransformStep, ctx: ExecutionContext) -> dict[str, Any]:
        if step.entry_point is not None:
            return self._handler_config(step, ctx)
        return {
            "columns": step.columns,
            "header": step.header,
            "output_format": step.output_format,
            "id_column": step.id_column,
            "on_error": step.on_error,
            "allow_empty": step.allow_empty,
            "threads": step.threads,
            "statistics": step.statistics,
            "shares": step.shares,
            **_model_config(step.model, ctx),
            "outputs": step.output_columns,
            "threshold": step.threshold,
        }

    def cache_material(self, step: BatchTransformStep, ctx: ExecutionContext) -> dict[str, Any]:
        material = super().cache_material(step, ctx)
        if step.entry_point is not None:
            material["entry_point_sha256"] = sha256_file(Path(material["config"]["entry_point"]))
            material["python"] = python_cache_material(python_spec(step.python, ctx, step))
        return material

    def _handler_config(self, step: BatchTransformStep, ctx: ExecutionContext) -> dict[str, Any]:
        assert step.entry_point is not None
        entry_point = project_file(step.entry_point, "entry point", ctx, step)
        return {
            "entry_point": str(entry_point),
            "model_sha256": _own_model_sha256(step, ctx),
            "content_type": step.content_type,
            "accept": step.accept,
            "split_type": step.split_type,
            "batch_strategy": step.batch_strategy,
            "max_payload_mb": step.max_payload_mb,
            "assemble_with": step.assemble_with,
            "output_layout": step.output_layout,
        }


def _model_config(model: Value, ctx: ExecutionContext) -> dict[str, Any]:
    """What loading a resolved model version needs: its recorded digest (checked when it
    loads), its input schema and the types its file may hold."""
    expected = None
    schema: dict[str, Any] = {}
    if isinstance(model, StepOutput):
        record = ctx.steps.get(model.step)
        if record is not None:
            expected = record.outputs.get(model.output, {}).get("sha256")
            schema = record.metadata.get("modelSchema") or {}
    return {
        "model_sha256": expected,
        "input_schema": schema,
        "trusted_types": schema.get("trustedTypes") or [],
    }


def _not_registered(value: Value, ctx: ExecutionContext) -> bool:
    """A resolved model version's output that the version does not have (the preprocessing
    of a model that carries its own, or needs none)."""
    if not isinstance(value, StepOutput) or ctx.definition.step(value.step).kind != "resolve_model":
        return False
    record = ctx.steps.get(value.step)
    return record is not None and value.output not in record.outputs


OWN_MODEL_KINDS = ("training", "tuning")


def _own_model_sha256(step: BatchTransformStep, ctx: ExecutionContext) -> str | None:
    """The expected sha256 of ``model.tar.gz`` for a model this project trained itself.

    Inference handlers load models with pickle-based tools (joblib), which run code on load,
    so only a model written by one of the project's own training steps is accepted: the
    output of a training or tuning step of this execution, or a registered version of the
    ``sagemaker`` flavor (which only such an output can become) chosen by resolve_model."""
    ref = step.model
    if isinstance(ref, StepOutput):
        source = ctx.definition.step(ref.step)
        record = ctx.steps.get(ref.step)
        output = record.outputs.get(ref.output, {}) if record is not None else {}
        if source.kind in OWN_MODEL_KINDS:
            files = {f["path"]: f["sha256"] for f in output.get("files", [])}
            return files.get(MODEL_ARCHIVE)
        if record is not None and record.metadata.get("modelFlavor") == SAGEMAKER_FLAVOR:
            return str(output["sha256"])
    raise StepError(
        "an entry_point model is loaded with pickle-based tools, so it must come from this "
        "project's own training: a training or tuning step's output, or a registered "
        f"'{SAGEMAKER_FLAVOR}' version resolved by a resolve_model step",
        where=f"step '{step.name}', field 'model'",
        hint="train and register the model with a pipeline of this project",
    )


class TuningHandler(_BuiltinHandler):
    """Runs the tuner, which runs the training script once per trial."""

    runner = "tuning"

    def inputs(self, step: TuningStep, ctx: ExecutionContext) -> dict[str, Value]:
        return dict(step.inputs)

    def config(self, step: TuningStep, ctx: ExecutionContext) -> dict[str, Any]:
        static = {k: text(v) for k, v in evaluate(step.hyperparameters, ctx).items()}
        return {
            "script": str(script_path(step, ctx)),
            "arguments": [text(a) for a in evaluate(step.arguments, ctx)],
            "environment": {k: text(v) for k, v in evaluate(step.environment, ctx).items()},
            "channels": sorted(step.inputs),
            "hyperparameters": static,
            "ranges": {k: r.model_dump(mode="json") for k, r in step.ranges.items()},
            "objective": step.objective.model_dump(mode="json"),
            "max_jobs": int(_number(evaluate(step.max_jobs, ctx), step, "max_jobs")),
            "max_parallel_jobs": int(
                _number(evaluate(step.max_parallel_jobs, ctx), step, "max_parallel_jobs")
            ),
            "strategy": step.strategy,
            "seed": step.seed,
            "outputs": step.declared_outputs(),
            "trial_cpus": step.resources.cpus if step.resources else 1.0,
        }

    def cache_material(self, step: TuningStep, ctx: ExecutionContext) -> dict[str, Any]:
        material = super().cache_material(step, ctx)
        material["script_sha256"] = sha256_file(script_path(step, ctx))
        material["python"] = python_cache_material(python_spec(step.python, ctx, step))
        return material

    def task_fields(self, step: TuningStep, ctx: ExecutionContext) -> dict[str, Any]:
        # The tuner itself only waits: on a cluster its trials hold the CPUs (resources.cpus
        # each), so it asks for none and cannot starve them.
        return {
            "python": python_spec(step.python, ctx, step),
            "archive_outputs": ("model",) if step.model_archive else (),
            "cpus": 0.0,
        }
