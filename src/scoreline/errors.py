"""Errors that reach the user as one line: what went wrong, where, and what to do.

Everything scoreline raises on purpose derives from :class:`ScorelineError`. The command line
prints ``str(error)`` and exits 1; anything else is a bug in scoreline and gets a traceback.
"""

from __future__ import annotations


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
