"""Model quality estimated without labels (``quality_check`` with ``check_type:
model_quality_estimate``): the resolved model scores its registered reference, the estimator
is fitted on those predictions and the reference's true values, and the batch's rows are
scored and estimated. No ground truth is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from scoreline.data.flavors import Model
from scoreline.data.io import (
    Chunk,
    ColumnKind,
    FastPathError,
    TableSpec,
    careful_csv_chunks,
    data_files,
    fast_chunks,
    file_format,
    header_columns,
    read_table,
)
from scoreline.data.preprocess import Encoder
from scoreline.data.transform import unscorable_rows
from scoreline.errors import DataError
from scoreline.monitoring.dataset import write_json
from scoreline.monitoring.estimation import CBPE, DLE, estimator_metrics, numeric_inputs
from scoreline.monitoring.model_quality import breaches
from scoreline.runners.batch_transform import prepare_scoring
from scoreline.runners.common import Progress, estimate_rows, input_dir, output_dir
from scoreline.types import DetailType

EVENT = DetailType.MODEL_QUALITY_ESTIMATE_VIOLATION.value


def model_quality_estimate(config: dict[str, Any]) -> dict[str, Any]:
    reference = input_dir("reference")
    if reference is None:
        print("the model version has no reference data: nothing to estimate")
        return {"estimated": False, "reason": "the model version has no reference data"}
    dataset, model_folder = input_dir("dataset"), input_dir("model")
    assert dataset is not None
    assert model_folder is not None
    threads = int(config.get("threads") or 0)
    model, encoder, options = prepare_scoring(
        config, model_folder, input_dir("preprocessing"), threads
    )
    target = str(config["ground_truth_column"])
    features, predicted, truth = _reference(reference, target, model, encoder)
    problem = model.info.problem_type
    total, estimated = estimate_rows(data_files(dataset), options.spec.header)
    progress = Progress("rows estimated", total, estimated=estimated)
    if problem == "regression":
        dle = DLE(features, predicted[:, 0], truth, threads)
        losses = _scored(
            dataset, model, encoder, options.spec, progress, lambda x, s: dle.losses(x, s[:, 0])
        )
        metrics, rows = dle.estimate(losses), losses.shape[0]
    else:
        cbpe = CBPE(predicted, _class_positions(truth, model, reference))
        scores = _scored(dataset, model, encoder, options.spec, progress, lambda _, s: s)
        metrics, rows = cbpe.estimate(scores), scores.shape[0]
    return _report(config, metrics, rows, problem, int(truth.size))


def _report(
    config: dict[str, Any], metrics: dict[str, Any], rows: int, problem: str, reference_rows: int
) -> dict[str, Any]:
    wanted = dict(config.get("thresholds") or {})
    if config.get("mse_threshold") is not None:
        wanted["mse"] = config["mse_threshold"]
    known = estimator_metrics(problem)
    thresholds = {k: v for k, v in wanted.items() if k in known}
    violations = breaches(metrics, thresholds)
    for violation in violations:
        metric = metrics[violation["metric_name"]]
        violation["description"] = (
            f"Estimated {violation['metric_name']} {metric.value:.6g} (expected between "
            f"{metric.lower:.6g} and {metric.upper:.6g}) was {violation['method']} "
            f"{violation['threshold']:g}"
        )
    report = output_dir("report")
    section = f"{_problem_type(problem)}_metrics"
    write_json(
        report / "estimate.json",
        {
            "version": 0.0,
            "dataset": {"item_count": rows, "reference_item_count": reference_rows},
            "method": "DLE" if problem == "regression" else "CBPE",
            section: {name: metric.to_json() for name, metric in metrics.items()},
        },
    )
    if thresholds:
        write_json(report / "constraint_violations.json", {"violations": violations})
    values = {name: metric.value for name, metric in metrics.items()}
    print(", ".join(f"estimated {k} {v:.4g}" for k, v in values.items()))
    metadata: dict[str, Any] = {
        "estimated": True,
        "rows": rows,
        "referenceRows": reference_rows,
        **values,
        "monitoring": {
            "check_type": "model_quality_estimate",
            "item_count": rows,
            "violation_count": len(violations),
            "passed": not violations if thresholds else None,
            "metrics": {name: metric.to_json() for name, metric in metrics.items()},
            "violations": violations,
        },
    }
    if thresholds:
        metadata.update(model_quality_passed=not violations, thresholds=thresholds)
    not_estimated = sorted(set(wanted) - set(thresholds))
    if not_estimated:
        metadata["thresholdsNotEstimated"] = not_estimated
    if violations:
        metadata["events"] = [
            {
                "detail-type": EVENT,
                "detail": {
                    "problemType": _problem_type(problem),
                    "metrics": values,
                    "thresholds": thresholds,
                    "violations": violations,
                    "rows": rows,
                    "estimated": True,
                },
            }
        ]
    return metadata


def _problem_type(problem: str) -> str:
    return problem if problem == "regression" else f"{problem}_classification"


def _reference(
    path: Path, target: str, model: Model, encoder: Encoder
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference's model inputs, the model's predictions of them and the true values."""
    first = data_files(path)[0]
    names = (
        list(pq.read_schema(first).names)
        if file_format(first) == "parquet"
        else header_columns(first)
    )
    if target not in names:
        raise DataError(
            f"the reference has no column '{target}' (ground_truth_column)",
            where=str(first),
            hint=f"its columns are {', '.join(names)}",
        )
    spec = encoder.input_spec(True, names)
    regression = model.info.problem_type == "regression"
    kinds: dict[str, ColumnKind] = {**spec.kinds, target: "numeric" if regression else "string"}
    table = read_table(path, TableSpec(names, kinds, header=True))
    encoded = encoder.encode(table)
    if encoded.unknown:
        first_unknown = encoded.unknown[0]
        raise DataError(
            f"unknown category '{first_unknown.value}' in the reference",
            where=f"{path}, row {first_unknown.index + 2}, column '{first_unknown.column}'",
        )
    truth_column = table.column(target)
    if truth_column.null_count:
        raise DataError(f"the reference's '{target}' has missing values", where=str(path))
    truth = truth_column.to_numpy() if regression else np.array(truth_column.to_pylist())
    predicted = model.predict(encoded.matrix).reshape(table.num_rows, -1)
    return numeric_inputs(encoded.matrix), predicted, truth


