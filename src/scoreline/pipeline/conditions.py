"""Conditions of a ``condition`` step: comparisons of values, ``in``, ``not``, ``and``, ``or``."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from scoreline.errors import StepError
from scoreline.pipeline.expressions import Resolver, Value, evaluate

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class _Cond(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Compare(_Cond):
    """``left <op> right``."""

    type: Literal["compare"] = "compare"
    op: CompareOp
    left: Value
    right: Value


class In(_Cond):
    """``value`` is one of ``values``."""

    type: Literal["in"] = "in"
    value: Value
    values: list[Value]


class Not(_Cond):
    type: Literal["not"] = "not"
    condition: Condition


class And(_Cond):
    type: Literal["and"] = "and"
    conditions: list[Condition]


class Or(_Cond):
    type: Literal["or"] = "or"
    conditions: list[Condition]


Condition = Annotated[Compare | In | Not | And | Or, Field(discriminator="type")]

for _model in (Not, And, Or):
    _model.model_rebuild()


def check(condition: Compare | In | Not | And | Or, resolver: Resolver) -> bool:
    """Evaluate a condition for a running execution."""
    if isinstance(condition, Compare):
        left, right = evaluate(condition.left, resolver), evaluate(condition.right, resolver)
        try:
            return bool(_OPERATORS[condition.op](left, right))
        except TypeError:
            raise StepError(
                f"cannot compare {left!r} {condition.op} {right!r}",
                hint="both sides must be numbers, or both strings",
            ) from None
    if isinstance(condition, In):
        return evaluate(condition.value, resolver) in evaluate(condition.values, resolver)
    if isinstance(condition, Not):
        return not check(condition.condition, resolver)
    if isinstance(condition, And):
        return all(check(c, resolver) for c in condition.conditions)
    return any(check(c, resolver) for c in condition.conditions)


def describe(condition: Compare | In | Not | And | Or) -> str:
    """A short human rendering, used in logs and skip reasons."""
    if isinstance(condition, Compare):
        return f"{_show(condition.left)} {condition.op} {_show(condition.right)}"
    if isinstance(condition, In):
        return f"{_show(condition.value)} in {[_show(v) for v in condition.values]}"
    if isinstance(condition, Not):
        return f"not ({describe(condition.condition)})"
    joiner = " and " if isinstance(condition, And) else " or "
    return "(" + joiner.join(describe(c) for c in condition.conditions) + ")"


def _show(value: Any) -> str:
    if isinstance(value, BaseModel):
        data = value.model_dump(exclude={"expr"})
        return f"{getattr(value, 'expr', 'expr')}({', '.join(str(v) for v in data.values())})"
    return repr(value)


# Python DSL names, as in the SageMaker SDK.
def ConditionEquals(left: Value, right: Value) -> Compare:  # noqa: N802
    return Compare(op="==", left=left, right=right)


def ConditionGreaterThan(left: Value, right: Value) -> Compare:  # noqa: N802
    return Compare(op=">", left=left, right=right)


def ConditionGreaterThanOrEqualTo(left: Value, right: Value) -> Compare:  # noqa: N802
    return Compare(op=">=", left=left, right=right)


def ConditionLessThan(left: Value, right: Value) -> Compare:  # noqa: N802
    return Compare(op="<", left=left, right=right)


def ConditionLessThanOrEqualTo(left: Value, right: Value) -> Compare:  # noqa: N802
    return Compare(op="<=", left=left, right=right)
