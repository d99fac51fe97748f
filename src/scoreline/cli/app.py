"""The ``scoreline`` command. Heavy modules are imported inside commands so ``--help`` is
fast; errors print one line (``--verbose`` adds the traceback)."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer
from typer._click import exceptions as usage_errors  # typer bundles its own click

from scoreline import __version__
from scoreline.cli import render
from scoreline.cli.deploy import apply, config_app, destroy, plan, use_env
from scoreline.cli.executions import app as executions_app
from scoreline.cli.executions import print_execution
from scoreline.cli.follow import StopOnInterruptFlag, WaitFlag, follow
from scoreline.cli.listing import events_app, pipelines_app
from scoreline.cli.models import app as models_app
from scoreline.cli.monitoring import app as monitoring_app
from scoreline.cli.serve import auth_app, notifications_app, serve, tokens_app, upload
from scoreline.cli.state import client, options
from scoreline.cli.triggers import app as triggers_app

if TYPE_CHECKING:
    from scoreline.client import Client

app = typer.Typer(
    name="scoreline",
    help="Self-hosted MLOps for batch inference: pipelines, registry, monitoring, triggers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(executions_app, name="executions")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(events_app, name="events")
app.add_typer(models_app, name="models")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(notifications_app, name="notifications")
app.add_typer(triggers_app, name="triggers")
app.add_typer(config_app, name="config")
app.add_typer(tokens_app, name="tokens")
app.add_typer(auth_app, name="auth")
app.command()(plan)
app.command()(apply)
app.command()(destroy)
app.command()(serve)
app.command()(upload)


def _version(value: bool) -> None:
    if value:
        print(f"scoreline {__version__}")
        raise typer.Exit


@app.callback()
def root(
    project: Annotated[
        Path | None,
        typer.Option(
            "--project",
            envvar="SCORELINE_PROJECT",
            help="Project folder (default: found from the current folder upwards).",
        ),
    ] = None,
    env: Annotated[
        str | None,
        typer.Option(
            "--env", "-e", envvar="SCORELINE_ENV", help="Environment (envs/NAME.*); default dev."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    options.project = project
    options.verbose = verbose
    use_env(env)


@app.command()
def run(
    pipeline: str,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Override a parameter: -p Name=Value (repeatable)."),
    ] = None,
    wait: WaitFlag = False,
    stop_on_interrupt: StopOnInterruptFlag = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--client-request-token",
            help="Idempotency token: a repeated start returns the first execution.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the execution as JSON.")] = False,
) -> None:
    """Start an execution of PIPELINE in its own process; --wait watches it to the end."""
    from scoreline.remote import RemoteClient

    c = client()
    parameters = _parse_params(param or [])
    if not isinstance(c, RemoteClient):  # through the API, paths are the server's project's
        parameters = _from_here(c, pipeline, parameters)
    execution = c.start(pipeline, parameters, client_request_token=token)
    if wait:
        execution = follow(c, execution.id, stop_on_interrupt=stop_on_interrupt, quiet=as_json)
    steps = c.steps(execution.id) if wait else []
    if as_json:
        render.print_json({**execution.to_dict(), "steps": [s.to_dict() for s in steps]})
    elif wait:
        print_execution(execution, steps)
    else:
        render.console.print(
            f"Started execution [bold]{execution.id}[/bold] of {pipeline}; "
            f"follow it with `scoreline executions show {execution.id}`"
        )
    if wait and execution.status != "Succeeded":
        raise typer.Exit(1)


def _from_here(c: Client, pipeline: str, parameters: dict[str, str]) -> dict[str, str]:
    """Relative paths typed for parameters that steps read as files are the current
    folder's, as in any command (kept relative to the project when they lie inside it); a
    path found only under the project folder keeps meaning that, as it always has."""
    from scoreline.errors import ParameterError

    locations = c.definition(pipeline).location_parameters()
    root = c.project.root
    resolved = dict(parameters)
    for name, value in parameters.items():
        if name not in locations or not value or "://" in value or Path(value).is_absolute():
            continue
        here = (Path.cwd() / value).resolve()
        if here.exists():
            resolved[name] = str(here.relative_to(root) if here.is_relative_to(root) else here)
        elif not (root / value).exists():
            raise ParameterError(
                f"'{value}' does not exist",
                where=f"parameter '{name}'",
                hint=f"looked for {here} and {(root / value).resolve()}",
            )
    return resolved


def _parse_params(pairs: list[str]) -> dict[str, str]:
    from scoreline.errors import ParameterError

    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ParameterError(f"'{pair}' is not Name=Value", where="-p")
        values[name.strip()] = value
    return values


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project.")],
    example: Annotated[
        str,
        typer.Option(
            "--example",
            help="Example to start from: abalone, sagemaker-abalone, or classifier (a "
            "scikit-learn classifier; needs scoreline[sklearn]).",
        ),
    ] = "abalone",
) -> None:
    """Create a project in DIRECTORY from a bundled example."""
    from scoreline.errors import ConfigError
    from scoreline.examples import available_examples, copy_example
    from scoreline.settings import PROJECT_FILE

    if example not in available_examples():
        raise ConfigError(
            f"unknown example '{example}'",
            where="--example",
            hint=f"available: {', '.join(available_examples())}",
        )
    if (directory / PROJECT_FILE).exists():
        raise ConfigError(
            f"already holds a {PROJECT_FILE}", where=str(directory), hint="choose an empty folder"
        )
    copy_example(example, directory)
    render.console.print(
        f"Created project '{example}' in {directory}; next: "
        f"scoreline --project {directory} pipelines list"
    )


@app.command()
def demo(
    directory: Annotated[
        Path | None,
        typer.Argument(help="Folder for the demo project (default: a new temporary folder)."),
    ] = None,
) -> None:
    """Run the bundled example end to end and print a summary."""
    from scoreline.cli.demo import run_demo

    run_demo(directory)


@app.command("_orchestrate", hidden=True)
def orchestrate(execution_id: str) -> None:
    """Drive an execution (started detached by `run`); a store that is restarting when
    it starts is waited for, as an orchestrator waits for it later."""
    from scoreline.store.outage import open_when_reachable

    c = client()
    open_when_reachable(lambda: c.store, c.project.settings.store_outage_seconds)
    c.work_off(execution_id)


def _tidy(command: click.Command | Any) -> None:
    """Help as people read it: no type after a flag, arguments in capitals."""
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.param_type_name == "argument" and param.metavar is None:
            param.metavar = (param.name or "").upper()
    made = command.get_help_option

    def help_option(ctx: click.Context | Any) -> Any:
        option = made(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = help_option  # type: ignore[method-assign]
    for sub in getattr(command, "commands", {}).values():
        _tidy(sub)


def _global_option_hint(exc: Exception, command: click.Command | Any) -> str:
    """An option of `scoreline` itself given after the command (`serve -e dev`)."""
    option = getattr(exc, "option_name", None)
    for param in command.params:
        if option in getattr(param, "opts", ()):
            return f" ({option} goes before the command: scoreline {option} ... COMMAND)"
    return ""


def main() -> None:
    """Entry point: run the command, turning scoreline's errors into one line and exit 1,
    and usage errors into one line plus the usage, exit 2 (no traceback either way)."""
    from scoreline.errors import ScorelineError

    command = typer.main.get_command(app)
    _tidy(command)
    # What scoreline writes (the store, artifacts, logs under .scoreline/) is the user's alone.
    os.umask(0o077)
    try:
        # Without standalone mode click returns the code of a `typer.Exit` instead of exiting.
        code = command.main(args=sys.argv[1:], prog_name="scoreline", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, typer.Abort, EOFError):
        render.error("aborted")
        sys.exit(1)
    except usage_errors.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except (usage_errors.UsageError, click.UsageError) as exc:
        render.error(exc.format_message() + _global_option_hint(exc, command))
        context = exc.ctx
        if context is not None:
            usage = context.get_usage().removeprefix("Usage: ").strip()
            sys.stderr.write(f"usage: {usage} (more: {context.command_path} --help)\n")
        sys.exit(2)
    except (usage_errors.ClickException, click.ClickException) as exc:
        render.error(exc.format_message())
        sys.exit(1)
    except ScorelineError as exc:
        if options.verbose:
            traceback.print_exc()
        render.error(exc.line())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the database went away or filled up: not a bug, one line
        from scoreline.store.outage import store_fault

        line = store_fault(exc)
        if line is None:
            raise
        if options.verbose:
            traceback.print_exc()
        render.error(line)
        sys.exit(1)