def _class_positions(truth: np.ndarray, model: Model, where: Path) -> np.ndarray:
    """True labels as positions in the model's classes ("1", "1.0" and 1 are one label)."""
    classes = model.info.classes or ()
    position: dict[str, int] = {}
    for k, label in enumerate(classes):
        position[str(label)] = k
        if isinstance(label, (int, float, np.number)) and float(label).is_integer():
            position[str(int(label))] = position[str(float(label))] = k
    positions = np.empty(truth.size, dtype=np.int64)
    for row, label in enumerate(truth):
        found = position.get(str(label).strip())
        if found is None:
            raise DataError(
                f"true label '{label}' is not one of the model's classes",
                where=f"{where}, row {row + 2}",
                hint=f"the classes are {', '.join(map(str, classes))}",
            )
        positions[row] = found
    return positions


def _scored(
    path: Path,
    model: Model,
    encoder: Encoder,
    spec: TableSpec,
    progress: Progress,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """What ``keep`` takes from each chunk's numeric model inputs and predictions, over the
    rows the batch transform scores (rows it rejects are left out), stacked."""
    kept: list[np.ndarray] = []
    for file in data_files(path):
        try:
            part = [keep(*_score(c, model, encoder)) for c in fast_chunks(file, spec)]
        except FastPathError:  # a row pyarrow cannot read: the whole file again, carefully
            part = [keep(*_score(c, model, encoder)) for c in careful_csv_chunks(file, spec)]
        for values in part:
            progress.add(values.shape[0])
        kept.extend(part)
    if not kept:
        raise DataError("no rows to estimate the model's quality on", where=str(path))
    return np.concatenate(kept)


def _score(chunk: Chunk, model: Model, encoder: Encoder) -> tuple[np.ndarray, np.ndarray]:
    encoded = encoder.encode(chunk.batch)
    skip = unscorable_rows(chunk, encoded.unknown, "reject")
    scores = model.predict(encoded.matrix).reshape(chunk.batch.num_rows, -1)
    inputs = numeric_inputs(encoded.matrix)
    if skip is None:
        return inputs, scores
    keep = ~skip
    return inputs[keep], scores[keep]
