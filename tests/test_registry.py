"""The model registry's records on a real SQLite file: versions, approval, audit, aliases."""

from __future__ import annotations

import pytest

from scoreline.errors import NotFoundError, ParameterError, StateError
from scoreline.store import MetadataStore


@pytest.fixture
def store(store_url: str) -> MetadataStore:
    return MetadataStore(store_url)


def _register(
    store: MetadataStore,
    status: str = "PendingManualApproval",
    content: str | None = None,
    force_new: bool = False,
) -> int:
    record, _ = store.models.create_version(
        "poc-mpg",
        approval_status=status,
        flavor="xgboost",
        artifact_uri=f"/artifacts/{len(store.models.list())}",
        artifact_sha256="0" * 64,
        content_sha256=content,
        force_new=force_new,
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


def test_the_same_content_registered_again_is_the_existing_version(store: MetadataStore) -> None:
    first = _register(store, content="a" * 64)
    assert _register(store, content="a" * 64) == first
    assert _register(store, content="b" * 64) == first + 1
    assert _register(store, content="a" * 64, force_new=True) == first + 2
    assert len(store.models.list("poc-mpg")) == 3
    registered = store.list_events(detail_type="Model Package State Change")
    assert len(registered) == 3, "returning the existing version emits nothing"


def test_an_alias_never_points_at_a_rejected_version(store: MetadataStore) -> None:
    one, two = _register(store, "Approved"), _register(store, "Approved")
    store.models.set_status("poc-mpg", two, "Rejected", "bob")
    with pytest.raises(StateError, match="poc-mpg/2 is Rejected; alias 'champion' cannot"):
        store.models.set_alias("poc-mpg", "champion", two, "bob")

    store.models.set_alias("poc-mpg", "champion", one, "bob")
    with pytest.raises(StateError, match=r"has the alias\(es\) champion"):
        store.models.set_status("poc-mpg", one, "Rejected", "bob")
    assert store.models.get("poc-mpg", one).approval_status == "Approved", "nothing changed"
    with pytest.raises(StateError, match="is Rejected; alias"):
        store.models.set_status("poc-mpg", one, "Rejected", "bob", move_aliases_to=two)
    assert store.models.get("poc-mpg", one).aliases == ["champion"], "nothing half-applied"

    three = _register(store)
    store.models.set_status("poc-mpg", one, "Rejected", "bob", move_aliases_to=three)
    assert store.models.resolve("poc-mpg", "champion")[0].version == three
    store.models.set_status("poc-mpg", three, "Rejected", "bob", drop_aliases=True)
    with pytest.raises(NotFoundError, match="has no alias 'champion'"):
        store.models.resolve("poc-mpg", "champion")
