"""The web UI in a real browser (Debian's chromium driven by Playwright) against a real
`scoreline serve` on 127.0.0.1 with the demo's data. Screenshots go to test-artifacts/ui/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from scoreline.examples import copy_example
from tests.conftest import REPO
from tests.test_api import Server, cli

pytestmark = pytest.mark.slow

SHOTS = REPO / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's story: trained, approved, scored with monitoring; then a second version
    waiting for approval; a viewer and an approver token."""
    root = tmp_path_factory.mktemp("ui") / "project"
    copy_example("abalone", root)
    for args in (
        ("run", "TrainingPipeline", "--wait"),
        ("models", "approve", "poc-mpg", "1"),
        ("run", "InferencePipeline", "-p", "GroundTruthData=data/ground-truth.csv", "--wait"),
        ("run", "TrainingPipeline", "-p", "SplitSeed=7", "--wait"),
    ):
        result = cli(root, *args)
        assert result.returncode == 0, result.stderr
    tokens = {}
    for role in ("viewer", "approver"):
        made = cli(root, "tokens", "create", "--role", role, "--name", f"{role}-ui")
        tokens[role] = made.stdout.strip()
    return {"root": root, "tokens": tokens}


@pytest.fixture(scope="module")
def server(demo: dict[str, Any]) -> Iterator[Server]:
    running = Server(demo["root"])
    yield running
    running.stop()


class Session:
    """A signed-in page that records console errors and every request's URL."""

    def __init__(self, browser: Any, server: Server, token: str, width: int = 1280) -> None:
        self.base = server.url.removesuffix("/api/v1")
        self.page = browser.new_page(
            viewport={"width": width, "height": 800 if width > 600 else 844}
        )
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: d.accept("approved in the UI test"))
        self.page.goto(f"{self.base}/ui/login")
        self.page.fill("#token", token)
        self.page.click("#sign-in")
        self.page.wait_for_selector("#who")

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}", wait_until="networkidle")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def check_clean(self) -> None:
        assert self.errors == []
        outside = [u for u in self.requests if not u.startswith((self.base, "data:"))]
        assert outside == [], "no request may leave 127.0.0.1"


def test_sign_in_and_see_the_latest_execution_as_a_graph(
    browser: Any, server: Server, demo: dict[str, Any]
) -> None:
    session = Session(browser, server, demo["tokens"]["approver"])
    assert session.page.inner_text("#who") == "token:approver-ui (approver)"
    assert "TrainingWHPOPipeline" in session.page.inner_text("#pipelines")
    session.page.select_option("select[name=pipeline]", "InferencePipeline")
    session.page.click("form.filters button")
    session.page.wait_for_load_state("networkidle")
    shown = session.page.locator("#executions tbody tr td:nth-child(2)").all_inner_texts()
    assert shown
    assert all(text.startswith("InferencePipeline") for text in shown)
    session.goto("/ui/")
    session.page.click("#executions tbody tr:first-child a")
    session.page.wait_for_selector("#graph g.node")
    nodes = session.page.locator("#graph g.node")
    assert nodes.count() == 7
    assert (
        session.page.locator('#graph g.node[data-step="ModelRegisterStep"].n-Succeeded').count()
        == 1
    )
    assert "TrainingPipeline" in session.page.inner_text("h1")
    session.shot("execution")
    session.check_clean()


def test_a_viewer_cannot_approve(browser: Any, server: Server, demo: dict[str, Any]) -> None:
    session = Session(browser, server, demo["tokens"]["viewer"])
    session.goto("/ui/models")
    assert session.page.locator("#models tbody tr").count() == 2
    assert session.page.locator("button.approve").count() == 0
    denied = httpx.post(
        f"{server.url}/models/poc-mpg/2/approve",
        headers={"Authorization": f"Bearer {demo['tokens']['viewer']}"},
        json={"comment": "no"},
    )
    assert denied.status_code == 403
    session.check_clean()


def test_an_approver_approves_in_the_ui_and_the_next_run_uses_it(
    browser: Any, server: Server, demo: dict[str, Any]
) -> None:
    session = Session(browser, server, demo["tokens"]["approver"])
    session.goto("/ui/models")
    row = session.page.locator('#models tr[data-version="2"]')
    row.locator("button.approve").click()
    session.page.wait_for_selector('#models tr[data-version="2"] td.Approved')
    assert "token:approver-ui" in row.inner_text()
    session.shot("models")
    session.check_clean()
    run = cli(demo["root"], "run", "InferencePipeline", "--wait", "--json")
    assert run.returncode == 0, run.stderr
    steps = {s["step_name"]: s for s in json.loads(run.stdout)["steps"]}
    assert steps["ResolveModelStep"]["metadata"]["ModelPackageVersion"] == 2


def test_the_monitoring_page_draws_its_charts(
    browser: Any, server: Server, demo: dict[str, Any]
) -> None:
    session = Session(browser, server, demo["tokens"]["viewer"])
    session.goto("/ui/monitoring?group=poc-mpg")
    for chart in ("#chart-quality", "#chart-drift", "#chart-dist-1"):
        session.page.wait_for_selector(f"{chart} svg.main-svg")
    assert session.page.locator(".chart svg.main-svg").count() >= 10
    legend = session.page.inner_text("#chart-quality")
    assert "threshold" in legend
    assert "mse (estimated)" in legend, "estimates made before the labels are charted too"
    session.shot("monitoring")
    session.check_clean()


@pytest.mark.parametrize("path", ["/ui/", "/ui/models", "/ui/monitoring", "/ui/events"])
def test_pages_fit_a_phone(browser: Any, server: Server, demo: dict[str, Any], path: str) -> None:
    session = Session(browser, server, demo["tokens"]["viewer"], width=390)
    session.goto(path)
    overflow = session.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    session.shot("phone" + path.replace("/", "-").rstrip("-"))
    session.check_clean()


def test_pages_need_a_token_once_tokens_exist(server: Server) -> None:
    response = httpx.get(server.url.removesuffix("/api/v1") + "/ui/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login"
