"""Notification messages, targets and the delivery outbox on a real store."""

from __future__ import annotations

import re
import socket
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from scoreline.errors import ConfigError
from scoreline.events.notify import Notifier, custom_messages, message, targets
from scoreline.settings import NotificationSettings
from scoreline.store import MetadataStore
from scoreline.store.tables import utcnow

STEP = "Pipeline Execution Step Status Change"


def _step_event(store: MetadataStore, step: str, status: str, reason: str | None = None) -> None:
    store.append_event(
        STEP,
        {
            "pipelineName": "TrainingPipeline",
            "pipelineExecutionId": "abc123",
            "stepName": step,
            "stepType": "processing",
            "previousStepStatus": "Executing",
            "currentStepStatus": status,
            "failureReason": reason,
        },
    )


def _execution_events(store: MetadataStore, *statuses: str) -> None:
    for status in statuses:
        store.append_event(
            "Pipeline Execution Status Change",
            {"pipelineName": "P", "pipelineExecutionId": "e1",
             "currentPipelineExecutionStatus": status},
        )  # fmt: skip


def _awaiting_approval(store: MetadataStore, **fields: Any) -> None:
    """Version 1 of group ``g``, waiting for approval."""
    store.models.create_version(
        "g",
        approval_status="PendingManualApproval",
        flavor="xgboost",
        artifact_uri="file:///m",
        artifact_sha256="0" * 64,
        actor="ann",
        **fields,
    )


def test_subjects_bodies_and_custom_messages(tmp_path: Path, store_url: str) -> None:
    store = MetadataStore(store_url)
    customs = custom_messages(
        [
            {
                "step_name": "ModelRegister*",
                "step_status": "Succeeded",
                "step_custom_message": "Approve it.",
            },
            {"step_name": "TrainingEval", "step_status": "Failed", "step_msg": "Look at it."},
        ]
    )
    _step_event(store, "ModelRegisterStep-RegisterModel", "Succeeded")
    _step_event(store, "TrainingEval", "Failed", "script exited with code 1: boom")
    _step_event(store, "TrainingEval", "Succeeded")
    first, second, third = store.list_events()
    found = message(first, customs, "http://127.0.0.1:8000/ui", lambda e, s: "")
    body = found.text()
    assert found.subject == (
        "Pipeline Step: ModelRegisterStep-RegisterModel - Succeeded - Action Required"
    )
    assert body.startswith("Approve it.\n")
    assert "In the UI: http://127.0.0.1:8000/ui/executions/abc123" in body
    assert '"currentStepStatus": "Succeeded"' in body
    found = message(second, customs, None, lambda e, s: "Traceback...\nboom")
    body = found.text()
    assert found.subject == "Pipeline Step: TrainingEval - Failed - Action Required"
    assert body.startswith("Look at it.\n")
    assert "Reason:    script exited with code 1: boom" in body
    assert "Log (last lines):\nTraceback...\nboom" in body
    assert message(third, customs, None, lambda e, s: "").subject == (
        "Pipeline Step: TrainingEval - Succeeded"
    )


def test_the_html_part_is_a_summary_table_with_links_and_nothing_from_events_is_markup(
    store_url: str,
) -> None:
    store = MetadataStore(store_url)
    _step_event(store, "Train<script>", "Failed", "bad <b>cell</b>")
    (event,) = store.list_events()
    found = message(event, [], "http://ui.example/ui", lambda e, s: "line 1\n<i>line 2</i>")
    html = found.html()
    rows = re.findall(r"<span[^>]*>([^<]*):</span> ([^<]*)<br>", html)
    assert ("Step", "Train&lt;script&gt; (processing)") in rows
    assert ("Reason", "bad &lt;b&gt;cell&lt;/b&gt;") in rows
    url = "http://ui.example/ui/executions/abc123"
    assert f'In the UI: <a href="{url}">{url}</a>' in html
    assert "<pre>line 1\n&lt;i&gt;line 2&lt;/i&gt;</pre>" in html
    assert "<script>" not in html
    assert "<b>" not in html
    assert "<i>" not in html


