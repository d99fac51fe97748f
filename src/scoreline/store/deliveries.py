"""Notification deliveries: an outbox of (event, target) rows, sent and retried with backoff.

A sender claims a due row by moving its ``next_attempt_at`` past a lease in a conditional
update, so two senders never send the same row at once; a sender that dies mid-send leaves
the row due again when the lease ends (at-least-once, with a window of one send).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.store import tables as t
from scoreline.store.records import DeliveryRecord

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

PENDING, SENT, FAILED = "pending", "sent", "failed"
LEASE = timedelta(seconds=60)
SLOW_RETRY = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1 s, 2 s, 4 s ... at most 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))


class DeliveryStore:
    """Obtained as ``MetadataStore.deliveries``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    @staticmethod
    def insert(conn: sa.Connection, rows: list[dict[str, Any]], now: datetime) -> None:
        """Queue deliveries (inside the caller's transaction); an existing one is kept."""
        for row in rows:
            exists = conn.execute(
                sa.select(t.deliveries.c.id).where(
                    (t.deliveries.c.event_seq == row["event_seq"])
                    & (t.deliveries.c.target == row["target"])
                )
            ).first()
            if exists is None:
                conn.execute(
                    t.deliveries.insert().values(
                        **row,
                        status=PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )

    def claim_due(self, now: datetime, limit: int = 50) -> list[DeliveryRecord]:
        """Pending deliveries whose time has come, each leased to this caller."""
        claimed = []
        with self._store.engine.connect() as conn:
            ids = conn.execute(
                sa.select(t.deliveries.c.id)
                .where((t.deliveries.c.status == PENDING) & (t.deliveries.c.next_attempt_at <= now))
                .order_by(t.deliveries.c.id)
                .limit(limit)
            ).scalars()
            candidates = list(ids)
        for delivery_id in candidates:
            with self._store._tx() as conn:
                taken = conn.execute(
                    t.deliveries.update()
                    .where(
                        (t.deliveries.c.id == delivery_id)
                        & (t.deliveries.c.status == PENDING)
                        & (t.deliveries.c.next_attempt_at <= now)
                    )
                    .values(next_attempt_at=now + LEASE)
                )
                if taken.rowcount == 1:
                    row = conn.execute(
                        sa.select(t.deliveries).where(t.deliveries.c.id == delivery_id)
                    ).one()
                    claimed.append(DeliveryRecord(**row._mapping))
        return claimed

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
        give_up_at = delivery.created_at + retry_for
        if error is None:
            values: dict[str, Any] = {"status": SENT, "attempts": attempts, "sent_at": now}
        elif attempts < max_attempts:
            values = {"next_attempt_at": now + backoff(attempts)}
        elif now + SLOW_RETRY <= give_up_at:
            values = {"next_attempt_at": now + SLOW_RETRY}
        else:
            values = {"status": FAILED}
        if error is not None:
            values.update(attempts=attempts, last_error=error[:2000])
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
