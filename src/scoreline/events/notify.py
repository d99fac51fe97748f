"""Notifications: status changes from the outbox to people, through apprise.

Subjects follow ``notifications.subjects``: scoreline's (``Pipeline Step: <step> -
<status>``, ``Pipeline: <name> - <status>``), the reference's preset, or templates per kind.
A message is a summary table, commands, links to the UI and the event's JSON detail, sent
as HTML with a plain-text part that keeps its lines. Entries of
``custom_notification_config`` (``step_name`` — exact or a glob —, ``step_status``,
``step_custom_message``; ``step_msg`` accepted too, the key the reference's Lambda read)
put their message first and add " - Action Required" to the subject. Deliveries go through
the store's outbox with retries; a failed delivery never fails a pipeline.

What is sent by default is what people act on: pipeline outcomes (Succeeded, Failed,
Stopped), failed steps, the steps ``custom_notification_config`` names, quality violations
and model versions waiting for approval, plus whatever a rule with ``notify: true``
matches. ``notifications.notify_on`` narrows that list or widens it (every execution or
step status change, every approval change); ``notifications.events`` (a list of
detail-types) sends every event of those types instead.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from scoreline.errors import ConfigError, ScorelineError
from scoreline.events.patterns import matches
from scoreline.settings import NotificationSettings, SubjectTemplates
from scoreline.store import MetadataStore
from scoreline.store.outage import ride_out
from scoreline.store.records import DeliveryRecord, EventRecord
from scoreline.types import VIOLATIONS, DetailType

LOG = logging.getLogger("scoreline.notify")
CURSOR = "notifications"
OUTCOMES = ("Succeeded", "Failed", "Stopped")
AWAITING = "PendingManualApproval"
SMTP_ENV = "SCORELINE_SMTP_URL"


@dataclass(frozen=True)
class Target:
    """Where a message goes: a name for the records (no secrets) and an apprise URL."""

    name: str
    url: str


@dataclass(frozen=True)
class CustomMessage:
    step_name: str
    step_status: str
    message: str

    def matches(self, step: str, status: str) -> bool:
        return status == self.step_status and fnmatch.fnmatchcase(step, self.step_name)


def custom_messages(raw: Any) -> list[CustomMessage]:
    """``custom_notification_config`` entries from the environment file."""
    found = []
    for index, item in enumerate(raw or []):
        where = f"custom_notification_config[{index}]"
        if not isinstance(item, dict):
            raise ConfigError("expected {step_name, step_status, step_custom_message}", where=where)
        message = item.get("step_custom_message", item.get("step_msg"))
        if not item.get("step_name") or not item.get("step_status") or not message:
            raise ConfigError("needs step_name, step_status and step_custom_message", where=where)
        found.append(CustomMessage(str(item["step_name"]), str(item["step_status"]), str(message)))
    return found


def _email_url(smtp: str, sender: str, recipients: list[str]) -> Target:
    parts = urlsplit(smtp)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            f"'{parts.scheme}://...' is not an SMTP URL",
            where=f"${SMTP_ENV} or scoreline.yaml notifications.smtp",
            hint="use smtp://host:port, smtp://user:password@host:port?starttls=1 or smtps://",
        )
    options = parse_qs(parts.query)
    mode = "ssl" if parts.scheme == "smtps" else "starttls" if "starttls" in options else "insecure"
    credentials = ""
    if parts.username:
        credentials = quote(unquote(parts.username), safe="")
        if parts.password:
            credentials += ":" + quote(unquote(parts.password), safe="")
        credentials += "@"
    scheme = "mailtos" if mode != "insecure" else "mailto"
    port = parts.port or (465 if mode == "ssl" else 25)
    url = (
        f"{scheme}://{credentials}{parts.hostname}:{port}?from={quote(sender)}"
        f"&to={','.join(quote(r) for r in recipients)}&mode={mode}&smtp={parts.hostname}"
    )
    return Target(f"email:{','.join(recipients)}", url)


def targets(settings: NotificationSettings, variables: Mapping[str, Any]) -> list[Target]:
    """Email (recipients from the environment, server from the settings) and apprise URLs."""
    found = []
    recipients = variables.get("email_recipient") or []
    if isinstance(recipients, str):
        recipients = [r.strip() for r in recipients.split(",") if r.strip()]
    smtp = os.environ.get(SMTP_ENV) or settings.smtp
    if recipients and smtp:
        found.append(_email_url(smtp, settings.sender, [str(r) for r in recipients]))
    for url in settings.urls:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
        shown = f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"
        found.append(Target(shown, url))
    return found


@dataclass
class Message:
    """One notification: a subject, a summary table, commands and links, the failed step's
    log tail and the event detail; as plain text (kept in the outbox) and as HTML."""

    subject: str
    detail: dict[str, Any]
    intro: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)
    commands: list[tuple[str, str]] = field(default_factory=list)
    links: list[tuple[str, str]] = field(default_factory=list)
    log: str = ""

    def text(self) -> str:
        def aligned(pairs: list[tuple[str, str]]) -> list[str]:
            return [f"{label + ':':<11}{value}" for label, value in pairs]

        lines = [self.intro, ""] if self.intro else []
        lines += aligned(self.rows)
        if self.commands:
            lines += ["", *aligned(self.commands)]
        if self.log:
            lines += ["", "Log (last lines):", self.log]
        if self.links:
            lines += ["", *aligned(self.links)]
        lines += ["", "Event detail:", json.dumps(self.detail, indent=2, default=str)]
        return "\n".join(lines)

    def html(self) -> str:
        """From an escaping template: no event text (a failure reason, a cell of a file)
        can become markup."""
        import jinja2

        template = jinja2.Environment(autoescape=True).from_string(HTML_TEMPLATE)
        return template.render(
            message=self,
            detail=json.dumps(self.detail, indent=2, default=str),
            links=[
                (label, url) for label, url in self.links if url.startswith(("http:", "https:"))
            ],
        )


def _subject_fields(event: EventRecord) -> dict[str, Any]:
    detail = event.detail
    pipeline = str(detail.get("pipelineName", ""))
    return {
        "pipeline": pipeline,
        "pipeline_lower": pipeline.lower(),
        "execution": detail.get("pipelineExecutionId", ""),
        "status": detail.get("currentStepStatus")
        or detail.get("currentPipelineExecutionStatus")
        or detail.get("ModelApprovalStatus")
        or "",
        "step": detail.get("stepName", ""),
        "group": detail.get("ModelPackageGroupName", ""),
        "version": detail.get("ModelPackageVersion", ""),
        "detail_type": event.detail_type,
    }


def message(
    event: EventRecord,
    customs: list[CustomMessage],
    ui_url: str | None,
    log_tail: Callable[[str, str], str],
    model_metrics: Callable[[str, int], str] | None = None,
    subjects: SubjectTemplates | None = None,
) -> Message:
    """The message for an event."""
    subjects = subjects or SubjectTemplates()
    detail = event.detail
    fields = _subject_fields(event)
    pipeline, execution = fields["pipeline"], fields["execution"]
    ui = ui_url.rstrip("/") if ui_url else ""
    found = Message(subject="", detail=detail)
    if event.detail_type == DetailType.STEP_STATUS.value:
        step, status = fields["step"], fields["status"]
        found.subject = subjects.step.format(**fields)
        custom = next((c for c in customs if c.matches(step, status)), None)
        if custom is not None:
            found.subject += " - Action Required"
            found.intro = custom.message
        found.rows = [
            ("Pipeline", pipeline),
            ("Execution", execution),
            ("Step", f"{step} ({detail.get('stepType', '')})"),
            ("Status", f"{detail.get('previousStepStatus') or '-'} -> {status}"),
        ]
    elif event.detail_type == DetailType.MODEL_PACKAGE_STATE.value:
        group, version, status = fields["group"], fields["version"], fields["status"]
        waiting = status == AWAITING
        found.subject = (subjects.approval if waiting else subjects.model).format(**fields)
        found.rows = [
            ("Model", f"{group}/{version}"),
            ("Status", f"{detail.get('PreviousModelApprovalStatus') or '-'} -> {status}"),
            ("By", str(detail.get("UpdatedBy") or "-")),
        ]
        metrics = model_metrics(str(group), int(version)) if model_metrics and version else ""
        if metrics:
            found.rows.append(("Metrics", metrics))
        if waiting:
            found.commands = [
                ("Approve", f"scoreline models approve {group} {version} -m 'reviewed'"),
                ("Reject", f"scoreline models reject {group} {version} -m 'why'"),
            ]
        if ui:
            found.links.append(("In the UI", f"{ui}/models"))
    elif event.detail_type == DetailType.EXECUTION_STATUS.value:
        found.subject = subjects.execution.format(**fields)
        previous = detail.get("previousPipelineExecutionStatus") or "-"
        found.rows = [
            ("Pipeline", pipeline),
            ("Execution", execution),
            ("Status", f"{previous} -> {fields['status']}"),
        ]
    else:
        found.subject = subjects.other.format(**fields)
    if detail.get("failureReason"):
        found.rows.append(("Reason", str(detail["failureReason"])))
    if detail.get("stepName") and detail.get("currentStepStatus") == "Failed":
        found.log = log_tail(str(execution), str(detail["stepName"]))
    if ui and execution and event.detail_type != DetailType.MODEL_PACKAGE_STATE.value:
        found.links.append(("In the UI", f"{ui}/executions/{execution}"))
    return found


def categories(event: EventRecord, customs: list[CustomMessage]) -> set[str]:
    """The ``notifications.notify_on`` categories an event belongs to."""
    detail = event.detail
    found = set()
    if event.detail_type == DetailType.EXECUTION_STATUS.value:
        found.add("executions")
        if detail.get("currentPipelineExecutionStatus") in OUTCOMES:
            found.add("outcomes")
    elif event.detail_type == DetailType.STEP_STATUS.value:
        found.add("steps")
        status = str(detail.get("currentStepStatus", ""))
        if status == "Failed":
            found.add("failed_steps")
        if any(c.matches(str(detail.get("stepName", "")), status) for c in customs):
            found.add("custom_steps")
    elif event.detail_type == DetailType.MODEL_PACKAGE_STATE.value:
        found.add("model_changes")
        if detail.get("ModelApprovalStatus") == AWAITING:
            found.add("approvals")
    elif event.detail_type in VIOLATIONS:
        found.add("violations")
    return found


def metrics_line(metrics: Mapping[str, Any]) -> str:
    """``mse 5.0185, rmse 2.2402`` from Model Monitor-style ``*_metrics`` sections."""
    shown = []
    for section in metrics.values():
        if isinstance(section, dict):
            for name, metric in section.items():
                value = metric.get("value") if isinstance(metric, dict) else None
                if isinstance(value, int | float):
                    shown.append(f"{name} {value:.4g}")
    return ", ".join(shown)


class Notifier:
    """Queues deliveries for new events and sends the due ones."""

    def __init__(
        self,
        store: MetadataStore,
        settings: NotificationSettings,
        variables: Mapping[str, Any],
        log_tail: Callable[[str, str], str],
        patterns: list[dict[str, Any]] | None = None,
        ui_url: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.ui_url = settings.ui_url or ui_url
        self.patterns = patterns or []
        self.targets = targets(settings, variables)
        self.customs = custom_messages(variables.get("custom_notification_config"))
        self.log_tail = log_tail

    def wanted(self, event: EventRecord) -> bool:
        """Whether ``event`` is sent: the configured detail-types (every event of them) or
        the default selection, and whatever a notify rule matches."""
        chosen = (
            event.detail_type in self.settings.events
            if self.settings.events is not None
            else bool(categories(event, self.customs) & set(self.settings.notify_on))
        )
        return chosen or any(matches(pattern, event.envelope()) for pattern in self.patterns)

    def _model_metrics(self, group: str, version: int) -> str:
        try:
            return metrics_line(self.store.models.get(group, version).metrics)
        except ScorelineError:
            return ""

    def begin(self, replay_since: datetime | None = None) -> int:
        """Called when ``serve`` starts; returns the event seq deliveries continue after. A
        notifier that has never run starts from now, so a first ``serve`` on a project with
        history does not mail that history (``replay_since`` starts it at that time
        instead). One that ran before catches up from where it stopped."""
        cursor, _ = self.store.rules.load(CURSOR)
        if cursor:
            return cursor
        newest = self.store.list_events(newest_first=True, limit=1)
        if not newest:
            return 0
        start = newest[0].seq
        if replay_since is not None:
            first = self.store.list_events(since=replay_since, limit=1)
            start = first[0].seq - 1 if first else start
        if start and self.store.rules.advance(CURSOR, 0, start, {}, []):
            return start
        return self.store.rules.load(CURSOR)[0]

    def enqueue(self, now: datetime) -> int:
        """Turn events after the cursor into deliveries (one per target), once."""
        if not self.targets:
            return 0
        cursor, _ = self.store.rules.load(CURSOR)
        events = self.store.list_events(after_seq=cursor, limit=500)
        if not events:
            return 0
        rows = []
        for event in events:
            if not self.wanted(event):
                continue
            found = message(
                event,
                self.customs,
                self.ui_url,
                self.log_tail,
                self._model_metrics,
                self.settings.subject_templates(),
            )
            text, html = found.text(), found.html()
            for target in self.targets:
                rows.append(
                    {
                        "event_seq": event.seq,
                        "event_id": event.id,
                        "target": target.name,
                        "subject": found.subject,
                        "body": text,
                        "html_body": html,
                    }
                )
        moved = self.store.rules.advance(
            CURSOR,
            cursor,
            events[-1].seq,
            {},
            [],
            also=lambda conn: self.store.deliveries.insert(conn, rows, now),
        )
        return len(rows) if moved else 0

    def deliver(self, now: datetime) -> list[DeliveryRecord]:
        """Send every due delivery once; failures are retried later (see
        :meth:`DeliveryStore.finish`)."""
        by_name = {t.name: t for t in self.targets}
        sent = []
        retry_for = timedelta(hours=self.settings.retry_for_hours)
        for delivery in self.store.deliveries.claim_due(now):
            target = by_name.get(delivery.target)
            error = "target no longer configured" if target is None else send(target, delivery)
            # Sent is recorded even through a database restart: otherwise it goes again.
            after = ride_out(
                partial(
                    self.store.deliveries.finish,
                    delivery,
                    error,
                    now,
                    self.settings.max_attempts,
                    retry_for,
                )
            )
            if error is None:
                LOG.info("sent '%s' to %s", delivery.subject, delivery.target)
                sent.append(delivery)
            elif after.status == "failed":
                LOG.error(
                    "gave up sending '%s' to %s after %d attempts: %s (resend it: scoreline "
                    "notifications retry %d)",
                    delivery.subject,
                    delivery.target,
                    after.attempts,
                    error,
                    delivery.id,
                )
            else:
                LOG.warning(
                    "sending '%s' to %s failed (attempt %d): %s; next try at %s",
                    delivery.subject,
                    delivery.target,
                    after.attempts,
                    error,
                    after.next_attempt_at.isoformat(timespec="seconds"),
                )
        return sent


HTML_TEMPLATE = """<html><body style="font-family: system-ui, sans-serif">
{% if message.intro %}<p><strong>{{ message.intro }}</strong></p>{% endif %}
<p>{% for label, value in message.rows %}<span style="display: inline-block; min-width: 7em; \
font-weight: 600">{{ label }}:</span> {{ value }}<br>{% endfor %}</p>
{% if message.commands %}<p>{% for label, value in message.commands %}<span style="display: \
inline-block; min-width: 7em; font-weight: 600">{{ label }}:</span> <span style="font-family: \
monospace">{{ value }}</span><br>{% endfor %}</p>{% endif %}
{% if links %}<p>{% for label, url in links %}{{ label }}: <a href="{{ url }}">{{ url }}</a><br>\
{% endfor %}</p>{% endif %}
{% if message.log %}<p>Log (last lines):</p><pre>{{ message.log }}</pre>{% endif %}
<p>Event detail:</p><pre>{{ detail }}</pre>
</body></html>"""


def html_body(body: str) -> str:
    """HTML for a plain-text body (deliveries queued before messages kept their HTML):
    each line escaped, line breaks kept."""
    import jinja2

    template = jinja2.Environment(autoescape=True).from_string(
        '<html><body><div style="font-family: ui-monospace, monospace">'
        "{% for line in lines %}{{ line }}<br>{% endfor %}</div></body></html>"
    )
    return template.render(lines=body.splitlines())


def send(target: Target, delivery: DeliveryRecord) -> str | None:
    """Deliver one message; the error as text, or None when it was accepted."""
    import apprise

    client = apprise.Apprise()
    if not client.add(target.url):
        return f"apprise does not accept the URL for {target.name}"
    logs = apprise.LogCapture(level=apprise.logging.WARNING)  # type: ignore[no-untyped-call]
    with logs as captured:
        ok = client.notify(
            title=delivery.subject,
            body=delivery.html_body or html_body(delivery.body),
            body_format=apprise.NotifyFormat.HTML,
        )
    if ok:
        return None
    text = captured.getvalue().strip().splitlines() if hasattr(captured, "getvalue") else []
    return (text[-1] if text else "delivery failed")[:500]
