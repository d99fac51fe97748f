"""What notification deliveries and pipeline start intents share: rows of work that are
tried until they succeed, each attempt leased to one process, failures retried quickly
(with a growing backoff) for a few attempts, then slowly while the work is younger than
``retry_for``, then kept as failed (a dead letter) for a person to retry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

PENDING, DONE, FAILED = "pending", "done", "failed"
LEASE = timedelta(seconds=60)
SLOW_RETRY = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 1 s, 2 s, 4 s ... at most 5 minutes."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), 300))


def after_failure(
    attempts: int,
    created_at: datetime,
    now: datetime,
    max_attempts: int,
    retry_for: timedelta,
) -> datetime | None:
    """When to try again after failed attempt number ``attempts``: soon (backoff) for
    ``max_attempts`` attempts, then every :data:`SLOW_RETRY` while the work is younger than
    ``retry_for``; None when it is time to give up."""
    if attempts < max_attempts:
        return now + backoff(attempts)
    if now + SLOW_RETRY <= created_at + retry_for:
        return now + SLOW_RETRY
    return None


def enqueue(
    conn: sa.Connection,
    table: sa.Table,
    rows: list[dict[str, Any]],
    now: datetime,
    key: tuple[str, ...],
    **initial: Any,
) -> None:
    """Add ``rows`` as pending work due now (inside the caller's transaction), with
    ``initial`` values; a row whose ``key`` columns match one already queued is left out."""
    for row in rows:
        match = sa.and_(*(table.c[name] == row[name] for name in key))
        if conn.execute(sa.select(table.c.id).where(match)).first() is None:
            values = {"attempts": 0, "next_attempt_at": now, **initial}
            conn.execute(table.insert().values(**row, status=PENDING, created_at=now, **values))


def claim_due(store: MetadataStore, table: sa.Table, now: datetime, limit: int = 50) -> list[Any]:
    """Rows of ``table`` pending and due at ``now``, oldest first, each leased to this
    caller by moving its ``next_attempt_at`` past :data:`LEASE` in a conditional update (so
    two processes never take the same row; a process that dies leaves it due again)."""
    c = table.c
    with store.engine.connect() as conn:
        candidates = list(
            conn.execute(
                sa.select(c.id)
                .where((c.status == PENDING) & (c.next_attempt_at <= now))
                .order_by(c.id)
                .limit(limit)
            ).scalars()
        )
    claimed = []
    for row_id in candidates:
        with store._tx() as conn:
            taken = conn.execute(
                table.update()
                .where((c.id == row_id) & (c.status == PENDING) & (c.next_attempt_at <= now))
                .values(next_attempt_at=now + LEASE)
            )
            if taken.rowcount == 1:
                claimed.append(conn.execute(sa.select(table).where(c.id == row_id)).one())
    return claimed
