"""Metadata store contract on both tiers (a real SQLite file, a real PostgreSQL database):
migrations, versions, events, concurrency."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scoreline.errors import FencedError
from scoreline.store import ExecutionRecord, MetadataStore
from scoreline.store.migrate import HEAD_REVISION, current_revision
from scoreline.store.outage import StoreUnreachableError, ride_out
from scoreline.store.tables import metadata
from scoreline.types import ExecutionStatus, RunQueue, StepStatus


def test_migrations_apply_on_first_use_and_match_the_tables(store_url: str, tmp_path: Path) -> None:
    store = MetadataStore(store_url)
    assert current_revision(store.engine) == HEAD_REVISION
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    if store_url.startswith("sqlite"):
        mode = sqlite3.connect(tmp_path / "meta.db").execute("PRAGMA journal_mode").fetchone()
        assert mode == ("wal",)


def test_head_revision_constant_matches_the_migration_tree() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from scoreline.store.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD_REVISION


def test_pipeline_versions_only_change_with_the_definition(store_url: str) -> None:
    store = MetadataStore(store_url)
    v1, created1 = store.register_pipeline({"name": "P", "steps": []}, "ann")
    same, created2 = store.register_pipeline({"name": "P", "steps": []}, "bob")
    v2, created3 = store.register_pipeline({"name": "P", "steps": [], "description": "x"}, "bob")
    assert (v1.version, created1, same.version, created2, v2.version, created3) == (
        1,
        True,
        1,
        False,
        2,
        True,
    )
    assert store.get_pipeline_version("P").version == 2
    assert store.get_pipeline_version("P", 1).definition == {"name": "P", "steps": []}
    assert store.get_pipeline_version("P", 2).created_by == "bob"


def test_status_change_and_event_share_one_transaction(store_url: str) -> None:
    store = MetadataStore(store_url)
    version, _ = store.register_pipeline({"name": "P", "steps": []}, "ann")
    execution, _ = store.create_execution(version, {}, started_by="ann", owner="me")
    step = store.start_step(execution.id, "A", "processing")

    # Make the event insert fail: the status change must roll back with it.
    sqlite = store_url.startswith("sqlite")
    with store.engine.begin() as conn:
        if sqlite:
            conn.exec_driver_sql(
                "CREATE TRIGGER no_events BEFORE INSERT ON events BEGIN "
                "SELECT RAISE(ABORT, 'outbox unavailable'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'outbox unavailable'; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER no_events BEFORE INSERT ON events "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    with contextlib.suppress(sa.exc.DatabaseError):
        store.update_step(step.id, status=StepStatus.SUCCEEDED)
    assert store.get_step(step.id).status == "Starting"
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER no_events" + ("" if sqlite else " ON events"))
    store.update_step(step.id, status=StepStatus.SUCCEEDED)
    store.set_execution_status(execution.id, ExecutionStatus.SUCCEEDED, expected_owner="me")
    kinds = [
        (
            e.detail.get("stepName"),
            e.detail.get("currentStepStatus") or e.detail.get("currentPipelineExecutionStatus"),
        )
        for e in store.list_events(execution_id=execution.id)
    ]
    assert kinds == [
        (None, "Executing"),
        ("A", "Starting"),
        ("A", "Succeeded"),
        (None, "Succeeded"),
    ]
    assert store.get_execution(execution.id).owner is None


def test_repeated_writes_record_once_and_a_superseded_owner_is_fenced(store_url: str) -> None:
    """What makes retrying a write after a lost connection safe, and fencing."""
    store = MetadataStore(store_url)
    version, _ = store.register_pipeline({"name": "P", "steps": []}, "ann")
    execution, _ = store.create_execution(version, {}, started_by="ann", owner="me")
    first = store.start_step(execution.id, "A", "processing", owner="me", attempt=1)
    again = store.start_step(execution.id, "A", "processing", owner="me", attempt=1)
    assert (again.id, again.attempt) == (first.id, 1)
    emitted = [("Data Quality Violation", {"feature": "x"})]
    for _ in range(2):
        store.update_step(first.id, owner="me", status=StepStatus.SUCCEEDED, events=emitted)
    kinds = [e.detail.get("currentStepStatus") or e.detail_type for e in store.list_events()]
    assert kinds[1:] == ["Starting", "Succeeded", "Data Quality Violation"]

    for write in (
        lambda: store.heartbeat(execution.id, "other"),
        lambda: store.start_step(execution.id, "B", "processing", owner="other"),
        lambda: store.update_step(first.id, owner="other", failure_reason="late"),
        lambda: store.set_execution_status(
            execution.id, ExecutionStatus.FAILED, expected_owner="other"
        ),
    ):
        with pytest.raises(FencedError, match="no longer run by this orchestrator"):
            write()
    assert store.get_step(first.id).failure_reason is None
    assert [s.step_name for s in store.get_steps(execution.id)] == ["A"]


def test_a_lost_connection_is_retried_within_the_budget_then_reported() -> None:
    lost = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    calls, waits = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise lost
        return "written"

    assert ride_out(flaky, 60, waits.append) == "written"
    assert waits == [0.2, 0.4]
    with pytest.raises(StoreUnreachableError, match=r"unreachable for 0 s \(server closed"):
        ride_out(lambda: (_ for _ in ()).throw(lost), 0, waits.append)
    broken = sa.exc.IntegrityError("INSERT", {}, Exception("duplicate key"))
    with pytest.raises(sa.exc.IntegrityError):
        ride_out(lambda: (_ for _ in ()).throw(broken), 60, waits.append)
    assert len(waits) == 2, "a broken statement is not retried"


def test_concurrent_writers_queue_instead_of_failing(store_url: str) -> None:
    url = store_url
    MetadataStore(url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            store = MetadataStore(url)
            for i in range(30):
                store.append_event("Test", {"writer": n, "i": i})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(MetadataStore(url).list_events(limit=1000)) == 180


def test_an_unreachable_database_is_one_line_without_its_password() -> None:
    from tests.servers import free_port

    url = f"postgresql+psycopg://scoreline:s3cret@127.0.0.1:{free_port()}/records"
    with pytest.raises(StoreUnreachableError) as caught:
        MetadataStore(url)
    line = caught.value.line()
    assert line.startswith("$SCORELINE_STORE / scoreline.yaml: store: cannot open the metadata")
    assert "s3cret" not in line
    assert "\n" not in line


def test_the_run_queue_goes_oldest_first_and_a_pipeline_at_its_limit_holds_up_no_other(
    store_url: str,
) -> None:
    store = MetadataStore(store_url)
    queue = RunQueue(total=3, per_pipeline={"A": 1})
    a, _ = store.register_pipeline({"name": "A", "steps": []}, "ann")
    b, _ = store.register_pipeline({"name": "B", "steps": []}, "ann")

    def start(version: Any) -> ExecutionRecord:
        return store.create_execution(version, {}, started_by="ann", owner=None, queue=queue)[0]

    a1, a2, b1, b2, b3 = start(a), start(a), start(b), start(b), start(b)
    assert [e.status for e in (a1, a2, b1, b2, b3)] == [
        "Executing",
        "Pending",  # A is at its limit of 1
        "Executing",  # ... which does not hold B up
        "Executing",
        "Pending",  # 3 in all
    ]
    assert store.dispatch(queue) == []
    store.set_execution_status(a1.id, ExecutionStatus.SUCCEEDED)
    assert [e.id for e in store.dispatch(queue)] == [a2.id], "oldest first"
    store.set_execution_status(b1.id, ExecutionStatus.SUCCEEDED)
    assert [e.id for e in store.dispatch(queue)] == [b3.id]
    assert store.queue_position(store.get_execution(b3.id)) is None
    assert RunQueue(2).admitted(Counter(), [("x", "A"), ("y", "B"), ("z", "A")]) == ["x", "y"]
