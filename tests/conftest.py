"""Shared fixtures: throwaway projects on disk and a way to run the real command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test parametrized by tier runs on the team tier only when marked ``team_tier``: the
    story and the contracts run twice, logic that does not depend on the tier once."""
    keep, dropped = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        team = params is not None and params.params.get("project") == "team"
        (dropped if team and not item.get_closest_marker("team_tier") else keep).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """One throwaway PostgreSQL server for the whole session (each test gets a database)."""
    from tests.servers import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata store URL of each tier: a SQLite file, and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    from tests.servers import new_database

    return new_database(request.getfixturevalue("postgres_server_url"))


@pytest.fixture(scope="session")
def s3_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One SeaweedFS server for the session; the ``AWS_*`` variables that reach it."""
    from tests.servers import seaweed_server

    with seaweed_server(tmp_path_factory.mktemp("seaweed") / "data") as env:
        yield env


@pytest.fixture(params=["local", "s3"])
def artifact_root(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The artifact root of each tier: a local folder, and a fresh prefix in an S3 bucket
    (with the ``AWS_*`` variables set, as a deployment would)."""
    if request.param == "local":
        return str(tmp_path / "artifacts")
    from tests.servers import use_s3

    use_s3(monkeypatch, request.getfixturevalue("s3_environment"))
    return f"s3://landing/{tmp_path.name}/artifacts"


@pytest.fixture(scope="session")
def ray_address(s3_environment: dict[str, str]) -> Iterator[str]:
    """One local Ray head with two worker processes for the session; its nodes can reach the
    S3 server (as a cluster's nodes have their own credentials), not the database."""
    from tests.servers import ray_head

    with ray_head(workers=2, node_env=s3_environment) as address:
        yield address


CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright (its own browser download is not used)."""
    if not CHROMIUM.exists():
        pytest.fail("chromium is missing: run `make tools/node_modules/.installed`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        yield launched
        launched.close()
