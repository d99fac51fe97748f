"""Rules over the outbox on a real SQLite store: guardrails, exactly-once decisions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from scoreline.errors import ConfigError
from scoreline.events.rules import RuleProcessor, load_rules
from scoreline.settings import RuleSettings
from scoreline.store import ExecutionRecord, MetadataStore
from scoreline.store.tables import utcnow
from scoreline.types import ExecutionStatus

VIOLATION = "Model Quality Violation"
STEP = "Pipeline Execution Step Status Change"


class Starter:
    """Starts executions for real in the store, as the client would (idempotent tokens)."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.version, _ = store.register_pipeline({"name": "Retrain", "steps": []}, "test")

    def __call__(self, pipeline: str, parameters: dict[str, Any], token: str) -> ExecutionRecord:
        execution, _ = self.store.create_execution(
            self.version, parameters, started_by="rule", owner=None, client_request_token=token
        )
        return execution

    def finish_all(self) -> None:
        for execution in self.store.list_executions(limit=100):
            if execution.status == ExecutionStatus.EXECUTING.value:
                self.store.set_execution_status(execution.id, ExecutionStatus.SUCCEEDED)


@pytest.fixture
def store(store_url: str) -> MetadataStore:
    return MetadataStore(store_url)


def _rule(**guardrails: Any) -> RuleSettings:
    return RuleSettings.model_validate(
        {
            "name": "retrain",
            "pattern": {"detail-type": [VIOLATION], "detail": {"pipelineName": ["${inf}"]}},
            "target": {
                "start_pipeline": "Retrain",
                "parameters": {"Group": "$.detail.ModelPackageGroupName", "Fixed": 1},
            },
            "guardrails": {"scope": "$.detail.ModelPackageGroupName", **guardrails},
        }
    )


def _processor(store: MetadataStore, starter: Starter, **guardrails: Any) -> RuleProcessor:
    rules = load_rules([_rule(**guardrails)], {"inf": "InferencePipeline"})
    return RuleProcessor(store, rules, starter)


def _breach(store: MetadataStore, group: str = "poc-mpg") -> None:
    store.append_event(
        VIOLATION, {"pipelineName": "InferencePipeline", "ModelPackageGroupName": group}
    )


def _decisions(store: MetadataStore) -> list[tuple[str, str]]:
    return [
        (e.detail["decision"], e.detail["reason"])
        for e in store.list_events(detail_type="Rule Decision", limit=1000)
    ]


def test_a_match_starts_the_target_with_parameters_from_the_event(store: MetadataStore) -> None:
    starter = Starter(store)
    processor = _processor(store, starter, max_in_flight=0)
    _breach(store)
    store.append_event(VIOLATION, {"pipelineName": "TrainingPipeline"})  # not matched
    assert processor.process() == 1
    (execution,) = store.list_executions()
    assert execution.parameters == {"Group": "poc-mpg", "Fixed": 1}
    assert processor.process() == 0, "each event is decided once"
    assert _decisions(store) == [("started", "matched")]


def test_a_start_that_fails_is_kept_and_retried_until_it_starts(store: MetadataStore) -> None:
    class Broken(Starter):
        failures = 2

        def __call__(self, pipeline: str, parameters: dict[str, Any], token: str) -> Any:
            if self.failures:
                self.failures -= 1
                raise ConfigError("mapping values are not allowed here", where="ingest.yaml")
            return super().__call__(pipeline, parameters, token)

    starter = Broken(store)
    processor = _processor(store, starter, max_in_flight=0)
    _breach(store)
    assert processor.process() == 0
    assert _decisions(store) == [("failed", "ingest.yaml: mapping values are not allowed here")]
    (intent,) = store.intents.list(["retrain"])
    assert (intent.status, intent.attempts, intent.pipeline) == ("pending", 1, "Retrain")
    assert intent.parameters == {"Group": "poc-mpg", "Fixed": 1}
    assert processor.process() == 0, "not due before its backoff"
    assert store.intents.list(["retrain"])[0].attempts == 1

    now = utcnow()
    assert store.intents.retry(["retrain"], now) == 1
    assert processor.process() == 0  # the second failure
    assert store.intents.list(["retrain"])[0].last_error == intent.last_error
    store.intents.retry(["retrain"], utcnow())
    assert processor.process() == 1
    (execution,) = store.list_executions()
    assert execution.client_request_token == intent.token
    assert execution.parameters == intent.parameters
    (done,) = store.intents.list(["retrain"])
    assert (done.status, done.execution_id) == ("done", execution.id)
    assert _decisions(store)[-1][0] == "started"
    assert processor.process() == 0, "started once"

    _breach(store, "other-group")
    starter.failures = 100
    processor.process()
    late = store.intents.list(["retrain"], status="pending")[0]
    for _ in range(8):
        late = store.intents.finish(late, late.created_at + timedelta(hours=25), error="still")
    assert late.status == "failed", "a dead letter after a day; `triggers retry` revives it"


