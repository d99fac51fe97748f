"""Step definitions: a common base and one typed model per step kind.

Step kinds are pluggable (DESIGN §3 rule 4): :data:`STEP_KINDS` maps a short name to the
import path of its model, built-ins register exactly as a plugin would through the
``scoreline.step_kinds`` entry point group, and the class is imported only when used.
"""

from __future__ import annotations

import importlib
import re
from datetime import timedelta
from functools import cache
from importlib.metadata import entry_points
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoreline.errors import DefinitionError
from scoreline.pipeline.conditions import Condition
from scoreline.pipeline.expressions import StepOutput, Value

STEP_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,79}$"

STEP_KINDS: dict[str, str] = {
    "processing": "scoreline.pipeline.steps:ProcessingStep",
    "training": "scoreline.pipeline.steps:TrainingStep",
    "condition": "scoreline.pipeline.steps:ConditionStep",
    "fail": "scoreline.pipeline.steps:FailStep",
    "quality_check": "scoreline.pipeline.ml_steps:QualityCheckStep",
    "tuning": "scoreline.pipeline.ml_steps:TuningStep",
    "batch_transform": "scoreline.pipeline.ml_steps:BatchTransformStep",
    "register_model": "scoreline.pipeline.ml_steps:RegisterModelStep",
    "resolve_model": "scoreline.pipeline.ml_steps:ResolveModelStep",
}


def register_step_kind(kind: str, target: str) -> None:
    """Make ``kind`` available in definitions; ``target`` is ``"module:Class"``."""
    STEP_KINDS[kind] = target
    step_kind_class.cache_clear()


@cache
def step_kind_class(kind: str) -> type[StepBase]:
    """The model class for a step kind, importing it on first use."""
    target = STEP_KINDS.get(kind)
    if target is None:
        for ep in entry_points(group="scoreline.step_kinds"):
            if ep.name == kind:
                target = ep.value
                break
    if target is None:
        known = ", ".join(sorted(STEP_KINDS))
        raise DefinitionError(f"unknown step kind '{kind}'", hint=f"known kinds: {known}")
    module_name, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, StepBase)):
        raise DefinitionError(f"step kind '{kind}' does not point at a StepBase class")
    return cls


_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration such as ``PT1H`` or ``P30D`` (SageMaker's ``expire_after``)."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"'{text}' is not an ISO 8601 duration such as PT1H or P30D")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


class RetryPolicy(BaseModel):
    """Attempts for a failing task step, waiting ``interval * backoff_rate**n`` between them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(default=1, ge=1, le=20)
    interval_seconds: float = Field(default=1.0, ge=0)
    backoff_rate: float = Field(default=2.0, ge=1)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 is the first retry)."""
        return self.interval_seconds * self.backoff_rate ** max(attempt - 2, 0)


class CacheConfig(BaseModel):
    """Opt-in step caching: reuse a previous identical run's outputs until they expire."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    expire_after: str | None = Field(default=None, description="ISO 8601 duration, e.g. P30D")

    @field_validator("expire_after")
    @classmethod
    def _valid_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class PropertyFile(BaseModel):
    """A JSON file inside one of the step's outputs that conditions can read with JsonGet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    output: str
    path: str


def _names(value: Any) -> Any:
    """Accept step objects where step names are expected (Python DSL convenience)."""
    if isinstance(value, list | tuple):
        return [v.name if isinstance(v, StepBase) else v for v in value]
    return value


class StepBase(BaseModel):
    """Fields every step has. Subclasses add their kind's configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=STEP_NAME_PATTERN)
    kind: str
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    retry: RetryPolicy | None = None
    cache: CacheConfig | None = None

    @field_validator("depends_on", mode="before")
    @classmethod
    def _accept_steps(cls, value: Any) -> Any:
        return _names(value)

    @model_validator(mode="after")
    def _property_files_name_outputs(self) -> StepBase:
        for pf in self.declared_property_files():
            if pf.output not in self.declared_outputs():
                raise ValueError(f"property file '{pf.name}' names unknown output '{pf.output}'")
        return self

    def declared_outputs(self) -> list[str]:
        """Names of the outputs this step produces."""
        return []

    def declared_property_files(self) -> list[PropertyFile]:
        return []

    def output(self, name: str) -> StepOutput:
        """Reference to one of this step's outputs (DSL): ``prep.output("train")``."""
        if name not in self.declared_outputs():
            raise DefinitionError(f"step '{self.name}' has no output '{name}'")
        return StepOutput(step=self.name, output=name)

    def branches(self) -> tuple[list[str], list[str]]:
        """(if_steps, else_steps) for condition steps; empty for others."""
        return [], []

    @property
    def runs_as_task(self) -> bool:
        """True when the step runs user code through an executor (not in the orchestrator)."""
        return False


class ScriptStep(StepBase):
    """A step that runs a user script as a subprocess (DESIGN §5 script contract)."""

    script: str = Field(min_length=1, description="path relative to the project root")
    inputs: dict[str, Value] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    arguments: list[Value] = Field(default_factory=list)
    environment: dict[str, Value] = Field(default_factory=dict)
    property_files: list[PropertyFile] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0)

    @field_validator("inputs", "outputs")
    @classmethod
    def _valid_channel_names(cls, value: Any) -> Any:
        for name in value:
            if not re.match(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", name):
                raise ValueError(f"'{name}' is not a valid input/output name (letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _outputs_declared_once(self) -> ScriptStep:
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError("an output is declared twice")
        return self

    def declared_outputs(self) -> list[str]:
        return list(self.outputs)

    def declared_property_files(self) -> list[PropertyFile]:
        return list(self.property_files)

    @property
    def runs_as_task(self) -> bool:
        return True


class ProcessingStep(ScriptStep):
    """Runs a script on input folders and writes output folders."""

    kind: Literal["processing"] = "processing"


class TrainingStep(ScriptStep):
    """Runs a training script with the SageMaker contract: ``SM_CHANNEL_<NAME>`` per input,
    ``SM_MODEL_DIR`` (output ``model``), ``SM_OUTPUT_DATA_DIR`` (output ``output``),
    ``SM_HPS`` and hyperparameters as ``--name value`` arguments."""

    kind: Literal["training"] = "training"
    outputs: list[str] = Field(default_factory=lambda: ["model", "output"])
    hyperparameters: dict[str, Value] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_model_output(self) -> TrainingStep:
        if "model" not in self.outputs:
            raise ValueError("a training step must declare the output 'model'")
        return self


class ConditionStep(StepBase):
    """Runs ``if_steps`` when every condition holds, ``else_steps`` otherwise."""

    kind: Literal["condition"] = "condition"
    conditions: list[Condition] = Field(min_length=1)
    if_steps: list[str] = Field(default_factory=list)
    else_steps: list[str] = Field(default_factory=list)

    @field_validator("if_steps", "else_steps", mode="before")
    @classmethod
    def _accept_steps(cls, value: Any) -> Any:
        return _names(value)

    def branches(self) -> tuple[list[str], list[str]]:
        return list(self.if_steps), list(self.else_steps)


class FailStep(StepBase):
    """Ends the execution as Failed with ``error_message``."""

    kind: Literal["fail"] = "fail"
    error_message: Value = ""
