"""Errors that reach the user as one line: what went wrong, where, and what to do.

Everything scoreline raises on purpose derives from :class:`ScorelineError`. The command line
prints ``str(error)`` and exits 1; anything else is a bug in scoreline and gets a traceback.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class ScorelineError(Exception):
    """Base class: a message naming what, where and (optionally) what to do."""

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        """The single line shown to the user."""
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text = f"{text} ({self.hint})"
        return text


class DefinitionError(ScorelineError):
    """A pipeline definition is invalid (cycle, unknown reference, wrong type, duplicate)."""


class ConfigError(ScorelineError):
    """A project or environment file is missing or invalid."""


class ParameterError(ScorelineError):
    """A parameter override at start is unknown or of the wrong type."""


class NotFoundError(ScorelineError):
    """A pipeline, execution, step or artifact that was asked for does not exist."""


class StateError(ScorelineError):
    """The requested action does not fit the current state (e.g. retrying a running execution)."""


class FencedError(StateError):
    """An orchestrator wrote to an execution that is no longer its own: it was declared lost
    (its lease ran out) and the execution was closed or taken over. It must stop at once."""


class ArtifactError(ScorelineError):
    """An artifact could not be read or written, or its checksum does not match."""


class UnavailableError(ScorelineError):
    """A service that executions need (the artifact store, the Ray cluster) does not answer
    or refuses access; the request itself may succeed later."""


class StepError(ScorelineError):
    """A step failed while being prepared or run; the message is recorded on the step."""


class DataError(ScorelineError):
    """A data file, row or value cannot be used (wrong column count, not a number, unknown
    category); ``where`` names the file, row and column."""


def first_line(exc: BaseException, limit: int = 500) -> str:
    """An exception's message as one line (its first), or its type's name when it has
    none: for reasons recorded from errors scoreline did not raise itself."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]


_FULL_MESSAGES = tuple(os.strerror(code) for code in (errno.ENOSPC, errno.EDQUOT))
NEARLY_FULL_BYTES = 64 << 10


def disk_full(text: str) -> bool:
    """Whether a step's output (or an error) says a disk (or a quota) was full."""
    return any(message in text for message in _FULL_MESSAGES)


def nearly_full(folder: Path) -> bool:
    """Whether the disk of ``folder`` has (almost) no room left."""
    try:
        return _free_bytes(folder) < NEARLY_FULL_BYTES
    except OSError:
        return False


def no_space(what: str, folder: Path) -> str:
    """ "no space left in the work folder /x (12 KiB free)": names the folder to clear."""
    try:
        free = f"{_free_bytes(folder) / 1024:,.0f} KiB free"
    except OSError:
        free = "free space unknown"
    return f"no space left in {what} {folder} ({free})"


def _free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize
