"""What every runner shares: its configuration, folders, metadata file and error handling."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoreline.data.io import use_jemalloc
from scoreline.engine.tasks import TASK_CONFIG_ENV
from scoreline.errors import DataError, ScorelineError
from scoreline.monitoring.dataset import write_json


def task_config() -> dict[str, Any]:
    config = json.loads(os.environ.get(TASK_CONFIG_ENV, "{}"))
    return config if isinstance(config, dict) else {}


def input_dir(name: str) -> Path | None:
    """The local folder an input was staged into, or None when the step has no such input."""
    value = os.environ.get(f"SCORELINE_INPUT_{name.upper()}")
    return Path(value) if value else None


def output_dir(name: str) -> Path:
    path = Path(os.environ[f"SCORELINE_OUTPUT_{name.upper()}"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def single_file(folder: Path, name: str) -> Path:
    """The file an input names: ``folder/name`` when present, else the folder's only file."""
    if (folder / name).is_file():
        return folder / name
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("_")]
    if len(files) != 1:
        raise DataError(f"expected one file ({name}) in the input", where=str(folder))
    return files[0]


def write_metadata(data: dict[str, Any]) -> None:
    """Merge ``data`` into the step's metadata file (recorded on the step by the engine)."""
    target = os.environ.get("SCORELINE_METADATA_FILE")
    if not target:
        return
    path = Path(target)
    current: dict[str, Any] = {}
    if path.exists():
        current = json.loads(path.read_text(encoding="utf-8"))
    write_json(path, {**current, **data})


def run(main: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Run ``main(config)``: its result becomes step metadata; a scoreline error becomes the
    step's one-line failure reason and exit status 1."""
    use_jemalloc()
    try:
        metadata = main(task_config())
    except ScorelineError as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        write_metadata({"failureReason": exc.line()})
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        write_metadata({"failureReason": "scoreline runner crashed (see the step log)"})
        sys.exit(2)
    write_metadata(metadata)