def test_subjects_follow_the_preset_or_the_templates(store_url: str) -> None:
    store = MetadataStore(store_url)
    _step_event(store, "TrainingEval", "Failed")
    store.append_event(
        "Pipeline Execution Status Change",
        {
            "pipelineName": "TrainingPipeline",
            "pipelineExecutionId": "abc123",
            "currentPipelineExecutionStatus": "Succeeded",
        },
    )
    step, outcome = store.list_events()
    reference = NotificationSettings(subjects="reference").subject_templates()
    assert message(step, [], None, lambda e, s: "", subjects=reference).subject == (
        "SageMaker Pipeline Step: TrainingEval Execution - Failed"
    )
    assert message(outcome, [], None, lambda e, s: "", subjects=reference).subject == (
        "SageMaker Pipeline: trainingpipeline Execution - Succeeded"
    )
    own = NotificationSettings(subjects={"execution": "[{status}] {pipeline} {execution}"})
    assert message(
        outcome, [], None, lambda e, s: "", subjects=own.subject_templates()
    ).subject == ("[Succeeded] TrainingPipeline abc123")
    with pytest.raises(ValidationError, match=r"execution: unknown field \{pipline\}"):
        NotificationSettings(subjects={"execution": "{pipline}"})
    with pytest.raises(ValidationError, match="'sagemaker' is not a subject preset"):
        NotificationSettings(subjects="sagemaker")


def test_email_targets_come_from_the_environment_and_smtp_url() -> None:
    settings = NotificationSettings(
        smtp="smtp://mailer:p%40ss@127.0.0.1:2525?starttls=1",
        urls=["json://user:secret@127.0.0.1:9000/hook"],
    )
    email, hook = targets(settings, {"email_recipient": ["a@example.com", "b@example.com"]})
    assert email.name == "email:a@example.com,b@example.com"
    assert email.url.startswith("mailtos://mailer:p%40ss@127.0.0.1:2525?")
    assert "mode=starttls" in email.url
    assert hook.name == "json://127.0.0.1:9000/hook", "no secrets in the records"
    assert targets(NotificationSettings(), {"email_recipient": ["a@example.com"]}) == []
    with pytest.raises(ConfigError, match="is not an SMTP URL"):
        targets(NotificationSettings(smtp="http://x"), {"email_recipient": ["a@example.com"]})
    with pytest.raises(ConfigError, match="needs step_name, step_status"):
        custom_messages([{"step_name": "X"}])


class Receiver:
    """A JSON webhook receiver on a given port, started when the test says so."""

    def __init__(self, port: int) -> None:
        from http.server import BaseHTTPRequestHandler, HTTPServer

        bodies: list[bytes] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.bodies = bodies
        self.server = HTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_failing_target_is_retried_fast_then_slowly_until_it_recovers_or_a_day_passes(
    tmp_path: Path, store_url: str
) -> None:
    store = MetadataStore(store_url)
    with socket.socket() as sock:  # a port nothing listens on yet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = NotificationSettings(urls=[f"json://127.0.0.1:{port}/hook"], max_attempts=2)
    notifier = Notifier(store, settings, {}, lambda e, s: "")
    _step_event(store, "Prep", "Failed")  # sent by default; "Other" is not
    store.append_event("Other", {})
    now = utcnow()
    assert notifier.enqueue(now) == 1
    assert notifier.enqueue(now) == 0, "each event is queued once"
    assert notifier.deliver(now) == []
    (pending,) = store.deliveries.list()
    assert (pending.status, pending.attempts) == ("pending", 1)
    assert pending.next_attempt_at > now
    assert notifier.deliver(now) == [], "not due again before its backoff"
    notifier.deliver(now + timedelta(seconds=5))
    (slow,) = store.deliveries.list()
    assert (slow.status, slow.attempts) == ("pending", 2), "past the fast retries, it waits"
    assert slow.next_attempt_at == now + timedelta(seconds=5, minutes=10)
    assert slow.last_error

    receiver = Receiver(port)  # the target is back
    try:
        assert notifier.deliver(now + timedelta(minutes=6)) == [], "not before its slow retry"
        assert len(notifier.deliver(now + timedelta(minutes=11))) == 1
        assert len(receiver.bodies) == 1
        (sent,) = store.deliveries.list()
        assert (sent.status, sent.attempts) == ("sent", 3)
        assert notifier.deliver(now + timedelta(hours=1)) == [], "sent once"
    finally:
        receiver.close()

    _step_event(store, "Train", "Failed")
    later = now + timedelta(hours=2)
    notifier.enqueue(later)
    moment = later
    while (store.deliveries.list(limit=1)[0].status) == "pending":
        moment = max(moment, store.deliveries.list(limit=1)[0].next_attempt_at)
        notifier.deliver(moment)
    dead = store.deliveries.list(limit=1)[0]
    assert dead.status == "failed", "a dead letter after a day of attempts"
    assert later + timedelta(hours=23, minutes=50) <= moment <= later + timedelta(hours=24)
    assert store.deliveries.retry_failed(moment, [dead.id]) == 1
    assert store.deliveries.list(limit=1)[0].status == "pending"


