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


SHARED: dict[str, tuple[str, tuple[str, ...]]] = {
    "sagemaker-abalone": ("abalone", ("data", "envs", ".gitlab-ci.yml", ".github")),
}
"""Examples that take some files from another example (shipped once): the Abalone data, the
reference's variables, and the CI files, which name nothing example-specific."""


def available_examples() -> list[str]:
    """Names of the bundled example projects."""
    return sorted(p.name for p in EXAMPLES.iterdir() if (p / "scoreline.yaml").is_file())


def copy_example(name: str, dest: Path) -> Path:
    """Copy the example project ``name`` into ``dest`` (which must not hold a project)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(EXAMPLES / name, dest, dirs_exist_ok=True, ignore=ignore)
    if name in SHARED:
        origin, entries = SHARED[name]
        for entry in entries:
            source = EXAMPLES / origin / entry
            if source.is_dir():
                shutil.copytree(source, dest / entry, dirs_exist_ok=True, ignore=ignore)
            else:
                shutil.copy2(source, dest / entry)
    return dest
