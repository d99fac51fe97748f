"""Security through a real `scoreline serve` on 127.0.0.1 (and Chromium where a browser is
involved): authentication that cannot switch itself off, a local mode no other site can
drive, bounded requests, confined data paths, steps that never see the server's secrets,
private files, and escaped e-mail."""

from __future__ import annotations

import email
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from scoreline.client import Client
from scoreline.examples import copy_example
from tests.conftest import ProjectDir
from tests.servers import free_port
from tests.test_deploy import scoreline as cli
from tests.test_serve import wait_for

pytestmark = pytest.mark.slow


class Serve:
    """`scoreline serve` with its printed lines kept (the one-time sign-in link)."""

    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out = root.parent / f"serve-{self.port}.out"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "scoreline", "--project", str(root), "serve",
             "--port", str(self.port), "--interval", "0.5"],
            stdout=self.out.open("w"), stderr=subprocess.PIPE, text=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip

        def up() -> bool:
            try:
                return httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 60, "the server")

    def link(self) -> str:
        found = re.search(r"(http://\S+/ui/login\?once=\S+)", self.out.read_text())
        assert found, self.out.read_text()
        return found.group(1)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, f"{self.base}/api/v1{path}", timeout=30, **kwargs)

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    copy_example("abalone", root)
    return root


def test_revoking_every_token_of_a_running_server_keeps_anonymous_requests_out(
    fresh: Path,
) -> None:
    server = Serve(fresh)
    try:
        assert server.api("GET", "/whoami").json() == {"name": "local", "role": "admin"}
        made = server.api("POST", "/tokens", json={"name": "first", "role": "admin"})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert server.api("GET", "/executions").status_code == 401, "the local mode is over"
        bearer = {"Authorization": f"Bearer {token}"}
        assert server.api("GET", "/executions", headers=bearer).status_code == 200

        revoked = cli(fresh, "tokens", "revoke", "first")
        assert revoked.returncode == 0, revoked.stderr
        assert server.api("GET", "/executions", headers=bearer).status_code == 401
        assert server.api("GET", "/executions").status_code == 401
        again = server.api("POST", "/tokens", json={"name": "mine", "role": "admin"})
        assert again.status_code == 401
        assert [t["name"] for t in json.loads(cli(fresh, "tokens", "list", "--json").stdout)] == [
            "first"
        ]
        status = cli(fresh, "auth", "status")
        assert status.stdout.startswith("Authenticated since"), status.stdout
    finally:
        server.stop()
    restarted = Serve(fresh)
    try:
        assert restarted.api("GET", "/executions").status_code == 401, "also after a restart"
        assert "sign in with an API token" in restarted.out.read_text()
    finally:
        restarted.stop()
    reset = cli(fresh, "auth", "reset", "--local")
    assert reset.returncode == 0, reset.stderr
    assert cli(fresh, "auth", "status").stdout.startswith("Local mode")


def test_the_local_mode_refuses_other_hosts_and_cross_site_writes(fresh: Path) -> None:
    server = Serve(fresh)
    try:
        rebound = server.api("GET", "/executions", headers={"Host": f"evil.example:{server.port}"})
        assert rebound.status_code == 403
        assert rebound.json()["error"]["code"] == "forbidden_host"
        foreign = {"Origin": "http://evil.example", "Content-Type": "application/json"}
        for path, body in (("/tokens", {"name": "x", "role": "admin"}), ("/executions/a/stop", {})):
            refused = server.api("POST", path, headers=foreign, json=body)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "cross_origin"
        nulled = server.api("POST", "/tokens", headers={"Origin": "null"}, json={})
        assert nulled.status_code == 403
        cross = server.api("POST", "/tokens", headers={"Sec-Fetch-Site": "cross-site"}, json={})
        assert cross.status_code == 403
        own = {"Origin": server.base}
        unknown = server.api("POST", "/executions/nope/stop", headers=own)
        assert unknown.status_code == 404, "a same-origin write reaches its route"
        assert cli(fresh, "auth", "status").stdout.startswith("Local mode"), "no token was made"
        outside = server.api(
            "POST",
            "/executions",
            json={"pipeline": "InferencePipeline", "parameters": {"InputData": "/etc/passwd"}},
        )
        assert outside.status_code == 422
        assert "'/etc/passwd' is outside the project" in outside.json()["error"]["message"]
        assert Client.open(fresh).executions() == []
        page = httpx.get(f"{server.base}/ui/", follow_redirects=False)
        assert (page.status_code, page.headers["location"]) == (303, "/ui/login")
    finally:
        server.stop()


