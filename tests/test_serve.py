"""`scoreline serve` with real parts on 127.0.0.1: an SMTP server (aiosmtpd), a JSON webhook
receiver, data dropped into the watched folder, kill -9 and restart, a cron schedule."""

from __future__ import annotations

import email
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
import yaml
from aiosmtpd.controller import Controller

from scoreline.client import Client
from scoreline.events.sources import poll_schedule
from scoreline.examples import copy_example
from scoreline.settings import ScheduleSettings
from scoreline.store import MetadataStore
from tests.conftest import ProjectDir
from tests.servers import free_port, seaweed_server, use_s3

pytestmark = pytest.mark.slow


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Mailbox:
    """aiosmtpd handler keeping (recipient, subject, body) of every message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content)
        subject = str(make_header(decode_header(parsed["Subject"] or "")))
        part = parsed.get_payload(0) if parsed.is_multipart() else parsed
        body = part.get_payload(decode=True).decode("utf-8", "replace")
        for recipient in envelope.rcpt_tos:
            self.messages.append((recipient, subject, body))
        return "250 OK"


class Smtp:
    """A real SMTP server that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.box = Mailbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


class Webhook:
    """A JSON webhook receiver (apprise's json:// posts)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Serve:
    """`scoreline serve` as a real subprocess (killed at the end of the test whatever
    happens, see the autouse fixture below)."""

    running: list[Serve] = []

    def __init__(self, root: Path, env: dict[str, str], extra: tuple[str, ...] = ()) -> None:
        self.root = root
        self.env = env
        self.extra = extra
        self.process: subprocess.Popen[str] | None = None
        Serve.running.append(self)

    def start(self) -> None:
        port = self.port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scoreline",
                "--project",
                str(self.root),
                "serve",
                "--interval",
                "0.3",
                "--port",
                str(port),
                *self.extra,
            ],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

        def ready() -> bool:
            try:
                return urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status == 200
            except OSError:
                return False

        wait_for(ready, 180, "serve to start")  # slow while 50 orchestrators start

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        _, err = self.process.communicate(timeout=30)
        assert self.process.returncode == 0, err
        return err


@pytest.fixture(autouse=True)
def no_stray_serve() -> Iterator[None]:
    yield
    while Serve.running:
        process = Serve.running.pop().process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    server.start()
    yield server
    server.stop()


def _statuses(client: Client, pipeline: str) -> list[str]:
    return [e.status for e in client.executions(pipeline=pipeline, limit=500)]


def test_uploaded_training_data_runs_the_pipeline_and_everyone_is_told(
    tmp_path: Path, smtp: Smtp
) -> None:
    root = tmp_path / "abalone"
    copy_example("abalone", root)
    hook = Webhook()
    config = yaml.safe_load((root / "scoreline.yaml").read_text())
    config["notifications"]["urls"] = [f"json://127.0.0.1:{hook.port}/hooks"]
    (root / "scoreline.yaml").write_text(yaml.safe_dump(config))
    serve = Serve(root, {"SCORELINE_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}"})
    serve.start()
    try:
        client = Client.open(root)
        smtp.stop()  # the mail server is down while the run happens
        started = time.monotonic()
        client.upload(root / "data" / "training-data.csv", "training")
        wait_for(lambda: _statuses(client, "TrainingPipeline"), 5, "TrainingPipeline to start")
        assert time.monotonic() - started < 5
        wait_for(lambda: _statuses(client, "TrainingPipeline") == ["Succeeded"], 120, "the run")

        def emails_tried() -> bool:
            emails = [d for d in client.deliveries(limit=100) if d.target.startswith("email:")]
            return len(emails) == 3 and all(d.attempts >= 1 for d in emails)

        wait_for(emails_tried, 60, "a first, failed attempt of every email")
        assert smtp.box.messages == []
        smtp.start()
        events = client.events(limit=1000)
        # By default: the outcome, the step custom_notification_config names (approval
        # needed) and the version waiting for approval; not every Starting/Executing.
        expected = [
            e
            for e in events
            if e.detail.get("currentPipelineExecutionStatus") == "Succeeded"
            or (e.detail.get("stepName"), e.detail.get("currentStepStatus"))
            == ("ModelRegisterStep", "Succeeded")
            or e.detail_type == "Model Package State Change"
        ]
        assert len(expected) == 3, "at most 3 messages per recipient for one training run"
        recipients = 2  # envs/dev.yaml email_recipient
        wait_for(lambda: len(smtp.box.messages) >= len(expected) * recipients, 60, "the emails")
        wait_for(lambda: len(hook.bodies) >= len(expected), 30, "the webhooks")
        time.sleep(2)  # nothing more may arrive: each delivery exactly once
    finally:
        serve.stop()
    assert len(smtp.box.messages) == len(expected) * recipients
    assert len(hook.bodies) == len(expected)
    subjects = [subject for _, subject, _ in smtp.box.messages]
    assert "Pipeline: TrainingPipeline - Succeeded" in subjects
    assert "Model poc-mpg/1 is waiting for approval" in subjects
    assert not [s for s in subjects if "TrainingPreProcessStep" in s]
    register = [
        body
        for _, subject, body in smtp.box.messages
        if subject == "Pipeline Step: ModelRegisterStep - Succeeded - Action Required"
    ]
    assert len(register) == recipients
    assert register[0].startswith("A new model version is waiting for approval.")
    assert '"pipelineName": "TrainingPipeline"' in register[0]
    assert {b["title"] for b in hook.bodies} == set(subjects)
    deliveries = client.deliveries(limit=1000)
    assert {d.status for d in deliveries} == {"sent"}
    assert any(d.attempts > 1 for d in deliveries), "email was retried while SMTP was down"
    parameters = client.executions(pipeline="TrainingPipeline")[0].parameters
    assert parameters["InputData"].endswith(
        "pipeline_shared/batch-scoring/training/data/raw/training-data.csv"
    )


NOOP = {
    "name": "Ingest",
    "parameters": [{"name": "InputData", "type": "String"}],
    "steps": [
        {
            "name": "Copy",
            "kind": "processing",
            "script": "scripts/copy.py",
            "inputs": {"data": {"expr": "parameter", "name": "InputData"}},
            "outputs": ["out"],
        }
    ],
}


def test_fifty_files_start_fifty_executions_across_a_kill_and_restart(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "copy.py").write_text("print('ok')\n")
    (root / "pipelines" / "ingest.yaml").write_text(yaml.safe_dump(NOOP))
    (root / "scoreline.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "ingest",
                "triggers": [
                    {
                        "name": "inbox",
                        "location": "inbox",
                        "pattern": "*.csv",
                        "pipeline": "Ingest",
                        "settle_seconds": 0.5,
                    }
                ],
            }
        )
    )
    inbox = root / "inbox"
    inbox.mkdir()
    serve = Serve(root, {})
    serve.start()
    for i in range(50):  # dropped at once, each written under a temporary name first
        (inbox / f".part-{i}").write_text(f"row,{i}\n")
        (inbox / f".part-{i}").rename(inbox / f"file-{i:02d}.csv")
    client = Client.open(root)
    wait_for(lambda: len(client.executions(limit=500)) >= 10, 60, "the first executions")
    serve.kill()
    serve.start()
    try:
        wait_for(lambda: len(client.executions(limit=500)) >= 50, 120, "50 executions")
        wait_for(
            lambda: all(s != "Executing" for s in _statuses(client, "Ingest")),
            180,
            "every execution to end",
        )
        time.sleep(1)
    finally:
        serve.stop()
    executions = client.executions(limit=500)
    assert len(executions) == 50
    inputs = sorted(Path(e.parameters["InputData"]).name for e in executions)
    assert inputs == [f"file-{i:02d}.csv" for i in range(50)]
    assert {e.status for e in executions} == {"Succeeded"}, [
        (e.id, e.failure_reason) for e in executions if e.status != "Succeeded"
    ]


def test_a_cron_schedule_fires_at_its_times_under_a_given_clock(tmp_path: Path) -> None:
    store = MetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    def fired(schedule: ScheduleSettings, now: str) -> dict[str, Any] | None:
        event = poll_schedule(store, schedule, at(now))
        return event.detail if event is not None else None

    hourly = ScheduleSettings(name="hourly", cron="0 * * * *", pipeline="P")
    assert fired(hourly, "2026-11-26T09:30:00") is None  # the first poll only starts it
    assert fired(hourly, "2026-11-26T09:59:59") is None
    assert fired(hourly, "2026-11-26T10:00:01")["scheduledTime"] == "2026-11-26T10:00:00+00:00"
    assert fired(hourly, "2026-11-26T10:00:30") is None, "a tick fires once"
    # Stopped from 10:01 to 13:00:20: 11:00 and 12:00 were missed, 13:00 is due.
    due = fired(hourly, "2026-11-26T13:00:20")
    assert due is not None
    assert (due["scheduledTime"], due["missedTicks"]) == ("2026-11-26T13:00:00+00:00", 2)
    # Stopped until 18:30: with "skip" the missed 14:00-18:00 ticks do not run.
    assert fired(hourly, "2026-11-26T18:30:00") is None
    catch_up = ScheduleSettings(name="catch-up", cron="0 * * * *", pipeline="P", missed="run_once")
    assert fired(catch_up, "2026-11-26T09:30:00") is None
    once = fired(catch_up, "2026-11-26T18:30:00")
    assert once is not None
    assert (once["scheduledTime"], once["missedTicks"]) == ("2026-11-26T18:00:00+00:00", 9)
    assert fired(catch_up, "2026-11-26T18:31:00") is None
    berlin = ScheduleSettings(
        name="berlin", cron="0 9 * * *", timezone="Europe/Berlin", pipeline="P"
    )
    assert fired(berlin, "2026-11-26T07:00:00") is None
    assert fired(berlin, "2026-11-26T07:59:00") is None
    assert fired(berlin, "2026-11-26T08:00:05")["scheduledTime"] == "2026-11-26T09:00:00+01:00"


def test_a_schedule_starts_its_pipeline_through_serve(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "copy.py").write_text("print('ok')\n")
    pipeline = {
        **NOOP,
        "parameters": [{"name": "InputData", "type": "String", "default": "scripts/copy.py"}],
    }
    (root / "pipelines" / "ingest.yaml").write_text(yaml.safe_dump(pipeline))
    (root / "scoreline.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "cron",
                "schedules": [{"name": "nightly", "cron": "0 2 * * *", "pipeline": "Ingest"}],
            }
        )
    )
    client = Client.open(root)

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)

    client.serve_once(at("2026-11-26T01:00:00"))
    client.serve_once(at("2026-11-26T01:59:00"))
    assert client.executions() == []
    client.serve_once(at("2026-11-26T02:00:02"))
    client.serve_once(at("2026-11-26T02:00:40"))
    (execution,) = client.executions()
    assert execution.pipeline_name == "Ingest"
    assert execution.client_request_token.startswith("rule:schedule.nightly:")


@pytest.fixture
def seaweed(tmp_path: Path) -> Iterator[dict[str, str]]:
    with seaweed_server(tmp_path / "seaweed") as env:
        yield env


def test_objects_landing_in_an_s3_bucket_start_executions(
    tmp_path: Path, seaweed: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    use_s3(monkeypatch, seaweed)
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "envs").mkdir()
    (root / "scripts" / "copy.py").write_text("print('ok')\n")
    (root / "pipelines" / "ingest.yaml").write_text(yaml.safe_dump(NOOP))
    (root / "envs" / "dev.yaml").write_text(
        yaml.safe_dump(
            {
                "bucket_name": "s3://landing",
                "bucket_prefix": "shared",
                "bucket_train_prefix": "training",
            }
        )
    )
    (root / "scoreline.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "s3",
                "triggers": [
                    {
                        "name": "landing",
                        "pattern": "*.csv",
                        "pipeline": "Ingest",
                        "location": "${bucket_name}/${bucket_prefix}/${bucket_train_prefix}",
                    }
                ],
            }
        )
    )
    client = Client.open(root)
    small = root / "small.csv"
    small.write_text("a,b\n1,2\n")
    uri = client.upload(small, "training")
    assert uri == "s3://landing/shared/training/small.csv"
    fs = s3fs.S3FileSystem()
    with fs.open("landing/shared/training/big.csv", "wb", block_size=5 * 2**20) as handle:
        for _ in range(12):  # 12 MiB in 5 MiB parts: a multipart upload
            handle.write(b"x" * 2**20)
    fs.put_file(str(small), "landing/shared/training/ignored.txt")

    def executions() -> list[Any]:
        client.serve_once()
        return client.executions(limit=100)

    wait_for(lambda: len(executions()) >= 2, 60, "two executions")
    fs.pipe_file("landing/shared/training/small.csv", b"a,b\n3,4\n")  # a new version
    wait_for(lambda: len(executions()) >= 3, 60, "the new version's execution")
    for _ in range(3):
        client.serve_once()
    found = client.executions(limit=100)
    assert sorted(e.parameters["InputData"] for e in found) == [
        "s3://landing/shared/training/big.csv",
        "s3://landing/shared/training/small.csv",
        "s3://landing/shared/training/small.csv",
    ]
    created = client.events(detail_type="Object Created", limit=100)
    sizes = sorted(e.detail["object"]["size"] for e in created)
    assert sizes == [8, 8, 12 * 2**20]
    wait_for(
        lambda: {e.status for e in client.executions(limit=100)} == {"Succeeded"},
        120,
        "the executions to read their objects from S3",
    )


COUNT_RUNS = """
import os
with open(os.path.join(os.environ["SCORELINE_PROJECT_DIR"], "runs.log"), "a") as log:
    log.write(os.environ["SCORELINE_EXECUTION_ID"] + "\\n")
