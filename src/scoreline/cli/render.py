"""Printing: rich tables on a terminal, stable JSON with ``--json``."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (see docs/json-output.md).")]
"""The ``--json`` option every listing command has."""

# Piped output is not wrapped at 80 columns, so lines stay greppable ($COLUMNS still rules).
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)


def error(message: str) -> None:
    """Print an error as exactly one line on stderr."""
    sys.stderr.write(f"error: {message}\n")


STATUS_STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "Pending": "cyan",
    "Executing": "yellow",
    "Starting": "yellow",
    "Stopping": "magenta",
    "Stopped": "magenta",
    "Skipped": "dim",
    "NotRun": "dim",
}


def print_json(data: Any) -> None:
    """Strict JSON (RFC 8259): a NaN or infinity, which no JSON parser but Python's reads,
    is written as null."""
    sys.stdout.write(json.dumps(_finite(data), indent=2, default=str, allow_nan=False) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_value(value: Any) -> str:
    """A value as compact JSON (lists and objects stay readable in a table)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def status(value: str | None) -> str:
    if not value:
        return ""
    style = STATUS_STYLE.get(value)
    return f"[{style}]{value}[/{style}]" if style else value


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def duration(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return ""
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if v is None else str(v) for v in row))
    console.print(grid)
