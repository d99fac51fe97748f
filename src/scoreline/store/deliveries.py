"""Notification deliveries: an outbox of (event, target) rows, sent and retried with backoff
(:mod:`scoreline.store.outbox`). A sender that dies mid-send leaves the row due again when
its lease ends (at-least-once, with a window of one send).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.store import tables as t
from scoreline.store.outbox import FAILED, PENDING, after_failure, claim_due, enqueue
from scoreline.store.records import DeliveryRecord

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

SENT = "sent"


class DeliveryStore:
    """Obtained as ``MetadataStore.deliveries``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    @staticmethod
    def insert(conn: sa.Connection, rows: list[dict[str, Any]], now: datetime) -> None:
        """Queue deliveries (inside the caller's transaction); an existing one is kept."""
        enqueue(conn, t.deliveries, rows, now, ("event_seq", "target"))

    def claim_due(self, now: datetime, limit: int = 50) -> list[DeliveryRecord]:
        """Pending deliveries whose time has come, each leased to this caller."""
        rows = claim_due(self._store, t.deliveries, now, limit)
        return [DeliveryRecord(**row._mapping) for row in rows]

    def finish(
        self,
        delivery: DeliveryRecord,
        error: str | None,
        now: datetime,
        max_attempts: int,
        retry_for: timedelta = timedelta(hours=24),
    ) -> DeliveryRecord:
        """Record an attempt: sent; or retried, quickly (backoff) for ``max_attempts``
        attempts, then every :data:`SLOW_RETRY` while the message is younger than
        ``retry_for``; or, after that, failed for good (a dead letter). Returns the row."""
        attempts = delivery.attempts + 1
        if error is None:
            values: dict[str, Any] = {"status": SENT, "attempts": attempts, "sent_at": now}
        else:
            again = after_failure(attempts, delivery.created_at, now, max_attempts, retry_for)
            values = {"attempts": attempts, "last_error": error[:2000]}
            values.update({"next_attempt_at": again} if again else {"status": FAILED})
        with self._store._tx() as conn:
            conn.execute(
                t.deliveries.update().where(t.deliveries.c.id == delivery.id).values(**values)
            )
            row = conn.execute(sa.select(t.deliveries).where(t.deliveries.c.id == delivery.id))
            return DeliveryRecord(**row.one()._mapping)

    def retry_failed(self, now: datetime, ids: list[int] | None = None) -> int:
        """Send dead letters (all, or those ``ids``) again: they get the fast retries once
        more (their age, which decides the slow ones, is kept as recorded)."""
        query = t.deliveries.update().where(t.deliveries.c.status == FAILED)
        if ids:
            query = query.where(t.deliveries.c.id.in_(ids))
        with self._store._tx() as conn:
            done = conn.execute(query.values(status=PENDING, attempts=0, next_attempt_at=now))
            return int(done.rowcount)

    def list(self, status: str | None = None, limit: int = 100) -> list[DeliveryRecord]:
        """Newest first."""
        query = sa.select(t.deliveries)
        if status:
            query = query.where(t.deliveries.c.status == status)
        query = query.order_by(t.deliveries.c.id.desc()).limit(limit)
        with self._store.engine.connect() as conn:
            return [DeliveryRecord(**row._mapping) for row in conn.execute(query)]
