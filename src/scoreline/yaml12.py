"""YAML loading with YAML 1.2 booleans: only ``true``/``false`` are booleans, so keys such as
``on`` (in ``Join``) and values such as ``no`` or ``off`` stay strings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from scoreline.errors import ConfigError, ScorelineError


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_yaml(path: Path, error: type[ScorelineError] = ConfigError) -> Any:
    """Parse a YAML file; a syntax error becomes one line naming the file and line."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise error(f"not valid YAML ({getattr(exc, 'problem', exc)})", where=where) from None
