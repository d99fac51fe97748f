"""Watching an execution until it ends (``run --wait``, ``executions retry --wait``,
``executions show --follow``): a live step table on a terminal, one line per step change
otherwise. The execution runs in its own orchestrator process, so Ctrl-C stops watching,
not the run (``--stop-on-interrupt`` stops the run instead)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scoreline.cli import render
from scoreline.types import ExecutionStatus

if TYPE_CHECKING:
    from scoreline.store.records import ExecutionRecord, StepRecord

POLL_SECONDS = 0.5
WaitFlag = Annotated[
    bool, typer.Option("--wait", help="Watch it until it ends (Ctrl-C stops watching).")
]
StopOnInterruptFlag = Annotated[
    bool, typer.Option("--stop-on-interrupt", help="With --wait: Ctrl-C stops the execution.")
]


def follow(
    c: Any, execution_id: str, *, stop_on_interrupt: bool = False, quiet: bool = False
) -> ExecutionRecord:
    """Wait for the execution to end, showing its steps as they change (nothing when
    ``quiet``); returns it ended."""
    try:
        return _watch(c, execution_id, quiet)
    except KeyboardInterrupt:
        if stop_on_interrupt:
            c.stop(execution_id)
            sys.stderr.write(f"Stopping execution {execution_id}...\n")
            return _watch(c, execution_id, quiet=True)
        sys.stderr.write(
            f"Stopped watching; execution {execution_id} goes on. Follow it: scoreline "
            f"executions show {execution_id} --follow; stop it: scoreline executions stop "
            f"{execution_id}\n"
        )
        raise typer.Exit(130) from None


def _watch(c: Any, execution_id: str, quiet: bool) -> ExecutionRecord:
    if not quiet and render.console.is_terminal:
        from rich.live import Live

        with Live(console=render.console, refresh_per_second=4, transient=True) as display:
            while True:
                execution, steps = _poll(c, execution_id)
                display.update(_table(execution, steps))
                if ExecutionStatus(execution.status).is_final:
                    return execution
                time.sleep(POLL_SECONDS)
    seen: dict[str, tuple[str, int]] = {}
    while True:
        execution, steps = _poll(c, execution_id)
        for step in steps if not quiet else []:
            if seen.get(step.step_name) != (step.status, step.attempt):
                seen[step.step_name] = (step.status, step.attempt)
                took = render.duration(step.started_at, step.ended_at)
                print(
                    f"{render.when(datetime.now(UTC))}  {step.step_name}: {step.status}"
                    + (f" (attempt {step.attempt})" if step.attempt > 1 else "")
                    + (f" in {took}" if took else ""),
                    flush=True,
                )
        if ExecutionStatus(execution.status).is_final:
            return execution
        time.sleep(POLL_SECONDS)


def _poll(c: Any, execution_id: str) -> tuple[ExecutionRecord, list[StepRecord]]:
    """The execution and its steps, once recovery has looked at it: an orchestrator that
    died (killed, or failing before it could start) is closed here, not waited for until
    some other command or ``serve`` happens to run recovery."""
    c.recover()
    return c.execution(execution_id), c.steps(execution_id)


def _table(execution: ExecutionRecord, steps: list[StepRecord]) -> Any:
    from rich.table import Table

    from scoreline.cli.executions import details

    table = Table(
        title=f"Execution {execution.id} of {execution.pipeline_name}: {execution.status}",
        title_justify="left",
    )
    for column in ("Step", "Kind", "Status", "Attempt", "Duration", "Details"):
        table.add_column(column)
    now = datetime.now(UTC)
    for step in steps:
        end = step.ended_at or (now if step.started_at else None)
        table.add_row(
            step.step_name,
            step.step_kind,
            render.status(step.status),
            str(step.attempt),
            render.duration(step.started_at, end),
            details(step),
        )
    return table
