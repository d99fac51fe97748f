"""API tokens: a random secret shown once, stored only as its sha256, with one role and an
optional expiry. Creating the first token switches the project to authenticated mode for
good (see :mod:`scoreline.store.auth`)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from scoreline.errors import NotFoundError, ParameterError, StateError
from scoreline.store import tables as t
from scoreline.store.records import TokenRecord
from scoreline.store.tables import utcnow

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

ROLES = ("viewer", "operator", "approver", "admin")
PREFIX = "sl_"
LIFETIME_PATTERN = r"^[0-9]{1,5}[mhdw]$"
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
LAST_USE_RESOLUTION = timedelta(seconds=60)
"""``last_used_at`` is written at most this often per token (not one write per request)."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_lifetime(text: str, where: str = "--expires-in") -> timedelta:
    """A duration such as ``90d``, ``12h``, ``30m`` or ``2w`` (a token's lifetime)."""
    if not re.fullmatch(LIFETIME_PATTERN, text.strip()) or int(text.strip()[:-1]) == 0:
        raise ParameterError(
            f"'{text}' is not a duration", where=where, hint="e.g. 90d, 12h, 30m, 2w"
        )
    return timedelta(**{UNITS[text.strip()[-1]]: int(text.strip()[:-1])})


def _live(now: datetime) -> sa.ColumnElement[bool]:
    return t.api_tokens.c.revoked_at.is_(None) & (
        t.api_tokens.c.expires_at.is_(None) | (t.api_tokens.c.expires_at > now)
    )


class TokenStore:
    """Obtained as ``MetadataStore.tokens``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def create(
        self, name: str, role: str, actor: str, expires_at: datetime | None = None
    ) -> tuple[TokenRecord, str]:
        """A new token; the secret is returned here and nowhere else."""
        if role not in ROLES:
            raise ParameterError(f"'{role}' is not a role", hint=f"use one of {', '.join(ROLES)}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}", name):
            raise ParameterError(
                f"'{name}' is not a valid token name", hint="letters, digits, _ . @ -"
            )
        secret = PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        try:
            with self._store._tx() as conn:
                conn.execute(
                    t.api_tokens.insert().values(
                        name=name,
                        role=role,
                        token_sha256=digest(secret),
                        created_at=now,
                        created_by=actor,
                        expires_at=expires_at,
                    )
                )
                self._store.auth.require("a token was created", conn)
        except sa.exc.IntegrityError:
            raise StateError(f"a token named '{name}' exists", hint="choose another name") from None
        return self.get(name), secret

    def get(self, name: str) -> TokenRecord:
        with self._store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.api_tokens).where(t.api_tokens.c.name == name)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no token named '{name}'")
        return _record(row)

    def authenticate(self, secret: str) -> TokenRecord | None:
        """The live (not revoked, not expired) token with this secret, or None; its last
        use is recorded."""
        now = utcnow()
        with self._store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.api_tokens).where(
                    (t.api_tokens.c.token_sha256 == digest(secret)) & _live(now)
                )
            ).one_or_none()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > LAST_USE_RESOLUTION:
            with self._store._tx() as conn:
                conn.execute(
                    t.api_tokens.update()
                    .where(t.api_tokens.c.id == row.id)
                    .values(last_used_at=now)
                )
        return _record(row)

    def is_live(self, token_id: int) -> bool:
        with self._store.engine.connect() as conn:
            found = conn.execute(
                sa.select(t.api_tokens.c.id).where(
                    (t.api_tokens.c.id == token_id) & _live(utcnow())
                )
            ).first()
        return found is not None

    def any_active(self) -> bool:
        with self._store.engine.connect() as conn:
            return (
                conn.execute(sa.select(t.api_tokens.c.id).where(_live(utcnow())).limit(1)).first()
                is not None
            )

    def list(self) -> list[TokenRecord]:
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.api_tokens).order_by(t.api_tokens.c.id)).all()
        return [_record(row) for row in rows]

    def revoke(self, name: str) -> TokenRecord:
        """Revoke a token at once, with the browser sessions signed in with it."""
        now = utcnow()
        with self._store._tx() as conn:
            row = conn.execute(
                sa.select(t.api_tokens.c.id).where(
                    (t.api_tokens.c.name == name) & t.api_tokens.c.revoked_at.is_(None)
                )
            ).one_or_none()
            if row is None:
                raise NotFoundError(f"no live token named '{name}'")
            conn.execute(
                t.api_tokens.update().where(t.api_tokens.c.id == row.id).values(revoked_at=now)
            )
            conn.execute(
                t.ui_sessions.update()
                .where((t.ui_sessions.c.token_id == row.id) & t.ui_sessions.c.ended_at.is_(None))
                .values(ended_at=now)
            )
        return self.get(name)


def _record(row: sa.Row[tuple[object, ...]]) -> TokenRecord:
    values = dict(row._mapping)
    values.pop("token_sha256")
    return TokenRecord(**values)
