"""``scoreline serve``, ``scoreline upload`` and ``scoreline notifications list``."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from scoreline.cli import render
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client

if TYPE_CHECKING:
    from scoreline.client import Client

notifications_app = typer.Typer(help="Notification deliveries.", no_args_is_help=True)


LogFormat = Literal["plain", "json"]
LOOPBACK = ("127.0.0.1", "localhost", "::1")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def serve(
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="Seconds between polling rounds.")
    ] = 1.0,
    host: Annotated[str, typer.Option("--host", help="Address of the API.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of the API.")] = 8741,
    api: Annotated[bool, typer.Option("--api/--no-api", help="Serve the HTTP API.")] = True,
    replay_since: Annotated[
        str | None,
        typer.Option(
            "--replay-since",
            help="On a first serve, also notify about events since this time (ISO 8601) or "
            "for this long (2h); by default notifications start now.",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="Log lines as plain text or JSON.")
    ] = "plain",
) -> None:
    """Run triggers, schedules, rules and notifications, and the API, until stopped
    (SIGTERM or Ctrl-C). Executions run in their own processes; restarting loses nothing.
    What it starts, sends and retries, and every failed round, is logged on stderr."""
    from scoreline.cli.listing import parse_since
    from scoreline.errors import ConfigError
    from scoreline.supervision import configure_logging

    configure_logging(log_format)

    stop = threading.Event()
    since = parse_since(replay_since, "--replay-since") if replay_since else None

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    for sig in STOP_SIGNALS:  # at once: a stop that arrives while starting up is honoured
        signal.signal(sig, _stop)
    c = client()
    # A wrong trigger, schedule or rule is one line now, not a complaint every round.
    c.event_rules()
    c.check_reachable()
    if api and host not in LOOPBACK:
        if not c.store.tokens.any_active():
            raise ConfigError(
                f"refusing to serve the API on {host} without authentication",
                where="--host",
                hint="create a token first: scoreline tokens create --role admin --name NAME",
            )
        c.store.auth.require(f"serve listened on {host}")
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
        c.serve(stop, interval, since)
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
    app = create_app(c, host)
    render.console.print(_sign_in_line(c, host, port), highlight=False, soft_wrap=True)
    loop = threading.Thread(
        target=c.serve,
        args=(stop, interval, since, f"{_base_url(host, port)}/ui"),
        name="scoreline-serve",
    )
    loop.start()
    try:
        Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        stop.set()
        loop.join()
        app.flush()
    render.console.print("Stopped.")


def _base_url(host: str, port: int) -> str:
    shown = host if host not in ("0.0.0.0", "::", "localhost") else "127.0.0.1"  # noqa: S104
    return f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"


def _sign_in_line(c: Client, host: str, port: int) -> str:
    """Where the UI is; in the local mode with a one-time link that signs a browser in."""
    from datetime import timedelta

    base = _base_url(host, port)
    if c.store.auth.required() is not None:
        return f"UI on {base}/ui/ (sign in with an API token)"
    hours = c.project.settings.server.session_max_hours
    secret = c.store.auth.create_login_link(timedelta(hours=hours))
    return (
        f"UI on {base}/ui/ — sign in with this one-time link: {base}/ui/login?once={secret} "
        "(another: scoreline auth login-link)"
    )


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


@notifications_app.command("retry")
def retry_notifications(
    ids: Annotated[
        list[int] | None, typer.Argument(help="Delivery ids (default: every dead letter).")
    ] = None,
) -> None:
    """Send dead letters again: deliveries that failed for good (`notifications list
    --status failed`); a running serve sends them within its next round."""
    from scoreline.errors import NotFoundError
    from scoreline.store.tables import utcnow

    count = client().store.deliveries.retry_failed(utcnow(), ids or None)
    if ids and count < len(set(ids)):
        raise NotFoundError(
            f"{len(set(ids)) - count} of the deliveries named are not dead letters "
            f"({count} queued again)",
            hint="see scoreline notifications list --status failed",
        )
    render.console.print(f"{count} delivery(ies) queued again.")


@notifications_app.command("list")
def list_notifications(
    status: Annotated[
        str | None, typer.Option("--status", help="pending, sent or failed (dead letters)")
    ] = None,
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
    expires_in: Annotated[
        str | None,
        typer.Option("--expires-in", help="Lifetime such as 90d, 12h, 30m, 2w (default: none)."),
    ] = None,
) -> None:
    """Create a token; it is printed once and only its hash is kept. Creating the first
    token ends the local mode for good (see `scoreline auth status`)."""
    from scoreline.client import current_user
    from scoreline.store.tables import utcnow
    from scoreline.store.tokens import parse_lifetime

    expires = utcnow() + parse_lifetime(expires_in) if expires_in else None
    record, secret = client().store.tokens.create(name, role, current_user(), expires)
    until = f", expires {render.when(expires)}" if expires else ""
    sys.stderr.write(
        f"Token '{record.name}' ({record.role}{until}); keep it, it is not shown again:\n"
    )
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
        ["Name", "Role", "Created", "By", "Expires", "Last used", "Revoked"],
        [
            (
                r.name,
                r.role,
                render.when(r.created_at),
                r.created_by,
                render.when(r.expires_at),
                render.when(r.last_used_at),
                render.when(r.revoked_at),
            )
            for r in rows
        ],
    )


@tokens_app.command("revoke")
def revoke_token(name: str) -> None:
    """Revoke a token at once, with the browser sessions signed in with it. Revoking the
    last token does not bring back anonymous access."""
    client().store.tokens.revoke(name)
    render.console.print(f"Token '{name}' revoked.")


auth_app = typer.Typer(
    help="Authentication of the server: local mode or tokens.", no_args_is_help=True
)


@auth_app.command("status")
def auth_status() -> None:
    """Whether anonymous requests are refused, since when and why."""
    c = client()
    state = c.store.auth.required()
    live = sum(1 for t in c.store.tokens.list() if t.revoked_at is None)
    if state is None:
        render.console.print(
            "Local mode: no token has ever existed; the server answers loopback requests "
            "from this machine and signs browsers in through one-time links.",
            highlight=False,
        )
    else:
        render.console.print(
            f"Authenticated since {render.when(state.required_since)} ({state.reason}): "
            f"every request needs a token or a signed-in session; {live} unrevoked token(s).",
            highlight=False,
        )


@auth_app.command("reset")
def auth_reset(
    local: Annotated[
        bool, typer.Option("--local", help="Return to the no-token local mode (required).")
    ] = False,
) -> None:
    """Return to the no-token local mode: only without live tokens; ends every session."""
    from scoreline.errors import ParameterError

    if not local:
        raise ParameterError("say --local to return to the no-token local mode", where="reset")
    client().store.auth.reset_local()
    render.console.print(
        "Back in the local mode: a running server keeps refusing anonymous requests until it "
        "is restarted.",
        highlight=False,
    )


@auth_app.command("login-link")
def login_link(
    url: Annotated[
        str, typer.Option("--url", help="Where the server answers.")
    ] = "http://127.0.0.1:8741",
    minutes: Annotated[
        float, typer.Option("--minutes", min=1, help="How long the link stays valid.")
    ] = 15,
) -> None:
    """A one-time link that signs one browser in to a local-mode server as the local admin."""
    from datetime import timedelta

    from scoreline.errors import StateError

    c = client()
    if c.store.auth.required() is not None:
        raise StateError(
            "the project uses tokens; links are for the local mode",
            hint="sign in with a token: scoreline tokens create --role ROLE --name NAME",
        )
    secret = c.store.auth.create_login_link(timedelta(minutes=minutes))
    print(f"{url.rstrip('/')}/ui/login?once={secret}")
