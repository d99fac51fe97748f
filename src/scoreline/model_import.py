"""Models brought from outside a pipeline: a model file trained in a notebook, another
registry or another tool, registered as a version like one a pipeline registers.

The file is loaded once before anything is recorded (a pickle is refused, a skops file's
untrusted types must be named), so a version that exists can be scored. Its artifact is
stored content-addressed (``registry/<group>/<sha256>``): registering the same file twice
gives the same version back. A sample of the input data fills in the input schema and the
data-quality baseline that monitoring checks inference data against.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scoreline.artifacts import ArtifactStore, sha256_file
from scoreline.artifacts.store import MANIFEST
from scoreline.data.flavors import (
    PROBLEM_TYPES,
    ModelInfo,
    detect_flavor,
    flavor_class,
    load_model,
    model_file,
)
from scoreline.errors import ArtifactError, DataError, ParameterError
from scoreline.store import MetadataStore, ModelVersionRecord
from scoreline.store.registry import check_group_name, parse_approval_status

REGISTRY_PREFIX = "registry"


@dataclass(frozen=True)
class ModelSource:
    """What to register, as given on the command line or in Python."""

    path: Path
    flavor: str | None = None
    problem_type: str | None = None
    classes: tuple[str, ...] | None = None
    sample: Path | None = None
    target: str | None = None
    metrics: Path | None = None
    description: str = ""
    trusted: tuple[str, ...] = ()
    status: str = "PendingManualApproval"
    lineage: dict[str, Any] = field(default_factory=dict)


def register_model_file(
    store: MetadataStore, artifacts: ArtifactStore, group: str, source: ModelSource, actor: str
) -> tuple[ModelVersionRecord, bool]:
    """Register ``source`` in ``group``; says whether an existing version (same file) was
    returned instead of a new one."""
    check_group_name(group)
    parse_approval_status(source.status)
    flavor, path = _model_path(source)
    info = _checked_info(load_model(path, flavor, threads=1, trusted=source.trusted).info, source)
    digest = sha256_file(path)
    folder = _store_model(artifacts, group, flavor, path, digest)
    schema: dict[str, Any] = {
        **info.to_dict(),
        "features": [{"name": n, "type": "numeric"} for n in info.features or ()],
        "target": source.target,
        "trustedTypes": list(source.trusted),
    }
    baseline: dict[str, Any] = {}
    if source.sample is not None:
        features, baseline = _sample_baseline(artifacts, group, source, info)
        schema["features"] = features
    metrics, metrics_uri = _metrics(artifacts, group, source.metrics)
    return store.models.create_version(
        group,
        approval_status=source.status,
        flavor=flavor,
        artifact_uri=folder,
        artifact_sha256=digest,
        content_sha256=hashlib.sha256(f"model:{digest}".encode()).hexdigest(),
        actor=actor,
        input_schema=schema,
        metrics=metrics,
        metrics_uri=metrics_uri,
        baseline=baseline,
        lineage={"source": "file", "file": source.path.name, **source.lineage, "userId": actor},
        description=source.description,
    )


def _model_path(source: ModelSource) -> tuple[str, Path]:
    path = source.path
    if not path.exists():
        raise ParameterError("no such file or folder", where=str(path))
    if path.is_dir():
        return model_file(path, source.flavor)
    flavor = source.flavor or detect_flavor(path)
    flavor_class(flavor)
    return flavor, path


def _checked_info(info: ModelInfo, source: ModelSource) -> ModelInfo:
    """The model's own description, checked against what the user said about it."""
    wanted = source.problem_type
    if wanted is not None and wanted not in PROBLEM_TYPES:
        raise ParameterError(
            f"'{wanted}' is not a problem type",
            where="--problem-type",
            hint=f"use one of {', '.join(PROBLEM_TYPES)}",
        )
    if wanted is not None and wanted != info.problem_type:
        raise ParameterError(
            f"the model file is a {info.problem_type} model, not {wanted}",
            where=str(source.path),
            hint="leave out --problem-type to take the model's own",
        )
    if source.classes is None:
        return info
    if info.classes is None or len(source.classes) != len(info.classes):
        count = 0 if info.classes is None else len(info.classes)
        raise ParameterError(
            f"{len(source.classes)} classes given for a model with {count}",
            where="--classes",
        )
    own = [str(c) for c in info.classes]
    generic = own == [str(k) for k in range(len(own))]
    if not generic and own != list(source.classes):
        raise ParameterError(
            f"the model names its classes {', '.join(own)}",
            where="--classes",
            hint="leave out --classes to take the model's own",
        )
    return ModelInfo(info.problem_type, source.classes, info.features, info.takes_columns)


