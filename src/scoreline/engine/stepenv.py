"""What a step's process sees of scoreline's own environment, and what its stored log may
show of it.

A step gets its contract (the variables its handler sets), a few process basics, and the
variables the project passes explicitly (``executor.pass_environment``): never the store
URL, API tokens or the SMTP URL, whatever the server itself was started with. Values of
secret-looking variables a step does get, and passwords inside URLs, are masked in its
stored log and failure reason."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path

from scoreline.settings import NEVER_PASSED

BASICS = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TMPDIR",
    "TERM",
    # Thread and kernel choices of numerical libraries (some processors need OPENBLAS_*).
    "OPENBLAS_*",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "SCORELINE_MAX_FIELD_CHARS",  # how built-in steps read CSV, as the command line does
)
SECRET_NAMES = ("*SECRET*", "*PASSWORD*", "*PASSWD*", "*TOKEN*", "*CREDENTIAL*", "*API_KEY*")
NOT_SECRET = ("SCORELINE_STEP_TOKEN",)
"""Marks a step's processes for crash recovery; not a credential."""
URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^@\s/]+)@")
MASK = "********"
SHORTEST_MASKED = 4
"""Shorter values are not masked: they would blank out ordinary text everywhere."""


def inherited(
    passed: Iterable[str] = (), parent: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables of ``parent`` (default: this process) that a step may see."""
    patterns = (*BASICS, *passed)
    return {
        name: value
        for name, value in (os.environ if parent is None else parent).items()
        if name not in NEVER_PASSED and any(fnmatchcase(name, p) for p in patterns)
    }


def secret_values(environment: Mapping[str, str]) -> list[str]:
    """The values to mask, longest first (so a secret inside another is masked whole)."""
    found: set[str] = set()
    for name, value in environment.items():
        if name not in NOT_SECRET and any(fnmatchcase(name.upper(), p) for p in SECRET_NAMES):
            found.add(value)
        found.update(match.group(1) for match in URL_PASSWORD.finditer(value))
    return sorted((v for v in found if len(v) >= SHORTEST_MASKED), key=len, reverse=True)


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def mask_file(path: Path, secrets: list[str]) -> None:
    """Mask ``secrets`` in a log file in place, streaming (a log may be large); the file is
    replaced whole so no reader sees it half-masked."""
    if not secrets or not path.exists():
        return
    encoded = [s.encode() for s in secrets]
    keep = max(len(s) for s in encoded) - 1
    masked = path.with_name(path.name + ".masked")
    with path.open("rb") as source, masked.open("wb") as target:
        carry = b""
        while chunk := source.read(1 << 20):
            data = carry + chunk
            for secret in encoded:
                data = data.replace(secret, MASK.encode())
            # Hold back a tail that could be the start of a secret split across chunks.
            cut = max(len(data) - keep, 0)
            target.write(data[:cut])
            carry = data[cut:]
        target.write(carry)
    masked.replace(path)
