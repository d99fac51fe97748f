"""Options given before the command, shared by every command."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from scoreline.client import Client


@dataclass
class Options:
    project: Path | None = None
    verbose: bool = False


options = Options()


def client() -> Client:
    """Open the project named by ``--project`` (or found from the current folder), or,
    with ``$SCORELINE_URL`` set, the server there (the same methods, over HTTP)."""
    from scoreline.client import Client
    from scoreline.remote import RemoteClient

    remote = RemoteClient.from_environment()
    if remote is not None:
        return cast("Client", remote)
    return Client.open(options.project)
