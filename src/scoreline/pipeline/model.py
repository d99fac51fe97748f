"""Pipeline definitions: parameters and steps, validated as a whole, with a JSON round trip.

A :class:`PipelineDefinition` is pure data (DESIGN §3 rule 1): building one does no I/O, it
serialises to JSON with :meth:`PipelineDefinition.to_json` and loads back identically with
:meth:`PipelineDefinition.from_json`. Invalid definitions raise :class:`DefinitionError` with
one line naming the step (or parameter) and the problem.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from scoreline.errors import DefinitionError, ParameterError
from scoreline.pipeline.expressions import (
    JsonGet,
    ParameterRef,
    Scalar,
    StepOutput,
    iter_expressions,
)
from scoreline.pipeline.graph import branch_owners, find_cycle, topological_order, upstream_of
from scoreline.pipeline.steps import STEP_NAME_PATTERN, StepBase, step_kind_class
from scoreline.types import ParameterType

FORMAT_VERSION = 1

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class Parameter(BaseModel):
    """A typed pipeline parameter with a default, overridable when an execution starts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=STEP_NAME_PATTERN)
    type: ParameterType
    default: Scalar | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_matches_type(self) -> Parameter:
        if self.default is not None and not _matches(self.type, self.default):
            raise DefinitionError(
                f"default {self.default!r} is not of type {self.type.value}",
                where=f"parameter '{self.name}'",
            )
        if isinstance(self.default, float) and not math.isfinite(self.default):
            raise DefinitionError(
                f"default {self.default!r} is not a finite number",
                where=f"parameter '{self.name}'",
            )
        return self

    def ref(self) -> ParameterRef:
        """This parameter as an expression (Python DSL)."""
        return ParameterRef(name=self.name)

    def coerce(self, raw: Any) -> Scalar:
        """Turn an override (a typed value, or a string from ``-p Name=Value``) into a value
        of this parameter's type."""
        if isinstance(raw, str) and self.type is not ParameterType.STRING:
            text = raw.strip()
            try:
                if self.type is ParameterType.INTEGER:
                    return int(text)
                if self.type is ParameterType.FLOAT:
                    return self._finite(float(text), raw)
            except ValueError:
                pass
            if self.type is ParameterType.BOOLEAN and text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
        elif _matches(self.type, raw):
            return self._finite(float(raw), raw) if self.type is ParameterType.FLOAT else raw
        raise ParameterError(
            f"expects {self.type.value}, got {raw!r}", where=f"parameter '{self.name}'"
        )

    def _finite(self, value: float, raw: Any) -> float:
        """A Float is a number: NaN would pass every comparison's gate (mse 3.3 vs nan:
        passed) and infinity is no threshold."""
        if not math.isfinite(value):
            raise ParameterError(
                f"expects a finite Float, got {raw!r}",
                where=f"parameter '{self.name}'",
                hint="give a number such as 10.0",
            )
        return value

    @classmethod
    def string(cls, name: str, default: str | None = None, description: str = "") -> Parameter:
        return cls(name=name, type=ParameterType.STRING, default=default, description=description)

    @classmethod
    def integer(cls, name: str, default: int | None = None, description: str = "") -> Parameter:
        return cls(name=name, type=ParameterType.INTEGER, default=default, description=description)

    @classmethod
    def float(cls, name: str, default: float | None = None, description: str = "") -> Parameter:
        return cls(name=name, type=ParameterType.FLOAT, default=default, description=description)

    @classmethod
    def boolean(cls, name: str, default: bool | None = None, description: str = "") -> Parameter:
        return cls(name=name, type=ParameterType.BOOLEAN, default=default, description=description)


def _matches(kind: ParameterType, value: Any) -> bool:
    if kind is ParameterType.STRING:
        return isinstance(value, str)
    if kind is ParameterType.BOOLEAN:
        return isinstance(value, bool)
    if kind is ParameterType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, int | float) and not isinstance(value, bool)