def _store_model(artifacts: ArtifactStore, group: str, flavor: str, path: Path, digest: str) -> str:
    """The model file under its flavor's canonical name, stored once per content."""
    key = f"{REGISTRY_PREFIX}/{group}/{digest}"
    uri = artifacts.uri(key)
    if artifacts.exists(f"{uri}/{MANIFEST}"):
        return uri
    with tempfile.TemporaryDirectory(prefix="scoreline-register-") as tmp:
        shutil.copyfile(path, Path(tmp) / flavor_class(flavor).files[0])
        return artifacts.commit_folder(Path(tmp), key).uri


def _sample_baseline(
    artifacts: ArtifactStore, group: str, source: ModelSource, info: ModelInfo
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Input features and the data-quality baseline of the sample: the model's input
    columns only, as inference data holds them (no target)."""
    from scoreline.monitoring.constraints import suggest_constraints
    from scoreline.monitoring.dataset import profile_data, write_json

    assert source.sample is not None
    if not source.sample.exists():
        raise ParameterError("no such file or folder", where=str(source.sample))
    profiled = profile_data(source.sample, header=True).to_statistics()
    described = {f["name"]: f for f in profiled.get("features", [])}
    if source.target is not None and source.target not in described:
        raise DataError(
            f"the sample has no target column '{source.target}'",
            where=str(source.sample),
            hint=f"its columns are {', '.join(described)}",
        )
    wanted = list(info.features or [n for n in described if n != source.target])
    missing = [n for n in wanted if n not in described]
    if missing:
        raise DataError(
            f"the sample lacks the model's input column '{missing[0]}'",
            where=str(source.sample),
            hint=f"the model needs {', '.join(wanted)}",
        )
    statistics = {**profiled, "features": [described[n] for n in wanted]}
    digest = hashlib.sha256(json.dumps(statistics, sort_keys=True).encode()).hexdigest()
    key = f"{REGISTRY_PREFIX}/{group}/baselines/{digest}"
    uri = artifacts.uri(key)
    if not artifacts.exists(f"{uri}/{MANIFEST}"):
        with tempfile.TemporaryDirectory(prefix="scoreline-baseline-") as tmp:
            write_json(Path(tmp) / "statistics.json", statistics)
            write_json(Path(tmp) / "constraints.json", suggest_constraints(statistics).to_json())
            artifacts.commit_folder(Path(tmp), key)
    features = [
        {
            "name": n,
            "type": "categorical" if described[n]["inferred_type"] == "String" else "numeric",
        }
        for n in wanted
    ]
    return features, {name: f"{uri}/{name}.json" for name in ("statistics", "constraints")}


def _metrics(
    artifacts: ArtifactStore, group: str, path: Path | None
) -> tuple[dict[str, Any], str | None]:
    if path is None:
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError("no such file", where=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"metrics file is not valid JSON ({exc})", where=str(path)) from None
    if not isinstance(data, dict):
        raise ArtifactError("metrics file must hold a JSON object", where=str(path))
    raw = json.dumps(data, indent=2).encode()
    digest = hashlib.sha256(raw).hexdigest()
    stored = artifacts.put_bytes(f"{REGISTRY_PREFIX}/{group}/metrics/{digest}.json", raw)
    return data, artifacts.uri(stored.path)
