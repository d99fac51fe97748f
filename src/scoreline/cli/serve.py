"""``scoreline serve``, ``scoreline upload`` and ``scoreline notifications list``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from scoreline.cli import render
from scoreline.cli.state import client

notifications_app = typer.Typer(help="Notification deliveries.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]


def serve(
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polling rounds.")
    ] = 1.0,
) -> None:
    """Run triggers, schedules, rules and notifications until stopped (SIGTERM or Ctrl-C).
    Executions run in their own processes; restarting serve loses nothing."""
    c = client()
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    settings = c.project.settings
    targets = [t.name for t in c.notifier().targets]
    render.console.print(
        f"Serving {c.project.root}: {len(settings.triggers)} trigger(s), "
        f"{len(settings.schedules)} schedule(s), {len(settings.rules)} rule(s); "
        f"notifications to {', '.join(targets) or 'nobody'}",
        highlight=False,
    )
    c.serve(stop, interval)
    render.console.print("Stopped.")


def upload(
    file: Annotated[Path, typer.Argument(help="The file to upload.")],
    to: Annotated[str, typer.Option("--to", help="training, inference or ground-truth")],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Environment (envs/NAME.yaml).")
    ] = None,
) -> None:
    """Put FILE where the data-arrival triggers watch (the bucket or folder of the env)."""
    render.console.print(
        f"Uploaded {file} to {client().upload(file, to, env)}", highlight=False, soft_wrap=True
    )


@notifications_app.command("list")
def list_notifications(
    status: Annotated[str | None, typer.Option("--status", help="pending, sent or failed")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Notification deliveries, newest first, with their attempts and errors."""
    rows = client().deliveries(status, limit)
    if as_json:
        render.print_json([r.to_dict() for r in rows])
        return
    render.table(
        None,
        ["Id", "Event", "Target", "Subject", "Status", "Attempts", "Sent", "Last error"],
        [
            (
                r.id,
                r.event_seq,
                r.target,
                r.subject,
                r.status,
                r.attempts,
                render.when(r.sent_at),
                r.last_error or "",
            )
            for r in rows
        ],
    )
