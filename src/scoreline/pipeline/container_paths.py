"""Which absolute paths a step may ask to see its folders at (``container_paths``).

The mounting itself is :mod:`scoreline.engine.mounts`; these checks run when a definition is
loaded, so a bad path is reported before anything runs.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import PurePosixPath

FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


def check_container_path(path: str) -> str | None:
    """Why ``path`` cannot be a container path, or None when it can."""
    pure = PurePosixPath(path)
    if not pure.is_absolute() or str(pure) != path or ".." in pure.parts:
        return f"'{path}' is not a normalised absolute path such as /opt/ml/processing/input"
    if len(pure.parts) < 3:
        return f"'{path}' is too close to / (use a folder at least two levels deep)"
    if any(path == root or path.startswith(root + "/") for root in FORBIDDEN_ROOTS):
        return f"'{path}' is under a system folder ({', '.join(FORBIDDEN_ROOTS)})"
    return None


def nested_pair(paths: list[str]) -> tuple[str, str] | None:
    """Two container paths where one is inside the other, if any."""
    ordered = sorted(paths)
    for outer, inner in pairwise(ordered):
        if inner == outer or inner.startswith(outer + "/"):
            return outer, inner
    return None
