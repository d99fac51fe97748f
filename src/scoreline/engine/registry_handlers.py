"""Inline handlers of the registry step kinds. They run on the orchestrator's thread, the
only writer of records, so registering and resolving are recorded with the execution."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from scoreline.artifacts import sha256_file
from scoreline.engine.context import ExecutionContext
from scoreline.engine.handlers import InlineResult, input_uri, script_path
from scoreline.engine.ml_handlers import OWN_MODEL_KINDS, SAGEMAKER_FLAVOR
from scoreline.errors import ArtifactError, ScorelineError, StepError
from scoreline.pipeline.expressions import StepOutput, evaluate
from scoreline.pipeline.ml_steps import RESOLVED_OUTPUTS, RegisterModelStep, ResolveModelStep
from scoreline.pipeline.steps import ScriptStep, StepBase
from scoreline.store.records import ModelVersionRecord, registered_artifacts
from scoreline.types import ApprovalStatus, StepStatus

EVALUATION_FILE = "evaluation.json"


def _group(step: RegisterModelStep | ResolveModelStep, ctx: ExecutionContext) -> str:
    """The step's model package group, once the store is known to be there."""
    if ctx.store is None:
        raise StepError(f"{step.kind} needs the metadata store", where=f"step '{step.name}'")
    value = evaluate(step.model_package_group_name, ctx)
    if not isinstance(value, str) or not value.strip():
        raise StepError(
            f"'model_package_group_name' resolved to {value!r}, not a name",
            where=f"step '{step.name}'",
        )
    return value.strip()


def _optional_uri(value: Any, field: str, ctx: ExecutionContext, step: StepBase) -> str | None:
    if value is None or evaluate(value, ctx) in ("", None):
        return None
    return input_uri(field, value, ctx, step)


class RegisterModelHandler:
    """Creates a model version from this execution's artifacts (DESIGN §6)."""

    def run_inline(self, step: RegisterModelStep, ctx: ExecutionContext) -> InlineResult:
        group = _group(step, ctx)
        assert ctx.store is not None
        model_uri = input_uri("model", step.model, ctx, step)
        if step.flavor == SAGEMAKER_FLAVOR:
            _require_own_training(step, ctx)
        existing = [v for v in ctx.store.models.list(group) if v.artifact_uri == model_uri]
        if existing:  # this step already registered it (the orchestrator was restarted)
            return _registered(existing[0], reused=True)
        preprocessing_uri = _optional_uri(step.preprocessing, "preprocessing", ctx, step)
        metrics_uri = _optional_uri(step.metrics, "metrics", ctx, step)
        baseline_uri = _optional_uri(step.baseline, "baseline", ctx, step)
        reference_uri = _optional_uri(step.reference, "reference", ctx, step)
        user = evaluate(step.user_id, ctx) if step.user_id is not None else None
        actor = str(user or ctx.execution.started_by)
        model_sha256 = _model_sha256(ctx, model_uri, step.flavor)
        baseline = _baseline(ctx, baseline_uri)
        if reference_uri is not None:
            baseline["reference"] = reference_uri
        evaluation = _evaluation_file(ctx, metrics_uri)
        record, reused = ctx.store.models.create_version(
            group,
            approval_status=str(evaluate(step.approval_status, ctx)),
            flavor=step.flavor,
            artifact_uri=model_uri,
            artifact_sha256=model_sha256,
            content_sha256=_content_sha256(ctx, model_sha256, preprocessing_uri),
            force_new=_flag(step.force_new_version, ctx, step),
            actor=actor,
            preprocessing_uri=preprocessing_uri,
            input_schema={
                **_input_schema(ctx, preprocessing_uri),
                **({"trustedTypes": step.trusted_types} if step.trusted_types else {}),
            },
            metrics=_metrics(ctx, metrics_uri),
            metrics_uri=evaluation,
            baseline=baseline,
            artifact_digests=ctx.artifacts.digests(
                registered_artifacts(preprocessing_uri, evaluation, baseline)
            ),
            lineage=_lineage(ctx, actor),
            description=str(evaluate(step.model_description, ctx)),
        )
        return _registered(record, reused=reused)


def _content_sha256(ctx: ExecutionContext, model_sha256: str, preprocessing: str | None) -> str:
    """One key for what scoring depends on: the model file and the fitted preprocessing."""
    digest = hashlib.sha256(f"model:{model_sha256}".encode())
    if preprocessing is not None:
        digest.update(f"\npreprocessing:{ctx.artifacts.fingerprint(preprocessing)}".encode())
    return digest.hexdigest()


def _flag(value: Any, ctx: ExecutionContext, step: StepBase) -> bool:
    resolved = evaluate(value, ctx)
    if isinstance(resolved, bool):
        return resolved
    if str(resolved).strip().lower() in ("true", "false"):
        return str(resolved).strip().lower() == "true"
    raise StepError(
        f"'force_new_version' resolved to {resolved!r}, not true or false",
        where=f"step '{step.name}'",
    )


def _require_own_training(step: RegisterModelStep, ctx: ExecutionContext) -> None:
    """A pickle-based model may be registered only from this execution's own training."""
    ref = step.model
    if isinstance(ref, StepOutput) and ctx.definition.step(ref.step).kind in OWN_MODEL_KINDS:
        return
    raise StepError(
        f"a '{SAGEMAKER_FLAVOR}' model is loaded with pickle-based tools, so only the model "
        "output of a training or tuning step of this pipeline can be registered",
        where=f"step '{step.name}', field 'model'",
    )


