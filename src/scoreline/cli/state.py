"""Options given before the command, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoreline.client import Client


@dataclass
class Options:
    project: Path | None = None
    verbose: bool = False


options = Options()


def client() -> Client:
    """Open the project named by ``--project`` (or found from the current folder)."""
    from scoreline.client import Client

    return Client.open(options.project)
