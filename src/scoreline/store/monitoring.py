"""Monitoring results as records: one per quality-check step execution, written in the same
transaction as the step's success, read back for ``monitoring show`` and ``history``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.store import tables as t
from scoreline.store.records import MonitoringRecord
from scoreline.store.tables import utcnow

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore


ESTIMATE = "model_quality_estimate"


class MonitoringStore:
    """Obtained as ``MetadataStore.monitoring``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def insert(
        self, conn: sa.Connection, execution_id: str, step_name: str, result: dict[str, Any]
    ) -> None:
        """Record a step's result (called inside the step's own transaction)."""
        pipeline_name = conn.execute(
            sa.select(t.executions.c.pipeline_name).where(t.executions.c.id == execution_id)
        ).scalar_one()
        conn.execute(
            t.monitoring_results.delete().where(
                (t.monitoring_results.c.execution_id == execution_id)
                & (t.monitoring_results.c.step_name == step_name)
            )
        )
        conn.execute(
            t.monitoring_results.insert().values(
                execution_id=execution_id,
                step_name=step_name,
                check_type=result["check_type"],
                pipeline_name=pipeline_name,
                group_name=result.get("group_name"),
                model_version=result.get("model_version"),
                created_at=utcnow(),
                item_count=result.get("item_count"),
                violation_count=int(result.get("violation_count", 0)),
                passed=result.get("passed"),
                metrics=result.get("metrics", {}),
                drift=result.get("drift", []),
                violations=result.get("violations", []),
                report_uri=result.get("report_uri"),
                scored_execution_id=result.get("scored_execution_id")
                or (
                    execution_id if str(result["check_type"]).startswith("model_quality") else None
                ),
            )
        )

    def for_execution(self, execution_id: str) -> list[MonitoringRecord]:
        query = (
            sa.select(t.monitoring_results)
            .where(t.monitoring_results.c.execution_id == execution_id)
            .order_by(t.monitoring_results.c.id)
        )
        with self._store.engine.connect() as conn:
            return [MonitoringRecord(**row._mapping) for row in conn.execute(query)]

    def history(
        self,
        group: str,
        check_type: str | None = None,
        limit: int = 100,
        superseded: bool = False,
    ) -> list[MonitoringRecord]:
        """Results of executions that used a model of ``group``, oldest first. An estimate
        of a batch whose realized model quality has been recorded since is left out, unless
        ``superseded``: the realized result replaces it."""
        results = t.monitoring_results
        query = sa.select(results).where(results.c.group_name == group)
        if check_type:
            query = query.where(results.c.check_type == check_type)
        if not superseded:
            realized = results.alias("realized")
            query = query.where(
                ~sa.and_(
                    results.c.check_type == ESTIMATE,
                    sa.exists().where(
                        (realized.c.check_type == "model_quality")
                        & (realized.c.scored_execution_id == results.c.scored_execution_id)
                    ),
                )
            )
        query = query.order_by(results.c.id.desc()).limit(limit)
        with self._store.engine.connect() as conn:
            rows = [MonitoringRecord(**row._mapping) for row in conn.execute(query)]
        return rows[::-1]