def test_notify_rules_add_the_events_they_match(tmp_path: Path, store_url: str) -> None:
    store = MetadataStore(store_url)
    settings = NotificationSettings(urls=["json://127.0.0.1:9/hook"], events=[])
    pattern = {"detail-type": ["Model Quality Violation"]}
    notifier = Notifier(store, settings, {}, lambda e, s: "", [pattern])
    store.append_event("Model Quality Violation", {"pipelineName": "InferencePipeline"})
    _step_event(store, "Prep", "Succeeded")
    assert notifier.enqueue(utcnow()) == 1
    (delivery,) = store.deliveries.list()
    assert delivery.subject == "Model Quality Violation: InferencePipeline"


def test_by_default_people_hear_about_outcomes_failures_violations_and_approvals(
    tmp_path: Path, store_url: str
) -> None:
    store = MetadataStore(store_url)
    customs = [{"step_name": "ModelRegisterStep", "step_status": "Succeeded",
                "step_custom_message": "A new model version is waiting for approval."}]  # fmt: skip
    variables = {"custom_notification_config": customs}
    settings = NotificationSettings(urls=["json://127.0.0.1:9/hook"], ui_url="http://h/ui")
    notifier = Notifier(store, settings, variables, lambda e, s: "")
    for step, status in (
        ("Prep", "Starting"),
        ("Prep", "Executing"),
        ("Prep", "Succeeded"),
        ("Train", "Failed"),
        ("ModelRegisterStep", "Succeeded"),
    ):
        _step_event(store, step, status)  # fmt: skip
    _awaiting_approval(store, metrics={"regression_metrics": {"mse": {"value": 5.01853}}})
    _execution_events(store, "Executing", "Succeeded")
    store.append_event("Data Quality Violation", {"pipelineName": "P", "violations": 2})
    store.append_event("Rule Decision", {"rule": "r", "decision": "suppressed"})
    notifier.enqueue(utcnow())
    subjects = [d.subject for d in store.deliveries.list(limit=100)][::-1]
    assert subjects == [
        "Pipeline Step: Train - Failed",
        "Pipeline Step: ModelRegisterStep - Succeeded - Action Required",
        "Model g/1 is waiting for approval",
        "Pipeline: P - Succeeded",
        "Data Quality Violation: P",
    ]
    approval = next(d for d in store.deliveries.list(limit=100) if d.subject.startswith("Model"))
    assert "Metrics:   mse 5.019" in approval.body
    assert "Approve:   scoreline models approve g 1 -m 'reviewed'" in approval.body
    assert "In the UI: http://h/ui/models" in approval.body

    every = MetadataStore(f"sqlite:///{tmp_path / 'every.db'}")
    wide = NotificationSettings(
        urls=["json://127.0.0.1:9/hook"], events=["Pipeline Execution Step Status Change"]
    )
    _step_event(every, "Prep", "Starting")
    _step_event(every, "Prep", "Succeeded")
    assert Notifier(every, wide, {}, lambda e, s: "").enqueue(utcnow()) == 2, "opt in to all"


@pytest.mark.parametrize(
    ("notify_on", "expected"),
    [
        (["outcomes"], ["Pipeline: P - Succeeded"]),
        (
            ["approvals", "failed_steps"],
            ["Pipeline Step: Train - Failed", "Model g/1 is waiting for approval"],
        ),
        (
            ["steps", "executions"],
            [
                "Pipeline Step: Prep - Starting",
                "Pipeline Step: Train - Failed",
                "Pipeline: P - Executing",
                "Pipeline: P - Succeeded",
            ],
        ),
        (["model_changes"], ["Model g/1 is waiting for approval", "Model g/1: Approved"]),
    ],
)
def test_notify_on_narrows_or_widens_what_is_sent(
    store_url: str, notify_on: list[str], expected: list[str]
) -> None:
    store = MetadataStore(store_url)
    _step_event(store, "Prep", "Starting")
    _step_event(store, "Train", "Failed")
    _execution_events(store, "Executing", "Succeeded")
    _awaiting_approval(store)
    store.models.set_status("g", 1, "Approved", "bob")
    settings = NotificationSettings(urls=["json://127.0.0.1:9/hook"], notify_on=notify_on)
    Notifier(store, settings, {}, lambda e, s: "").enqueue(utcnow())
    assert [d.subject for d in store.deliveries.list(limit=100)][::-1] == expected
