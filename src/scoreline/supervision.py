"""Keeping `scoreline serve`'s loop alive and visible: the health of each round, the wait
after a failed one, and the log lines that say what happened.

The loop catches every exception of a round (a database or S3 outage, a bug), logs it,
waits longer after each consecutive failure (up to :data:`MAX_BACKOFF` seconds) and goes
on; ``/api/v1/health`` reports when the last round succeeded and why the last one failed.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

MAX_BACKOFF = 60.0
LOGGER = "scoreline"


@dataclass
class LoopHealth:
    """How one loop of `serve` is doing."""

    last_success: datetime | None = None
    last_failure: datetime | None = None
    last_error: str | None = None
    consecutive_failures: int = 0

    def succeeded(self, now: datetime) -> None:
        if self.consecutive_failures:
            logging.getLogger(f"{LOGGER}.serve").info(
                "recovered after %d failed round(s)", self.consecutive_failures
            )
        self.last_success = now
        self.consecutive_failures = 0

    def failed(self, now: datetime, error: str, interval: float) -> float:
        """Record a failed round; returns how long to wait before the next one."""
        self.last_failure = now
        self.last_error = error
        self.consecutive_failures += 1
        return float(min(interval * 2.0 ** min(self.consecutive_failures, 16), MAX_BACKOFF))

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for key in ("last_success", "last_failure"):
            if found[key] is not None:
                found[key] = found[key].isoformat().replace("+00:00", "Z")
        found["ok"] = self.consecutive_failures == 0
        return found


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(fmt: str = "plain", verbose: bool = False) -> None:
    """scoreline's log lines on stderr: ``plain`` (time, level, message) or ``json``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLines()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    logger = logging.getLogger(LOGGER)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