def _registered(record: ModelVersionRecord, reused: bool) -> InlineResult:
    metadata: dict[str, Any] = {
        "ModelPackageGroupName": record.group_name,
        "ModelPackageVersion": record.version,
        "ModelPackageArn": record.arn,
        "ModelApprovalStatus": record.approval_status,
    }
    if reused:
        metadata["reusedExistingVersion"] = True
    return InlineResult(metadata=metadata)


def _model_sha256(ctx: ExecutionContext, uri: str, flavor: str) -> str:
    from scoreline.data.flavors import flavor_class

    names = flavor_class(flavor).files
    try:
        files = {f.path: f.sha256 for f in ctx.artifacts.folder(uri).files}
    except ArtifactError:
        files = {}
    for name in names:
        if name in files:
            return files[name]
        if ctx.artifacts.exists(f"{uri}/{name}"):
            return ctx.artifacts.fingerprint(f"{uri}/{name}")
    raise StepError(
        f"the model folder holds none of {', '.join(names)} ({flavor} flavor)",
        where=uri,
        hint="save the model in a safe format (XGBoost: booster.save_model('model.json'))",
    )


def _input_schema(ctx: ExecutionContext, uri: str | None) -> dict[str, Any]:
    if uri is None:
        return {}
    from scoreline.data.preprocess import FILE_NAME, Preprocessor

    path = uri if uri.endswith(".json") else f"{uri}/{FILE_NAME}"
    data = json.loads(ctx.artifacts.read_bytes(path))
    return Preprocessor.from_dict(data, path).input_schema()


def _evaluation_file(ctx: ExecutionContext, uri: str | None) -> str | None:
    if uri is None:
        return None
    return uri if uri.endswith(".json") else f"{uri}/{EVALUATION_FILE}"


def _metrics(ctx: ExecutionContext, uri: str | None) -> dict[str, Any]:
    path = _evaluation_file(ctx, uri)
    if path is None:
        return {}
    try:
        data = json.loads(ctx.artifacts.read_bytes(path))
    except json.JSONDecodeError as exc:
        raise StepError(f"metrics file is not valid JSON ({exc.msg})", where=path) from None
    return data if isinstance(data, dict) else {}


def _baseline(ctx: ExecutionContext, uri: str | None) -> dict[str, Any]:
    if uri is None:
        return {}
    baseline = {}
    for name in ("statistics", "constraints"):
        path = f"{uri}/{name}.json"
        if not ctx.artifacts.exists(path):
            raise StepError(f"baseline folder has no {name}.json", where=uri)
        baseline[name] = path
    return baseline


def _lineage(ctx: ExecutionContext, actor: str) -> dict[str, Any]:
    """Where the version came from: execution, parameters, scripts and external inputs."""
    scripts: dict[str, str] = {}
    data: dict[str, str] = {}
    for name, record in ctx.steps.items():
        step = ctx.definition.step(name)
        if record.status != StepStatus.SUCCEEDED.value or not isinstance(step, ScriptStep):
            continue
        scripts[step.script] = sha256_file(script_path(step, ctx))
        for input_name, value in step.inputs.items():
            if isinstance(value, StepOutput):
                continue
            uri = input_uri(input_name, value, ctx, step)
            try:
                data[uri] = ctx.artifacts.fingerprint(uri)
            except ScorelineError:
                data[uri] = "unavailable"
    return {
        "pipelineName": ctx.execution.pipeline_name,
        "pipelineVersion": ctx.execution.pipeline_version,
        "pipelineExecutionId": ctx.execution.id,
        "parameters": ctx.execution.parameters,
        "userId": actor,
        "scripts": scripts,
        "inputs": data,
    }


class ResolveModelHandler:
    """Picks the model version when the execution runs and records which (DESIGN §5)."""

    def run_inline(self, step: ResolveModelStep, ctx: ExecutionContext) -> InlineResult:
        group = _group(step, ctx)
        assert ctx.store is not None
        selector = str(evaluate(step.version, ctx) or "")
        record, how = ctx.store.models.resolve(group, selector)
        if record.approval_status == ApprovalStatus.REJECTED.value:
            raise StepError(
                f"model {group}/{record.version} is Rejected",
                where=f"step '{step.name}'",
                hint="pin another version or approve a new one",
            )
        outputs: dict[str, dict[str, Any]] = {
            "model": {"uri": record.artifact_uri, "sha256": record.artifact_sha256}
        }
        digests = record.artifact_digests or {}
        for name, uri in record.artifacts.items():
            if name not in RESOLVED_OUTPUTS:
                continue
            outputs[name] = {"uri": uri}
            if name in digests:  # the model file itself is checked when it is loaded
                ctx.artifacts.verify(uri, digests[name], f"the {name} of model {record.arn}")
                outputs[name]["sha256"] = digests[name]
        return InlineResult(
            metadata={
                "ModelPackageGroupName": group,
                "ModelPackageVersion": record.version,
                "ModelPackageArn": record.arn,
                "ModelApprovalStatus": record.approval_status,
                "resolvedBy": how,
                "modelSha256": record.artifact_sha256,
                "modelFlavor": record.flavor,
                "modelSchema": record.input_schema,
            },
            outputs=outputs,
        )
