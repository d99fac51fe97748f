"""Plain, immutable records returned by the metadata store.

They are what the command line prints with ``--json``: :meth:`to_dict` gives the stable,
documented shape (``docs/json-output.md``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return {
            f.name: _jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The record back from its ``to_dict`` shape (as the API returns it)."""
        values = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            value = data.get(f.name)
            if "datetime" in str(f.type) and isinstance(value, str):
                value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            elif "ApprovalRecord" in str(f.type) and isinstance(value, list):
                value = [ApprovalRecord.from_dict(v) for v in value]
            values[f.name] = value
        return cls(**values)


@dataclass(frozen=True)
class PipelineRecord(_Record):
    name: str
    latest_version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PipelineVersionRecord(_Record):
    pipeline_name: str
    version: int
    definition: dict[str, Any]
    definition_sha256: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class ExecutionRecord(_Record):
    id: str
    pipeline_name: str
    pipeline_version: int
    status: str
    parameters: dict[str, Any]
    created_at: datetime
    ended_at: datetime | None
    failure_reason: str | None
    started_by: str
    client_request_token: str | None
    owner: str | None
    heartbeat_at: datetime | None
    stop_requested: bool


@dataclass(frozen=True)
class StepRecord(_Record):
    id: int
    execution_id: str
    step_name: str
    step_kind: str
    status: str
    attempt: int
    started_at: datetime | None
    ended_at: datetime | None
    failure_reason: str | None
    error_detail: str | None
    outputs: dict[str, Any]
    metadata: dict[str, Any]
    log_uri: str | None
    cache_key: str | None
    cache_hit_source: int | None
    process: str | None


@dataclass(frozen=True)
class EventRecord(_Record):
    seq: int
    id: str
    time: datetime
    source: str
    detail_type: str
    resources: list[str]
    detail: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """The event in EventBridge's envelope shape (``detail-type`` with a hyphen)."""
        return {
            "id": self.id,
            "seq": self.seq,
            "time": _jsonable(self.time),
            "source": self.source,
            "detail-type": self.detail_type,
            "resources": list(self.resources),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class ApprovalRecord(_Record):
    """One change of a model version's approval status (the audit trail)."""

    previous_status: str | None
    status: str
    actor: str
    comment: str
    at: datetime


@dataclass(frozen=True)
class ModelVersionRecord(_Record):
    """An immutable model version; only its approval status and aliases change."""

    group_name: str
    version: int
    approval_status: str
    flavor: str
    artifact_uri: str
    artifact_sha256: str
    content_sha256: str | None
    preprocessing_uri: str | None
    input_schema: dict[str, Any]
    metrics: dict[str, Any]
    metrics_uri: str | None
    baseline: dict[str, Any]
    artifact_digests: dict[str, str] | None
    """sha256 fingerprint of each registered artifact besides the model file, by output name
    (``preprocessing``, ``statistics``, ``constraints``, ``evaluation``); None for versions
    registered before digests were kept."""
    lineage: dict[str, Any]
    description: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    aliases: list[str]
    history: list[ApprovalRecord]

    @property
    def arn(self) -> str:
        return f"scoreline:model-package/{self.group_name}/{self.version}"

    @property
    def artifacts(self) -> dict[str, str]:
        """The version's artifacts besides its model file, by output name."""
        return registered_artifacts(self.preprocessing_uri, self.metrics_uri, self.baseline)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "arn": self.arn}


@dataclass(frozen=True)
class MonitoringRecord(_Record):
    """The result of one quality-check step, kept as a record for history and the UI."""

    id: int
    execution_id: str
    step_name: str
    check_type: str
    pipeline_name: str
    group_name: str | None
    model_version: int | None
    created_at: datetime
    item_count: int | None
    violation_count: int
    passed: bool | None
    metrics: dict[str, Any]
    drift: list[dict[str, Any]]
    violations: list[dict[str, Any]]
    report_uri: str | None
    scored_execution_id: str | None = None
    """The execution whose predictions a model-quality result is about (an estimate's own;
    a late ground-truth check's earlier one)."""


@dataclass(frozen=True)
class DeliveryRecord(_Record):
    """One notification of one event to one target, with its delivery attempts."""

    id: int
    event_seq: int
    event_id: str
    target: str
    subject: str
    body: str
    html_body: str | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True)
class StartIntentRecord(_Record):
    """A pipeline start a rule (or trigger, or schedule) decided on and has not yet made:
    retried until it starts (``done``), or kept ``failed`` after a day for a person."""

    id: int
    rule: str
    token: str
    pipeline: str
    parameters: dict[str, Any]
    event_id: str
    scope: str
    """The rule's guardrail scope the start counts in (``max_in_flight``, ``cooldown``)."""
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    execution_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class TokenRecord(_Record):
    """An API token's identity and role (never the token itself)."""

    id: int
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class SessionRecord(_Record):
    """A signed-in browser: who it acts as, and the CSRF token its writes must carry."""

    actor: str
    role: str
    token_id: int | None
    csrf: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


def registered_artifacts(
    preprocessing_uri: str | None, metrics_uri: str | None, baseline: dict[str, Any]
) -> dict[str, str]:
    """A model version's artifacts besides its model file, by output name: what its
    ``artifact_digests`` cover."""
    found = {"preprocessing": preprocessing_uri, "evaluation": metrics_uri}
    found.update({name: uri for name, uri in baseline.items() if isinstance(uri, str)})
    return {name: uri for name, uri in found.items() if uri}