class PipelineDefinition(BaseModel):
    """A whole pipeline: name, parameters and steps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=STEP_NAME_PATTERN)
    description: str = ""
    parameters: list[Parameter] = Field(default_factory=list)
    steps: list[SerializeAsAny[StepBase]] = Field(default_factory=list)
    format_version: int = FORMAT_VERSION

    @field_validator("steps", mode="before")
    @classmethod
    def _typed_steps(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        typed: list[Any] = []
        for index, item in enumerate(value):
            if isinstance(item, dict):
                kind = item.get("kind")
                where = f"step '{item.get('name', f'#{index + 1}')}'"
                if not isinstance(kind, str):
                    raise DefinitionError("missing 'kind'", where=where)
                try:
                    typed.append(step_kind_class(kind).model_validate(item))
                except ValidationError as exc:
                    raise DefinitionError(_first_error(exc), where=where) from None
                except DefinitionError as exc:
                    raise DefinitionError(exc.what, where=where, hint=exc.hint) from None
            else:
                typed.append(item)
        return typed

    @model_validator(mode="after")
    def _valid_graph(self) -> PipelineDefinition:
        validate(self)
        return self

    # --- queries -------------------------------------------------------------------------

    def step(self, name: str) -> StepBase:
        for s in self.steps:
            if s.name == name:
                return s
        raise DefinitionError(f"no step '{name}'", where=f"pipeline '{self.name}'")

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise ParameterError(
            f"unknown parameter '{name}'",
            where=f"pipeline '{self.name}'",
            hint=f"its parameters: {known}",
        )

    def dependencies(self) -> dict[str, set[str]]:
        """Step name → names of the steps it waits for."""
        owners = branch_owners(self.steps)
        return {s.name: upstream_of(s, owners) for s in self.steps}

    def order(self) -> list[str]:
        """Step names in an order that respects every dependency."""
        return topological_order([s.name for s in self.steps], self.dependencies())

    def location_parameters(self) -> set[str]:
        """Parameters that some step reads as a file or folder."""
        return set().union(*(step.location_parameters() for step in self.steps))

    def resolve_parameters(self, overrides: dict[str, Any] | None = None) -> dict[str, Scalar]:
        """Defaults merged with overrides, each coerced to its type; every parameter must end
        up with a value."""
        values: dict[str, Scalar] = {}
        for name, raw in (overrides or {}).items():
            values[name] = self.parameter(name).coerce(raw)
        for p in self.parameters:
            if p.name not in values:
                if p.default is None:
                    raise ParameterError(
                        "has no default and no value was given",
                        where=f"parameter '{p.name}'",
                        hint=f"pass -p {p.name}=VALUE",
                    )
                values[p.name] = p.default
        return values

    # --- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_defaults=False)

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> PipelineDefinition:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DefinitionError(_first_error(exc, data), where=source) from None
        except DefinitionError as exc:
            if source is None:
                raise
            where = f"{source}: {exc.where}" if exc.where else source
            raise DefinitionError(exc.what, where=where, hint=exc.hint) from None

    @classmethod
    def from_json(cls, text: str, *, source: str | None = None) -> PipelineDefinition:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                f"not valid JSON ({exc.msg}, line {exc.lineno})", where=source
            ) from None
        return cls.from_dict(data, source=source)


def Pipeline(  # noqa: N802 - the DSL name users know from the SageMaker SDK
    name: str,
    *,
    steps: list[StepBase],
    parameters: list[Parameter] | None = None,
    description: str = "",
) -> PipelineDefinition:
    """Build a definition in Python. ``steps`` lists every step, including those that a
    condition step runs on its branches."""
    return PipelineDefinition(
        name=name, steps=steps, parameters=parameters or [], description=description
    )


def _first_error(exc: ValidationError, data: Any = None) -> str:
    error = exc.errors()[0]
    loc = list(error["loc"])
    prefix = ""
    if data is not None and len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps") if isinstance(data, dict) else None
        if isinstance(steps, list) and loc[1] < len(steps) and isinstance(steps[loc[1]], dict):
            prefix = f"step '{steps[loc[1]].get('name', loc[1])}': "
            loc = loc[2:]
    key = ".".join(str(p) for p in loc)
    return f"{prefix}{key + ': ' if key else ''}{error['msg']}"


def validate(definition: PipelineDefinition) -> None:
    """Check names, references and the graph; raise DefinitionError on the first problem."""
    seen: set[str] = set()
    for p in definition.parameters:
        if p.name in seen:
            raise DefinitionError("duplicate parameter name", where=f"parameter '{p.name}'")
        seen.add(p.name)
    params = seen
    steps: dict[str, StepBase] = {}
    for s in definition.steps:
        if s.name in steps:
            raise DefinitionError("duplicate step name", where=f"step '{s.name}'")
        steps[s.name] = s
    owner_of: dict[str, str] = {}
    for s in definition.steps:
        where = f"step '{s.name}'"
        for dep in s.depends_on:
            if dep not in steps:
                raise DefinitionError(f"depends on unknown step '{dep}'", where=where)
            if dep == s.name:
                raise DefinitionError(
                    "depends on itself", where=where, hint=f"remove '{dep}' from depends_on"
                )
        if_steps, else_steps = s.branches()
        for name in [*if_steps, *else_steps]:
            if name not in steps:
                raise DefinitionError(f"branch names unknown step '{name}'", where=where)
            if name in owner_of or (name in if_steps and name in else_steps):
                raise DefinitionError(
                    f"step '{name}' is on more than one condition branch", where=where
                )
            owner_of[name] = s.name
        for expr in iter_expressions(s):
            if isinstance(expr, StepOutput | JsonGet) and expr.step == s.name:
                raise DefinitionError("uses its own output as an input", where=where)
            _check_reference(expr, where, params, steps)
    cycle = find_cycle(definition.dependencies())
    if cycle:
        raise DefinitionError(
            f"dependency cycle {' -> '.join(cycle)} (each step depends on the next)",
            where=f"step '{cycle[0]}'",
        )


def _check_reference(expr: Any, where: str, params: set[str], steps: dict[str, StepBase]) -> None:
    if isinstance(expr, ParameterRef) and expr.name not in params:
        raise DefinitionError(f"references unknown parameter '{expr.name}'", where=where)
    if isinstance(expr, StepOutput | JsonGet):
        target = steps.get(expr.step)
        if target is None:
            raise DefinitionError(f"references unknown step '{expr.step}'", where=where)
        if isinstance(expr, StepOutput) and expr.output not in target.declared_outputs():
            raise DefinitionError(
                f"references output '{expr.output}' that step '{expr.step}' does not declare",
                where=where,
            )
        if isinstance(expr, JsonGet) and expr.property_file not in {
            pf.name for pf in target.declared_property_files()
        }:
            raise DefinitionError(
                f"references property file '{expr.property_file}' that step "
                f"'{expr.step}' does not declare",
                where=where,
            )
