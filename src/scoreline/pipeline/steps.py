"""Step definitions: a common base and one typed model per step kind.

Step kinds are pluggable (DESIGN §3 rule 4) through :mod:`scoreline.plugins`: a short name
maps to the import path of its model, which names its handler; the class is imported only
when used.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoreline import plugins
from scoreline.errors import DefinitionError
from scoreline.pipeline.conditions import Condition
from scoreline.pipeline.container_paths import check_container_path, nested_pair
from scoreline.pipeline.expressions import StepOutput, Value
from scoreline.types import channel_env_name

STEP_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,79}$"


def register_step_kind(kind: str, target: str) -> None:
    """Make ``kind`` available in definitions; ``target`` is ``"module:Class"``, a
    :class:`StepBase` subclass whose ``handler`` names the class that runs it."""
    plugins.register("step_kinds", kind, target)


def step_kind_class(kind: str) -> type[StepBase]:
    """The model class for a step kind, importing it on first use."""
    cls = plugins.load("step_kinds", kind, DefinitionError)
    if not (isinstance(cls, type) and issubclass(cls, StepBase)):
        raise DefinitionError(f"step kind '{kind}' does not point at a StepBase class")
    if not cls.handler:
        raise DefinitionError(
            f"step kind '{kind}' names no handler",
            hint=f"set {cls.__name__}.handler to the 'module:Class' that runs it",
        )
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


class Resources(BaseModel):
    """What one attempt of a task step needs: a cluster executor (Ray) schedules it where
    that much is free; the local executor runs it as it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpus: float = Field(default=1.0, gt=0, le=1024)
    memory_mb: int | None = Field(default=None, gt=0)


def _names(value: Any) -> Any:
    """Accept step objects where step names are expected (Python DSL convenience)."""
    if isinstance(value, list | tuple):
        return [v.name if isinstance(v, StepBase) else v for v in value]
    return value


