"""``scoreline plan | apply | destroy`` and ``scoreline config show``."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from scoreline.cli import render
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client

config_app = typer.Typer(help="The resolved configuration of an environment.", no_args_is_help=True)

EnvOption = Annotated[
    str | None, typer.Option("--env", "-e", help="Environment: envs/NAME.yaml or NAME.tfvars.")
]
AutoApprove = Annotated[bool, typer.Option("--auto-approve", help="Do not ask for confirmation.")]


def use_env(env: str | None) -> None:
    """Select the environment for this command and every process it starts."""
    if env:
        os.environ["SCORELINE_ENV"] = env


def _warn(env: str | None) -> None:
    for warning in client().project.environment(env).warnings:
        sys.stderr.write(f"warning: {warning}\n")


def _print_plan(changes: list[dict[str, Any]]) -> None:
    from scoreline.deploy import render as lines

    styles = {"+": "green", "~": "yellow", "-": "red"}
    for line in lines(changes):
        style = styles.get(line[:1])
        render.console.print(f"[{style}]{line}[/{style}]" if style else line, highlight=False)


def _confirm(question: str, auto_approve: bool) -> None:
    from scoreline.errors import StateError

    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise StateError(
            "not on a terminal, so nothing to confirm with", hint="pass --auto-approve"
        )
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def plan(
    env: EnvOption = None,
    detailed_exitcode: Annotated[
        bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Compare the project's resources with what is deployed; print the changes."""
    use_env(env)
    _warn(env)
    changes = client().plan()
    if as_json:
        render.print_json(
            [{k: c[k] for k in ("action", "kind", "name", "fields")} for c in changes]
        )
    elif changes:
        _print_plan(changes)
    else:
        render.console.print("No changes: the deployment matches the project.")
    if changes and detailed_exitcode:
        raise typer.Exit(2)


def apply(env: EnvOption = None, auto_approve: AutoApprove = False) -> None:
    """Apply the plan in one locked transaction; upload data the environment asks for."""
    use_env(env)
    _warn(env)
    c = client()
    pending = c.plan()
    if not pending:
        render.console.print("No changes: the deployment matches the project.")
        return
    _print_plan(pending)
    _confirm(f"Apply these changes to '{c.project.env_name}'?", auto_approve)
    changes, uploaded = c.apply()
    render.console.print(f"Applied {len(changes)} change(s) to '{c.project.env_name}'.")
    for uri in uploaded:
        render.console.print(
            f"Uploaded {uri} (the triggers start its pipeline)", highlight=False, soft_wrap=True
        )


def destroy(
    env: EnvOption = None,
    auto_approve: AutoApprove = False,
    purge: Annotated[
        bool, typer.Option("--purge", help="Also delete execution history and models.")
    ] = False,
) -> None:
    """Remove what apply deployed; history and models stay unless --purge."""
    use_env(env)
    c = client()
    deployed = c.store.deployments.deployed(c.project.env_name)
    if not deployed:
        render.console.print(f"Nothing is deployed in '{c.project.env_name}'.")
        return
    _confirm(
        f"Destroy {len(deployed)} deployed resource(s) in '{c.project.env_name}'"
        + (" and purge their history and models?" if purge else "?"),
        auto_approve,
    )
    changes = c.destroy(purge)
    render.console.print(f"Destroyed {len(changes)} resource(s) in '{c.project.env_name}'.")


@config_app.command("show")
def show(env: EnvOption = None, as_json: JsonFlag = False) -> None:
    """Every variable of the environment, its value and where it came from."""
    use_env(env)
    environment = client().project.environment(env)
    if as_json:
        render.print_json(
            {
                "env": environment.name,
                "file": str(environment.path) if environment.path else None,
                "variables": {
                    name: {"value": v.value, "source": v.source}
                    for name, v in sorted(environment.variables.items())
                },
                "warnings": environment.warnings,
            }
        )
        return
    for warning in environment.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    render.table(
        f"Environment '{environment.name}'",
        ["Variable", "Value", "Source"],
        [
            (name, render.json_value(v.value), v.source)
            for name, v in sorted(environment.variables.items())
        ],
    )
