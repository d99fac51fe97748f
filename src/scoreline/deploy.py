"""``plan`` / ``apply`` / ``destroy`` (DESIGN §9): the project's declared resources against
what is deployed in the metadata store, as a readable diff.

Resources are plain JSON specs keyed by (kind, name): pipeline definitions, triggers,
schedules, rules, notification targets (a hash of the URL, never the URL: it may hold a
password) and model package groups. A change lists the fields that differ, with lists of
named items (steps, parameters) compared by name, so a changed threshold reads as
``parameters[AccuracyMseThreshold].default: 10.0 -> 7.5``.
"""

from __future__ import annotations

import json
import re
from typing import Any

Resources = dict[tuple[str, str], dict[str, Any]]
KIND_ORDER = (
    "model_group",
    "pipeline",
    "parameter_file",
    "trigger",
    "schedule",
    "rule",
    "notification",
    "notification_settings",
    "upload",
)
PINNED = re.compile(r"^parameters\[(?P<name>[^\]]+)\]\.default: ")


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _named(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects that all have a distinct ``name``, keyed by it."""
    if not items or not all(isinstance(i, dict) and "name" in i for i in items):
        return None
    keyed = {str(i["name"]): i for i in items}
    return keyed if len(keyed) == len(items) else None


def field_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """``path: old -> new`` for every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old:
                found.append(f"{sub}: (none) -> {_short(new[key])}")
            elif key not in new:
                found.append(f"{sub}: {_short(old[key])} -> (none)")
            else:
                found += field_changes(old[key], new[key], sub)
        return found
    if isinstance(old, list) and isinstance(new, list):
        old_named, new_named = _named(old), _named(new)
        if old_named is not None and new_named is not None:
            found = []
            for key in sorted(set(old_named) | set(new_named)):
                sub = f"{path}[{key}]"
                if key not in old_named:
                    found.append(f"{sub}: added")
                elif key not in new_named:
                    found.append(f"{sub}: removed")
                else:
                    found += field_changes(old_named[key], new_named[key], sub)
            if not found and list(old_named) != list(new_named):
                found.append(f"{path}: order {list(old_named)} -> {list(new_named)}")
            return found
    if old != new:
        return [f"{path}: {_short(old)} -> {_short(new)}"]
    return []


def plan(declared: Resources, deployed: Resources) -> list[dict[str, Any]]:
    """Creates, updates (with their changed fields) and deletes, in a stable order."""
    changes = []
    for key in sorted(set(declared) | set(deployed), key=_order):
        kind, name = key
        if key not in deployed:
            changes.append(
                {
                    "action": "create",
                    "kind": kind,
                    "name": name,
                    "spec": declared[key],
                    "fields": [],
                }
            )
        elif key not in declared:
            changes.append(
                {
                    "action": "delete",
                    "kind": kind,
                    "name": name,
                    "spec": deployed[key],
                    "fields": [],
                }
            )
        else:
            fields = field_changes(deployed[key], declared[key])
            if fields:
                changes.append(
                    {
                        "action": "update",
                        "kind": kind,
                        "name": name,
                        "spec": declared[key],
                        "fields": fields,
                    }
                )
    return changes


def mark_pinned(changes: list[dict[str, Any]], pinned: dict[str, dict[str, Any]]) -> None:
    """Say, next to a changed parameter default, when a parameter file pins the value runs
    use: ``pinned`` maps a pipeline to its file's ``{"path": ..., "values": {...}}``."""
    for change in changes:
        file = pinned.get(change["name"]) if change["kind"] == "pipeline" else None
        if not file:
            continue
        marked = []
        for text in change["fields"]:
            match = PINNED.match(text)
            if match and match["name"] in file["values"]:
                value = _short(file["values"][match["name"]])
                text += f" (runs use {value}: pinned by {file['path']})"
            marked.append(text)
        change["fields"] = marked


def _order(key: tuple[str, str]) -> tuple[int, str]:
    kind, name = key
    return (KIND_ORDER.index(kind) if kind in KIND_ORDER else len(KIND_ORDER), name)


SYMBOLS = {"create": "+", "update": "~", "delete": "-"}


def render(changes: list[dict[str, Any]]) -> list[str]:
    """The diff as lines: ``+ pipeline X``, ``~ rule Y`` with indented fields, ``- ...``."""
    lines = []
    for change in changes:
        lines.append(f"{SYMBOLS[change['action']]} {change['kind']} {change['name']}")
        lines += [f"    {field}" for field in change["fields"]]
    creates = sum(c["action"] == "create" for c in changes)
    updates = sum(c["action"] == "update" for c in changes)
    deletes = sum(c["action"] == "delete" for c in changes)
    lines.append(f"Plan: {creates} to create, {updates} to update, {deletes} to delete.")
    return lines