class EvilSite:
    """Another origin on 127.0.0.1 whose page posts forms to the scoreline server."""

    def __init__(self, target: str) -> None:
        page = f"""<!doctype html><html><body>
<form id="token" method="post" action="{target}/api/v1/tokens" enctype="text/plain">
<input name='{{"name":"evil","role":"admin","x":"' value='"}}'></form>
<form id="run" method="post" action="{target}/api/v1/executions" enctype="text/plain">
<input name='{{"pipeline":"TrainingPipeline","x":"' value='"}}'></form>
<form id="login" method="post" action="{target}/ui/login">
<input name="token" value="sl_guess"></form>
</body></html>""".encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_the_printed_link_signs_chromium_in_once_and_other_sites_change_nothing(
    fresh: Path, browser: Any
) -> None:
    server = Serve(fresh)
    try:
        link = server.link()
        context = browser.new_context()
        page = context.new_page()
        page.goto(link)
        page.wait_for_selector("#who")
        assert page.inner_text("#who") == "local (admin)"
        assert "once=" not in page.url, "the secret leaves the address bar"
        cookie = next(c for c in context.cookies() if c["name"] == "scoreline_session")
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)

        stranger = browser.new_page()
        stranger.goto(link)
        assert "was used or has expired" in stranger.inner_text("#login-error")

        evil = EvilSite(server.base)
        for form in ("token", "run", "login"):
            attack = context.new_page()
            attack.goto(evil.url)
            with attack.expect_navigation():
                attack.evaluate(f"document.getElementById('{form}').submit()")
            assert "cross_origin" in attack.content(), form
        client = Client.open(fresh)
        assert client.store.tokens.list() == []
        assert client.executions() == []
        assert client.store.auth.required() is None
        page.reload()
        assert page.inner_text("#who") == "local (admin)", "the real session still works"
    finally:
        server.stop()


