"""State of the event sources: objects a data-arrival trigger has seen, and schedule ticks.

Each object version and each tick is a row with a unique key, and its event is appended in
the transaction that marks it, so it is emitted exactly once however many processes poll
and however often they restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.store import tables as t
from scoreline.store.records import EventRecord
from scoreline.types import DetailType

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore


class SourceStore:
    """Obtained as ``MetadataStore.sources``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def object_seen(
        self,
        trigger: str,
        key: str,
        version: str,
        size: int,
        now: datetime,
        settle: timedelta,
        detail: dict[str, Any],
        resources: list[str],
    ) -> EventRecord | None:
        """Note that ``key`` is at ``version``; once that version has been seen for
        ``settle``, emit its "Object Created" event (once)."""
        where = (
            (t.trigger_objects.c.trigger == trigger)
            & (t.trigger_objects.c.key == key)
            & (t.trigger_objects.c.version == version)
        )
        try:
            with self._store._tx() as conn:
                row = conn.execute(sa.select(t.trigger_objects).where(where)).one_or_none()
                if row is None:
                    conn.execute(
                        t.trigger_objects.insert().values(
                            trigger=trigger, key=key, version=version, size=size, first_seen_at=now
                        )
                    )
                if row is not None and row.emitted_at is not None:
                    return None
                if now - (row.first_seen_at if row is not None else now) < settle:
                    return None
                event = self._store._append(
                    conn, DetailType.OBJECT_CREATED.value, detail, resources
                )
                done = conn.execute(
                    t.trigger_objects.update()
                    .where(where & t.trigger_objects.c.emitted_at.is_(None))
                    .values(emitted_at=now, event_id=event.id)
                )
                if done.rowcount != 1:
                    raise _LostRaceError
                return event
        except (_LostRaceError, sa.exc.IntegrityError):
            return None  # another process saw or emitted this version first

    def emitted(self, trigger: str) -> tuple[int, datetime | None]:
        """How many objects ``trigger`` has emitted, and when it last did."""
        c = t.trigger_objects.c
        with self._store.engine.connect() as conn:
            count, last = conn.execute(
                sa.select(sa.func.count(c.emitted_at), sa.func.max(c.emitted_at)).where(
                    c.trigger == trigger
                )
            ).one()
        return int(count), last

    def last_tick(self, schedule: str) -> datetime | None:
        with self._store.engine.connect() as conn:
            value: datetime | None = conn.execute(
                sa.select(t.schedule_ticks.c.tick_at)
                .where(t.schedule_ticks.c.schedule == schedule)
                .order_by(t.schedule_ticks.c.tick_at.desc())
                .limit(1)
            ).scalar()
        return value

    def record_tick(
        self, schedule: str, tick_at: datetime, fire: dict[str, Any] | None, now: datetime
    ) -> EventRecord | None:
        """Record a tick (once); with ``fire`` (the event detail) also emit its
        "Scheduled Event". None when another process recorded the tick first."""
        try:
            with self._store._tx() as conn:
                conn.execute(
                    t.schedule_ticks.insert().values(
                        schedule=schedule, tick_at=tick_at, fired=fire is not None, recorded_at=now
                    )
                )
                if fire is None:
                    return None
                return self._store._append(
                    conn, DetailType.SCHEDULED.value, fire, [f"scoreline:schedule/{schedule}"]
                )
        except sa.exc.IntegrityError:
            return None


class _LostRaceError(Exception):
    """Another process emitted the same object version first (the transaction rolls back)."""
