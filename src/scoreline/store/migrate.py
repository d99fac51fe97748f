"""Apply the Alembic migration tree, once, on first use of a database."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

HEAD_REVISION = "0011"
MIGRATIONS = Path(__file__).with_name("migrations")


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


MIGRATION_LOCK = 0x5C0_4E12
"""PostgreSQL advisory lock key held while a process migrates the schema."""


def ensure_schema(engine: sa.Engine, lock_path: Path | None) -> None:
    """Bring the schema to :data:`HEAD_REVISION`; cheap when it already is. Processes that
    start together on a new database migrate it once: a file lock next to a SQLite file, an
    advisory lock on PostgreSQL."""
    if current_revision(engine) == HEAD_REVISION:
        return
    with _file_lock(lock_path), _server_lock(engine):
        if current_revision(engine) == HEAD_REVISION:
            return
        upgrade(engine)


@contextmanager
def _server_lock(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            conn.commit()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """Serialise first-use migrations between processes sharing one SQLite file."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
