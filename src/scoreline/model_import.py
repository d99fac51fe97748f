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
from scoreline.data.io import load_json_object
from scoreline.errors import ArtifactError, DataError, ParameterError
from scoreline.store import MetadataStore, ModelVersionRecord
from scoreline.store.records import registered_artifacts
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
    features: tuple[dict[str, str], ...] | None = None
    """Input columns another registry recorded (an MLflow signature), used without a sample."""
    extra_metrics: dict[str, Any] = field(default_factory=dict)


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
        "features": list(source.features or ())
        or [
            {"name": n, "type": "categorical" if info.kinds.get(n) == "string" else "numeric"}
            for n in info.features or ()
        ],
        "target": source.target,
        "trustedTypes": list(source.trusted),
    }
    baseline: dict[str, Any] = {}
    if source.sample is not None:
        features, baseline = _sample_baseline(artifacts, group, source, info)
        schema["features"] = features
    metrics, metrics_uri = _metrics(artifacts, group, source.metrics)
    metrics = {**source.extra_metrics, **metrics}
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
        artifact_digests=artifacts.digests(registered_artifacts(None, metrics_uri, baseline)),
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
    """The model file under its flavor's name for it (``model.ubj`` for UBJ...), stored once
    per content."""
    key = f"{REGISTRY_PREFIX}/{group}/{digest}"
    uri = artifacts.uri(key)
    if artifacts.exists(f"{uri}/{MANIFEST}"):
        return uri
    names = flavor_class(flavor).files
    name = next((n for n in names if path.name.endswith(Path(n).suffix)), names[0])
    with tempfile.TemporaryDirectory(prefix="scoreline-register-") as tmp:
        shutil.copyfile(path, Path(tmp) / name)
        return artifacts.commit_folder(Path(tmp), key).uri


