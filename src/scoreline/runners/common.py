"""What every runner shares: its configuration, folders, metadata file and error handling."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoreline.data.io import file_format, use_jemalloc
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


class Progress:
    """How far a runner is (rows scored, trials done...), for whoever watches the
    execution: written to ``$SCORELINE_PROGRESS_FILE`` at most every ``every`` seconds,
    atomically, so a reader never sees half a file. ``total`` may be an estimate."""

    def __init__(
        self, unit: str, total: int | None = None, *, estimated: bool = False, every: float = 0.5
    ) -> None:
        target = os.environ.get("SCORELINE_PROGRESS_FILE")
        self.path = Path(target) if target else None
        self.unit, self.total, self.estimated, self.every = unit, total, estimated, every
        self.done = 0
        self.extra: dict[str, Any] = {}
        self.started = time.monotonic()
        self.written = 0.0

    def add(self, count: int = 1, **extra: Any) -> None:
        self.done += count
        self.extra.update(extra)
        now = time.monotonic()
        if self.path is not None and now - self.written >= self.every:
            self.written = now
            self._write(now)

    def _write(self, now: float) -> None:
        assert self.path is not None
        seconds = now - self.started
        report = {
            "unit": self.unit,
            "done": self.done,
            "total": self.total,
            "estimated": self.estimated,
            "perSecond": round(self.done / seconds, 1) if seconds > 0 else None,
            **self.extra,
        }
        partial = self.path.with_name(f".{self.path.name}.tmp")
        partial.write_text(json.dumps(report), encoding="utf-8")
        os.replace(partial, self.path)


def estimate_rows(files: list[Path], header: bool, sample_bytes: int = 1 << 20) -> tuple[int, bool]:
    """The number of data rows to score, and whether it is an estimate: exact for Parquet
    (its footer) and small CSV files, else from the line length at the start, the middle
    and the end of each file (ids and timestamps make later lines longer)."""
    total, estimated = 0, False
    for path in files:
        if file_format(path) == "parquet":
            import pyarrow.parquet as pq

            total += pq.ParquetFile(path).metadata.num_rows
            continue
        size = path.stat().st_size
        with path.open("rb") as handle:
            if size <= sample_bytes:
                data = handle.read()
                lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            else:
                window, newlines = sample_bytes // 3, 0
                for offset in (0, (size - window) // 2, size - window):
                    handle.seek(offset)
                    newlines += handle.read(window).count(b"\n")
                lines, estimated = round(size * newlines / (3 * window)), True
        total += max(lines - int(header), 0)
    return total, estimated


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
