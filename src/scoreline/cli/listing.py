"""``scoreline pipelines list`` and ``scoreline events list``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from scoreline.cli import render
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client
from scoreline.types import VIOLATIONS, DetailType

if TYPE_CHECKING:
    from scoreline.store.records import EventRecord

pipelines_app = typer.Typer(help="Pipelines of the project.", no_args_is_help=True)
events_app = typer.Typer(help="The event log (every status change).", no_args_is_help=True)


@pipelines_app.command("list")
def list_pipelines(as_json: JsonFlag = False) -> None:
    """List declared and registered pipelines, and pipeline files that do not load."""
    rows = client().pipelines()
    if as_json:
        render.print_json(rows)
        return
    render.table(
        None,
        ["Pipeline", "File", "Declared", "Latest version", "Updated"],
        [
            (
                r["name"] or "(broken)",
                r["file"] or "",
                "yes" if r["declared"] else ("no" if r["broken"] is None else r["broken"]),
                r["latest_version"] or "-",
                r["updated_at"] or "",
            )
            for r in rows
        ],
    )


@pipelines_app.command("show")
def show_pipeline(name: str, as_json: JsonFlag = False) -> None:
    """A pipeline as its runs will see it: parameter values and where each comes from
    (definition, environment variable, parameter file), steps and their dependencies."""
    overview = client().pipeline_overview(name)
    if as_json:
        render.print_json(overview)
        return
    render.console.print(
        f"Pipeline {name} ({overview['file']}, environment {overview['environment']})",
        highlight=False,
        soft_wrap=True,
    )
    render.table(
        "Parameters",
        ["Parameter", "Type", "Value", "From", "Description"],
        [
            (p["name"], p["type"], _shown(p["value"]), p["source"], p["description"])
            for p in overview["parameters"]
        ],
    )
    render.table(
        "Steps",
        ["Step", "Kind", "After", "Reads files from"],
        [
            (
                s["name"],
                s["kind"],
                ", ".join(s["depends_on"]) or "-",
                ", ".join(s["reads_parameters"]) or "-",
            )
            for s in overview["steps"]
        ],
    )


def _shown(value: Any) -> str:
    return "-" if value is None else json.dumps(value) if isinstance(value, str) else str(value)


@events_app.command("list")
def list_events(
    execution: Annotated[
        str | None, typer.Option("--execution", help="Only this execution.")
    ] = None,
    detail_type: Annotated[
        str | None, typer.Option("--type", help="Only this detail-type.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only events since a time (ISO 8601) or for a while (2h)."),
    ] = None,
    before: Annotated[
        int | None, typer.Option("--before", min=1, help="Only events before this seq (paging).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many, newest first.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """The newest events first, with a readable summary; --json prints the same events as
    EventBridge envelopes in the order they happened."""
    events, older = client().recent_events(
        execution_id=execution,
        detail_type=detail_type,
        since=parse_since(since, "--since") if since else None,
        before_seq=before,
        limit=limit,
    )
    if as_json:
        render.print_json([e.envelope() for e in reversed(events)])
        return
    render.table(
        None,
        ["Seq", "Time", "Type", "Summary", "Status"],
        [
            (
                e.seq,
                render.when(e.time),
                e.detail_type,
                summary(e.detail_type, e.detail),
                _status(e),
            )
            for e in events
        ],
    )
    if older:
        render.console.print(
            f"{older} older event(s): scoreline events list --before {events[-1].seq}",
            highlight=False,
            soft_wrap=True,
        )


def parse_since(text: str, where: str) -> datetime:
    """A time (ISO 8601, UTC unless it says otherwise) or a duration back from now (2h)."""
    from scoreline.errors import ParameterError
    from scoreline.store.tables import utcnow
    from scoreline.store.tokens import parse_lifetime

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            return utcnow() - parse_lifetime(text, where)
        except ParameterError:
            raise ParameterError(
                f"'{text}' is neither a time nor a duration",
                where=where,
                hint="e.g. 2026-12-01T08:00 or 2h, 30m, 7d",
            ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _status(event: EventRecord) -> str:
    detail = event.detail
    status = (
        detail.get("currentStepStatus")
        or detail.get("currentPipelineExecutionStatus")
        or detail.get("ModelApprovalStatus")
        or detail.get("decision")
        or ""
    )
    return render.status(str(status))


def summary(detail_type: str, detail: dict[str, Any]) -> str:
    """One readable line for any event (unknown types show their first fields)."""
    get = detail.get
    execution = "/".join(str(v) for v in (get("pipelineName"), get("pipelineExecutionId")) if v)
    if detail_type in (DetailType.STEP_STATUS, DetailType.EXECUTION_STATUS):
        step = f"/{get('stepName')}" if get("stepName") else ""
        reason = f": {get('failureReason')}" if get("failureReason") else ""
        return f"{execution}{step}{reason}"
    if detail_type == DetailType.MODEL_PACKAGE_STATE:
        by = f" by {get('UpdatedBy')}" if get("UpdatedBy") else ""
        return f"model {get('ModelPackageGroupName')}/{get('ModelPackageVersion')}{by}"
    if detail_type in VIOLATIONS:
        return f"{execution}/{get('stepName', '')}: {_first_fields(detail, skip=_SOURCE)}"
    if detail_type == DetailType.OBJECT_CREATED:
        return f"{get('uri') or get('object', {}).get('key', '')} (trigger {get('trigger')})"
    if detail_type == DetailType.RULE_DECISION:
        started = f" → {get('pipelineExecutionId')}" if get("pipelineExecutionId") else ""
        why = f" ({get('reason')})" if get("reason") and get("reason") != "matched" else ""
        return f"rule {get('rule')}: {get('targetPipeline')}{started}{why}"
    if detail_type == DetailType.SCHEDULED:
        return f"schedule {get('schedule')} at {get('scheduledTime')}"
    if detail_type in (DetailType.DEPLOYMENT_APPLIED, DetailType.DEPLOYMENT_DESTROYED):
        return f"environment {get('env')} by {get('actor')}: {len(get('changes') or [])} change(s)"
    if detail_type == "API Write":
        return f"{get('actor')} {get('method')} {get('path')} → {get('status')}"
    if detail_type == "API Requests Refused":
        return f"{get('count')} refused request(s) since {get('since')}"
    return _first_fields(detail)


_SOURCE = frozenset(
    {"pipelineName", "pipelineArn", "pipelineExecutionId", "pipelineExecutionArn", "stepName",
     "stepType"}
)  # fmt: skip


def _first_fields(detail: dict[str, Any], skip: frozenset[str] = frozenset()) -> str:
    shown = ", ".join(
        f"{k}={json.dumps(v, default=str)}" for k, v in detail.items() if k not in skip
    )
    return shown if len(shown) <= 100 else shown[:99] + "…"
