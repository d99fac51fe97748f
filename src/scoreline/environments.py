"""Environment files: the variables of one environment (DESIGN §4), from ``envs/<env>.yaml``
or, for teams coming from the reference, ``envs/<env>.tfvars`` / ``envs/<env>_env.tfvars``
in HCL, read with a real HCL parser.

Values are coerced to the type of the variable's default, so ``recreate_pipelines = "true"``
and ``upload_training_data = true`` both give a boolean and ``accuracy_mse_threshold =
"10.0"`` a number. AWS-only variables are accepted and ignored, with one warning each.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scoreline.errors import ConfigError
from scoreline.yaml12 import load_yaml

ENVS_DIR = "envs"
DEFAULT_ENV = "dev"
DEFAULT_SOURCE = "default"

VARIABLE_DEFAULTS: dict[str, Any] = {
    "bucket_name": ".scoreline/bucket",
    "bucket_prefix": "pipeline_shared/batch-scoring",
    "bucket_train_prefix": "training/data/raw",
    "bucket_inf_prefix": "batch-scoring/data/raw",
    "bucket_ground_truth_prefix": "batch-scoring/data/ground-truth",
    "custom_notification_config": [],
    "email_recipient": [],
    "pipeline_inf": "InferencePipeline",
    "pipeline_train": "TrainingPipeline",
    "pipeline_trainwhpo": "TrainingWHPOPipeline",
    "recreate_pipelines": True,
    "model_package_group_name": "poc-mpg",
    "accuracy_mse_threshold": 10.0,
    "upload_training_data": True,
    "upload_inference_data": False,
    "user_id": "",
    "kms_key": "",
}
"""The reference's variables and their defaults."""

AWS_ONLY = ("role_arn", "subnet_id", "sg_id", "notification_function_name")


@dataclass(frozen=True)
class Variable:
    name: str
    value: Any
    source: str
    """``default`` or the environment file it came from."""


@dataclass(frozen=True)
class Environment:
    name: str
    path: Path | None
    variables: dict[str, Variable]
    warnings: list[str]

    def values(self) -> dict[str, Any]:
        return {name: v.value for name, v in self.variables.items()}


def environment_file(root: Path, env: str) -> Path | None:
    """The file of environment ``env``; an error when it is ambiguous."""
    folder = root / ENVS_DIR
    candidates = [
        folder / f"{env}{suffix}"
        for suffix in (".yaml", ".yml", ".tfvars", "_env.tfvars")
        if (folder / f"{env}{suffix}").is_file()
    ]
    if len(candidates) > 1:
        raise ConfigError(
            f"environment '{env}' has several files: {', '.join(p.name for p in candidates)}",
            where=str(folder),
            hint="keep one",
        )
    return candidates[0] if candidates else None


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps string literals quoted; nested lists and objects too."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {k: _unquote(v) for k, v in value.items() if not k.startswith("__")}
    return value


def _read(path: Path) -> dict[str, Any]:
    if path.suffix == ".tfvars":
        import hcl2

        try:
            raw = hcl2.loads(path.read_text(encoding="utf-8"))
        except Exception as exc:  # the parser raises its own lark errors
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise ConfigError(f"not valid HCL ({first})", where=str(path)) from None
        data = _unquote(raw)
    else:
        data = load_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError("expected variable = value pairs", where=str(path))
    return {k: v for k, v in data.items() if not str(k).startswith("__")}


def _coerce(name: str, value: Any, where: str) -> Any:
    default = VARIABLE_DEFAULTS.get(name)
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    elif isinstance(default, float):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
        else:
            if math.isfinite(number):
                return number
    elif isinstance(default, list):
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(
        f"variable '{name}' is {value!r}; expected {type(default).__name__}",
        where=where,
    )


def load_environment(root: Path, env: str, required: bool) -> Environment:
    """Defaults, then the environment file; ``required`` makes a missing file an error."""
    path = environment_file(root, env)
    variables = {k: Variable(k, v, DEFAULT_SOURCE) for k, v in VARIABLE_DEFAULTS.items()}
    warnings: list[str] = []
    if path is None:
        if required:
            raise ConfigError(
                f"no environment file for '{env}'",
                where=str(root / ENVS_DIR),
                hint=f"create {ENVS_DIR}/{env}.yaml (or {env}.tfvars)",
            )
        return Environment(env, None, variables, warnings)
    source = f"{ENVS_DIR}/{path.name}"
    for name, value in _read(path).items():
        if name in AWS_ONLY:
            warnings.append(
                f"{source}: variable '{name}' is AWS-only; scoreline accepts and ignores it"
            )
            continue
        if name not in VARIABLE_DEFAULTS:
            warnings.append(f"{source}: variable '{name}' is not one of scoreline's (kept)")
        variables[name] = Variable(name, _coerce(name, value, f"{source}: {name}"), source)
    return Environment(env, path, variables, warnings)