def test_a_large_anonymous_body_is_refused_unread_and_refusals_are_summarised(
    fresh: Path,
) -> None:
    assert cli(fresh, "tokens", "create", "--role", "admin", "--name", "ops").returncode == 0
    server = Serve(fresh)
    try:
        before = server.peak_rss_kib()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            size = 200 * 1024 * 1024
            sock.sendall(
                f"POST /api/v1/executions HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            sent = [0]

            def send_body() -> None:
                chunk = b"x" * (1024 * 1024)
                try:
                    while sent[0] < size:
                        sock.sendall(chunk)
                        sent[0] += len(chunk)
                except OSError:
                    pass  # the server answered and closed the connection: it reads no body

            # The answer comes while the body is still being sent, so read it concurrently:
            # once the server closes, a later send may reset the connection.
            sender = threading.Thread(target=send_body, daemon=True)
            sender.start()
            answer = sock.recv(65536).decode("latin-1")
            sender.join(timeout=60)
        assert sent[0] < size, "the server read the whole body"
        assert answer.startswith("HTTP/1.1 413"), answer
        grown_mib = (server.peak_rss_kib() - before) / 1024
        assert grown_mib < 50, f"peak memory grew by {grown_mib:.1f} MiB"
        chunked = server.api(
            "POST", "/executions", headers={"Transfer-Encoding": "chunked"}, content=iter([b"{}"])
        )
        assert chunked.status_code == 411

        client = Client.open(fresh)
        events_before = len(client.events(limit=100000))
        statuses: dict[int, int] = {}
        with httpx.Client(base_url=f"{server.base}/api/v1", timeout=30) as http:
            for _ in range(1000):
                code = http.post("/executions", json={"pipeline": "TrainingPipeline"}).status_code
                statuses[code] = statuses.get(code, 0) + 1
        assert set(statuses) == {401, 429}, statuses
        assert statuses[401] <= 31, "refusals from one address are rate-limited"
        assert len(client.events(limit=100000)) == events_before, "no event per refusal"
    finally:
        server.stop()
    summaries = client.events(detail_type="API Requests Refused", limit=100)
    assert len(summaries) == 1
    assert summaries[0].detail["count"] >= 1002
    assert summaries[0].detail["byStatus"]["429"] == statuses[429]


def test_sessions_expire_sign_out_ends_them_and_every_page_has_the_security_headers(
    fresh: Path,
) -> None:
    config = yaml.safe_load((fresh / "scoreline.yaml").read_text())
    config["server"] = {"session_idle_minutes": 0.05}  # 3 seconds
    (fresh / "scoreline.yaml").write_text(yaml.safe_dump(config))
    made = cli(fresh, "tokens", "create", "--role", "viewer", "--name", "v", "--expires-in", "90d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    server = Serve(fresh)
    try:
        http = httpx.Client(base_url=server.base, timeout=30)

        def sign_in() -> httpx.Response:
            form = http.get("/ui/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
            return http.post("/ui/login", data={"token": token, "csrf": csrf})

        no_csrf = http.post("/ui/login", data={"token": token})
        assert no_csrf.status_code == 403, "the login form needs its CSRF token"
        signed = sign_in()
        assert signed.status_code == 303
        cookie = next(h for h in signed.headers.get_list("set-cookie") if "scoreline_session" in h)
        assert {"HttpOnly", "Path=/", "SameSite=strict"} <= {p.strip() for p in cookie.split(";")}
        assert "Secure" not in cookie, "plain HTTP on loopback"
        for path in ("/ui/", "/ui/models", "/ui/monitoring", "/ui/events", "/ui/login"):
            response = http.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in policy
            assert "script-src 'self';" in policy
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "same-origin"
        assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]

        wait_for(
            lambda: http.get("/ui/", follow_redirects=False).status_code == 303,
            30,
            "the idle session to expire",
        )
        sign_in()
        page = http.get("/ui/")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        write = http.post(
            "/api/v1/models/poc-mpg/1/approve", json={}, headers={"X-CSRF-Token": "wrong"}
        )
        assert write.status_code == 401, "a cookie write without its CSRF token"
        forbidden = http.post(
            "/api/v1/models/poc-mpg/1/approve", json={}, headers={"X-CSRF-Token": csrf}
        )
        assert forbidden.status_code == 403, "with it, the viewer's role decides"
        old = http.cookies["scoreline_session"]
        out = http.post("/ui/logout", data={"csrf": csrf}, follow_redirects=False)
        assert (out.status_code, out.headers["location"]) == (303, "/ui/login")
        assert "scoreline_session" not in http.cookies
        replayed = httpx.get(
            f"{server.base}/ui/", cookies={"scoreline_session": old}, follow_redirects=False
        )
        assert replayed.status_code == 303, "the session ended on the server, not only the cookie"
        listed = json.loads(cli(fresh, "tokens", "list", "--json").stdout)
        assert listed[0]["expires_at"]
        assert listed[0]["last_used_at"]
    finally:
        server.stop()


def _guarded_pipeline(project: ProjectDir) -> None:
    script = project.script(
        "count.py",
        """
        import os, pathlib
        (source,) = pathlib.Path(os.environ["SCORELINE_INPUT_RAW"]).iterdir()
        rows = source.read_text().split()
        (pathlib.Path(os.environ["SCORELINE_OUTPUT_N"]) / "n.txt").write_text(str(len(rows)))
        """,
    )
    project.pipeline(
        {
            "name": "P",
            "parameters": [{"name": "InputData", "type": "String", "default": "data.csv"}],
            "steps": [
                {
                    "name": "Count",
                    "kind": "processing",
                    "script": script,
                    "inputs": {"raw": {"expr": "parameter", "name": "InputData"}},
                    "outputs": ["n"],
                }
            ],
        }
    )
    (project.root / "data.csv").write_text("1\n2\n")


def test_path_parameters_stay_inside_the_project_and_its_data_roots(
    project: ProjectDir, tmp_path: Path
) -> None:
    _guarded_pipeline(project)
    outside = tmp_path / "shared"
    outside.mkdir()
    (outside / "batch.csv").write_text("1\n2\n3\n")
    (project.root / "../../x.csv").resolve().write_text("secret\n")  # exists, outside
    for value in ("/etc/passwd", "../../x.csv", f"{outside}/batch.csv", "s3://other/x.csv"):
        refused = project.cli("run", "P", "-p", f"InputData={value}", "--wait", check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip() == (
            f"error: parameter 'InputData': '{value}' is outside the project and its data "
            "roots (use a path inside the project, or add its folder or bucket to data_roots "
            "in scoreline.yaml)"
        )
    assert project.client().executions() == [], "refused before an execution exists"
    assert project.cli_json("run", "P", "--wait")["status"] == "Succeeded"

    (project.root / "scoreline.yaml").write_text(yaml.safe_dump({"data_roots": [str(outside)]}))
    run = project.cli_json("run", "P", "-p", f"InputData={outside}/batch.csv", "--wait")
    assert run["status"] == "Succeeded"
    still = project.cli("run", "P", "-p", "InputData=/etc/passwd", check=False)
    assert still.returncode == 1


def test_steps_see_only_their_contract_and_passed_secrets_are_masked(
    project: ProjectDir,
) -> None:
    script = project.script(
        "env.py",
        """
        import json, os, pathlib
        print(json.dumps(dict(os.environ), sort_keys=True))
        out = pathlib.Path(os.environ["SCORELINE_OUTPUT_SEEN"]) / "names.json"
        out.write_text(json.dumps(sorted(os.environ)))
        """,
    )
    project.pipeline(
        {"name": "E", "steps": [{"name": "Env", "kind": "processing", "script": script,
                                 "outputs": ["seen"]}]}
    )  # fmt: skip
    secrets = {
        "SCORELINE_SMTP_URL": "smtp://mailer:smtp-pass-4711@127.0.0.1:25",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-0815-xyz",
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "SCORELINE_TOKEN": "sl_api-token-value-1234",
        "DATABASE_URL": "postgresql://app:db-pass-9876@db.internal/app",
    }

    def run() -> tuple[dict[str, Any], str, list[str]]:
        result = subprocess.run(
            [sys.executable, "-m", "scoreline", "--project", str(project.root), "run", "E",
             "--wait", "--json"],
            capture_output=True, text=True, timeout=120, env={**os.environ, **secrets},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        execution = json.loads(result.stdout)
        logs = project.cli("executions", "logs", execution["id"]).stdout
        (step,) = execution["steps"]
        names = json.loads(
            Path(step["outputs"]["seen"]["uri"].removeprefix("file://"), "names.json").read_text()
        )
        return execution, logs, names

    _, logs, names = run()
    for value in secrets.values():
        assert value.split("@")[0].split(":")[-1] not in logs
    assert not {"SCORELINE_SMTP_URL", "AWS_SECRET_ACCESS_KEY", "SCORELINE_TOKEN"} & set(names)
    assert not {"DATABASE_URL", "SCORELINE_STORE", "AWS_ACCESS_KEY_ID"} & set(names)
    assert {"PATH", "HOME", "SCORELINE_OUTPUT_SEEN", "SCORELINE_STEP"} <= set(names)

    (project.root / "scoreline.yaml").write_text(
        yaml.safe_dump({"executor": {"pass_environment": ["AWS_*", "DATABASE_URL"]}})
    )
    _, logs, names = run()
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "DATABASE_URL"} <= set(names)
    assert "AKIDEXAMPLE" in logs, "a passed variable that is no secret stays readable"
    assert "aws-secret-0815-xyz" not in logs
    assert "db-pass-9876" not in logs
    assert '"AWS_SECRET_ACCESS_KEY": "********"' in logs
    assert "postgresql://app:********@db.internal/app" in logs
    assert "smtp-pass-4711" not in logs

    (project.root / "scoreline.yaml").write_text(
        yaml.safe_dump({"executor": {"pass_environment": ["SCORELINE_*"]}})
    )
    refused = project.cli("run", "E", check=False)
    assert refused.returncode == 1
    assert "would pass SCORELINE_STORE, which steps never get" in refused.stderr


def test_what_scoreline_writes_under_its_folder_is_private(project: ProjectDir) -> None:
    _guarded_pipeline(project)
    assert project.cli_json("run", "P", "--wait")["status"] == "Succeeded"
    state = project.root / ".scoreline"
    found = [state, *state.rglob("*")]
    assert any(p.name == "scoreline.db" for p in found)
    assert any(p.name == "n.txt" for p in found), "artifacts too"
    loose = [
        f"{p.relative_to(project.root)} {stat.filemode(p.stat().st_mode)}"
        for p in found
        if p.stat().st_mode & 0o077
    ]
    assert loose == []
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_notification_html_escapes_event_text(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    from scoreline.events.notify import Notifier
    from scoreline.settings import NotificationSettings
    from scoreline.store import MetadataStore
    from scoreline.store.tables import utcnow

    raw: list[bytes] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            raw.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        store = MetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
        store.append_event(
            "Pipeline Execution Status Change",
            {
                "pipelineName": "P<b>",
                "pipelineExecutionId": "e1",
                "currentPipelineExecutionStatus": "Failed",
                "failureReason": "'<img src=x onerror=alert(1)>' is not a number",
            },
        )
        notifier = Notifier(
            store,
            NotificationSettings(smtp=f"smtp://127.0.0.1:{port}"),
            {"email_recipient": ["ops@example.com"]},
            lambda execution, step: "",
        )
        notifier.enqueue(utcnow())
        assert len(notifier.deliver(utcnow())) == 1
    finally:
        controller.stop()
    (message,) = [email.message_from_bytes(m) for m in raw]
    html = next(
        p.get_payload(decode=True).decode()
        for p in message.walk()
        if p.get_content_type() == "text/html"
    )
    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    plain = next(
        p.get_payload(decode=True).decode()
        for p in message.walk()
        if p.get_content_type() == "text/plain"
    )
    assert re.search(r"^Pipeline: +P<b>\r?\nExecution: +e1\r?\n", plain), "lines are kept"
