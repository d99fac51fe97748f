"""Example projects shipped with scoreline (copied by ``scoreline demo`` / ``init``)."""

from __future__ import annotations

import shutil
from pathlib import Path

EXAMPLES = Path(__file__).parent

ABALONE_COLUMNS = (
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
    "rings",
)
"""Columns of the Abalone example's headerless ``training-data.csv`` (target last)."""


def available_examples() -> list[str]:
    """Names of the bundled example projects."""
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / "scoreline.yaml").is_file())


def copy_example(name: str, dest: Path) -> Path:
    """Copy the example project ``name`` into ``dest`` (which must not hold a project)."""
    source = EXAMPLES / name
    shutil.copytree(
        source, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return dest
