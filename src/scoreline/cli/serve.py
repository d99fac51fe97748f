"""``scoreline serve``, ``scoreline upload`` and ``scoreline notifications list``."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from scoreline.cli import render
from scoreline.cli.state import client

notifications_app = typer.Typer(help="Notification deliveries.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]


LOOPBACK = ("127.0.0.1", "localhost", "::1")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polling rounds.")
    ] = 1.0,
    host: Annotated[str, typer.Option("--host", help="Address of the API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of the API.")] = 8741,
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API.")] = True,
) -> None:
    """Run triggers, schedules, rules and notifications, and the API, until stopped
    (SIGTERM or Ctrl-C). Executions run in their own processes; restarting loses nothing."""
    from scoreline.errors import ConfigError

    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    for sig in STOP_SIGNALS:  # at once: a stop that arrives while starting up is honoured
        signal.signal(sig, _stop)
    c = client()
    # A wrong trigger, schedule or rule is one line now, not a complaint every round.
    c.event_rules()
    c.check_reachable()
    if api and host not in LOOPBACK and not c.store.tokens.any_active():
        raise ConfigError(
            f"refusing to serve the API on {host} without authentication",
            where="--host",
            hint="create a token first: scoreline tokens create --role admin --name NAME",
        )
    settings = c.project.settings
    targets = [t.name for t in c.notifier().targets]
    render.console.print(
        f"Serving {c.project.root}: {len(settings.triggers)} trigger(s), "
        f"{len(settings.schedules)} schedule(s), {len(settings.rules)} rule(s); "
        f"notifications to {', '.join(targets) or 'nobody'}"
        + (f"; API on http://{host}:{port}/api/v1" if api else ""),
        highlight=False,
        soft_wrap=True,
    )
    if not api:
        c.serve(stop, interval)
        render.console.print("Stopped.")
        return
    import uvicorn

    from scoreline.server.api import create_app

    class Server(uvicorn.Server):
        """Stops gracefully on SIGTERM/SIGINT and exits 0 (uvicorn re-raises the signal)."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    if stop.is_set():
        return
    loop = threading.Thread(target=c.serve, args=(stop, interval), name="scoreline-serve")
    loop.start()
    try:
        Server(uvicorn.Config(create_app(c), host=host, port=port, log_level="warning")).run()
    finally:
        stop.set()
        loop.join()
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


tokens_app = typer.Typer(help="API tokens and their roles.", no_args_is_help=True)


@tokens_app.command("create")
def create_token(
    role: Annotated[str, typer.Option("--role", help="viewer, operator, approver or admin")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses it.")],
) -> None:
    """Create a token; it is printed once and only its hash is kept."""
    from scoreline.client import current_user

    record, secret = client().store.tokens.create(name, role, current_user())
    sys.stderr.write(f"Token '{record.name}' ({record.role}); keep it, it is not shown again:\n")
    print(secret)


@tokens_app.command("list")
def list_tokens(as_json: JsonFlag = False) -> None:
    """Tokens (names, roles, state; never the secrets)."""
    rows = client().store.tokens.list()
    if as_json:
        render.print_json([r.to_dict() for r in rows])
        return
    render.table(
        None,
        ["Name", "Role", "Created", "By", "Revoked"],
        [
            (r.name, r.role, render.when(r.created_at), r.created_by, render.when(r.revoked_at))
            for r in rows
        ],
    )


@tokens_app.command("revoke")
def revoke_token(name: str) -> None:
    """Revoke a token at once."""
    client().store.tokens.revoke(name)
    render.console.print(f"Token '{name}' revoked.")