"""


def test_two_serves_share_one_postgresql_database_across_a_kill(
    tmp_path: Path, postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.servers import new_database

    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "copy.py").write_text(COUNT_RUNS)
    (root / "pipelines" / "ingest.yaml").write_text(yaml.safe_dump(NOOP))
    hook = Webhook()
    trigger = {"name": "inbox", "location": "inbox", "pattern": "*.csv", "pipeline": "Ingest",
               "settle_seconds": 0.5}  # fmt: skip
    (root / "scoreline.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "ingest",
                "triggers": [trigger],
                "notifications": {"urls": [f"json://127.0.0.1:{hook.port}/hooks"]},
            }
        )
    )
    env = {"SCORELINE_STORE": new_database(postgres_server_url)}
    inbox = root / "inbox"
    inbox.mkdir()
    first, second = Serve(root, env), Serve(root, env)
    first.start()
    second.start()
    for i in range(50):
        (inbox / f".part-{i}").write_text(f"row,{i}\n")
        (inbox / f".part-{i}").rename(inbox / f"file-{i:02d}.csv")
    monkeypatch.setenv("SCORELINE_STORE", env["SCORELINE_STORE"])
    client = Client.open(root)
    wait_for(lambda: len(client.executions(limit=500)) >= 10, 60, "the first executions")
    first.kill()  # the other one carries on alone
    wait_for(lambda: len(client.executions(limit=500)) >= 50, 120, "50 executions")
    wait_for(
        lambda: all(s != "Executing" for s in _statuses(client, "Ingest")),
        180,
        "every execution to end",
    )
    events = [  # each execution's outcome (the default selection)
        e
        for e in client.events(limit=5000)
        if e.detail.get("currentPipelineExecutionStatus") == "Succeeded"
    ]
    assert len(events) == 50
    # a delivery leased by the killed serve is sent again when its lease (60 s) ends
    wait_for(lambda: len(hook.bodies) >= len(events), 150, "every notification")
    time.sleep(2)
    second.stop()
    executions = client.executions(limit=500)
    assert len(executions) == 50
    inputs = sorted(Path(e.parameters["InputData"]).name for e in executions)
    assert inputs == [f"file-{i:02d}.csv" for i in range(50)]
    assert {e.status for e in executions} == {"Succeeded"}
    runs = (root / "runs.log").read_text().split()
    assert sorted(runs) == sorted(e.id for e in executions), "a step ran twice or not at all"
    bodies = [json.dumps(b, sort_keys=True) for b in hook.bodies]
    assert len(set(bodies)) == len(events), "an event was not notified"
    # at-least-once with a window of one send: only a send in flight at the kill may repeat
    assert len(bodies) - len(set(bodies)) <= 1


def _history(project: ProjectDir, hook: Webhook) -> list[str]:
    """A project with three finished executions and a webhook target."""
    script = project.script("ok.py", "print('ok')\n")
    project.pipeline(
        {"name": "P", "steps": [{"name": "S", "kind": "processing", "script": script}]}
    )
    config = {"name": "test", "notifications": {"urls": [f"json://127.0.0.1:{hook.port}/hooks"]}}
    (project.root / "scoreline.yaml").write_text(yaml.safe_dump(config))
    return [project.cli_json("run", "P", "--wait")["id"] for _ in range(3)]


def test_a_first_serve_does_not_mail_the_history_but_what_happens_next(
    project: ProjectDir,
) -> None:
    hook = Webhook()
    old = _history(project, hook)
    client = project.client()
    for n in range(300):  # a project with a long history of outcomes people were told of
        client.store.append_event(
            "Pipeline Execution Status Change",
            {"pipelineName": "P", "pipelineExecutionId": f"old-{n}",
             "currentPipelineExecutionStatus": "Failed"},
        )  # fmt: skip
    old += [f"old-{n}" for n in range(300)]
    last_old = max(e.seq for e in client.events(limit=1000))
    assert last_old > 300
    serve = Serve(project.root, {})
    serve.start()
    try:
        wait_for(lambda: client.store.rules.load("notifications")[0] > 0, 30, "the cursor")
        new = project.cli_json("run", "P", "--wait")["id"]
        wait_for(
            lambda: any(new in json.dumps(b) for b in hook.bodies), 60, "the new run's message"
        )
    finally:
        serve.stop()
    assert not [b for b in hook.bodies if any(i in json.dumps(b) for i in old)]
    delivered = {d.event_seq for d in client.deliveries(limit=1000)}
    assert delivered
    assert min(delivered) > last_old


def test_replay_since_sends_the_history_once(project: ProjectDir) -> None:
    hook = Webhook()
    old = _history(project, hook)
    client = project.client()
    history = [  # by default, each run's outcome
        e
        for e in client.events(limit=1000)
        if e.detail.get("currentPipelineExecutionStatus") == "Succeeded"
    ]
    assert len(history) == 3
    serve = Serve(project.root, {}, ("--replay-since", "1h"))
    serve.start()
    try:
        wait_for(lambda: len(hook.bodies) >= len(history), 60, "the replayed messages")
    finally:
        serve.stop()
    assert len(hook.bodies) == len(history)
    assert all(any(i in json.dumps(b) for b in hook.bodies) for i in old)


def test_serve_reloads_changed_settings_and_keeps_the_old_ones_when_invalid(
    project: ProjectDir,
) -> None:
    first, second = Webhook(), Webhook()
    _history(project, first)
    serve = Serve(project.root, {})
    serve.start()
    config = yaml.safe_load((project.root / "scoreline.yaml").read_text())
    store = project.client().store
    try:
        config["notifications"] = {
            "urls": [f"json://127.0.0.1:{second.port}/hooks"],
            "subjects": "reference",
        }
        (project.root / "scoreline.yaml").write_text(yaml.safe_dump(config))
        time.sleep(1)  # let a round pass, so the run below happens after the reload
        reloaded = project.cli_json("run", "P", "--wait")["id"]
        wait_for(lambda: second.bodies, 60, "the message to the new target")

        config["notifications"]["subjects"] = "nope"
        (project.root / "scoreline.yaml").write_text(yaml.safe_dump(config))
        time.sleep(1)
        kept = "e-after-a-bad-change"  # the command line refuses the invalid file: an event
        store.append_event(
            "Pipeline Execution Status Change",
            {
                "pipelineName": "P",
                "pipelineExecutionId": kept,
                "currentPipelineExecutionStatus": "Succeeded",
            },
        )
        wait_for(lambda: len(second.bodies) >= 2, 60, "the message under the kept settings")
    finally:
        err = serve.stop()
    assert first.bodies == [], "the old target got nothing after the change"
    titles = [b["title"] for b in second.bodies]
    assert titles == ["SageMaker Pipeline: p Execution - Succeeded"] * 2
    assert reloaded in second.bodies[0]["message"]
    assert kept in second.bodies[1]["message"]
    assert f"/ui/executions/{reloaded}" in second.bodies[0]["message"], "links to the served UI"
    assert re.search(r"INFO settings reloaded$", err, re.MULTILINE)
    assert "ERROR the changed settings are not used" in err
    assert "'nope' is not a subject preset" in err


def test_serve_outlives_a_store_outage_and_says_so(tmp_path: Path) -> None:
    from tests.servers import PostgresCluster, new_database

    cluster = PostgresCluster()
    cluster.start()
    try:
        root = tmp_path / "project"
        (root / "pipelines").mkdir(parents=True)
        (root / "scripts").mkdir()
        (root / "scripts" / "copy.py").write_text("print('ok')\n")
        (root / "pipelines" / "ingest.yaml").write_text(yaml.safe_dump(NOOP))
        hook = Webhook()
        trigger = {"name": "inbox", "location": "inbox", "pattern": "*.csv",
                   "pipeline": "Ingest", "settle_seconds": 0.5}  # fmt: skip
        config = {
            "name": "outage",
            "triggers": [trigger],
            "notifications": {"urls": [f"json://127.0.0.1:{hook.port}/hooks"]},
        }
        (root / "scoreline.yaml").write_text(yaml.safe_dump(config))
        (root / "inbox").mkdir()
        store = {"SCORELINE_STORE": new_database(cluster.url)}
        serve = Serve(root, store, ("--log-format", "json"))
        serve.start()
        health = f"http://127.0.0.1:{serve.port}/api/v1/health"
        wait_for(lambda: _health(health)["loops"]["serve"]["last_success"], 30, "a round")

        cluster.stop()  # the database is gone for 20 s; a file arrives meanwhile
        (root / "inbox" / "during-outage.csv").write_text("row,1\n")
        degraded = wait_for(lambda: _degraded(health), 30, "serve to report the outage")
        assert degraded["loops"]["serve"]["consecutive_failures"] >= 1
        time.sleep(20)
        assert serve.process is not None
        assert serve.process.poll() is None, "serve is alive through the outage"
        cluster.start()

        def delivered() -> bool:
            return any("Succeeded" in json.dumps(b) for b in hook.bodies)

        wait_for(delivered, 120, "the execution's outcome, after the outage")
        assert _health(health)["status"] == "ok"
        err = serve.stop()
    finally:
        cluster.remove()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    failed = [entry for entry in lines if entry["message"].startswith("round failed")]
    assert failed, err
    assert {entry["level"] for entry in failed} == {"error"}
    assert any(entry["message"].startswith("recovered after") for entry in lines)
    assert any(entry["message"].startswith("started Ingest execution") for entry in lines)
    assert any(
        entry["message"].startswith("sent 'Pipeline: Ingest - Succeeded'") for entry in lines
    )


def _health(url: str) -> dict[str, Any]:
    with urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def _degraded(url: str) -> dict[str, Any] | None:
    found = _health(url)
    return found if found["status"] == "degraded" else None


def test_a_trigger_start_that_fails_is_retried_until_it_starts_across_a_restart(
    tmp_path: Path,
) -> None:
    """The pipeline a trigger starts is broken when a file arrives: the start is kept and
    retried, so fixing the file is enough (with `serve` running, and across a kill -9)."""
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "copy.py").write_text("print('ok')\n")
    pipeline = root / "pipelines" / "ingest.yaml"
    trigger = {"name": "inbox", "location": "inbox", "pattern": "*.csv",
               "pipeline": "Ingest", "settle_seconds": 0.2}  # fmt: skip
    (root / "scoreline.yaml").write_text(yaml.safe_dump({"name": "t", "triggers": [trigger]}))
    (root / "inbox").mkdir()
    client = Client.open(root)

    def failed_starts() -> int:
        found = client.events(detail_type="Rule Decision", limit=100)
        return sum(e.detail["decision"] == "failed" for e in found)

    def overview() -> dict[str, Any]:
        (inbox,) = json.loads(_cli(root, "triggers", "list", "--json"))
        return inbox  # type: ignore[no-any-return]

    serve = Serve(root, {})
    serve.start()
    pipeline.write_text("name: Ingest\nsteps: [\n")  # broken
    (root / "inbox" / "a.csv").write_text("row,1\n")
    wait_for(lambda: failed_starts() == 1, 30, "the failed start")
    listed = overview()
    assert (listed["pending"], listed["failed"], listed["emitted"]) == (1, 0, 1)
    assert "ingest.yaml" in listed["starts"][0]["last_error"]
    pipeline.write_text(yaml.safe_dump(NOOP))  # fixed, serve not restarted
    wait_for(lambda: client.executions(), 60, "the retried start")

    pipeline.write_text("name: Ingest\nsteps: [\n")
    (root / "inbox" / "b.csv").write_text("row,2\n")
    wait_for(lambda: failed_starts() == 2, 30, "the second failed start")
    serve.kill()
    pipeline.write_text(yaml.safe_dump(NOOP))
    serve.start()  # a new serve finds the start it has to retry
    try:
        wait_for(lambda: len(client.executions()) == 2, 60, "the second retried start")
        wait_for(lambda: all(s != "Executing" for s in _statuses(client, "Ingest")), 60, "the runs")
    finally:
        serve.stop()
    executions = client.executions()
    assert sorted(Path(e.parameters["InputData"]).name for e in executions) == ["a.csv", "b.csv"]
    assert {e.status for e in executions} == {"Succeeded"}
    listed = overview()
    assert (listed["pending"], listed["failed"], listed["emitted"]) == (0, 0, 2)
    assert [i.status for i in client.store.intents.list()] == ["done", "done"]


def _cli(root: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "scoreline", "--project", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_burst_waits_pending_and_never_runs_more_orchestrators_than_allowed(
    tmp_path: Path,
) -> None:
    root = tmp_path / "project"
    (root / "pipelines").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "scripts" / "copy.py").write_text("print('ok')\n")
    (root / "pipelines" / "ingest.yaml").write_text(yaml.safe_dump(NOOP))
    trigger = {"name": "inbox", "location": "inbox", "pattern": "*.csv",
               "pipeline": "Ingest", "settle_seconds": 0.5}  # fmt: skip
    config = {"name": "queue", "triggers": [trigger],
              "executor": {"max_concurrent_executions": 2}}  # fmt: skip
    (root / "scoreline.yaml").write_text(yaml.safe_dump(config))
    inbox = root / "inbox"
    inbox.mkdir()
    most, done = [0], threading.Event()

    def orchestrators() -> int:
        """Orchestrator processes of this project alive now (a step being forked by one
        shows its parent's command line until it execs: not counted)."""
        found: dict[str, str] = {}
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                parts = cmdline.read_bytes().split(b"\0")
                stat = (cmdline.parent / "stat").read_text()
            except OSError:
                continue
            if b"_orchestrate" in parts and str(root).encode() in parts:
                found[cmdline.parent.name] = stat.rpartition(")")[2].split()[1]
        return sum(parent not in found for parent in found.values())

    def sample() -> None:
        while not done.is_set():
            most[0] = max(most[0], orchestrators())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    serve = Serve(root, {})
    serve.start()
    client = Client.open(root)
    try:
        for i in range(50):
            (inbox / f".part-{i}").write_text(f"row,{i}\n")
            (inbox / f".part-{i}").rename(inbox / f"file-{i:02d}.csv")
        wait_for(lambda: len(client.executions(limit=500)) == 50, 60, "50 executions")
        assert "Pending" in _statuses(client, "Ingest"), "those beyond the limit wait"
        queued = [e for e in client.executions(limit=500) if e.status == "Pending"]
        positions = sorted(client.store.queue_position(e) or 0 for e in queued)
        assert positions == list(range(1, len(queued) + 1))
        wait_for(
            lambda: all(s in ("Succeeded", "Failed") for s in _statuses(client, "Ingest")),
            240,
            "every execution to end",
        )
    finally:
        done.set()
        sampler.join()
        serve.stop()
    executions = client.executions(limit=500)
    assert {e.status for e in executions} == {"Succeeded"}
    assert 1 <= most[0] <= 2, f"{most[0]} orchestrators were alive at once"
    began = [
        e.detail["pipelineExecutionId"]
        for e in client.events(detail_type="Pipeline Execution Status Change", limit=10_000)
        if e.detail["currentPipelineExecutionStatus"] == "Executing"
    ]
    by_id = {e.id: Path(e.parameters["InputData"]).name for e in executions}
    assert [by_id[i] for i in began] == [f"file-{i:02d}.csv" for i in range(50)], "in order"
    logs = {p.name for p in (root / ".scoreline" / "logs").glob("orchestrator-*.log")}
    assert logs == {f"orchestrator-{e.id}.log" for e in executions}, "each its own log"
