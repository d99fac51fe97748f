"""Model registry records (DESIGN §6): groups of immutable versions, approval with an audit
trail, and aliases kept apart from approval.

Each approval change writes its audit row and its "Model Package State Change" event in the
same transaction as the change itself.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from scoreline.errors import NotFoundError, ParameterError, StateError
from scoreline.store import tables as t
from scoreline.store.records import ApprovalRecord, ModelVersionRecord
from scoreline.store.tables import utcnow
from scoreline.types import ApprovalStatus, DetailType

if TYPE_CHECKING:
    from scoreline.store.sql import MetadataStore

GROUP_NAME_PATTERN = re.compile(r"^[A-Za-z0-9](-*[A-Za-z0-9])*$")
ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,79}$")

_TRANSITIONS = {
    ApprovalStatus.PENDING: {ApprovalStatus.APPROVED, ApprovalStatus.REJECTED},
    ApprovalStatus.APPROVED: {ApprovalStatus.REJECTED},
    ApprovalStatus.REJECTED: set(),
}


def group_arn(group: str) -> str:
    return f"scoreline:model-package-group/{group}"


def parse_approval_status(value: str) -> ApprovalStatus:
    try:
        return ApprovalStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in ApprovalStatus)
        raise ParameterError(
            f"'{value}' is not an approval status", hint=f"use one of {known}"
        ) from None


def check_group_name(group: str) -> None:
    """A model package group name as SageMaker allows it, or one line saying what is wrong."""
    if not GROUP_NAME_PATTERN.match(group) or len(group) > 63:
        raise ParameterError(
            f"'{group}' is not a valid model package group name",
            hint="use letters, digits and single hyphens, at most 63 characters",
        )


class ModelRegistryStore:
    """Registry reads and writes; obtained as ``MetadataStore.models``."""

    def __init__(self, store: MetadataStore) -> None:
        self._store = store

    def create_version(
        self,
        group: str,
        *,
        approval_status: str,
        flavor: str,
        artifact_uri: str,
        artifact_sha256: str,
        actor: str,
        content_sha256: str | None = None,
        force_new: bool = False,
        preprocessing_uri: str | None = None,
        input_schema: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        metrics_uri: str | None = None,
        baseline: dict[str, Any] | None = None,
        artifact_digests: dict[str, str] | None = None,
        lineage: dict[str, Any] | None = None,
        description: str = "",
    ) -> tuple[ModelVersionRecord, bool]:
        """Register a new version in ``group`` (created on first use), and say whether an
        existing one was returned instead: a version with the same ``content_sha256`` (model
        and preprocessing) is the same model, unless ``force_new``."""
        check_group_name(group)
        status = parse_approval_status(approval_status)
        now = utcnow()
        with self._store._tx() as conn:
            if content_sha256 and not force_new:
                same = conn.execute(
                    sa.select(sa.func.min(t.model_versions.c.version)).where(
                        (t.model_versions.c.group_name == group)
                        & (t.model_versions.c.content_sha256 == content_sha256)
                    )
                ).scalar()
                if same is not None:
                    return self._get(conn, group, int(same)), True
            latest = conn.execute(
                sa.select(t.model_package_groups.c.latest_version).where(
                    t.model_package_groups.c.name == group
                )
            ).scalar()
            if latest is None:
                version = 1
                conn.execute(
                    t.model_package_groups.insert().values(
                        name=group, latest_version=1, created_at=now
                    )
                )
            else:
                version = int(latest) + 1
                conn.execute(
                    t.model_package_groups.update()
                    .where(t.model_package_groups.c.name == group)
                    .values(latest_version=version)
                )
            conn.execute(
                t.model_versions.insert().values(
                    group_name=group,
                    version=version,
                    approval_status=status.value,
                    flavor=flavor,
                    artifact_uri=artifact_uri,
                    artifact_sha256=artifact_sha256,
                    content_sha256=content_sha256,
                    preprocessing_uri=preprocessing_uri,
                    input_schema=input_schema or {},
                    metrics=metrics or {},
                    metrics_uri=metrics_uri,
                    baseline=baseline or {},
                    artifact_digests=artifact_digests or {},
                    lineage=lineage or {},
                    description=description,
                    created_at=now,
                    created_by=actor,
                    updated_at=now,
                )
            )
            self._audit(conn, group, version, None, status.value, actor, "registered", now)
            return self._get(conn, group, version), False

    def set_status(
        self,
        group: str,
        version: int,
        status: str,
        actor: str,
        comment: str = "",
        *,
        move_aliases_to: int | None = None,
        drop_aliases: bool = False,
    ) -> ModelVersionRecord:
        """Approve or reject a version; the change is audited and emitted as an event.

        A version with aliases is rejected only when the caller says what becomes of them:
        ``move_aliases_to`` another version that is not Rejected, or ``drop_aliases``."""
        target = parse_approval_status(status)
        now = utcnow()
        with self._store._tx() as conn:
            record = self._get(conn, group, version)
            current = ApprovalStatus(record.approval_status)
            if target not in _TRANSITIONS[current]:
                raise StateError(
                    f"model {group}/{version} is {current.value}; it cannot become {target.value}",
                    hint="allowed: PendingManualApproval → Approved | Rejected, "
                    "Approved → Rejected; register a new version otherwise",
                )
            if target is ApprovalStatus.REJECTED and record.aliases:
                self._release_aliases(conn, record, move_aliases_to, drop_aliases, actor)
            conn.execute(
                t.model_versions.update()
                .where(
                    (t.model_versions.c.group_name == group)
                    & (t.model_versions.c.version == version)
                )
                .values(approval_status=target.value, updated_at=now)
            )
            self._audit(conn, group, version, current.value, target.value, actor, comment, now)
            return self._get(conn, group, version)

    def set_alias(self, group: str, alias: str, version: int, actor: str) -> ModelVersionRecord:
        """Point ``alias`` (e.g. ``champion``) at a version; approval is unaffected."""
        if not ALIAS_PATTERN.match(alias) or alias.isdigit():
            raise ParameterError(
                f"'{alias}' is not a valid alias", hint="start with a letter; letters, digits, _ -"
            )
        with self._store._tx() as conn:
            self._point_alias(conn, group, alias, version, actor)
            return self._get(conn, group, version)

    def _point_alias(
        self, conn: sa.Connection, group: str, alias: str, version: int, actor: str
    ) -> None:
        if self._get(conn, group, version).approval_status == ApprovalStatus.REJECTED.value:
            raise StateError(
                f"model {group}/{version} is Rejected; alias '{alias}' cannot point at it",
                hint="point the alias at a version that is Approved or awaiting approval",
            )
        conn.execute(
            t.model_aliases.delete().where(
                (t.model_aliases.c.group_name == group) & (t.model_aliases.c.alias == alias)
            )
        )
        conn.execute(
            t.model_aliases.insert().values(
                group_name=group, alias=alias, version=version, set_by=actor, set_at=utcnow()
            )
        )

    def _release_aliases(
        self,
        conn: sa.Connection,
        record: ModelVersionRecord,
        move_to: int | None,
        drop: bool,
        actor: str,
    ) -> None:
        """Move or remove the aliases of a version about to be rejected."""
        group, names = record.group_name, ", ".join(record.aliases)
        if (move_to is None) == (not drop):
            raise StateError(
                f"model {group}/{record.version} has the alias(es) {names}",
                hint="say what becomes of them: --move-aliases-to VERSION or --drop-aliases",
            )
        if move_to is not None:
            if move_to == record.version:
                raise ParameterError(
                    f"--move-aliases-to {move_to} is the version being rejected",
                    hint="name another version",
                )
            for alias in record.aliases:
                self._point_alias(conn, group, alias, move_to, actor)
            return
        conn.execute(
            t.model_aliases.delete().where(
                (t.model_aliases.c.group_name == group)
                & (t.model_aliases.c.version == record.version)
            )
        )

    def get(self, group: str, version: int) -> ModelVersionRecord:
        with self._store.engine.connect() as conn:
            return self._get(conn, group, version)

    def resolve(self, group: str, selector: str = "") -> tuple[ModelVersionRecord, str]:
        """The version a selector names, and how it was chosen: ``""`` → the latest Approved
        version, digits → that version, anything else → an alias."""
        selector = selector.strip()
        with self._store.engine.connect() as conn:
            if not selector:
                version = conn.execute(
                    sa.select(sa.func.max(t.model_versions.c.version)).where(
                        (t.model_versions.c.group_name == group)
                        & (t.model_versions.c.approval_status == ApprovalStatus.APPROVED.value)
                    )
                ).scalar()
                if version is None:
                    raise NotFoundError(
                        f"no Approved version in model package group '{group}'",
                        hint="approve one with `scoreline models approve "
                        f"{group} VERSION`, or pin a version with -p ModelVersion=N",
                    )
                return self._get(conn, group, int(version)), "latest Approved"
            if selector.isdigit():
                return self._get(conn, group, int(selector)), f"pinned version {selector}"
            version = conn.execute(
                sa.select(t.model_aliases.c.version).where(
                    (t.model_aliases.c.group_name == group) & (t.model_aliases.c.alias == selector)
                )
            ).scalar()
            if version is None:
                raise NotFoundError(f"model package group '{group}' has no alias '{selector}'")
            return self._get(conn, group, int(version)), f"alias {selector}"

    def list(self, group: str | None = None, status: str | None = None) -> list[ModelVersionRecord]:
        """Versions, newest first within each group."""
        query = sa.select(t.model_versions.c.group_name, t.model_versions.c.version)
        if group:
            query = query.where(t.model_versions.c.group_name == group)
        if status:
            query = query.where(
                t.model_versions.c.approval_status == parse_approval_status(status).value
            )
        query = query.order_by(t.model_versions.c.group_name, t.model_versions.c.version.desc())
        with self._store.engine.connect() as conn:
            keys = conn.execute(query).all()
            return [self._get(conn, g, v) for g, v in keys]

    @staticmethod
    def purge_group(conn: sa.Connection, group: str) -> None:
        """Delete a model package group with every version, approval and alias."""
        for table in (t.model_aliases, t.model_approvals, t.model_versions):
            conn.execute(table.delete().where(table.c.group_name == group))
        conn.execute(t.model_package_groups.delete().where(t.model_package_groups.c.name == group))

    def _get(self, conn: sa.Connection, group: str, version: int) -> ModelVersionRecord:
        row = conn.execute(
            sa.select(t.model_versions).where(
                (t.model_versions.c.group_name == group) & (t.model_versions.c.version == version)
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(
                f"no model version {group}/{version}", hint="see `scoreline models list`"
            )
        aliases = conn.execute(
            sa.select(t.model_aliases.c.alias)
            .where((t.model_aliases.c.group_name == group) & (t.model_aliases.c.version == version))
            .order_by(t.model_aliases.c.alias)
        ).scalars()
        history = conn.execute(
            sa.select(
                t.model_approvals.c.previous_status,
                t.model_approvals.c.status,
                t.model_approvals.c.actor,
                t.model_approvals.c.comment,
                t.model_approvals.c.at,
            )
            .where(
                (t.model_approvals.c.group_name == group) & (t.model_approvals.c.version == version)
            )
            .order_by(t.model_approvals.c.id)
        ).all()
        return ModelVersionRecord(
            **row._mapping,
            aliases=list(aliases),
            history=[ApprovalRecord(**h._mapping) for h in history],
        )

    def _audit(
        self,
        conn: sa.Connection,
        group: str,
        version: int,
        previous: str | None,
        status: str,
        actor: str,
        comment: str,
        at: Any,
    ) -> None:
        conn.execute(
            t.model_approvals.insert().values(
                group_name=group,
                version=version,
                previous_status=previous,
                status=status,
                actor=actor,
                comment=comment,
                at=at,
            )
        )
        arn = f"scoreline:model-package/{group}/{version}"
        detail = {
            "ModelPackageGroupName": group,
            "ModelPackageVersion": version,
            "ModelPackageArn": arn,
            "ModelPackageGroupArn": group_arn(group),
            "PreviousModelApprovalStatus": previous,
            "ModelApprovalStatus": status,
            "ApprovalDescription": comment,
            "UpdatedBy": actor,
        }
        self._store._append(conn, DetailType.MODEL_PACKAGE_STATE.value, detail, [arn])
