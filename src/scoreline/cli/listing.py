"""``scoreline pipelines list`` and ``scoreline events list``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from scoreline.cli import render
from scoreline.cli.state import client

pipelines_app = typer.Typer(help="Pipelines of the project.", no_args_is_help=True)
events_app = typer.Typer(help="The event log (every status change).", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]


@pipelines_app.command("list")
def list_pipelines(as_json: JsonFlag = False) -> None:
    """List declared and registered pipelines."""
    rows = client().pipelines()
    if as_json:
        render.print_json(rows)
        return
    render.table(
        None,
        ["Pipeline", "Declared", "Latest version", "Updated"],
        [
            (
                r["name"],
                "yes" if r["declared"] else "no",
                r["latest_version"] or "-",
                r["updated_at"] or "",
            )
            for r in rows
        ],
    )


@events_app.command("list")
def list_events(
    execution: Annotated[
        str | None, typer.Option("--execution", help="Only this execution.")
    ] = None,
    detail_type: Annotated[
        str | None, typer.Option("--type", help="Only this detail-type.")
    ] = None,
    after: Annotated[int, typer.Option("--after", min=0, help="Only events after this seq.")] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 100,
    as_json: JsonFlag = False,
) -> None:
    """List events oldest first, in the EventBridge envelope shape."""
    events = client().events(
        execution_id=execution, detail_type=detail_type, after_seq=after, limit=limit
    )
    if as_json:
        render.print_json([e.envelope() for e in events])
        return
    render.table(
        None,
        ["Seq", "Time", "Type", "Subject", "Status"],
        [
            (
                e.seq,
                render.when(e.time),
                e.detail_type,
                _subject(e.detail),
                render.status(
                    e.detail.get("currentStepStatus")
                    or e.detail.get("currentPipelineExecutionStatus")
                    or ""
                ),
            )
            for e in events
        ],
    )


def _subject(detail: dict[str, object]) -> str:
    if "stepName" in detail:
        return f"{detail['pipelineName']}/{detail['pipelineExecutionId']}/{detail['stepName']}"
    if "pipelineExecutionId" in detail:
        return f"{detail['pipelineName']}/{detail['pipelineExecutionId']}"
    return json.dumps(detail)[:60]
