"""Event sources polled by ``scoreline serve``: data arriving in a folder or bucket, and cron
schedules. Each emits its events exactly once (``store.sources``); starting pipelines is left
to rules, so one mechanism decides every start, with the same idempotency and audit trail.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scoreline.errors import ConfigError
from scoreline.settings import RuleSettings, ScheduleSettings, TriggerSettings
from scoreline.store import MetadataStore
from scoreline.store.records import EventRecord
from scoreline.types import DetailType

if TYPE_CHECKING:
    from scoreline.artifacts.store import StorageOptions

IGNORED_SUFFIXES = (".part", ".partial", ".tmp")
SCHEDULE_GRACE = timedelta(minutes=2)
"""A tick this recent is due now, not missed (serve polls every second or so)."""


# --- data arrival --------------------------------------------------------------------------


def _location(
    trigger: TriggerSettings, root: Path, options: StorageOptions | None
) -> tuple[Any, str, str]:
    """(filesystem, path, URI prefix) of a trigger's location."""
    from scoreline.artifacts.store import filesystem

    location = trigger.location
    if "://" not in location:
        location = str((root / location).resolve())
    fs, path = filesystem(location, options)
    prefix = location.split("://", 1)[0] + "://" if "://" in location else ""
    return fs, path, prefix


def _version(info: dict[str, Any]) -> str:
    for key in ("VersionId", "ETag", "etag"):
        if info.get(key):
            return str(info[key]).strip('"')
    return f"{info.get('size', 0)}-{info.get('mtime', info.get('LastModified', ''))}"


def poll_trigger(
    store: MetadataStore,
    trigger: TriggerSettings,
    root: Path,
    now: datetime,
    options: StorageOptions | None = None,
) -> list[EventRecord]:
    """Look at the trigger's location once; emit "Object Created" for each complete new
    object (or new version of one) whose name matches."""
    fs, path, scheme = _location(trigger, root, options)
    try:
        found = fs.find(path, detail=True)
    except FileNotFoundError:
        return []
    remote = bool(scheme) and scheme != "file://"
    settle = timedelta(seconds=0 if remote else trigger.settle_seconds)
    events = []
    for key, info in sorted(found.items()):
        name = key.rsplit("/", 1)[-1]
        if info.get("type") == "directory" or name.startswith((".", "_")):
            continue
        if name.endswith(IGNORED_SUFFIXES) or not fnmatch.fnmatch(name, trigger.pattern):
            continue
        uri = f"{scheme}{key}" if remote else key
        version = _version(info)
        size = int(info.get("size") or 0)
        detail = {
            "version": "0",
            "trigger": trigger.name,
            "bucket": {"name": path.split("/", 1)[0] if remote else path},
            "object": {"key": key, "size": size, "etag": version},
            "uri": uri,
            "reason": "PutObject",
        }
        event = store.sources.object_seen(
            trigger.name,
            key,
            version,
            size,
            now,
            settle,
            detail,
            [f"scoreline:trigger/{trigger.name}"],
        )
        if event is not None:
            events.append(event)
    return events


def trigger_rule(trigger: TriggerSettings) -> RuleSettings:
    """The rule that starts a trigger's pipeline for each of its objects."""
    return RuleSettings.model_validate(
        {
            "name": f"trigger.{trigger.name}",
            "pattern": {
                "detail-type": [DetailType.OBJECT_CREATED.value],
                "detail": {"trigger": [trigger.name]},
            },
            "target": {
                "start_pipeline": trigger.pipeline,
                "parameters": {trigger.parameter: "$.detail.uri"},
            },
            "guardrails": {"max_in_flight": 0},
        }
    )


# --- schedules -----------------------------------------------------------------------------


def _zone(schedule: ScheduleSettings) -> ZoneInfo:
    try:
        return ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone '{schedule.timezone}'",
            where=f"scoreline.yaml: schedules '{schedule.name}'",
            hint="use an IANA name such as UTC or Europe/Berlin",
        ) from None


