"""API tokens: a random secret shown once, stored only as its sha256, with one role."""

from __future__ import annotations

import hashlib
import re
import secrets
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


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """Obtained as ``MetadataStore.tokens``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def create(self, name: str, role: str, actor: str) -> tuple[TokenRecord, str]:
        """A new token; the secret is returned here and nowhere else."""
        if role not in ROLES:
            raise ParameterError(f"'{role}' is not a role", hint=f"use one of {', '.join(ROLES)}")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}", name):
            raise ParameterError(
                f"'{name}' is not a valid token name", hint="letters, digits, _ . @ -"
            )
        secret = PREFIX + secrets.token_urlsafe(32)
        try:
            with self._store._tx() as conn:
                conn.execute(
                    t.api_tokens.insert().values(
                        name=name,
                        role=role,
                        token_sha256=digest(secret),
                        created_at=utcnow(),
                        created_by=actor,
                    )
                )
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
        """The live token with this secret, or None."""
        with self._store.engine.connect() as conn:
            row = conn.execute(
                sa.select(t.api_tokens).where(
                    (t.api_tokens.c.token_sha256 == digest(secret))
                    & t.api_tokens.c.revoked_at.is_(None)
                )
            ).one_or_none()
        return None if row is None else _record(row)

    def any_active(self) -> bool:
        with self._store.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(t.api_tokens.c.id).where(t.api_tokens.c.revoked_at.is_(None)).limit(1)
                ).first()
                is not None
            )

    def list(self) -> list[TokenRecord]:
        with self._store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.api_tokens).order_by(t.api_tokens.c.id)).all()
        return [_record(row) for row in rows]

    def revoke(self, name: str) -> TokenRecord:
        with self._store._tx() as conn:
            done = conn.execute(
                t.api_tokens.update()
                .where((t.api_tokens.c.name == name) & t.api_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        if done.rowcount != 1:
            raise NotFoundError(f"no live token named '{name}'")
        return self.get(name)


def _record(row: sa.Row[tuple[object, ...]]) -> TokenRecord:
    values = dict(row._mapping)
    values.pop("token_sha256")
    return TokenRecord(**values)
