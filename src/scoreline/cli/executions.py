"""``scoreline executions list|show|logs|retry|stop``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scoreline.cli import render
from scoreline.cli.follow import StopOnInterruptFlag, WaitFlag, follow
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client
from scoreline.types import ExecutionStatus

app = typer.Typer(help="Inspect and control pipeline executions.", no_args_is_help=True)


@app.command("list")
def list_executions(
    pipeline: Annotated[str | None, typer.Option("--pipeline", help="Only this pipeline.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List executions, newest first."""
    c = client()
    c.recover()
    records = c.executions(pipeline=pipeline, status=status, limit=limit)
    if as_json:
        render.print_json([r.to_dict() for r in records])
        return
    render.table(
        None,
        ["Execution", "Pipeline", "Version", "Status", "Started", "Duration", "Reason"],
        [
            (
                r.id,
                r.pipeline_name,
                r.pipeline_version,
                render.status(r.status),
                render.when(r.created_at),
                render.duration(r.created_at, r.ended_at),
                r.failure_reason or "",
            )
            for r in records
        ],
    )


@app.command("show")
def show(
    execution_id: str,
    as_json: JsonFlag = False,
    follow_it: Annotated[
        bool, typer.Option("--follow", "-f", help="Watch it until it ends (Ctrl-C stops watching).")
    ] = False,
) -> None:
    """Show an execution, its parameters and its steps."""
    c = client()
    c.recover()
    execution = c.execution(execution_id)
    if follow_it:
        execution = follow(c, execution_id, quiet=as_json)
    steps = c.steps(execution_id)
    position = c.store.queue_position(execution)
    if as_json:
        queue = {"queue_position": position} if position is not None else {}
        render.print_json({**execution.to_dict(), **queue, "steps": [s.to_dict() for s in steps]})
        return
    print_execution(execution, steps, position)


def print_execution(execution, steps, position: int | None = None) -> None:  # type: ignore[no-untyped-def]
    """An execution header and its step table (also used by ``run --wait``)."""
    from rich.markup import escape

    # One line each, however long: piped output stays greppable.
    render.console.print(
        f"Execution [bold]{execution.id}[/bold] of {escape(execution.pipeline_name)} "
        f"v{execution.pipeline_version}: {render.status(execution.status)}"
        + (f" (number {position} in the run queue)" if position is not None else "")
        + (f" — {escape(execution.failure_reason)}" if execution.failure_reason else ""),
        soft_wrap=True,
    )
    if execution.parameters:
        params = ", ".join(f"{k}={v}" for k, v in execution.parameters.items())
        render.console.print(f"Parameters: {escape(params)}", highlight=False, soft_wrap=True)
    render.table(
        None,
        ["Step", "Kind", "Status", "Attempt", "Duration", "Details"],
        [
            (
                s.step_name,
                s.step_kind,
                render.status(s.status),
                s.attempt,
                render.duration(s.started_at, s.ended_at),
                details(s),
            )
            for s in steps
        ],
    )
    produced = [
        (s.step_kind, f"{s.step_name}/{name}", str(output.get("uri", "")))
        for s in steps
        if s.status == "Succeeded"
        for name, output in sorted(s.outputs.items())
        if isinstance(output, dict) and f"executions/{execution.id}/" in str(output.get("uri"))
    ]
    # What people look for: predictions, reports, trials; else whatever the run made.
    results = [(step, uri) for kind, step, uri in produced if kind in RESULT_KINDS]
    results = results or [(step, uri) for _, step, uri in produced]
    if results and ExecutionStatus(execution.status).is_final:
        render.table("Outputs", ["Step/output", "Where"], results)


def details(step) -> str:  # type: ignore[no-untyped-def]
    if step.cache_hit_source is not None:
        return f"cache hit (from step execution {step.cache_hit_source})"
    if step.failure_reason:
        return str(step.failure_reason)
    meta = step.metadata
    if step.status == "Executing" and isinstance(meta.get("progress"), dict):
        return progress_text(meta["progress"])
    if "outcome" in meta:
        return f"condition {'true' if meta['outcome'] else 'false'}"
    if "ModelPackageVersion" in meta:
        model = f"{meta['ModelPackageGroupName']}/{meta['ModelPackageVersion']}"
        how = f", {meta['resolvedBy']}" if "resolvedBy" in meta else ""
        return f"model {model} ({meta['ModelApprovalStatus']}{how})"
    if "bestTrial" in meta:
        best = meta["bestTrial"]
        return (
            f"{len(meta.get('trials', []))} trials; best #{best['number'] + 1}: {best['value']:.4g}"
        )
    if "scored" in meta:
        return f"{meta['scored']} of {meta['rows']} rows scored" + (
            f", {meta['rejected']} rejected" if meta.get("rejected") else ""
        )
    if "violations" in meta:
        return f"{meta['violations']} violation(s)"
    if meta.get("estimated") is False:
        return str(meta.get("reason", "not estimated"))
    if "model_quality_passed" in meta:
        verdict = "passed" if meta["model_quality_passed"] else "BREACH"
        checked = [
            f"{name} {meta[name]:.4f} vs {threshold:g}"
            for name, threshold in sorted((meta.get("thresholds") or {}).items())
            if isinstance(meta.get(name), int | float) and isinstance(threshold, int | float)
        ]
        estimated = "estimated " if meta.get("estimated") else ""
        return f"{estimated}{', '.join(checked) or 'model quality'}: {verdict}"
    if meta.get("checkSkipped"):
        return "baseline computed (check skipped)"
    return ", ".join(sorted(step.outputs))


RESULT_KINDS = ("batch_transform", "quality_check", "tuning")


def progress_text(report: dict[str, Any]) -> str:
    """``1,200,000 of ~4,000,000 rows (30%), 610,000/s``; ``3 of 8 trials, best rmse 2.21``."""
    done, total, unit = report.get("done", 0), report.get("total"), report.get("unit", "")
    text = f"{done:,} {unit}"
    if isinstance(total, int) and total > 0:
        approx = "~" if report.get("estimated") else ""
        text = f"{done:,} of {approx}{total:,} {unit} ({min(done / total, 1):.0%})"
    if isinstance(report.get("best"), int | float):
        text += f", best {report.get('metric', 'value')} {report['best']:.4g}"
    elif isinstance(report.get("perSecond"), int | float) and unit != "trials":
        text += f", {report['perSecond']:,.0f}/s"
    return text


@app.command("logs")
def logs(
    execution_id: str,
    step: Annotated[str | None, typer.Option("--step", help="Only this step.")] = None,
) -> None:
    """Print the captured output of an execution's steps."""
    for log in client().logs(execution_id, step):
        render.console.rule(f"{log.step_name} (attempt {log.attempt})")
        render.console.out(log.text.rstrip("\n"), highlight=False)


@app.command("retry")
def retry(
    execution_id: str,
    wait: WaitFlag = False,
    stop_on_interrupt: StopOnInterruptFlag = False,
) -> None:
    """Run the failed, stopped and not-run steps of an ended execution again."""
    c = client()
    execution = c.retry(execution_id)
    if wait:
        execution = follow(c, execution.id, stop_on_interrupt=stop_on_interrupt)
        print_execution(execution, c.steps(execution.id))
        if execution.status != "Succeeded":
            raise typer.Exit(1)
    else:
        render.console.print(f"Retrying execution {execution.id}")


@app.command("stop")
def stop(execution_id: str) -> None:
    """Stop a running execution: running steps are terminated, the rest do not run."""
    execution = client().stop(execution_id)
    render.console.print(f"Execution {execution.id}: {render.status(execution.status)}")
