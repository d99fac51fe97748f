"""Expressions: values that are only known when an execution runs.

Each expression is a small frozen pydantic model tagged by ``expr`` so definitions stay pure
data and serialise to JSON. :func:`evaluate` turns a value into a concrete one, asking a
:class:`Resolver` (implemented by the engine) for parameters, step outputs and property files.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scoreline.errors import StepError

EXECUTION_VARIABLES = (
    "PIPELINE_EXECUTION_ID",
    "PIPELINE_NAME",
    "START_DATETIME",
    "CURRENT_DATETIME",
)

Scalar = bool | int | float | str


class _Expr(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ParameterRef(_Expr):
    """The value of a pipeline parameter for this execution."""

    expr: Literal["parameter"] = "parameter"
    name: str


class StepOutput(_Expr):
    """The URI of a named output of another step (creates a dependency on it)."""

    expr: Literal["step_output"] = "step_output"
    step: str
    output: str


class ExecutionOutput(_Expr):
    """The URI of an output of a step of another, earlier execution (e.g. the predictions
    of a past inference run, checked once its ground truth has arrived)."""

    expr: Literal["execution_output"] = "execution_output"
    execution: Value
    step: str
    output: str


class ExecutionVariable(_Expr):
    """A value of the running execution, e.g. ``PIPELINE_EXECUTION_ID``."""

    expr: Literal["execution_variable"] = "execution_variable"
    name: Literal["PIPELINE_EXECUTION_ID", "PIPELINE_NAME", "START_DATETIME", "CURRENT_DATETIME"]


class Join(_Expr):
    """Values turned into strings and joined with ``on`` (SageMaker's ``Join``)."""

    expr: Literal["join"] = "join"
    on: str = ""
    values: list[Value]


class JsonGet(_Expr):
    """A value read from a step's property file with a dotted path such as
    ``regression_metrics.mse.value`` or ``trials[0].score``."""

    expr: Literal["json_get"] = "json_get"
    step: str
    property_file: str
    json_path: str

    @field_validator("step", mode="before")
    @classmethod
    def _accept_step(cls, value: Any) -> Any:
        """The Python DSL may pass the step object itself."""
        return getattr(value, "name", value)


Expression = Annotated[
    ParameterRef | StepOutput | ExecutionOutput | ExecutionVariable | Join | JsonGet,
    Field(discriminator="expr"),
]
Value = Expression | Scalar

Join.model_rebuild()
ExecutionOutput.model_rebuild()


class Resolver(Protocol):
    """What evaluating an expression needs from a running execution."""

    def parameter(self, name: str) -> Scalar: ...

    def step_output(self, step: str, output: str) -> str: ...

    def execution_variable(self, name: str) -> str: ...

    def property_file(self, step: str, name: str) -> Any: ...

    def execution_output(self, execution_id: str, step: str, output: str) -> str: ...


def evaluate(value: Any, resolver: Resolver) -> Any:
    """Resolve ``value`` (a scalar, an expression, or a list/dict of them) to plain data."""
    if isinstance(value, ParameterRef):
        return resolver.parameter(value.name)
    if isinstance(value, StepOutput):
        return resolver.step_output(value.step, value.output)
    if isinstance(value, ExecutionVariable):
        return resolver.execution_variable(value.name)
    if isinstance(value, ExecutionOutput):
        execution = evaluate(value.execution, resolver)
        return resolver.execution_output(str(execution), value.step, value.output)
    if isinstance(value, Join):
        return value.on.join(_as_text(evaluate(v, resolver)) for v in value.values)
    if isinstance(value, JsonGet):
        document = resolver.property_file(value.step, value.property_file)
        return json_get(document, value.json_path, where=f"{value.step}.{value.property_file}")
    if isinstance(value, list):
        return [evaluate(v, resolver) for v in value]
    if isinstance(value, dict):
        return {k: evaluate(v, resolver) for k, v in value.items()}
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def json_get(document: Any, path: str, *, where: str = "property file") -> Any:
    """Follow a dotted/indexed path into parsed JSON; a missing key is a clear error."""
    current = document
    for match in _PATH_TOKEN.finditer(path):
        key, index = match.group(1), match.group(2)
        try:
            current = current[int(index)] if index is not None else current[key]
        except (KeyError, IndexError, TypeError):
            raise StepError(
                f"JsonGet path '{path}' not found (stopped at '{match.group(0)}')", where=where
            ) from None
    return current


def iter_expressions(value: Any) -> Iterator[BaseModel]:
    """Every expression inside ``value``, depth first (models, lists, dicts)."""
    if isinstance(value, _Expr):
        yield value
        if isinstance(value, Join):
            for v in value.values:
                yield from iter_expressions(v)
        if isinstance(value, ExecutionOutput):
            yield from iter_expressions(value.execution)
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from iter_expressions(getattr(value, field))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from iter_expressions(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_expressions(v)
