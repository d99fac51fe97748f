"""The model registry's records on a real SQLite file: versions, approval, audit, aliases."""

from __future__ import annotations

import pytest

from scoreline.errors import NotFoundError, ParameterError, StateError
from scoreline.store import MetadataStore


@pytest.fixture
def store(store_url: str) -> MetadataStore:
    return MetadataStore(store_url)


def _register(store: MetadataStore, status: str = "PendingManualApproval") -> int:
    record = store.models.create_version(
        "poc-mpg",
        approval_status=status,
        flavor="xgboost",
        artifact_uri=f"/artifacts/{len(store.models.list())}",
        artifact_sha256="0" * 64,
        actor="alice",
    )
    return record.version


def test_versions_count_up_per_group(store: MetadataStore) -> None:
    assert [_register(store) for _ in range(3)] == [1, 2, 3]
    assert [r.version for r in store.models.list("poc-mpg")] == [3, 2, 1]


def test_approval_changes_are_audited_and_emitted(store: MetadataStore) -> None:
    version = _register(store)
    store.models.set_status("poc-mpg", version, "Approved", "bob", "metrics reviewed")
    record = store.models.set_status("poc-mpg", version, "Rejected", "carol", "drifted")
    assert [(h.previous_status, h.status, h.actor, h.comment) for h in record.history] == [
        (None, "PendingManualApproval", "alice", "registered"),
        ("PendingManualApproval", "Approved", "bob", "metrics reviewed"),
        ("Approved", "Rejected", "carol", "drifted"),
    ]
    events = store.list_events(detail_type="Model Package State Change")
    assert [e.detail["ModelApprovalStatus"] for e in events] == [
        "PendingManualApproval",
        "Approved",
        "Rejected",
    ]
    assert events[-1].detail["UpdatedBy"] == "carol"
    assert events[-1].resources == ["scoreline:model-package/poc-mpg/1"]


@pytest.mark.parametrize(("first", "then"), [("Rejected", "Approved"), ("Approved", "Approved")])
def test_disallowed_transitions_are_refused(store: MetadataStore, first: str, then: str) -> None:
    version = _register(store)
    store.models.set_status("poc-mpg", version, first, "bob")
    with pytest.raises(StateError, match=f"is {first}; it cannot become {then}"):
        store.models.set_status("poc-mpg", version, then, "bob")


def test_unknown_status_and_group_names_are_clear_errors(store: MetadataStore) -> None:
    with pytest.raises(ParameterError, match="'Maybe' is not an approval status"):
        store.models.set_status("poc-mpg", _register(store), "Maybe", "bob")
    with pytest.raises(ParameterError, match="not a valid model package group name"):
        store.models.create_version(
            "bad name",
            approval_status="Approved",
            flavor="xgboost",
            artifact_uri="x",
            artifact_sha256="0" * 64,
            actor="a",
        )


def test_resolve_latest_approved_pinned_or_alias(store: MetadataStore) -> None:
    with pytest.raises(NotFoundError, match="no Approved version"):
        store.models.resolve("poc-mpg")
    one, two, _three = _register(store, "Approved"), _register(store, "Approved"), _register(store)
    assert store.models.resolve("poc-mpg")[0].version == two
    assert store.models.resolve("poc-mpg", "1")[1] == "pinned version 1"
    store.models.set_alias("poc-mpg", "champion", one, "bob")
    record, how = store.models.resolve("poc-mpg", "champion")
    assert (record.version, how, record.aliases) == (one, "alias champion", ["champion"])
    assert record.approval_status == "Approved", "aliases do not change approval"
    store.models.set_alias("poc-mpg", "champion", two, "bob")
    assert store.models.get("poc-mpg", one).aliases == []
