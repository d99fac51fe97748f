"""``scoreline triggers list|retry``: what the data-arrival triggers and schedules did, and
the starts they could not make yet."""

from __future__ import annotations

from typing import Annotated

import typer

from scoreline.cli import render
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client

app = typer.Typer(
    help="Data-arrival triggers and schedules, and their starts.", no_args_is_help=True
)


@app.command("list")
def list_triggers(as_json: JsonFlag = False) -> None:
    """Each trigger, schedule and pipeline-starting rule: what it watches and starts, its
    event cursor, objects emitted, and starts still pending (retried with backoff) or
    failed, with the reason."""
    overview = client().triggers_overview()
    if as_json:
        render.print_json(overview)
        return
    render.table(
        None,
        ["Name", "Kind", "Watches", "Pipeline", "Cursor", "Emitted", "Pending", "Failed"],
        [
            (
                o["name"],
                o["kind"],
                o["watches"],
                o["pipeline"],
                o["cursor"],
                o.get("emitted", ""),
                o["pending"],
                o["failed"],
            )
            for o in overview
        ],
    )
    starts = [(o["name"], s) for o in overview for s in o["starts"]]
    if starts:
        render.table(
            "Starts not made yet",
            ["Source", "Status", "Attempts", "Next try", "Parameters", "Reason"],
            [
                (
                    name,
                    s["status"],
                    s["attempts"],
                    "" if s["status"] == "failed" else s["next_attempt_at"],
                    render.json_value(s["parameters"]),
                    s["last_error"] or "",
                )
                for name, s in starts
            ],
        )


@app.command("retry")
def retry_starts(
    name: Annotated[str, typer.Argument(help="A trigger, schedule or rule.")],
) -> None:
    """Try its pending and failed starts again now (a running serve makes them within its
    next round; without one, they are made here)."""
    c = client()
    count = c.retry_starts(name)
    started = c.process_rules()
    render.console.print(
        f"{count} start(s) of {name} queued again; {started} execution(s) started now.",
        highlight=False,
    )
