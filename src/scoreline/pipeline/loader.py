"""Load pipeline definitions from YAML, JSON or Python files, and parameter override files.

YAML and JSON files hold the same structure as :meth:`PipelineDefinition.to_json` (a single
pipeline, or a list under ``pipelines``). A Python file builds definitions with the DSL; every
module-level :class:`PipelineDefinition` it defines is loaded. Both give the same model.
"""

from __future__ import annotations

import json
import re
import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scoreline.errors import ConfigError, DefinitionError
from scoreline.pipeline.model import PipelineDefinition
from scoreline.yaml12 import load_yaml

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def substitute(data: Any, variables: Mapping[str, Any], source: str) -> Any:
    """Replace ``${name}`` in every string of ``data`` with the environment variable; a string
    that is only ``${name}`` takes the variable's own type (a number stays a number)."""
    if isinstance(data, dict):
        return {k: substitute(v, variables, source) for k, v in data.items()}
    if isinstance(data, list):
        return [substitute(v, variables, source) for v in data]
    if not isinstance(data, str) or "${" not in data:
        return data

    def lookup(name: str) -> Any:
        if name not in variables:
            raise DefinitionError(
                f"unknown variable '${{{name}}}'",
                where=source,
                hint=f"define it in envs/<env>.yaml; known: {', '.join(sorted(variables))}",
            )
        return variables[name]

    whole = _VARIABLE.fullmatch(data)
    if whole:
        return lookup(whole.group(1))
    return _VARIABLE.sub(lambda m: str(lookup(m.group(1))), data)


def load_file(path: Path, variables: Mapping[str, Any] | None = None) -> list[PipelineDefinition]:
    """Every pipeline defined in ``path``; ``${name}`` in YAML/JSON takes the environment's
    variables, and a Python file sees them as the global ``variables``."""
    source = str(path)
    variables = variables or {}
    if path.suffix == ".py":
        return _load_python(path, variables)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                f"not valid JSON ({exc.msg})", where=f"{source}:{exc.lineno}"
            ) from None
    elif path.suffix in (".yaml", ".yml"):
        data = _read_yaml(path)
    else:
        raise DefinitionError(
            "unsupported file type", where=source, hint="use .yaml, .yml, .json or .py"
        )
    data = substitute(data, variables, source)
    if isinstance(data, dict):  # top-level x-* keys hold YAML anchors only (as in Compose)
        data = {k: v for k, v in data.items() if not str(k).startswith("x-")}
    items = data.get("pipelines") if isinstance(data, dict) and "pipelines" in data else [data]
    if not isinstance(items, list):
        raise DefinitionError("'pipelines' must be a list", where=source)
    return [PipelineDefinition.from_dict(item, source=source) for item in items]


def _load_python(path: Path, variables: Mapping[str, Any]) -> list[PipelineDefinition]:
    try:
        namespace = runpy.run_path(
            str(path), init_globals={"variables": dict(variables)}, run_name="scoreline_pipeline"
        )
    except DefinitionError as exc:
        raise DefinitionError(
            exc.what, where=f"{path}: {exc.where or ''}".rstrip(": "), hint=exc.hint
        ) from None
    found = [v for v in namespace.values() if isinstance(v, PipelineDefinition)]
    if not found:
        raise DefinitionError(
            "defines no pipeline",
            where=str(path),
            hint="assign a Pipeline(...) to a module-level name",
        )
    return found


def _read_yaml(path: Path) -> Any:
    return load_yaml(path, DefinitionError)


def load_params_file(path: Path) -> dict[str, Any]:
    """Parameter overrides from a ``*.params.yaml`` file (the reference's key ``Parameters``)."""
    data = _read_yaml(path) or {}
    params = data.get("Parameters", {}) if isinstance(data, dict) else None
    if not isinstance(params, dict):
        raise ConfigError("'Parameters' must be a mapping of name to value", where=str(path))
    return params
