"""The REST API served by a real `scoreline serve` on 127.0.0.1: tokens and roles, the error
shape, idempotent starts, pagination, the audit trail, and an OpenAPI fuzz run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from scoreline.client import Client
from scoreline.examples import copy_example
from tests.test_serve import free_port, wait_for

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scoreline",
                "--project",
                str(root),
                "serve",
                "--port",
                str(self.port),
                "--interval",
                "0.5",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, "the API")

    def call(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scoreline", "--project", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("api") / "project"
    copy_example("abalone", root)
    assert cli(root, "run", "TrainingPipeline", "--wait").returncode == 0
    return root


@pytest.fixture(scope="module")
def tokens(trained: Path) -> dict[str, str]:
    made = cli(trained, "tokens", "create", "--role", "admin", "--name", "ops")
    assert made.returncode == 0, made.stderr
    assert "not shown again" in made.stderr
    return {"admin": made.stdout.strip()}


@pytest.fixture(scope="module")
def server(trained: Path, tokens: dict[str, str]) -> Iterator[Server]:
    running = Server(trained)
    for role in ("viewer", "operator", "approver"):
        created = running.call(
            "POST", "/tokens", tokens["admin"], json={"name": f"{role}-1", "role": role}
        )
        assert created.status_code == 201, created.text
        tokens[role] = created.json()["token"]
    yield running
    running.stop()


def test_without_a_token_the_api_answers_401_in_the_error_shape(server: Server) -> None:
    response = server.call("GET", "/executions")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "unauthorized", "message": "a valid API token is required", "status": 401}
    }
    assert server.call("GET", "/executions", "sl_wrong").status_code == 401
    assert server.call("GET", "/health").status_code == 200


def test_roles_decide_who_may_approve_and_every_write_is_audited(
    server: Server, tokens: dict[str, str], trained: Path
) -> None:
    (version,) = [m["version"] for m in server.call("GET", "/models", tokens["viewer"]).json()]
    denied = server.call(
        "POST", f"/models/poc-mpg/{version}/approve", tokens["viewer"], json={"comment": "x"}
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    approved = server.call(
        "POST",
        f"/models/poc-mpg/{version}/approve",
        tokens["approver"],
        json={"comment": "metrics reviewed"},
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["history"][-1]["actor"] == "token:approver-1"
    again = server.call("POST", f"/models/poc-mpg/{version}/approve", tokens["approver"], json={})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"

    body = {
        "pipeline": "InferencePipeline",
        "client_request_token": "api-test-1",
        "parameters": {"GroundTruthData": "data/ground-truth.csv"},
    }
    assert server.call("POST", "/executions", tokens["viewer"], json=body).status_code == 403
    first = server.call("POST", "/executions", tokens["operator"], json=body)
    assert first.status_code == 201, first.text
    second = server.call("POST", "/executions", tokens["operator"], json=body)
    assert second.json()["id"] == first.json()["id"], "the idempotency token holds"
    execution_id = first.json()["id"]
    assert first.json()["started_by"] == "token:operator-1"
    client = Client.open(trained)
    wait_for(
        lambda: client.execution(execution_id).status in ("Succeeded", "Failed"), 120, "the run"
    )
    run = server.call("GET", f"/executions/{execution_id}", tokens["viewer"]).json()
    assert run["status"] == "Succeeded"
    resolved = next(s for s in run["steps"] if s["step_name"] == "ResolveModelStep")
    assert resolved["metadata"]["ModelPackageVersion"] == version

    writes = [
        e["detail"]
        for e in server.call("GET", "/events?type=API Write&limit=1000", tokens["viewer"]).json()[
            "events"
        ]
    ]
    audited = {(w["actor"], w["path"], w["status"]) for w in writes}
    assert ("token:viewer-1", f"/api/v1/models/poc-mpg/{version}/approve", 403) in audited
    assert ("token:approver-1", f"/api/v1/models/poc-mpg/{version}/approve", 200) in audited
    assert ("token:operator-1", "/api/v1/executions", 201) in audited
    assert ("token:ops", "/api/v1/tokens", 201) in audited


def test_errors_name_the_problem_with_a_stable_code(server: Server, tokens: dict[str, str]) -> None:
    missing = server.call("GET", "/executions/nope", tokens["viewer"])
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    unknown = server.call("POST", "/executions", tokens["operator"], json={"pipeline": "Nope"})
    assert unknown.status_code == 404
    bad = server.call(
        "POST",
        "/executions",
        tokens["operator"],
        json={"pipeline": "TrainingPipeline", "parameters": {"SplitSeed": "many"}},
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid_parameter"
    assert "SplitSeed" in bad.json()["error"]["message"]


def test_events_are_paginated(server: Server, tokens: dict[str, str]) -> None:
    page = server.call("GET", "/events?limit=5", tokens["viewer"]).json()
    assert len(page["events"]) == 5
    following = server.call(
        "GET", f"/events?limit=5&after={page['next_after']}", tokens["viewer"]
    ).json()
    assert following["events"][0]["seq"] == page["events"][-1]["seq"] + 1
    newest = server.call("GET", "/events?order=desc&limit=3", tokens["viewer"]).json()
    seqs = [e["seq"] for e in newest["events"]]
    assert seqs == sorted(seqs, reverse=True)
    assert newest["next_before"] == seqs[-1]
    older = server.call(
        "GET", f"/events?order=desc&limit=3&before={newest['next_before']}", tokens["viewer"]
    ).json()
    assert older["events"][0]["seq"] == seqs[-1] - 1
    assert newest["remaining"] == older["remaining"] + 3


def test_an_openapi_fuzz_run_finds_no_server_errors(server: Server, tokens: dict[str, str]) -> None:
    schema = httpx.get(server.url.replace("/api/v1", "/openapi.json"), timeout=10).json()
    assert "/api/v1/executions" in schema["paths"]
    fuzz = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            server.url.replace("/api/v1", "/openapi.json"),
            "--checks",
            "not_a_server_error,status_code_conformance",
            "-H",
            f"Authorization: Bearer {tokens['admin']}",
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--workers",
            "1",
            "--exclude-path-regex",
            "/executions/.*/(stop|retry)",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    assert fuzz.returncode == 0, fuzz.stdout[-4000:]


def test_serving_beyond_loopback_needs_authentication(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    copy_example("abalone", root)
    refused = cli(root, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: --host: refusing to serve the API on 0.0.0.0 without authentication "
        "(create a token first: scoreline tokens create --role admin --name NAME)"
    )


def test_the_command_line_talks_to_the_server_when_scoreline_url_is_set(
    server: Server, tokens: dict[str, str]
) -> None:
    def remote(token: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "scoreline", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env={
                **os.environ,
                "SCORELINE_URL": server.url.removesuffix("/api/v1"),
                "SCORELINE_TOKEN": token,
            },
        )

    listed = remote(tokens["viewer"], "executions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {e["pipeline_name"] for e in json.loads(listed.stdout)} >= {"TrainingPipeline"}
    models = json.loads(remote(tokens["viewer"], "models", "list", "--json").stdout)
    assert models[0]["group_name"] == "poc-mpg"
    denied = remote(tokens["viewer"], "models", "reject", "poc-mpg", "1")
    assert denied.returncode == 1
    assert "role 'viewer' may not approve" in denied.stderr
    aliased = remote(tokens["approver"], "models", "alias", "poc-mpg", "1", "champion")
    assert aliased.returncode == 0, aliased.stderr
    assert "poc-mpg@champion -> version 1" in aliased.stdout
    shown = json.loads(remote(tokens["viewer"], "models", "show", "poc-mpg", "1", "--json").stdout)
    assert shown["aliases"] == ["champion"]
    kept = remote(tokens["approver"], "models", "reject", "poc-mpg", "1")
    assert kept.returncode == 1
    assert "has the alias(es) champion" in kept.stderr
    assert "--move-aliases-to VERSION or --drop-aliases" in kept.stderr
    events = remote(
        tokens["viewer"], "events", "list", "--type", "API Write", "--limit", "1000", "--json"
    )
    assert {
        "actor": "token:viewer-1",
        "role": "viewer",
        "method": "POST",
        "path": "/api/v1/models/poc-mpg/1/reject",
        "status": 403,
    } in [e["detail"] for e in json.loads(events.stdout)]
    local_only = remote(tokens["admin"], "plan")
    assert local_only.returncode == 1
    assert "works on a project directory, not through SCORELINE_URL" in local_only.stderr
