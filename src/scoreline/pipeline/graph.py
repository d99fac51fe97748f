"""The dependency graph of a definition: edges, cycle detection, topological order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from scoreline.pipeline.expressions import JsonGet, StepOutput, iter_expressions


class _StepLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def depends_on(self) -> list[str]: ...

    def branches(self) -> tuple[list[str], list[str]]: ...


def upstream_of(step: _StepLike, branch_owner: Mapping[str, str]) -> set[str]:
    """Names of the steps ``step`` depends on: explicit ``depends_on``, every step whose
    output or property file it references, and the condition step whose branch it is on."""
    deps = set(step.depends_on)
    for expr in iter_expressions(step):
        if isinstance(expr, StepOutput | JsonGet):
            deps.add(expr.step)
    owner = branch_owner.get(step.name)
    if owner is not None:
        deps.add(owner)
    deps.discard(step.name)
    return deps


def branch_owners(steps: Iterable[_StepLike]) -> dict[str, str]:
    """Map each step that sits on a condition branch to that condition step's name."""
    owners: dict[str, str] = {}
    for step in steps:
        if_steps, else_steps = step.branches()
        for name in [*if_steps, *else_steps]:
            owners[name] = step.name
    return owners


def find_cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle as a list of step names (first name repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def topological_order(names: Sequence[str], edges: Mapping[str, set[str]]) -> list[str]:
    """Steps ordered so each comes after everything it depends on; ties keep declared order."""
    remaining = {n: set(edges.get(n, ())) for n in names}
    order: list[str] = []
    while remaining:
        ready = [n for n in names if n in remaining and not remaining[n]]
        if not ready:
            raise ValueError("dependency cycle")
        for n in ready:
            del remaining[n]
            order.append(n)
        for deps in remaining.values():
            deps.difference_update(ready)
    return order