def _sample_baseline(
    artifacts: ArtifactStore, group: str, source: ModelSource, info: ModelInfo
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Input features and the data-quality baseline of the sample: the model's input
    columns only, as inference data holds them (no target). With a target, the sample is
    kept too (``baseline["reference"]``)."""
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
    baseline = {name: f"{uri}/{name}.json" for name in ("statistics", "constraints")}
    if source.target is not None:
        baseline["reference"] = _store_reference(artifacts, group, source.sample)
    return features, baseline


def _store_reference(artifacts: ArtifactStore, group: str, sample: Path) -> str:
    """The labelled sample itself, kept with the version as the reference data that
    estimating performance without labels compares new batches with."""
    if sample.is_dir():
        digest = hashlib.sha256(
            "".join(f"{p.name}:{sha256_file(p)}" for p in sorted(sample.iterdir())).encode()
        ).hexdigest()
        key = f"{REGISTRY_PREFIX}/{group}/references/{digest}"
        uri = artifacts.uri(key)
        if not artifacts.exists(f"{uri}/{MANIFEST}"):
            artifacts.commit_folder(sample, key)
        return uri
    key = f"{REGISTRY_PREFIX}/{group}/references/{sha256_file(sample)}/{sample.name}"
    if not artifacts.exists(key):
        artifacts.put_file(sample, key)
    return artifacts.uri(key)


def _metrics(
    artifacts: ArtifactStore, group: str, path: Path | None
) -> tuple[dict[str, Any], str | None]:
    if path is None:
        return {}, None
    data = load_json_object(path, "metrics file")
    raw = json.dumps(data, indent=2).encode()
    digest = hashlib.sha256(raw).hexdigest()
    stored = artifacts.put_bytes(f"{REGISTRY_PREFIX}/{group}/metrics/{digest}.json", raw)
    return data, artifacts.uri(stored.path)


MLFLOW_FLAVORS = ("xgboost", "lightgbm", "catboost", "onnx", "sklearn")
_MLFLOW_TYPES = {"string": "categorical", "binary": "categorical", "boolean": "categorical"}


def mlflow_source(folder: Path, **given: Any) -> ModelSource:
    """An MLflow model folder (its ``MLmodel`` file) as a model source: the model file of
    its first flavor scoreline can load, its signature as the input schema. A flavor
    serialized with pickle or cloudpickle is refused."""
    import yaml

    spec_path = folder / "MLmodel"
    if not spec_path.is_file():
        raise ParameterError(
            "not an MLflow model folder (no MLmodel file)",
            where=str(folder),
            hint="give the folder mlflow.<flavor>.save_model wrote, or a run's artifacts/model",
        )
    try:
        spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ArtifactError(f"MLmodel is not valid YAML ({exc})", where=str(spec_path)) from None
    flavors = spec.get("flavors") or {}
    name = next((f for f in MLFLOW_FLAVORS if f in flavors), None)
    if name is None:
        raise ArtifactError(
            f"MLflow flavors {', '.join(flavors) or 'none'}: none that scoreline can score",
            where=str(spec_path),
            hint=f"scoreline imports the {', '.join(MLFLOW_FLAVORS)} flavors",
        )
    conf = flavors[name]
    data = conf.get("pickled_model") or conf.get("data")
    serialization = str(conf.get("serialization_format") or conf.get("save_format") or "")
    if name == "sklearn" and serialization != "skops":
        raise ArtifactError(
            f"MLflow's sklearn flavor here is a {serialization or 'pickle'} file, which runs "
            "code when loaded",
            where=str(spec_path),
            hint="log it again with mlflow.sklearn.log_model(..., serialization_format="
            "'skops'), or convert it to ONNX with skl2onnx and log that",
        )
    if not isinstance(data, str) or not (folder / data).is_file():
        raise ArtifactError(f"the {name} flavor names no model file", where=str(spec_path))
    # MLflow writes a scikit-learn-API booster with skops (and a native one in its own format)
    flavor = "sklearn" if data.endswith(".skops") else name
    if flavor == "xgboost" and conf.get("model_format") not in ("json", "ubj"):
        raise ArtifactError(
            f"XGBoost's '{conf.get('model_format')}' format is not supported",
            where=str(spec_path),
            hint="log it with mlflow.xgboost.log_model(..., model_format='ubj') or 'json'",
        )
    lineage = {
        "source": "mlflow",
        "mlflowModelUuid": spec.get("model_uuid"),
        "mlflowRunId": spec.get("run_id"),
        "mlflowVersion": spec.get("mlflow_version"),
        "mlflowFlavor": name,
    }
    return ModelSource(
        path=folder / data,
        flavor=flavor,
        lineage={k: v for k, v in lineage.items() if v},
        features=_signature_features(spec, spec_path),
        **given,
    )


def _signature_features(spec: dict[str, Any], where: Path) -> tuple[dict[str, str], ...] | None:
    inputs = (spec.get("signature") or {}).get("inputs")
    if not inputs:
        return None
    try:
        columns = json.loads(inputs)
    except json.JSONDecodeError as exc:
        raise ArtifactError(
            f"the signature is not valid JSON ({exc.msg})", where=str(where)
        ) from None
    named = [c for c in columns if isinstance(c, dict) and c.get("name")]
    if len(named) != len(columns):  # a tensor signature names no columns
        return None
    return tuple(
        {"name": str(c["name"]), "type": _MLFLOW_TYPES.get(str(c.get("type")), "numeric")}
        for c in named
    )


SAGEMAKER_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
ARCHIVE_LIMIT = 4 << 30


def sagemaker_source(archive: Path, package: Path | None, into: Path, **given: Any) -> ModelSource:
    """A SageMaker ``model.tar.gz`` (unpacked into ``into``) as a model source, with its
    model package's description (``aws sagemaker describe-model-package`` JSON): approval
    status, description, metrics and lineage carried over."""
    import tarfile

    if not archive.is_file():
        raise ParameterError("no such file", where=str(archive))
    try:
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            if sum(m.size for m in members) > ARCHIVE_LIMIT:
                raise ArtifactError("the archive unpacks to more than 4 GiB", where=str(archive))
            root = into.resolve()
            for member in members:  # regular files only, each inside the folder
                if root not in (root / member.name).resolve().parents:
                    raise ArtifactError(f"unsafe entry '{member.name}'", where=str(archive))
            # tarfile's own "data" filter where this Python has it (3.11.4 and later)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(into, members=members, **safe)  # type: ignore[arg-type]  # noqa: S202
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"not a readable model.tar.gz ({exc})", where=str(archive)) from None
    path = _sagemaker_model_file(into, archive)
    described = _package(package) if package is not None else {}
    status = described.get("ModelApprovalStatus")
    lineage = {
        "source": "sagemaker",
        "archive": archive.name,
        "modelPackageArn": described.get("ModelPackageArn"),
        "modelPackageGroupName": described.get("ModelPackageGroupName"),
        "modelPackageVersion": described.get("ModelPackageVersion"),
        "creationTime": described.get("CreationTime"),
        "metadataProperties": described.get("MetadataProperties"),
        "customerMetadataProperties": described.get("CustomerMetadataProperties"),
        "modelDataUrl": next(
            (
                c.get("ModelDataUrl")
                for c in (described.get("InferenceSpecification") or {}).get("Containers", [])
            ),
            None,
        ),
    }
    options = dict(given)
    if status in SAGEMAKER_STATUSES and "status" not in options:
        options["status"] = status
    if described.get("ModelPackageDescription") and not options.get("description"):
        options["description"] = described["ModelPackageDescription"]
    return ModelSource(
        path=path,
        lineage={k: v for k, v in lineage.items() if v},
        extra_metrics={"sagemakerModelMetrics": described["ModelMetrics"]}
        if described.get("ModelMetrics")
        else {},
        **options,
    )


def sagemaker_group(package: Path | None) -> str | None:
    """The model package group a described package belongs to."""
    return _package(package).get("ModelPackageGroupName") if package is not None else None


def _package(path: Path) -> dict[str, Any]:
    data = load_json_object(path, "model package description")
    if "ModelPackageArn" not in data:
        raise ArtifactError(
            "not a described model package (no ModelPackageArn)",
            where=str(path),
            hint="save the output of: aws sagemaker describe-model-package "
            "--model-package-name ARN",
        )
    return data


def _sagemaker_model_file(folder: Path, archive: Path) -> Path:
    """The one model file in an unpacked archive that a flavor can load; SageMaker's
    XGBoost container writes a booster in XGBoost's JSON or UBJ format as ``xgboost-model``,
    older containers a pickle, which is refused."""
    from scoreline.data.flavors import refuse_pickle

    found: list[Path] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        refuse_pickle(path)
        if path.name == "xgboost-model":  # named by its content: XGBoost reads by suffix
            with path.open("rb") as handle:
                head = handle.read(2)
            suffix = ".json" if head == b'{"' else ".ubj" if head[:1] == b"{" else ""
            if suffix:
                path = path.rename(path.with_name(f"xgboost-model{suffix}"))
        try:
            detect_flavor(path)
        except ArtifactError:
            continue
        found.append(path)
    if len(found) != 1:
        raise ArtifactError(
            f"the archive holds {len(found)} model files scoreline can load, not one",
            where=str(archive),
            hint="it must hold one of XGBoost .json/.ubj, LightGBM .lgb, CatBoost .cbm, "
            ".onnx or .skops",
        )
    return found[0]
