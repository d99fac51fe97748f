"""Shared fixtures: throwaway projects on disk and a way to run the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from scoreline.client import Client

REPO = Path(__file__).resolve().parents[1]


class ProjectDir:
    """A project folder with helpers to add scripts and pipelines."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pipelines").mkdir(parents=True)
        (root / "scripts").mkdir()
        (root / "data").mkdir()
        (root / "scoreline.yaml").write_text("name: test\nexecutor: {max_workers: 4}\n")

    def script(self, name: str, body: str) -> str:
        path = self.root / "scripts" / name
        path.write_text(textwrap.dedent(body))
        return f"scripts/{name}"

    def pipeline(self, definition: dict[str, Any], file: str | None = None) -> Path:
        path = self.root / "pipelines" / (file or f"{definition['name']}.yaml")
        path.write_text(yaml.safe_dump(definition, sort_keys=False))
        return path

    def client(self) -> Client:
        return Client.open(self.root)

    def cli(
        self,
        *args: str,
        check: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "scoreline", "--project", str(self.root), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"scoreline {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "--json").stdout)


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    return ProjectDir(tmp_path / "project")


@pytest.fixture
def step() -> Callable[..., dict[str, Any]]:
    """Build a processing step definition dict."""

    def make(name: str, script: str, **fields: Any) -> dict[str, Any]:
        return {"name": name, "kind": "processing", "script": script, **fields}

    return make


def out(step: str, output: str) -> dict[str, str]:
    return {"expr": "step_output", "step": step, "output": output}


def param(name: str) -> dict[str, str]:
    return {"expr": "parameter", "name": name}
