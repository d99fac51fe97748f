"""What `scoreline apply` deployed, per environment, and the changes it made.

An apply or destroy is one transaction: SQLite's ``BEGIN IMMEDIATE`` (PostgreSQL's row
locks) make a concurrent one wait for it, and the plan is computed again inside the
transaction, so what is applied is what the store held at that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.errors import StateError
from scoreline.store import tables as t
from scoreline.store.tables import utcnow
from scoreline.types import DetailType

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

Resources = dict[tuple[str, str], dict[str, Any]]
"""(kind, name) -> spec."""


class DeploymentStore:
    """Obtained as ``MetadataStore.deployments``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def deployed(self, env: str, conn: sa.Connection | None = None) -> Resources:
        query = sa.select(t.deployments).where(t.deployments.c.env == env)
        if conn is not None:
            rows = conn.execute(query).all()
        else:
            with self._store.engine.connect() as own:
                rows = own.execute(query).all()
        return {(row.kind, row.name): row.spec for row in rows}

    def change(
        self,
        env: str,
        actor: str,
        plan: Callable[[Resources], list[dict[str, Any]]],
        apply: Callable[[sa.Connection, dict[str, Any]], None],
        detail_type: DetailType,
    ) -> list[dict[str, Any]]:
        """Under the lock: plan against what is deployed, apply each change (``apply`` may
        write more), record the new state and one event; returns the changes made."""
        now = utcnow()
        try:
            with self._store._tx() as conn:
                changes = plan(self.deployed(env, conn))
                for change in changes:
                    key = (
                        (t.deployments.c.env == env)
                        & (t.deployments.c.kind == change["kind"])
                        & (t.deployments.c.name == change["name"])
                    )
                    conn.execute(t.deployments.delete().where(key))
                    if change["action"] != "delete":
                        conn.execute(
                            t.deployments.insert().values(
                                env=env,
                                kind=change["kind"],
                                name=change["name"],
                                spec=change["spec"],
                                applied_at=now,
                                applied_by=actor,
                            )
                        )
                    apply(conn, change)
                if changes:
                    self._store._append(
                        conn,
                        detail_type.value,
                        {
                            "env": env,
                            "actor": actor,
                            "changes": [
                                {k: c[k] for k in ("action", "kind", "name", "fields")}
                                for c in changes
                            ],
                        },
                        [f"scoreline:env/{env}"],
                    )
                return changes
        except sa.exc.OperationalError as exc:
            if "locked" in str(exc).lower():
                raise StateError(
                    "another apply or destroy is running on this store",
                    hint="wait for it to finish, then plan again",
                ) from None
            raise
