"""The metadata store: every record of scoreline, behind one class, on SQLAlchemy 2.

SQLite by default (WAL, busy timeout, ``BEGIN IMMEDIATE`` so concurrent writers queue rather
than fail), PostgreSQL (``postgresql+psycopg://``) for a team. The store's writes are short
read-modify-write transactions (claim an execution that has no owner, take the next version
number, lease a delivery) that rely on writers taking turns; SQLite gives that with
``BEGIN IMMEDIATE``, and on PostgreSQL every write transaction first takes one
transaction-scoped advisory lock, the same discipline, so several processes on several
machines can share one database without double-claiming anything. Reads never wait for it.
The schema migrates itself on first use. Every status change appends its event in the same
transaction (DESIGN §3 rule 6).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url

from scoreline.errors import (
    ConfigError,
    FencedError,
    NotFoundError,
    StateError,
    first_line,
    nearly_full,
    no_space,
)
from scoreline.store import tables as t
from scoreline.store.auth import AuthStore
from scoreline.store.deliveries import DeliveryStore
from scoreline.store.deployments import DeploymentStore
from scoreline.store.intents import StartIntentStore
from scoreline.store.migrate import ensure_schema
from scoreline.store.monitoring import MonitoringStore
from scoreline.store.outage import StoreUnreachableError
from scoreline.store.records import (
    EventRecord,
    ExecutionRecord,
    PipelineRecord,
    PipelineVersionRecord,
    StepRecord,
)
from scoreline.store.registry import ModelRegistryStore
from scoreline.store.rules import RuleStore
from scoreline.store.sources import SourceStore
from scoreline.store.tables import utcnow
from scoreline.store.tokens import TokenStore
from scoreline.types import (
    EVENT_SOURCE,
    STARTING_OWNER,
    DetailType,
    ExecutionStatus,
    RunQueue,
    StepStatus,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def new_execution_id() -> str:
    """A short id that sorts by creation time: 8 hex of seconds + 4 random hex."""
    return f"{int(utcnow().timestamp()):08x}{secrets.token_hex(2)}"


def pipeline_arn(name: str) -> str:
    return f"scoreline:pipeline/{name.lower()}"


class MetadataStore:
    """All reads and writes of records. Safe to share between threads of one process."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        lock_path: Path | None = None
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                lock_path = Path(database + ".lock")
            self.engine = sa.create_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            _configure_sqlite(self.engine)
        else:
            self.engine = _create_engine(url)
        self._writer_lock = self.engine.dialect.name == "postgresql"
        try:
            ensure_schema(self.engine, lock_path)
        except sa.exc.OperationalError as exc:
            reason = first_line(exc.orig or exc)
            hint = "start the database or correct the URL"
            if lock_path is not None and nearly_full(lock_path.parent):
                hint = f"{no_space('its folder', lock_path.parent)}: free some there"
            raise StoreUnreachableError(
                f"cannot open the metadata store "
                f"{make_url(url).render_as_string(hide_password=True)} ({reason})",
                where="$SCORELINE_STORE / scoreline.yaml: store",
                hint=hint,
            ) from None
        self.models = ModelRegistryStore(self)
        self.rules = RuleStore(self)
        self.monitoring = MonitoringStore(self)
        self.sources = SourceStore(self)
        self.deliveries = DeliveryStore(self)
        self.intents = StartIntentStore(self)
        self.deployments = DeploymentStore(self)
        self.tokens = TokenStore(self)
        self.auth = AuthStore(self)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        """A write transaction; writers take turns (see the module docstring)."""
        with self.engine.begin() as conn:
            if self._writer_lock:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK})
            yield conn

    # --- pipelines -----------------------------------------------------------------------

    def register_pipeline(
        self, definition: dict[str, Any], actor: str, conn: sa.Connection | None = None
    ) -> tuple[PipelineVersionRecord, bool]:
        """Store ``definition`` as a new version unless it equals the latest one (inside
        ``conn``'s transaction when given). Returns the version and whether it was created."""
        if conn is not None:
            return self._register(conn, definition, actor)
        with self._tx() as own:
            return self._register(own, definition, actor)

    def _register(
        self, conn: sa.Connection, definition: dict[str, Any], actor: str
    ) -> tuple[PipelineVersionRecord, bool]:
        name = definition["name"]
        digest = hashlib.sha256(json.dumps(definition, sort_keys=True).encode("utf-8")).hexdigest()
        now = utcnow()
        row = conn.execute(sa.select(t.pipelines).where(t.pipelines.c.name == name)).one_or_none()
        if row is not None:
            latest = self._version(conn, name, row.latest_version)
            if latest.definition_sha256 == digest:
                return latest, False
            version = row.latest_version + 1
            conn.execute(
                t.pipelines.update()
                .where(t.pipelines.c.name == name)
                .values(latest_version=version, updated_at=now)
            )
        else:
            version = 1
            conn.execute(
                t.pipelines.insert().values(
                    name=name, latest_version=1, created_at=now, updated_at=now
                )
            )
        conn.execute(
            t.pipeline_versions.insert().values(
                pipeline_name=name,
                version=version,
                definition=definition,
                definition_sha256=digest,
                created_at=now,
                created_by=actor,
            )
        )
        return self._version(conn, name, version), True

    def drop_unused_pipeline(self, conn: sa.Connection, name: str) -> bool:
        """Delete a pipeline and its versions if no execution ever ran it."""
        used = conn.execute(
            sa.select(t.executions.c.id).where(t.executions.c.pipeline_name == name).limit(1)
        ).first()
        if used is not None:
            return False
        conn.execute(
            t.pipeline_versions.delete().where(t.pipeline_versions.c.pipeline_name == name)
        )
        conn.execute(t.pipelines.delete().where(t.pipelines.c.name == name))
        return True

    def purge_pipeline(self, conn: sa.Connection, name: str) -> None:
        """Delete a pipeline with its executions, steps and monitoring records (events, the
        audit log, are kept)."""
        ids = sa.select(t.executions.c.id).where(t.executions.c.pipeline_name == name)
        conn.execute(
            t.monitoring_results.delete().where(t.monitoring_results.c.execution_id.in_(ids))
        )
        conn.execute(t.step_executions.delete().where(t.step_executions.c.execution_id.in_(ids)))
        conn.execute(t.executions.delete().where(t.executions.c.pipeline_name == name))
        self.drop_unused_pipeline(conn, name)

    def get_pipeline_version(self, name: str, version: int | None = None) -> PipelineVersionRecord:
        with self.engine.connect() as conn:
            if version is None:
                latest = conn.execute(
                    sa.select(t.pipelines.c.latest_version).where(t.pipelines.c.name == name)
                ).scalar()
                if latest is None:
                    raise NotFoundError(
                        f"no pipeline named '{name}'", hint="see `scoreline pipelines list`"
                    )
                version = int(latest)
            return self._version(conn, name, version)

    def list_pipelines(self) -> list[PipelineRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.pipelines).order_by(t.pipelines.c.name)).all()
        return [PipelineRecord(**row._mapping) for row in rows]

    def _version(self, conn: sa.Connection, name: str, version: int) -> PipelineVersionRecord:
        row = conn.execute(
            sa.select(t.pipeline_versions).where(
                t.pipeline_versions.c.pipeline_name == name,
                t.pipeline_versions.c.version == version,
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"pipeline '{name}' has no version {version}")
        return PipelineVersionRecord(**row._mapping)

    # --- executions ----------------------------------------------------------------------

    def create_execution(
        self,
        pipeline: PipelineVersionRecord,
        parameters: dict[str, Any],
        *,
        started_by: str,
        owner: str | None,
        client_request_token: str | None = None,
        queue: RunQueue | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Start a new execution (with its event): Executing, or, when the run ``queue``
        has no room for it behind those waiting, Pending (its turn comes oldest first, see
        :meth:`dispatch`). With a ``client_request_token`` already used, returns that
        execution instead. Returns the execution and whether it was created."""
        with self._tx() as conn:
            if client_request_token:
                existing = conn.execute(
                    sa.select(t.executions).where(
                        t.executions.c.client_request_token == client_request_token
                    )
                ).one_or_none()
                if existing is not None:
                    return ExecutionRecord(**existing._mapping), False
            now = utcnow()
            execution_id = new_execution_id()
            pipeline_name = pipeline.pipeline_name
            waits = queue and not self._turn(conn, queue, now, execution_id, pipeline_name)
            conn.execute(
                t.executions.insert().values(
                    id=execution_id,
                    pipeline_name=pipeline.pipeline_name,
                    pipeline_version=pipeline.version,
                    status=(ExecutionStatus.PENDING if waits else ExecutionStatus.EXECUTING).value,
                    parameters=parameters,
                    created_at=now,
                    started_by=started_by,
                    client_request_token=client_request_token,
                    owner=owner,
                    heartbeat_at=now,
                    stop_requested=False,
                )
            )
            record = self._execution(conn, execution_id)
            self._execution_event(conn, record, previous=None)
            return record, True

    def get_execution(self, execution_id: str) -> ExecutionRecord:
        with self.engine.connect() as conn:
            return self._execution(conn, execution_id)

    def list_executions(
        self,
        *,
        pipeline: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[ExecutionRecord]:
        query = sa.select(t.executions)
        if pipeline:
            query = query.where(t.executions.c.pipeline_name == pipeline)
        if status:
            query = query.where(t.executions.c.status == status)
        query = query.order_by(t.executions.c.created_at.desc(), t.executions.c.id.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).all()
        return [ExecutionRecord(**row._mapping) for row in rows]

    def set_execution_status(
        self,
        execution_id: str,
        status: ExecutionStatus,
        *,
        failure_reason: str | None = None,
        expected_owner: str | None = None,
    ) -> ExecutionRecord:
        """Change an execution's status and append the event. Final statuses set the end
        time and release ownership; Executing (a retry) clears them."""
        with self._tx() as conn:
            self._fence(conn, execution_id, expected_owner)
            return self._set_status(conn, execution_id, status, failure_reason)

    def end_and_take_next(
        self,
        execution_id: str,
        status: ExecutionStatus,
        failure_reason: str | None,
        owner: str,
        queue: RunQueue,
        next_owner: str,
    ) -> tuple[ExecutionRecord, str | None]:
        """End an execution (as :meth:`set_execution_status` with ``expected_owner``) and,
        in the same transaction, give the oldest Pending execution without an owner its
        turn, owned by ``next_owner``: a finishing orchestrator process runs the next one
        itself, so its slot is never free for another process to take meanwhile. Returns
        the ended execution and the id of the next one (None when none waits). When none
        waits, the ended execution keeps ``owner`` and so its slot, until :meth:`release`
        as the process exits (or recovery, if it dies): the slot is not free while the
        process still lives."""
        with self._tx() as conn:
            self._fence(conn, execution_id, owner)
            ended = self._set_status(conn, execution_id, status, failure_reason)
            taken = self._take_next(conn, execution_id, queue, next_owner)
            if taken is None:  # held until released
                conn.execute(
                    t.executions.update()
                    .where(t.executions.c.id == execution_id)
                    .values(owner=owner)
                )
                return self._execution(conn, execution_id), None
            return ended, taken

    def hand_over(
        self, execution_id: str, owner: str, queue: RunQueue, next_owner: str
    ) -> str | None:
        """Let go of the slot an ended execution holds for ``owner`` (see
        :meth:`end_and_take_next`), giving it, in the same transaction, to the oldest
        Pending execution without an owner that may run: its id, or None."""
        with self._tx() as conn:
            conn.execute(
                t.executions.update()
                .where((t.executions.c.id == execution_id) & (t.executions.c.owner == owner))
                .values(owner=None)
            )
            return self._take_next(conn, execution_id, queue, next_owner)

    def _take_next(
        self, conn: sa.Connection, leaving: str, queue: RunQueue, next_owner: str
    ) -> str | None:
        """Make the first Pending execution without an owner that ``queue`` admits (not
        counting ``leaving``'s slot) Executing, owned by ``next_owner``; its id."""
        c = t.executions.c
        pending = (c.status == ExecutionStatus.PENDING.value) & c.owner.is_(None)
        unowned = {str(i) for i in conn.execute(sa.select(c.id).where(pending)).scalars()}
        admitted = queue.admitted(self._occupying(conn, leaving), self._waiting(conn, None, None))
        taken = next((i for i in admitted if i in unowned), None)
        if taken is not None:
            self._set_status(conn, taken, ExecutionStatus.EXECUTING, owner=next_owner)
        return taken

    def release(self, execution_id: str, owner: str) -> None:
        """Let go of the slot an ended execution still holds for ``owner``'s process."""
        with self._tx() as conn:
            conn.execute(
                t.executions.update()
                .where((t.executions.c.id == execution_id) & (t.executions.c.owner == owner))
                .values(owner=None)
            )

    def held_slots(self) -> list[ExecutionRecord]:
        """Ended executions whose orchestrator process has not let go of their slot."""
        c = t.executions.c
        final = [s.value for s in ExecutionStatus if s.is_final]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.executions).where(c.status.in_(final) & c.owner.is_not(None))
            ).all()
        return [ExecutionRecord(**row._mapping) for row in rows]

    def _set_status(
        self,
        conn: sa.Connection,
        execution_id: str,
        status: ExecutionStatus,
        failure_reason: str | None = None,
        **also: Any,
    ) -> ExecutionRecord:
        current = self._execution(conn, execution_id)
        values: dict[str, Any] = {"status": status.value, **also}
        if status.is_final:
            values.update(
                ended_at=utcnow(), failure_reason=failure_reason, owner=None, stop_requested=False
            )
        else:  # running again (a retry) or its turn has come: with a fresh lease
            values.update(
                ended_at=None, failure_reason=None, stop_requested=False, heartbeat_at=utcnow()
            )
        conn.execute(
            t.executions.update().where(t.executions.c.id == execution_id).values(**values)
        )
        record = self._execution(conn, execution_id)
        if current.status != status.value:
            self._execution_event(conn, record, previous=current.status)
        return record

    def reopen(
        self, execution_id: str, queue: RunQueue | None = None, owner: str | None = None
    ) -> ExecutionRecord:
        """An ended execution made to run again (a retry): Executing, or Pending when the
        run queue is full, like a new one; ``owner`` marks the process that will claim it
        (None: one is to be started)."""
        with self._tx() as conn:
            current = self._execution(conn, execution_id)
            waits = queue and not self._turn(
                conn, queue, current.created_at, execution_id, current.pipeline_name
            )
            status = ExecutionStatus.PENDING if waits else ExecutionStatus.EXECUTING
            return self._set_status(conn, execution_id, status, owner=owner)

    def claim_execution(
        self, execution_id: str, owner: str, queue: RunQueue | None = None
    ) -> ExecutionRecord | None:
        """Make ``owner`` the orchestrator of an execution that has none. A Pending one is
        made Executing first, once it has its turn (None: wait and ask again; its lease is
        renewed meanwhile). An ended execution is returned as it is, never claimed."""
        with self._tx() as conn:
            current = self._execution(conn, execution_id)
            if ExecutionStatus(current.status).is_final:
                return current
            starting = (current.owner or "").rsplit(":", 1)
            mine = len(starting) == 2 and owner.startswith(starting[0] + ":")
            if current.owner not in (None, owner) and not (mine and starting[1] == STARTING_OWNER):
                raise StateError(
                    f"execution {execution_id} is already run by {current.owner}",
                    hint="wait for it, or stop it with `scoreline executions stop`",
                )
            if current.status == ExecutionStatus.PENDING.value:
                if queue and not self._turn(
                    conn, queue, current.created_at, execution_id, current.pipeline_name
                ):
                    conn.execute(  # still waiting: the lease stays fresh
                        t.executions.update()
                        .where(t.executions.c.id == execution_id)
                        .values(heartbeat_at=utcnow())
                    )
                    return None
                self._set_status(conn, execution_id, ExecutionStatus.EXECUTING)
            conn.execute(
                t.executions.update()
                .where(t.executions.c.id == execution_id)
                .values(owner=owner, heartbeat_at=utcnow())
            )
            return self._execution(conn, execution_id)

    def dispatch(self, queue: RunQueue) -> list[ExecutionRecord]:
        """Give the Pending executions the run ``queue`` has room for their turn, oldest
        first (Executing, with a fresh lease); returns them. Those without an owner need an
        orchestrator started; one with an owner has a process waiting to claim it."""
        promoted: list[ExecutionRecord] = []
        c = t.executions.c
        with self.engine.connect() as conn:  # most rounds have nothing to do: no write
            waiting = conn.execute(
                sa.select(sa.func.count()).where(c.status == ExecutionStatus.PENDING.value)
            ).scalar_one()
        if not waiting:
            return promoted
        with self._tx() as conn:
            admitted = queue.admitted(self._occupying(conn), self._waiting(conn, None, None))
            for execution_id in admitted:
                promoted.append(self._set_status(conn, execution_id, ExecutionStatus.EXECUTING))
        return promoted

    def queue_position(self, execution: ExecutionRecord) -> int | None:
        """1 for the next Pending execution to run, and so on; None when not Pending."""
        if execution.status != ExecutionStatus.PENDING.value:
            return None
        with self.engine.connect() as conn:
            return 1 + self._pending_ahead(conn, execution.created_at, execution.id)

    def _pending_ahead(self, conn: sa.Connection, created_at: datetime, execution_id: str) -> int:
        return len(self._waiting(conn, created_at, execution_id))

    def _waiting(
        self, conn: sa.Connection, created_at: datetime | None, execution_id: str | None
    ) -> list[tuple[str, str]]:
        """(id, pipeline) of the Pending executions, oldest first (only those older than
        the one created at ``created_at`` when given)."""
        c = t.executions.c
        query = sa.select(c.id, c.pipeline_name).where(c.status == ExecutionStatus.PENDING.value)
        if created_at is not None and execution_id is not None:
            older = (c.created_at < created_at) | (
                (c.created_at == created_at) & (c.id < execution_id)
            )
            query = query.where(older & (c.id != execution_id))
        rows = conn.execute(query.order_by(c.created_at, c.id)).all()
        return [(str(r.id), str(r.pipeline_name)) for r in rows]

    def _occupying(self, conn: sa.Connection, *besides: str) -> Counter[str]:
        """Executions holding a run slot, by pipeline: running, or ended with the slot
        still held (see :meth:`end_and_take_next`); ``besides`` are left out."""
        c = t.executions.c
        active = c.status.in_([ExecutionStatus.EXECUTING.value, ExecutionStatus.STOPPING.value])
        final = c.status.in_([s.value for s in ExecutionStatus if s.is_final])
        rows = conn.execute(
            sa.select(c.pipeline_name, sa.func.count())
            .where((active | (final & c.owner.is_not(None))) & c.id.not_in(besides or ("",)))
            .group_by(c.pipeline_name)
        ).all()
        return Counter({str(name): int(count) for name, count in rows})

    def _turn(
        self,
        conn: sa.Connection,
        queue: RunQueue,
        created_at: datetime,
        execution_id: str,
        pipeline: str,
    ) -> bool:
        """Whether the execution may run now: the queue has room for it once the Pending
        executions older than it have had theirs."""
        waiting = [*self._waiting(conn, created_at, execution_id), (execution_id, pipeline)]
        return execution_id in queue.admitted(self._occupying(conn, execution_id), waiting)

    def mark_starting(self, execution_id: str, owner: str) -> None:
        """Note the process that will claim an execution (unless it already has)."""
        with self._tx() as conn:
            conn.execute(
                t.executions.update()
                .where((t.executions.c.id == execution_id) & t.executions.c.owner.is_(None))
                .values(owner=owner)
            )

    def heartbeat(self, execution_id: str, owner: str) -> bool:
        """Renew the lease; returns whether a stop was requested. Raises
        :class:`FencedError` when ``owner`` no longer owns the execution."""
        with self._tx() as conn:
            self._fence(conn, execution_id, owner)
            conn.execute(
                t.executions.update()
                .where(t.executions.c.id == execution_id, t.executions.c.owner == owner)
                .values(heartbeat_at=utcnow())
            )
            return bool(
                conn.execute(
                    sa.select(t.executions.c.stop_requested).where(
                        t.executions.c.id == execution_id
                    )
                ).scalar()
            )

    def request_stop(self, execution_id: str) -> ExecutionRecord:
        """Ask the owning orchestrator to stop: status Stopping, with its event."""
        with self._tx() as conn:
            current = self._execution(conn, execution_id)
            if ExecutionStatus(current.status).is_final:
                raise StateError(f"execution {execution_id} has already ended ({current.status})")
            if current.status == ExecutionStatus.PENDING.value:
                return self._set_status(
                    conn, execution_id, ExecutionStatus.STOPPED, "stopped before its turn came"
                )
            conn.execute(
                t.executions.update()
                .where(t.executions.c.id == execution_id)
                .values(stop_requested=True, status=ExecutionStatus.STOPPING.value)
            )
            record = self._execution(conn, execution_id)
            if current.status != record.status:
                self._execution_event(conn, record, previous=current.status)
            return record

    def _fence(self, conn: sa.Connection, execution_id: str, owner: str | None) -> None:
        """Refuse a write of orchestrator ``owner`` to an execution it no longer owns (its
        owner token, unique to each orchestrator, is the fencing token)."""
        if owner is None:
            return
        current = conn.execute(
            sa.select(t.executions.c.owner).where(t.executions.c.id == execution_id)
        ).scalar()
        if current != owner:
            raise FencedError(
                f"execution {execution_id} is no longer run by this orchestrator ({owner}); "
                "it was declared lost and closed or taken over",
                hint="nothing more is recorded by it; see `scoreline executions show`",
            )

    def up_since(self) -> datetime | None:
        """When the database server last started (PostgreSQL), so that recovery does not
        count the time it was down against an orchestrator's lease."""
        if self.engine.dialect.name != "postgresql":
            return None
        with self.engine.connect() as conn:
            started = conn.execute(sa.text("SELECT pg_postmaster_start_time()")).scalar()
        return started if isinstance(started, datetime) else None

    def active_executions(self) -> list[ExecutionRecord]:
        """Executions not ended: Pending, Executing or Stopping."""
        active = [s.value for s in ExecutionStatus if not s.is_final]
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.executions).where(t.executions.c.status.in_(active))
            ).all()
        return [ExecutionRecord(**row._mapping) for row in rows]

    def _execution(self, conn: sa.Connection, execution_id: str) -> ExecutionRecord:
        row = conn.execute(
            sa.select(t.executions).where(t.executions.c.id == execution_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(
                f"no execution '{execution_id}'", hint="see `scoreline executions list`"
            )
        return ExecutionRecord(**row._mapping)

    # --- steps ---------------------------------------------------------------------------

    def start_step(
        self,
        execution_id: str,
        step_name: str,
        step_kind: str,
        *,
        status: StepStatus = StepStatus.STARTING,
        metadata: dict[str, Any] | None = None,
        owner: str | None = None,
        attempt: int | None = None,
    ) -> StepRecord:
        """Begin a new attempt of a step (creating its record on the first one). With
        ``attempt``, an attempt already begun with that number is returned as it is (a write
        repeated after a lost connection); with ``owner``, see :meth:`_fence`."""
        now = utcnow()
        with self._tx() as conn:
            self._fence(conn, execution_id, owner)
            row = self._step_row(conn, execution_id, step_name)
            if row is not None and attempt is not None and row.attempt >= attempt:
                return self._step_by_id(conn, row.id)
            fresh = {
                "status": status.value,
                "started_at": now,
                "ended_at": None,
                "failure_reason": None,
                "error_detail": None,
                "outputs": {},
                "metadata": metadata or {},
                "cache_hit_source": None,
                "process": None,
            }
            if row is None:
                conn.execute(
                    t.step_executions.insert().values(
                        execution_id=execution_id,
                        step_name=step_name,
                        step_kind=step_kind,
                        attempt=1,
                        log_uri=None,
                        cache_key=None,
                        **fresh,
                    )
                )
                previous = None
            else:
                conn.execute(
                    t.step_executions.update()
                    .where(t.step_executions.c.id == row.id)
                    .values(attempt=row.attempt + 1, **fresh)
                )
                previous = row.status
            record = self._step_by_id(conn, self._step_row(conn, execution_id, step_name).id)
            self._step_event(conn, record, previous)
            return record

    def update_step(
        self,
        step_id: int,
        *,
        events: Sequence[tuple[str, dict[str, Any]]] = (),
        monitoring: dict[str, Any] | None = None,
        owner: str | None = None,
        **values: Any,
    ) -> StepRecord:
        """Update fields of a step record; a change of ``status`` appends its event and a
        final status sets the end time. ``events`` the step emitted (detail-type, detail) and
        its ``monitoring`` result go with a change of status, in the same transaction, so a
        repeated update records them once. With ``owner``, see :meth:`_fence`."""
        if isinstance(values.get("status"), StepStatus):
            status: StepStatus = values["status"]
            values["status"] = status.value
            if status.is_final:
                values.setdefault("ended_at", utcnow())
        with self._tx() as conn:
            before = self._step_by_id(conn, step_id)
            self._fence(conn, before.execution_id, owner)
            if before.status == values.get("status") and before.status in FINAL_STEP_STATUSES:
                return before  # already recorded: a write repeated after a lost connection
            conn.execute(
                t.step_executions.update().where(t.step_executions.c.id == step_id).values(**values)
            )
            after = self._step_by_id(conn, step_id)
            if after.status == before.status:
                return after
            self._step_event(conn, after, before.status)
            if monitoring is not None:
                self.monitoring.insert(conn, after.execution_id, after.step_name, monitoring)
            for detail_type, detail in events:
                self._emitted_event(conn, after, detail_type, detail)
            return after

    def mark_step(
        self,
        execution_id: str,
        step_name: str,
        step_kind: str,
        status: StepStatus,
        reason: str,
        owner: str | None = None,
    ) -> StepRecord:
        """Record a step that did not run (Skipped / NotRun) with the reason."""
        record = self.start_step(execution_id, step_name, step_kind, status=status, owner=owner)
        return self.update_step(
            record.id, failure_reason=reason, ended_at=record.started_at, owner=owner
        )

    def get_steps(self, execution_id: str) -> list[StepRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.step_executions)
                .where(t.step_executions.c.execution_id == execution_id)
                .order_by(t.step_executions.c.started_at, t.step_executions.c.id)
            ).all()
        return [StepRecord(**row._mapping) for row in rows]

    def get_step(self, step_id: int) -> StepRecord:
        with self.engine.connect() as conn:
            return self._step_by_id(conn, step_id)

    def find_cache_hit(self, cache_key: str, not_before: datetime | None) -> StepRecord | None:
        """The most recent Succeeded step with this cache key that ran (not was itself a
        cache hit) after ``not_before``."""
        query = sa.select(t.step_executions).where(
            t.step_executions.c.cache_key == cache_key,
            t.step_executions.c.status == StepStatus.SUCCEEDED.value,
            t.step_executions.c.cache_hit_source.is_(None),
        )
        if not_before is not None:
            query = query.where(t.step_executions.c.ended_at >= not_before)
        query = query.order_by(t.step_executions.c.ended_at.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return StepRecord(**row._mapping) if row else None

    def _step_row(self, conn: sa.Connection, execution_id: str, step_name: str) -> Any:
        return conn.execute(
            sa.select(t.step_executions).where(
                t.step_executions.c.execution_id == execution_id,
                t.step_executions.c.step_name == step_name,
            )
        ).one_or_none()

    def _step_by_id(self, conn: sa.Connection, step_id: int) -> StepRecord:
        row = conn.execute(
            sa.select(t.step_executions).where(t.step_executions.c.id == step_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"no step execution {step_id}")
        return StepRecord(**row._mapping)

    # --- events --------------------------------------------------------------------------

    def append_event(
        self, detail_type: str, detail: dict[str, Any], resources: Sequence[str] = ()
    ) -> EventRecord:
        with self._tx() as conn:
            return self._append(conn, detail_type, detail, resources)

    def list_events(
        self,
        *,
        after_seq: int = 0,
        detail_type: str | None = None,
        execution_id: str | None = None,
        limit: int = 100,
        before_seq: int | None = None,
        since: datetime | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        """Events in the order they were appended (oldest first, or newest first)."""
        query = sa.select(t.events).where(
            *self._event_filters(after_seq, detail_type, execution_id, before_seq, since)
        )
        order = t.events.c.seq.desc() if newest_first else t.events.c.seq
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(order).limit(limit)).all()
        return [EventRecord(**row._mapping) for row in rows]

    def count_events(
        self,
        *,
        after_seq: int = 0,
        detail_type: str | None = None,
        execution_id: str | None = None,
        before_seq: int | None = None,
        since: datetime | None = None,
    ) -> int:
        """How many events the same filters as :meth:`list_events` select."""
        query = (
            sa.select(sa.func.count())
            .select_from(t.events)
            .where(*self._event_filters(after_seq, detail_type, execution_id, before_seq, since))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    @staticmethod
    def _event_filters(
        after_seq: int,
        detail_type: str | None,
        execution_id: str | None,
        before_seq: int | None,
        since: datetime | None,
    ) -> list[sa.ColumnElement[bool]]:
        filters = [t.events.c.seq > after_seq]
        if before_seq is not None:
            filters.append(t.events.c.seq < before_seq)
        if since is not None:
            filters.append(t.events.c.time >= since)
        if detail_type:
            filters.append(t.events.c.detail_type == detail_type)
        if execution_id:
            filters.append(t.events.c.detail["pipelineExecutionId"].as_string() == execution_id)
        return filters

    def _append(
        self,
        conn: sa.Connection,
        detail_type: str,
        detail: dict[str, Any],
        resources: Sequence[str],
    ) -> EventRecord:
        now = utcnow()
        values = {
            "id": str(uuid.uuid4()),
            "time": now,
            "source": EVENT_SOURCE,
            "detail_type": detail_type,
            "resources": list(resources),
            "detail": detail,
        }
        key = conn.execute(t.events.insert().values(**values)).inserted_primary_key
        assert key is not None
        return EventRecord(
            seq=int(key[0]),
            id=str(values["id"]),
            time=now,
            source=EVENT_SOURCE,
            detail_type=detail_type,
            resources=list(resources),
            detail=detail,
        )

    def _execution_event(
        self, conn: sa.Connection, record: ExecutionRecord, previous: str | None
    ) -> None:
        arn = pipeline_arn(record.pipeline_name)
        detail = {
            "pipelineName": record.pipeline_name,
            "pipelineArn": arn,
            "pipelineExecutionId": record.id,
            "pipelineExecutionArn": f"{arn}/execution/{record.id}",
            "pipelineExecutionDisplayName": f"execution-{record.id}",
            "pipelineVersion": record.pipeline_version,
            "previousPipelineExecutionStatus": previous,
            "currentPipelineExecutionStatus": record.status,
            "executionStartTime": _iso(record.created_at),
            "executionEndTime": _iso(record.ended_at),
            "failureReason": record.failure_reason,
            "startedBy": record.started_by,
        }
        self._append(conn, DetailType.EXECUTION_STATUS.value, detail, [arn])

    def _step_source(self, conn: sa.Connection, record: StepRecord) -> tuple[dict[str, Any], str]:
        """The fields naming a step in an event's detail, and the pipeline's ARN."""
        pipeline_name = conn.execute(
            sa.select(t.executions.c.pipeline_name).where(t.executions.c.id == record.execution_id)
        ).scalar_one()
        arn = pipeline_arn(pipeline_name)
        fields = {
            "pipelineName": pipeline_name,
            "pipelineArn": arn,
            "pipelineExecutionId": record.execution_id,
            "pipelineExecutionArn": f"{arn}/execution/{record.execution_id}",
            "stepName": record.step_name,
            "stepType": record.step_kind,
        }
        return fields, arn

    def _emitted_event(
        self, conn: sa.Connection, record: StepRecord, detail_type: str, detail: dict[str, Any]
    ) -> None:
        """An event a step emitted, stamped with where it came from."""
        fields, arn = self._step_source(conn, record)
        self._append(conn, detail_type, {**detail, **fields}, [arn])

    def _step_event(self, conn: sa.Connection, record: StepRecord, previous: str | None) -> None:
        fields, arn = self._step_source(conn, record)
        detail = {
            **fields,
            "attempt": record.attempt,
            "previousStepStatus": previous,
            "currentStepStatus": record.status,
            "stepStartTime": _iso(record.started_at),
            "stepEndTime": _iso(record.ended_at),
            "failureReason": record.failure_reason,
            "metadata": record.metadata,
        }
        self._append(conn, DetailType.STEP_STATUS.value, detail, [arn])


FINAL_STEP_STATUSES = frozenset(s.value for s in StepStatus if s.is_final)

WRITER_LOCK = 0x5C0_4E11
"""PostgreSQL advisory lock key taken by every write transaction."""

DRIVERS = {"psycopg": "postgres", "psycopg2": "postgres", "pymysql": "mysql"}


def _create_engine(url: str) -> sa.Engine:
    """An engine for a server database; a missing driver names the extra to install."""
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except ModuleNotFoundError as exc:
        extra = DRIVERS.get(exc.name or "", "postgres")
        raise ConfigError(
            f"the metadata store {make_url(url).render_as_string(hide_password=True)} needs "
            f"the Python package '{exc.name}'",
            hint=f"pip install 'scoreline[{extra}]'",
        ) from None


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE instead of pysqlite's BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
