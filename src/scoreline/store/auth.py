"""Who may use the server: the one-way authentication state, server-side browser sessions
and one-time login links.

The state is persistent and one-way: once a token has been created, or ``serve`` has
listened beyond loopback, anonymous requests are refused for good, even with every token
revoked, until someone with access to the project runs ``scoreline auth reset --local``.
Session ids and login secrets are random and stored only as their sha256.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from scoreline.errors import StateError
from scoreline.store import tables as t
from scoreline.store.records import SessionRecord
from scoreline.store.tables import utcnow
from scoreline.store.tokens import digest

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

SEEN_RESOLUTION = timedelta(seconds=60)
"""A session's ``last_seen_at`` is written at most this often (not once per request)."""
KEEP_ENDED = timedelta(days=7)
"""Sessions and login links are deleted this long after they expired (tables stay small)."""


@dataclass(frozen=True)
class AuthState:
    required_since: datetime
    reason: str


class AuthStore:
    """Obtained as ``MetadataStore.auth``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    # --- the one-way switch --------------------------------------------------------------

    def required(self) -> AuthState | None:
        """Since when and why anonymous requests are refused; None in local mode."""
        with self._store.engine.connect() as conn:
            row = conn.execute(sa.select(t.auth_state).where(t.auth_state.c.id == 1)).first()
        return None if row is None else AuthState(row.required_since, row.reason)

    def require(self, reason: str, conn: sa.Connection | None = None) -> None:
        """Switch authentication on for good (a no-op when it is on already)."""
        if conn is None:
            with self._store._tx() as own:
                self.require(reason, own)
            return
        exists = conn.execute(sa.select(t.auth_state.c.id).where(t.auth_state.c.id == 1)).first()
        if exists is None:
            conn.execute(
                t.auth_state.insert().values(id=1, required_since=utcnow(), reason=reason[:200])
            )

    def reset_local(self) -> None:
        """Back to the no-token local mode: only without live tokens; ends every session."""
        now = utcnow()
        with self._store._tx() as conn:
            live = conn.execute(
                sa.select(t.api_tokens.c.name).where(
                    t.api_tokens.c.revoked_at.is_(None)
                    & (t.api_tokens.c.expires_at.is_(None) | (t.api_tokens.c.expires_at > now))
                )
            ).all()
            if live:
                names = ", ".join(row.name for row in live)
                raise StateError(
                    f"{len(live)} live token(s) remain ({names})",
                    hint="revoke them first: scoreline tokens revoke NAME",
                )
            conn.execute(t.auth_state.delete())
            conn.execute(
                t.ui_sessions.update()
                .where(t.ui_sessions.c.ended_at.is_(None))
                .values(ended_at=now)
            )

    # --- browser sessions ----------------------------------------------------------------

    def start_session(
        self, actor: str, role: str, token_id: int | None, lifetime: timedelta
    ) -> tuple[str, SessionRecord]:
        """A new session; its id is returned here and stored only as a hash."""
        secret, now = secrets.token_urlsafe(32), utcnow()
        values = {
            "actor": actor,
            "role": role,
            "token_id": token_id,
            "csrf": secrets.token_urlsafe(32),
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + lifetime,
        }
        with self._store._tx() as conn:
            conn.execute(
                t.ui_sessions.delete().where(t.ui_sessions.c.expires_at < now - KEEP_ENDED)
            )
            conn.execute(t.ui_sessions.insert().values(id_sha256=digest(secret), **values))
        return secret, SessionRecord(**values)  # type: ignore[arg-type]

    def session(self, secret: str, idle: timedelta) -> SessionRecord | None:
        """The live session with this id: not ended, not past its absolute expiry, used
        within ``idle``, and, when signed in with a token, that token still live."""
        now = utcnow()
        key = digest(secret)
        with self._store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.ui_sessions).where(
                    (t.ui_sessions.c.id_sha256 == key)
                    & t.ui_sessions.c.ended_at.is_(None)
                    & (t.ui_sessions.c.expires_at > now)
                    & (t.ui_sessions.c.last_seen_at > now - idle)
                )
            ).one_or_none()
        if row is None:
            return None
        if row.token_id is not None and not self._store.tokens.is_live(row.token_id):
            return None
        if now - row.last_seen_at > SEEN_RESOLUTION:
            with self._store._tx() as conn:
                conn.execute(
                    t.ui_sessions.update()
                    .where(t.ui_sessions.c.id_sha256 == key)
                    .values(last_seen_at=now)
                )
        values = dict(row._mapping)
        values.pop("id_sha256")
        values.pop("ended_at")
        return SessionRecord(**values)

    def end_session(self, secret: str) -> None:
        with self._store._tx() as conn:
            conn.execute(
                t.ui_sessions.update()
                .where(
                    (t.ui_sessions.c.id_sha256 == digest(secret))
                    & t.ui_sessions.c.ended_at.is_(None)
                )
                .values(ended_at=utcnow())
            )

    def end_local_sessions(self) -> None:
        """End the sessions of the local mode (they carry no token) once it is over."""
        with self._store._tx() as conn:
            conn.execute(
                t.ui_sessions.update()
                .where(t.ui_sessions.c.token_id.is_(None) & t.ui_sessions.c.ended_at.is_(None))
                .values(ended_at=utcnow())
            )

    # --- one-time login links ------------------------------------------------------------

    def create_login_link(self, lifetime: timedelta) -> str:
        """A secret that signs one browser in once, within ``lifetime``."""
        secret, now = secrets.token_urlsafe(32), utcnow()
        with self._store._tx() as conn:
            conn.execute(
                t.login_links.delete().where(t.login_links.c.expires_at < now - KEEP_ENDED)
            )
            conn.execute(
                t.login_links.insert().values(
                    secret_sha256=digest(secret), created_at=now, expires_at=now + lifetime
                )
            )
        return secret

    def use_login_link(self, secret: str) -> bool:
        """Spend a login secret: True once, for an unexpired secret, and never again."""
        now = utcnow()
        with self._store._tx() as conn:
            done = conn.execute(
                t.login_links.update()
                .where(
                    (t.login_links.c.secret_sha256 == digest(secret))
                    & t.login_links.c.used_at.is_(None)
                    & (t.login_links.c.expires_at > now)
                )
                .values(used_at=now)
            )
        return done.rowcount == 1
