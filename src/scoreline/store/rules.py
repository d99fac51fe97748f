"""Per-rule state: the event cursor and the guardrail counters of each scope.

The cursor lives in the row whose scope is ``""``; moving it is a compare-and-set, so two
processes deciding the same events cannot both record their decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.store import tables as t
from scoreline.store.tables import utcnow
from scoreline.types import DetailType

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

_CURSOR = ""


class RuleStore:
    """Obtained as ``MetadataStore.rules``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def load(self, rule: str) -> tuple[int, dict[str, dict[str, Any]]]:
        """(cursor, {scope: {consecutive, last_started_at, last_execution_id}})."""
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.rule_state).where(t.rule_state.c.rule == rule)).all()
        cursor = 0
        scopes: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.scope == _CURSOR:
                cursor = row.cursor
            else:
                scopes[row.scope] = {
                    "consecutive": row.consecutive,
                    "last_started_at": row.last_started_at,
                    "last_execution_id": row.last_execution_id,
                }
        return cursor, scopes

    def advance(
        self,
        rule: str,
        expected: int,
        cursor: int,
        scopes: dict[str, dict[str, Any]],
        decisions: list[dict[str, Any]],
        also: Callable[[sa.Connection], None] | None = None,
    ) -> bool:
        """Move the cursor from ``expected`` to ``cursor``, save the scopes, append the
        decisions as events and run ``also`` (more writes), all in one transaction; False
        (and nothing written) if the cursor had moved."""
        now = utcnow()
        with self._store._tx() as conn:
            current = conn.execute(
                sa.select(t.rule_state.c.cursor).where(
                    (t.rule_state.c.rule == rule) & (t.rule_state.c.scope == _CURSOR)
                )
            ).scalar()
            if (current or 0) != expected:
                return False
            conn.execute(t.rule_state.delete().where(t.rule_state.c.rule == rule))
            rows = [
                {
                    "rule": rule,
                    "scope": _CURSOR,
                    "cursor": cursor,
                    "consecutive": 0,
                    "last_started_at": None,
                    "last_execution_id": None,
                    "updated_at": now,
                }
            ]
            for scope, state in scopes.items():
                rows.append(
                    {
                        "rule": rule,
                        "scope": scope,
                        "cursor": cursor,
                        "consecutive": state["consecutive"],
                        "last_started_at": state["last_started_at"],
                        "last_execution_id": state["last_execution_id"],
                        "updated_at": now,
                    }
                )
            conn.execute(t.rule_state.insert(), rows)
            for decision in decisions:
                self._store._append(
                    conn, DetailType.RULE_DECISION.value, decision, [f"scoreline:rule/{rule}"]
                )
            if also is not None:
                also(conn)
            return True