def check_schedule(schedule: ScheduleSettings) -> None:
    from croniter import croniter

    if not croniter.is_valid(schedule.cron):
        raise ConfigError(
            f"'{schedule.cron}' is not a cron expression",
            where=f"scoreline.yaml: schedules '{schedule.name}'",
            hint="five fields: minute hour day-of-month month day-of-week",
        )
    _zone(schedule)


def poll_schedule(
    store: MetadataStore, schedule: ScheduleSettings, now: datetime
) -> EventRecord | None:
    """Emit the schedule's "Scheduled Event" for the latest tick at or before ``now`` if it
    is due. The first poll only records where the schedule starts. Ticks missed while
    nothing polled are skipped, or, with ``missed: run_once``, run once together."""
    from croniter import croniter

    zone = _zone(schedule)
    local_now = now.astimezone(zone)
    latest = croniter(schedule.cron, local_now + timedelta(microseconds=1)).get_prev(datetime)
    last = store.sources.last_tick(schedule.name)
    if last is None:
        store.sources.record_tick(schedule.name, local_now, None, now)
        return None
    if latest <= last:
        return None
    ticks = croniter(schedule.cron, last.astimezone(zone))
    count = 0
    while count < 10_000 and ticks.get_next(datetime) <= latest:
        count += 1
    recent = now - latest <= SCHEDULE_GRACE
    fire = recent or schedule.missed == "run_once"
    detail = {
        "schedule": schedule.name,
        "scheduledTime": latest.isoformat(),
        "ticksSincePrevious": count,
        "missedTicks": count - 1 if recent else count,
    }
    return store.sources.record_tick(schedule.name, latest, detail if fire else None, now)


def schedule_rule(schedule: ScheduleSettings) -> RuleSettings:
    return RuleSettings.model_validate(
        {
            "name": f"schedule.{schedule.name}",
            "pattern": {
                "detail-type": [DetailType.SCHEDULED.value],
                "detail": {"schedule": [schedule.name]},
            },
            "target": {"start_pipeline": schedule.pipeline, "parameters": schedule.parameters},
            "guardrails": {"max_in_flight": 0},
        }
    )


# --- upload --------------------------------------------------------------------------------

UPLOAD_PREFIXES = {
    "training": "bucket_train_prefix",
    "inference": "bucket_inf_prefix",
    "ground-truth": "bucket_ground_truth_prefix",
}


def upload(
    source: Path,
    to: str,
    variables: Mapping[str, Any],
    root: Path,
    options: StorageOptions | None = None,
) -> str:
    """Copy ``source`` to ``<bucket_name>/<bucket_prefix>/<prefix of 'to'>/<its name>``,
    under a temporary name renamed at the end (an S3 put is atomic by itself)."""
    from scoreline.artifacts.store import filesystem

    if to not in UPLOAD_PREFIXES:
        raise ConfigError(
            f"unknown destination '{to}'", where="--to", hint=f"use {', '.join(UPLOAD_PREFIXES)}"
        )
    if not source.is_file():
        raise ConfigError("no such file", where=str(source))
    bucket = str(variables["bucket_name"])
    if "://" not in bucket:
        bucket = str((root / bucket).resolve())
    parts = [bucket.rstrip("/"), str(variables["bucket_prefix"]).strip("/")]
    parts.append(str(variables[UPLOAD_PREFIXES[to]]).strip("/"))
    target = "/".join(p for p in parts if p) + "/" + source.name
    fs, path = filesystem(target, options)
    folder = path.rsplit("/", 1)[0]
    fs.makedirs(folder, exist_ok=True)
    if "://" in target and not target.startswith("file://"):
        fs.put_file(str(source), path)
    else:
        partial = f"{folder}/.{source.name}.partial"
        fs.put_file(str(source), partial)
        fs.mv(partial, path)
    return target
