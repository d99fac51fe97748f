"""Step Python environments: the Python a step's script runs in, as SageMaker's framework
containers provide one.

A ``requirements.txt`` is installed once into a virtual environment in the user's cache,
keyed by the file's sha256 and the Python version, and reused by every later step and
execution that names the same content. uv installs it when available (it ships with
scoreline's development setup), pip otherwise. A lock file serialises concurrent builds, and
an environment counts only once its ``.complete`` marker is written, so a build that was
killed is started again rather than used half-made.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from scoreline.errors import StepError

COMPLETE_MARKER = ".complete"
INSTALL_TIMEOUT_SECONDS = 1800


def cache_root() -> Path:
    """``$SCORELINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/scoreline``, else ``~/.cache/scoreline``."""
    explicit = os.environ.get("SCORELINE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "scoreline"


def step_python(spec: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The interpreter for a task's ``python`` spec, and what to record about it."""
    if not spec:
        return sys.executable, {"kind": "project", "python": sys.executable}
    if "interpreter" in spec:
        path = spec["interpreter"]
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise StepError(
                f"interpreter '{path}' does not exist or is not executable",
                hint="give the absolute path of a python on the machine that runs the step",
            )
        return path, {"kind": "interpreter", "python": path}
    return _requirements_env(Path(spec["requirements"]), spec.get("label", ""))


def _requirements_env(requirements: Path, label: str) -> tuple[str, dict[str, Any]]:
    content = requirements.read_bytes()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    digest = hashlib.sha256(content + f"\0python{version}".encode()).hexdigest()
    root = cache_root() / "venvs"
    folder = root / f"py{version}-{digest[:20]}"
    python = folder / "bin" / "python"
    root.mkdir(parents=True, exist_ok=True)
    reused = True
    with (root / f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / COMPLETE_MARKER).is_file():
            reused = False
            shutil.rmtree(folder, ignore_errors=True)
            _build(folder, requirements, label or str(requirements))
            (folder / COMPLETE_MARKER).write_text(
                json.dumps({"requirements": label, "sha256": digest}), encoding="utf-8"
            )
    return str(python), {
        "kind": "requirements",
        "requirements": label,
        "sha256": digest,
        "path": str(folder),
        "python": str(python),
        "reused": reused,
    }


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.is_file() else shutil.which("uv")


def _build(folder: Path, requirements: Path, label: str) -> None:
    uv = _uv()
    python = str(folder / "bin" / "python")
    if uv:
        steps = [
            [uv, "venv", "--quiet", "--python", sys.executable, str(folder)],
            [uv, "pip", "install", "--quiet", "--python", python, "-r", str(requirements)],
        ]
    else:
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
             str(requirements)],
        ]  # fmt: skip
    for command in steps:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS
            )
        except subprocess.TimeoutExpired:
            done = None
        if done is None or done.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            output = "" if done is None else (done.stderr or done.stdout)
            last = next(
                (line.strip() for line in reversed(output.splitlines()) if line.strip()),
                f"no answer within {INSTALL_TIMEOUT_SECONDS} s",
            )
            raise StepError(
                f"installing {label} failed: {last[:300]}",
                hint="fix the requirements file (each line a pip requirement) and run again",
            )
