"""``scoreline models list|show|approve|reject|alias``: the model registry."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scoreline.cli import render
from scoreline.cli.state import client

app = typer.Typer(help="The model registry: versions, approval, aliases.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why (kept in the audit trail).")]


def _metric(record: Any, name: str = "mse") -> str:
    value = record.metrics.get("regression_metrics", {}).get(name, {}).get("value")
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


@app.command("list")
def list_models(
    group: Annotated[str | None, typer.Argument(help="Only this model package group.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this approval status.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List model versions, newest first within each group."""
    records = client().models(group, status)
    if as_json:
        render.print_json([r.to_dict() for r in records])
        return
    render.table(
        None,
        ["Group", "Version", "Status", "Test MSE", "Aliases", "Created", "By", "Execution"],
        [
            (
                r.group_name,
                r.version,
                render.status(r.approval_status),
                _metric(r),
                ", ".join(r.aliases),
                render.when(r.created_at),
                r.created_by,
                r.lineage.get("pipelineExecutionId", ""),
            )
            for r in records
        ],
    )


@app.command("show")
def show(group: str, version: int, as_json: JsonFlag = False) -> None:
    """Show one version: artifact, metrics, baseline, lineage and approval history."""
    record = client().model(group, version)
    if as_json:
        render.print_json(record.to_dict())
        return
    console = render.console
    console.print(
        f"Model [bold]{record.group_name}/{record.version}[/bold] "
        f"({record.flavor}): {render.status(record.approval_status)}"
        + (f"  aliases: {', '.join(record.aliases)}" if record.aliases else "")
    )
    console.print(f"Artifact: {record.artifact_uri}", highlight=False)
    console.print(f"sha256:   {record.artifact_sha256}", highlight=False)
    if record.preprocessing_uri:
        console.print(f"Preprocessing: {record.preprocessing_uri}", highlight=False)
    features = [f["name"] for f in record.input_schema.get("features", [])]
    if features:
        console.print(f"Input features: {', '.join(features)}", highlight=False)
    metrics = record.metrics.get("regression_metrics", {})
    if metrics:
        console.print(
            "Metrics: " + ", ".join(f"{k}={v.get('value', 0):.4f}" for k, v in metrics.items()),
            highlight=False,
        )
    for name, uri in record.baseline.items():
        console.print(f"Baseline {name}: {uri}", highlight=False)
    lineage = record.lineage
    if lineage:
        console.print(
            f"Lineage: {lineage.get('pipelineName')} execution "
            f"{lineage.get('pipelineExecutionId')} by {lineage.get('userId')}",
            highlight=False,
        )
    render.table(
        "Approval history",
        ["When", "From", "To", "By", "Comment"],
        [
            (render.when(h.at), h.previous_status or "", h.status, h.actor, h.comment)
            for h in record.history
        ],
    )


def _set_status(
    group: str, version: int, status: str, comment: str, as_json: bool, **aliases: Any
) -> None:
    record = client().set_model_status(group, version, status, comment, **aliases)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.console.print(
        f"Model {record.group_name}/{record.version}: {render.status(record.approval_status)}"
    )


@app.command("approve")
def approve(group: str, version: int, comment: Comment = "", as_json: JsonFlag = False) -> None:
    """Approve a version: inference runs pick the latest Approved version when they start."""
    _set_status(group, version, "Approved", comment, as_json)


@app.command("reject")
def reject(
    group: str,
    version: int,
    comment: Comment = "",
    move_aliases_to: Annotated[
        int | None,
        typer.Option("--move-aliases-to", help="Move this version's aliases to VERSION.", min=1),
    ] = None,
    drop_aliases: Annotated[
        bool, typer.Option("--drop-aliases", help="Remove this version's aliases.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Reject a version (also an Approved one, which then stops being used). A version with
    aliases needs --move-aliases-to or --drop-aliases."""
    _set_status(
        group,
        version,
        "Rejected",
        comment,
        as_json,
        move_aliases_to=move_aliases_to,
        drop_aliases=drop_aliases,
    )


@app.command("alias")
def alias(group: str, version: int, name: str, as_json: JsonFlag = False) -> None:
    """Point alias NAME (e.g. champion) at a version that is not Rejected; approval is
    unchanged."""
    record = client().set_model_alias(group, version, name)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.console.print(f"{group}@{name} -> version {record.version}")
