"""Event rules over the outbox: each matching event starts a pipeline, within guardrails.

Every rule keeps a cursor (the last event ``seq`` it has decided on) in the store. A pass
reads the events after the cursor, decides each one, starts pipelines with an idempotency
token derived from the rule and the event (a repeated start returns the first execution),
and then moves the cursor and appends its "Rule Decision" events in one transaction that
only succeeds if the cursor has not moved meanwhile. So each event is decided once per
rule, even with several processes passing at once or a crash between the two writes. A
start that fails is kept in the same transaction (``store.intents``) and retried with
backoff by every later pass, with the same token, until it starts.

Guardrails are kept per scope (by default one scope; ``scope: $.detail.X`` keys them by an
event field, e.g. the model package group): ``consecutive`` matching events needed in a row
(``reset_pattern`` events reset the count), ``max_in_flight`` executions this rule started
that are still running, and a ``cooldown`` after the last start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scoreline.errors import ConfigError, ScorelineError
from scoreline.events.patterns import matches, validate_pattern
from scoreline.events.variables import fill
from scoreline.pipeline.expressions import json_get
from scoreline.pipeline.steps import parse_duration
from scoreline.settings import RuleSettings
from scoreline.store import ExecutionRecord, MetadataStore
from scoreline.store.records import EventRecord
from scoreline.store.tables import utcnow
from scoreline.types import DetailType, ExecutionStatus

BATCH = 500
LOG = logging.getLogger("scoreline.serve")
Starter = Callable[[str, dict[str, Any], str], ExecutionRecord]
"""Starts ``pipeline`` with ``parameters`` and an idempotency token; returns the execution."""


@dataclass(frozen=True)
class Rule:
    settings: RuleSettings
    cooldown: timedelta | None

    @property
    def name(self) -> str:
        return self.settings.name


def load_rules(raw: list[RuleSettings], variables: Mapping[str, Any]) -> list[Rule]:
    """Rules of ``scoreline.yaml`` with ``${name}`` variables filled in, checked."""
    rules = []
    for index, item in enumerate(raw):
        where = f"scoreline.yaml: rules[{index}]"
        settings = fill(item, variables, where)
        validate_pattern(settings.pattern, f"{where}.pattern")
        if settings.guardrails.reset_pattern is not None:
            validate_pattern(settings.guardrails.reset_pattern, f"{where}.guardrails.reset_pattern")
        cooldown = None
        if settings.guardrails.cooldown:
            try:
                cooldown = parse_duration(settings.guardrails.cooldown)
            except ValueError as exc:
                raise ConfigError(str(exc), where=f"{where}.guardrails.cooldown") from None
        if settings.enabled:
            rules.append(Rule(settings, cooldown))
    return rules


def load_notify_patterns(raw: list[RuleSettings], variables: Mapping[str, Any]) -> list[Any]:
    """Patterns of the rules whose target notifies (the notifier sends what they match)."""
    return [
        rule.settings.pattern for rule in load_rules(raw, variables) if rule.settings.target.notify
    ]


def _path(event: dict[str, Any], path: str) -> Any:
    return json_get(event, path.removeprefix("$."), where="event")


def _parameters(rule: Rule, event: dict[str, Any]) -> dict[str, Any]:
    values = {}
    for name, value in rule.settings.target.parameters.items():
        if isinstance(value, str) and value.startswith("$."):
            value = _path(event, value)
        values[name] = value
    return values


@dataclass
class _Scope:
    consecutive: int = 0
    last_started_at: datetime | None = None
    last_execution_id: str | None = None


class RuleProcessor:
    """Decides the outbox's new events for every rule; ``process`` is safe to call from
    several processes and after any crash."""

    def __init__(self, store: MetadataStore, rules: list[Rule], start: Starter) -> None:
        self.store = store
        self.rules = rules
        self.start = start

    def process(self) -> int:
        """Retry the starts that failed before, then decide every event not yet decided;
        returns how many executions were started."""
        started = self._retry_due(utcnow())
        for rule in self.rules:
            if not rule.settings.target.start_pipeline:
                continue  # a notify-only rule: the notifier reads its pattern
            while True:
                count, more = self._pass(rule)
                started += count
                if not more:
                    break
        return started

    def _pass(self, rule: Rule) -> tuple[int, bool]:
        cursor, saved = self.store.rules.load(rule.name)
        scopes = {key: _Scope(**state) for key, state in saved.items()}
        events = self.store.list_events(after_seq=cursor, limit=BATCH)
        if not events:
            return 0, False
        decisions: list[dict[str, Any]] = []
        intents: list[dict[str, Any]] = []
        started = 0
        for event in events:
            if event.detail_type == DetailType.RULE_DECISION.value:
                continue
            envelope = event.envelope()
            scope_key = self._scope_key(rule, envelope)
            scope = scopes.setdefault(scope_key, _Scope())
            reset = rule.settings.guardrails.reset_pattern
            if reset is not None and matches(reset, envelope):
                scope.consecutive = 0
            if not matches(rule.settings.pattern, envelope):
                continue
            decision, intent = self._decide(rule, event, envelope, scope_key, scope)
            decisions.append(decision)
            started += decision["decision"] == "started"
            if intent is not None:
                intents.append(intent)
        moved = self.store.rules.advance(
            rule.name,
            cursor,
            events[-1].seq,
            {k: vars(v) for k, v in scopes.items()},
            decisions,
            also=lambda conn: self.store.intents.insert(conn, intents, utcnow()),
        )
        return (started if moved else 0), len(events) == BATCH

    def _scope_key(self, rule: Rule, envelope: dict[str, Any]) -> str:
        path = rule.settings.guardrails.scope
        if not path:
            return "*"
        try:
            return str(_path(envelope, path))
        except ScorelineError:
            return "*"

    def _decide(
        self,
        rule: Rule,
        event: EventRecord,
        envelope: dict[str, Any],
        scope_key: str,
        scope: _Scope,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The decision on one matching event, and the start to retry when it failed."""
        guard = rule.settings.guardrails
        target = str(rule.settings.target.start_pipeline)
        decision: dict[str, Any] = {
            "rule": rule.name,
            "scope": scope_key,
            "triggeringEventId": event.id,
            "triggeringEventType": event.detail_type,
            "targetPipeline": target,
        }
        scope.consecutive += 1
        reason = None
        now = event.time
        if scope.consecutive < guard.consecutive:
            reason = f"{scope.consecutive} of {guard.consecutive} consecutive matching events"
        elif (
            guard.max_in_flight
            and scope.last_execution_id
            and self._running(scope.last_execution_id)
        ):
            reason = f"execution {scope.last_execution_id} started by this rule is still running"
        elif (
            rule.cooldown is not None
            and scope.last_started_at is not None
            and now < scope.last_started_at + rule.cooldown
        ):
            until = (scope.last_started_at + rule.cooldown).isoformat().replace("+00:00", "Z")
            reason = f"cooldown {guard.cooldown} after the last start, until {until}"
        if reason is not None:
            return {**decision, "decision": "suppressed", "reason": reason}, None
        token = f"rule:{rule.name}:{event.id}"
        parameters = _parameters(rule, envelope)
        try:
            execution = self.start(target, parameters, token)
        except ScorelineError as exc:
            LOG.warning("could not start %s for rule %s: %s; retrying", target, rule.name, exc)
            intent = {
                "rule": rule.name,
                "token": token,
                "pipeline": target,
                "parameters": parameters,
                "event_id": event.id,
                "scope": scope_key,
                "last_error": exc.line()[:2000],
            }
            failed = {**decision, "decision": "failed", "reason": exc.line(), "retried": True}
            return failed, intent
        scope.consecutive = 0
        scope.last_started_at = now
        scope.last_execution_id = execution.id
        started = {
            **decision,
            "decision": "started",
            "reason": "matched",
            "pipelineExecutionId": execution.id,
        }
        return started, None

    def _retry_due(self, now: datetime) -> int:
        """Try again the starts that failed and are due; returns how many started."""
        started = 0
        for intent in self.store.intents.claim_due(now):
            try:
                execution = self.start(intent.pipeline, intent.parameters, intent.token)
            except ScorelineError as exc:
                after = self.store.intents.finish(intent, now, error=exc.line())
                if after.status == "failed":
                    LOG.error(
                        "gave up starting %s for rule %s after %d attempts: %s (start it "
                        "again: scoreline triggers retry %s)",
                        intent.pipeline,
                        intent.rule,
                        after.attempts,
                        exc,
                        intent.rule,
                    )
                else:
                    LOG.warning(
                        "starting %s for rule %s failed again (attempt %d): %s; next try at %s",
                        intent.pipeline,
                        intent.rule,
                        after.attempts,
                        exc,
                        after.next_attempt_at.isoformat(timespec="seconds"),
                    )
                continue
            self.store.intents.finish(intent, now, execution_id=execution.id)
            started += 1
        return started

    def _running(self, execution_id: str) -> bool:
        try:
            status = self.store.get_execution(execution_id).status
        except ScorelineError:
            return False
        return not ExecutionStatus(status).is_final
