"""``${name}`` environment variables in the event settings of ``scoreline.yaml``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from scoreline.errors import ConfigError, DefinitionError
from scoreline.pipeline.loader import substitute

Settings = TypeVar("Settings", bound=BaseModel)


def fill(item: Settings, variables: Mapping[str, Any], where: str) -> Settings:
    """``item`` with its variables filled in; an unknown variable names ``where``."""
    try:
        data = substitute(item.model_dump(mode="json"), variables, where)
    except DefinitionError as exc:
        raise ConfigError(exc.what, where=exc.where, hint=exc.hint) from None
    return type(item).model_validate(data)


def filled(items: list[Settings], variables: Mapping[str, Any], kind: str) -> list[Settings]:
    """Every item of a ``scoreline.yaml`` list, variables filled in."""
    return [
        fill(item, variables, f"scoreline.yaml: {kind}[{index}]")
        for index, item in enumerate(items)
    ]
