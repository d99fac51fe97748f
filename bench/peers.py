"""Peer libraries the benchmarks compare with, each in a virtualenv of its own under
``.bench/`` (their pins clash with scoreline's), created on first use."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def peer_python(name: str, pins: tuple[str, ...]) -> str:
    """The interpreter of the ``name`` virtualenv holding ``pins``, created on first use."""
    venv = REPO / ".bench" / f"{name}-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        uv = REPO / ".venv" / "bin" / "uv"
        subprocess.run([str(uv), "venv", "--quiet", "--python", "3.11", str(venv)], check=True)
        subprocess.run(
            [str(uv), "pip", "install", "--quiet", "--python", str(python), *pins], check=True
        )
    return str(python)
