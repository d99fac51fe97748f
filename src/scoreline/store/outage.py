"""Riding out a lost database connection (a PostgreSQL restart, a network blip, a locked
SQLite file) instead of failing the work that was writing.

Long-lived writers (orchestrators, the notification sender) see the store through
:func:`tolerant`: a call that fails because the connection was lost is tried again with a
backoff until it succeeds or ``budget`` seconds have passed since the first failure; only
then does it fail, with :class:`StoreUnreachableError`. A retried write is safe because the
store's writes are idempotent when repeated with the same arguments: status changes emit
their events only when the status changes, a step attempt is begun once per expected
attempt number, and claims and heartbeats set values. Commands a person runs do not wait:
they use the store directly and say at once that it is unreachable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa

from scoreline.errors import UnavailableError, first_line

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

LOG = logging.getLogger("scoreline.store")
DEFAULT_BUDGET_SECONDS = 60.0
FIRST_DELAY = 0.2
MAX_DELAY = 5.0
T = TypeVar("T")


class StoreUnreachableError(UnavailableError):
    """The metadata store could not be reached for longer than the outage budget."""


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the store being unreachable for now (a dropped or refused
    connection, a server shutting down or starting, a lock held too long), not a bad
    statement or a broken invariant."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    return bool(exc.connection_invalidated) or isinstance(
        exc, (sa.exc.OperationalError, sa.exc.InterfaceError)
    )


def store_fault(exc: BaseException) -> str | None:
    """The one line for a command that met an unreachable or full store (None: another
    error, a bug to show in full)."""
    if not is_transient(exc):
        return None
    assert isinstance(exc, sa.exc.DBAPIError)
    reason = _reason(exc)
    if "full" in reason.lower():
        return f"the metadata store is full ({reason}): free space where it is, then try again"
    return f"the metadata store is unreachable ({reason}): try again once it answers"


def _reason(exc: sa.exc.DBAPIError) -> str:
    return first_line(exc.orig or exc)


def ride_out(
    call: Callable[[], T],
    budget: float = DEFAULT_BUDGET_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, tried again while the store is unreachable, for at most ``budget``
    seconds after the first failure."""
    deadline: float | None = None
    delay = FIRST_DELAY
    while True:
        try:
            return call()
        except sa.exc.DBAPIError as exc:
            if not is_transient(exc):
                raise
            now = time.monotonic()
            reason = _reason(exc)
            if deadline is None:
                deadline = now + budget
                LOG.warning("the metadata store is unreachable (%s); retrying", reason)
            if now >= deadline:
                full = "full" in reason.lower()  # SQLite: "database or disk is full"
                raise StoreUnreachableError(
                    f"the metadata store was {'full' if full else 'unreachable'} for "
                    f"{budget:g} s ({reason})",
                    hint="free space in its folder, then retry the execution"
                    if full
                    else "the execution can be retried once it answers again",
                ) from None
            sleep(min(delay, deadline - now))
            delay = min(delay * 2, MAX_DELAY)


def open_when_reachable(
    open_store: Callable[[], T],
    budget: float = DEFAULT_BUDGET_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``open_store()``, tried again while it says the store is unreachable, for at most
    ``budget`` seconds."""
    deadline = time.monotonic() + budget
    delay = FIRST_DELAY
    while True:
        try:
            return open_store()
        except StoreUnreachableError:
            if time.monotonic() >= deadline:
                raise
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY)


class _Tolerant:
    """Wraps an object of the store (the store itself, or one of its parts) so that every
    method call rides out an outage."""

    def __init__(self, target: object, budget: float) -> None:
        self._target = target
        self._budget = budget

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if callable(value):
            return lambda *args, **kwargs: ride_out(lambda: value(*args, **kwargs), self._budget)
        if type(value).__module__.startswith("scoreline.store."):
            return _Tolerant(value, self._budget)  # a part: store.models, store.deliveries...
        return value


def tolerant(store: MetadataStore, budget: float = DEFAULT_BUDGET_SECONDS) -> MetadataStore:
    """``store`` as seen by a long-lived writer: calls ride out outages of ``budget`` s."""
    return cast("MetadataStore", _Tolerant(store, budget))