class StepBase(BaseModel):
    """Fields every step has. Subclasses add their kind's configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location_fields: ClassVar[tuple[str, ...]] = ()
    """Fields whose values the step reads as files or folders (confined to the data roots)."""
    handler: ClassVar[str] = ""
    """``"module:Class"`` of the handler that runs steps of this kind (``engine.handlers``)."""

    name: str = Field(pattern=STEP_NAME_PATTERN)
    kind: str
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    retry: RetryPolicy | None = None
    cache: CacheConfig | None = None
    resources: Resources | None = None

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

    def location_parameters(self) -> set[str]:
        """Parameters whose values this step reads as a file or folder."""
        dumped = self.model_dump(mode="json")
        return set().union(*(parameter_names(dumped.get(name)) for name in self.location_fields))

    def declared_property_files(self) -> list[PropertyFile]:
        return []

    def project_files(self) -> dict[str, str]:
        """Files this step needs from the project, by field (checked before a run starts)."""
        found = {
            name: value
            for name in ("script", "entry_point")
            if isinstance(value := getattr(self, name, None), str)
        }
        python = getattr(self, "python", None)
        if isinstance(python, PythonEnvironment) and python.requirements:
            found["python.requirements"] = python.requirements
        return found

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


def parameter_names(value: Any) -> set[str]:
    """The pipeline parameters whose values become (part of) the location that ``value``
    names: a parameter itself, or joined into a string. A parameter that only selects
    something (the execution of ``execution_output``, a JSON path) names no location."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, dict):
        kind = value.get("expr")
        if kind == "parameter":
            return {value["name"]} if isinstance(value.get("name"), str) else set()
        if kind == "join":
            return parameter_names(value.get("values"))
        if kind is not None:
            return set()
        return set().union(*(parameter_names(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(parameter_names(item) for item in value))
    return set()


CHANNEL_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"


class PythonEnvironment(BaseModel):
    """The Python a step's script runs in (SageMaker's framework container): an interpreter,
    or a ``requirements.txt`` installed once into a cached virtual environment. Without one,
    scripts run in scoreline's own environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requirements: str | None = Field(default=None, description="path relative to the project")
    interpreter: str | None = Field(default=None, description="absolute path of a python")

    @model_validator(mode="after")
    def _exactly_one(self) -> PythonEnvironment:
        if (self.requirements is None) == (self.interpreter is None):
            raise ValueError("give exactly one of 'requirements' or 'interpreter'")
        if self.interpreter is not None and not self.interpreter.startswith("/"):
            raise ValueError(f"interpreter '{self.interpreter}' is not an absolute path")
        return self


class ProcessingInput(BaseModel):
    """SageMaker's ProcessingInput (Python DSL): ``source`` is copied to the step's input
    folder, which the script sees at ``destination``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Value
    destination: str
    input_name: str | None = None


class ProcessingOutput(BaseModel):
    """SageMaker's ProcessingOutput (Python DSL): what the script writes at ``source``
    becomes the step's output ``output_name``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    output_name: str
    source: str


def _fields(item: Any) -> Any:
    if isinstance(item, ProcessingInput | ProcessingOutput):
        return {k: v for k, v in dict(item).items() if v is not None}
    return item


def _sagemaker_channels(data: Any) -> Any:
    """Accept SageMaker's ProcessingInput/ProcessingOutput shapes: ``inputs`` as a list of
    ``{source, destination, input_name}`` and ``outputs`` with ``{output_name, source}``
    items; the container paths they name go to ``container_paths``."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    paths: dict[str, Any] = dict(data.get("container_paths") or {})
    if isinstance(data.get("inputs"), list):
        inputs: dict[str, Any] = {}
        for item in map(_fields, data["inputs"]):
            if not isinstance(item, dict) or not {"source", "destination"} <= set(item):
                raise ValueError("an input in list form needs 'source' and 'destination'")
            unknown = set(item) - {"source", "destination", "input_name"}
            if unknown:
                raise ValueError(f"unknown key '{sorted(unknown)[0]}' in an input")
            destination = str(item["destination"])
            name = item.get("input_name") or PurePosixPath(destination).name
            inputs[name] = item["source"]
            paths[name] = destination
        data["inputs"] = inputs
    if isinstance(data.get("outputs"), list):
        outputs: list[Any] = []
        for item in map(_fields, data["outputs"]):
            if not isinstance(item, dict):
                outputs.append(item)
                continue
            if "destination" in item:
                raise ValueError(
                    f"output '{item.get('output_name')}': 'destination' is not used; every "
                    "execution writes its outputs under its own prefix (read them with "
                    "step_output expressions)"
                )
            if not {"output_name", "source"} <= set(item) or len(item) != 2:
                raise ValueError("an output in mapping form has exactly 'output_name' and 'source'")
            outputs.append(item["output_name"])
            paths[item["output_name"]] = str(item["source"])
        data["outputs"] = outputs
    if paths:
        data["container_paths"] = paths
    return data


class ScriptStep(StepBase):
    """A step that runs a user script as a subprocess (DESIGN §5 script contract)."""

    location_fields = ("inputs",)

    script: str = Field(min_length=1, description="path relative to the project root")
    inputs: dict[str, Value] = Field(default_factory=dict)
    outputs: list[str] = Field(default_factory=list)
    arguments: list[Value] = Field(default_factory=list)
    environment: dict[str, Value] = Field(default_factory=dict)
    property_files: list[PropertyFile] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0)
    container_paths: dict[str, str] = Field(
        default_factory=dict,
        description="input/output name -> the absolute path the script uses for it "
        "(e.g. /opt/ml/processing/input), bound in a private mount namespace",
    )
    python: PythonEnvironment | None = None

    _sagemaker_shapes = model_validator(mode="before")(_sagemaker_channels)

    @field_validator("inputs", "outputs")
    @classmethod
    def _valid_channel_names(cls, value: Any) -> Any:
        for name in value:
            if not re.match(CHANNEL_NAME_PATTERN, name):
                raise ValueError(
                    f"'{name}' is not a valid input/output name (letters, digits, _ and -)"
                )
        return value

    @model_validator(mode="after")
    def _channels_consistent(self) -> ScriptStep:
        if len(set(self.outputs)) != len(self.outputs):
            raise ValueError("an output is declared twice")
        names = [*self.inputs, *self.outputs]
        if len({channel_env_name(n) for n in names}) != len(set(names)):
            raise ValueError("two input/output names differ only in '-' versus '_' or case")
        if set(self.inputs) & set(self.outputs) and self.container_paths:
            raise ValueError("an input and an output share a name")
        for name, path in self.container_paths.items():
            if name not in names:
                raise ValueError(f"container path for unknown input/output '{name}'")
            problem = check_container_path(path)
            if problem:
                raise ValueError(f"container path of '{name}': {problem}")
        pair = nested_pair(list(self.container_paths.values()))
        if pair:
            raise ValueError(f"container paths {pair[0]} and {pair[1]} are inside one another")
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

    handler: ClassVar[str] = "scoreline.engine.handlers:ScriptHandler"
    kind: Literal["processing"] = "processing"


class TrainingStep(ScriptStep):
    """Runs a training script with the SageMaker contract: ``SM_CHANNEL_<NAME>`` per input,
    ``SM_MODEL_DIR`` (output ``model``), ``SM_OUTPUT_DATA_DIR`` (output ``output``),
    ``SM_HPS`` and hyperparameters as ``--name value`` arguments."""

    handler: ClassVar[str] = "scoreline.engine.handlers:TrainingHandler"
    kind: Literal["training"] = "training"
    outputs: list[str] = Field(default_factory=lambda: ["model", "output"])
    hyperparameters: dict[str, Value] = Field(default_factory=dict)
    model_archive: bool = Field(
        default=True,
        description="also publish the model folder as model.tar.gz inside it, as SageMaker "
        "hands a trained model to the next step",
    )

    @model_validator(mode="after")
    def _has_model_output(self) -> TrainingStep:
        if "model" not in self.outputs:
            raise ValueError("a training step must declare the output 'model'")
        return self


class ConditionStep(StepBase):
    """Runs ``if_steps`` when every condition holds, ``else_steps`` otherwise."""

    handler: ClassVar[str] = "scoreline.engine.handlers:ConditionHandler"
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

    handler: ClassVar[str] = "scoreline.engine.handlers:FailHandler"
    kind: Literal["fail"] = "fail"
    error_message: Value = ""