def test_a_start_made_on_retry_counts_in_the_rules_guardrails(store: MetadataStore) -> None:
    class OnceBroken(Starter):
        broken = True

        def __call__(self, pipeline: str, parameters: dict[str, Any], token: str) -> Any:
            if self.broken:
                self.broken = False
                raise ConfigError("the pipeline file is broken", where="retrain.yaml")
            return super().__call__(pipeline, parameters, token)

    processor = _processor(store, OnceBroken(store), max_in_flight=1)
    _breach(store)
    assert processor.process() == 0
    store.intents.retry(["retrain"], utcnow())
    assert processor.process() == 1
    (execution,) = store.list_executions()
    _breach(store)  # while the retried start still runs
    assert processor.process() == 0
    assert _decisions(store)[-1] == (
        "suppressed",
        f"execution {execution.id} started by this rule is still running",
    )


def test_one_in_flight_per_scope_then_cooldown(store: MetadataStore) -> None:
    starter = Starter(store)
    processor = _processor(store, starter, cooldown="PT1H")
    _breach(store)
    _breach(store)
    _breach(store, "other-group")
    assert processor.process() == 2
    starter.finish_all()
    _breach(store)
    assert processor.process() == 0
    decisions = _decisions(store)
    assert [d for d, _ in decisions] == ["started", "suppressed", "started", "suppressed"]
    assert decisions[1][1].endswith("started by this rule is still running")
    assert decisions[3][1].startswith("cooldown PT1H after the last start, until ")


def test_consecutive_breaches_and_the_reset_pattern(store: MetadataStore) -> None:
    starter = Starter(store)
    passing = {"detail-type": [STEP], "detail": {"metadata": {"model_quality_passed": [True]}}}
    processor = _processor(store, starter, consecutive=2, reset_pattern=passing)
    _breach(store)
    store.append_event(
        STEP,
        {"ModelPackageGroupName": "poc-mpg", "metadata": {"model_quality_passed": True}},
    )
    _breach(store)
    _breach(store)
    assert processor.process() == 1
    assert [r for _, r in _decisions(store)] == [
        "1 of 2 consecutive matching events",
        "1 of 2 consecutive matching events",
        "matched",
    ]


def test_two_processors_racing_on_the_same_events_decide_each_once(
    store: MetadataStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    starter = Starter(store)
    first = _processor(store, starter, max_in_flight=0)
    second = _processor(store, starter, max_in_flight=0)
    for _ in range(5):
        _breach(store)
    stale = store.rules.load("retrain")
    assert first.process() == 5
    # The second read the rule's state before the first recorded its decisions.
    monkeypatch.setattr(store.rules, "load", lambda rule: stale)
    assert second._pass(second.rules[0]) == (0, False)
    assert len(store.list_executions(limit=100)) == 5, "starts are idempotent per event"
    assert len(_decisions(store)) == 5, "only the first pass recorded decisions"


def test_rule_configuration_errors_name_the_key() -> None:
    bad = _rule(cooldown="an hour")
    with pytest.raises(ConfigError, match=r"rules\[0\].guardrails.cooldown"):
        load_rules([bad], {"inf": "x"})
    with pytest.raises(ConfigError, match=r"rules\[0\]: unknown variable '\$\{inf\}'"):
        load_rules([_rule()], {})
