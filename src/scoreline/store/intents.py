"""Pipeline starts decided by rules that have not happened yet (the target's file was
broken, the store or a service was down): kept and retried like deliveries
(:mod:`scoreline.store.outbox`), so a file that arrived is never dropped. A retried start
uses the decision's idempotency token, so it never starts the pipeline twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.store import tables as t
from scoreline.store.outbox import DONE, FAILED, PENDING, after_failure, claim_due, enqueue
from scoreline.store.records import StartIntentRecord
from scoreline.types import DetailType

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

MAX_FAST_ATTEMPTS = 8
RETRY_FOR = timedelta(hours=24)


class StartIntentStore:
    """Obtained as ``MetadataStore.intents``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    @staticmethod
    def insert(conn: sa.Connection, rows: list[dict[str, Any]], now: datetime) -> None:
        """Keep starts to retry (inside the caller's transaction): ``rule``, ``token``,
        ``pipeline``, ``parameters``, ``event_id``, ``scope`` and the first
        ``last_error``; a token already kept is left as it is."""
        first_retry = now + timedelta(seconds=1)  # the first attempt was the decision
        enqueue(conn, t.start_intents, rows, now, ("token",), attempts=1,
                next_attempt_at=first_retry, updated_at=now)  # fmt: skip

    def claim_due(self, now: datetime, limit: int = 50) -> list[StartIntentRecord]:
        """Starts due for another attempt, each leased to this caller."""
        return [
            StartIntentRecord(**row._mapping)
            for row in claim_due(self._store, t.start_intents, now, limit)
        ]

    def finish(
        self,
        intent: StartIntentRecord,
        now: datetime,
        *,
        execution_id: str | None = None,
        error: str | None = None,
    ) -> StartIntentRecord:
        """Record an attempt: started (with its "Rule Decision" event), or to be tried
        again, or failed after a day of attempts."""
        attempts = intent.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "updated_at": now}
        if execution_id is not None:
            values.update(status=DONE, execution_id=execution_id, last_error=None)
        else:
            again = after_failure(attempts, intent.created_at, now, MAX_FAST_ATTEMPTS, RETRY_FOR)
            values["last_error"] = (error or "")[:2000]
            values.update({"next_attempt_at": again} if again else {"status": FAILED})
        with self._store._tx() as conn:
            conn.execute(
                t.start_intents.update().where(t.start_intents.c.id == intent.id).values(**values)
            )
            if execution_id is not None:
                # it now counts in its rule's guardrails, as a start decided at once does
                state = t.rule_state.c
                conn.execute(
                    t.rule_state.update()
                    .where((state.rule == intent.rule) & (state.scope == intent.scope))
                    .values(last_execution_id=execution_id, last_started_at=now, consecutive=0)
                )
                decision = {
                    "rule": intent.rule,
                    "triggeringEventId": intent.event_id,
                    "targetPipeline": intent.pipeline,
                    "decision": "started",
                    "reason": f"started on attempt {attempts} (earlier: {intent.last_error})",
                    "scope": intent.scope,
                    "pipelineExecutionId": execution_id,
                }
                self._store._append(
                    conn,
                    DetailType.RULE_DECISION.value,
                    decision,
                    [f"scoreline:rule/{intent.rule}"],
                )
            row = conn.execute(sa.select(t.start_intents).where(t.start_intents.c.id == intent.id))
            return StartIntentRecord(**row.one()._mapping)

    def retry(self, rules: list[str], now: datetime) -> int:
        """Make the pending and failed starts of ``rules`` due now, with the fast retries
        once more; returns how many."""
        c = t.start_intents.c
        with self._store._tx() as conn:
            done = conn.execute(
                t.start_intents.update()
                .where(c.rule.in_(rules) & c.status.in_([PENDING, FAILED]))
                .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
            )
            return int(done.rowcount)

    def list(
        self, rules: list[str] | None = None, status: str | None = None, limit: int = 100
    ) -> list[StartIntentRecord]:
        """Newest first."""
        query = sa.select(t.start_intents)
        if rules is not None:
            query = query.where(t.start_intents.c.rule.in_(rules))
        if status:
            query = query.where(t.start_intents.c.status == status)
        query = query.order_by(t.start_intents.c.id.desc()).limit(limit)
        with self._store.engine.connect() as conn:
            return [StartIntentRecord(**row._mapping) for row in conn.execute(query)]
