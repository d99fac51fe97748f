"""One registry for every pluggable kind: step kinds, executors, model flavors and drift
methods. (Notification services are apprise's: any apprise URL, apprise's own plugins
included, is a target.)

Each group maps a short name to the ``"module:attribute"`` that implements it, imported only
when first used. Built-ins are listed here exactly as a plugin lists itself; a package adds
its own under the entry point group ``scoreline.<group>`` (``[project.entry-points]``), or
at run time with :func:`register`. A step kind is one entry: its definition class names its
handler (``StepBase.handler``), so a kind cannot validate and then fail for want of one.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

from scoreline.errors import ScorelineError

Group = Literal["step_kinds", "executors", "flavors", "drift_methods"]

_BUILTINS: dict[Group, dict[str, str]] = {
    "step_kinds": {
        "processing": "scoreline.pipeline.steps:ProcessingStep",
        "training": "scoreline.pipeline.steps:TrainingStep",
        "condition": "scoreline.pipeline.steps:ConditionStep",
        "fail": "scoreline.pipeline.steps:FailStep",
        "quality_check": "scoreline.pipeline.ml_steps:QualityCheckStep",
        "tuning": "scoreline.pipeline.ml_steps:TuningStep",
        "batch_transform": "scoreline.pipeline.ml_steps:BatchTransformStep",
        "register_model": "scoreline.pipeline.ml_steps:RegisterModelStep",
        "resolve_model": "scoreline.pipeline.ml_steps:ResolveModelStep",
    },
    "executors": {
        "local": "scoreline.engine.executors:LocalExecutor",
        "ray": "scoreline.engine.ray_executor:RayExecutor",
    },
    "flavors": {
        "xgboost": "scoreline.data.flavors:XGBoostModel",
        "lightgbm": "scoreline.data.flavors:LightGBMModel",
        "catboost": "scoreline.data.flavors:CatBoostModel",
        "onnx": "scoreline.data.flavors:ONNXModel",
        "sklearn": "scoreline.data.flavors:SklearnModel",
        "sagemaker": "scoreline.data.flavors:SageMakerModel",  # last: see flavor_names
    },
    "drift_methods": {
        "LInfinity": "scoreline.monitoring.drift:L_INFINITY",
        "KS": "scoreline.monitoring.drift:KS",
        "PSI": "scoreline.monitoring.drift:PSI",
        "Wasserstein": "scoreline.monitoring.drift:WASSERSTEIN",
        "JensenShannon": "scoreline.monitoring.drift:JENSEN_SHANNON",
    },
}
_REGISTERED: dict[Group, dict[str, str]] = {group: {} for group in _BUILTINS}


def register(group: Group, name: str, target: str) -> None:
    """Make ``name`` available in ``group``; ``target`` is ``"module:attribute"``."""
    _REGISTERED[group][name] = target
    load.cache_clear()


@cache
def _from_entry_points(group: Group) -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=f"scoreline.{group}")}


def targets(group: Group) -> dict[str, str]:
    """Every name of ``group`` and what it points at: built-ins, then entry points, then
    run-time registrations (a later source overrides an earlier one)."""
    return {**_BUILTINS[group], **_from_entry_points(group), **_REGISTERED[group]}


def names(group: Group) -> list[str]:
    """The known names of ``group``, sorted."""
    return sorted(targets(group))


@cache
def load(group: Group, name: str, error: type[ScorelineError], where: str | None = None) -> Any:
    """The object ``name`` stands for in ``group``, imported on first use; an unknown name is
    ``error`` listing the known ones."""
    target = targets(group).get(name)
    if target is None:
        label = group.rstrip("s").replace("_", " ")
        raise error(
            f"unknown {label} '{name}'",
            where=where,
            hint=f"known {group.replace('_', ' ')}: {', '.join(names(group))}",
        )
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
