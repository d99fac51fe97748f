"""Model quality: predictions joined with ground truth, regression metrics, and the reports
in the reference's ``evaluation.json`` shape and Model Monitor's model-quality shapes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from scoreline.data.io import TableSpec, data_files, file_format, header_columns, read_table
from scoreline.errors import DataError

BOOTSTRAP_SAMPLES = 100
BOOTSTRAP_ROWS = 100_000


@dataclass(frozen=True)
class Metric:
    value: float
    standard_deviation: float

    def to_json(self) -> dict[str, float]:
        return {"value": self.value, "standard_deviation": self.standard_deviation}


PROBLEM_TYPES = ("regression", "binary_classification", "multiclass_classification")
LOWER_IS_BETTER = {"mse", "rmse", "mae"}


def _regression_values(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """Metric values along the last axis (so one call also serves every bootstrap sample)."""
    residual = truth - predicted
    mse = (residual**2).mean(axis=-1)
    variance = truth.var(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(variance > 0, 1.0 - mse / variance, 0.0)
    return {
        "mse": mse,
        "rmse": np.sqrt(mse),
        "mae": np.abs(residual).mean(axis=-1),
        "r2": r2,
    }


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1e-300), 0.0)


def _auc(truth: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve from ranks (ties share their average rank)."""
    positives = truth == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if not n_pos or not n_neg:
        return float("nan")
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = average_rank[inverse]
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta: float) -> np.ndarray:
    """scikit-learn's F-beta: 0 where precision and recall are both 0."""
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def _binary_values(truth: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    label = score >= 0.5
    positive = truth == 1
    tp = (label & positive).sum(axis=-1)
    fp = (label & ~positive).sum(axis=-1)
    fn = (~label & positive).sum(axis=-1)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    auc = (
        np.array([_auc(t, s) for t, s in zip(truth, score, strict=True)])
        if truth.ndim == 2
        else np.array(_auc(truth, score))
    )
    return {
        "accuracy": (label == positive).mean(axis=-1),
        "precision": precision,
        "recall": recall,
        "f0_5": _f_beta(precision, recall, 0.5),
        "f1": _f_beta(precision, recall, 1.0),
        "f2": _f_beta(precision, recall, 2.0),
        "auc": auc,
    }


def _multiclass_values(truth: np.ndarray, predicted: np.ndarray) -> dict[str, np.ndarray]:
    """As scikit-learn computes them, over the labels of the truth and the predictions
    together (a class only ever predicted counts, with precision 0): accuracy; precision,
    recall and f1 averaged over classes (``macro``); and Model Monitor's ``weighted_*``,
    averaged by each class's support in the truth."""
    classes = np.union1d(np.unique(truth), np.unique(predicted))
    support, precision, recall = [], [], []
    for c in classes:
        tp = ((predicted == c) & (truth == c)).sum(axis=-1)
        actual = (truth == c).sum(axis=-1)
        support.append(actual)
        precision.append(_ratio(tp, (predicted == c).sum(axis=-1)))
        recall.append(_ratio(tp, actual))
    weights = np.array(support, dtype=np.float64)
    weights = weights / np.maximum(weights.sum(axis=0), 1)
    p, r = np.array(precision), np.array(recall)
    values = {
        "accuracy": (predicted == truth).mean(axis=-1),
        "precision": p.mean(axis=0),
        "recall": r.mean(axis=0),
        "f1": _f_beta(p, r, 1.0).mean(axis=0),
        "weighted_precision": (weights * p).sum(axis=0),
        "weighted_recall": (weights * r).sum(axis=0),
    }
    for beta, name in ((0.5, "weighted_f0_5"), (1.0, "weighted_f1"), (2.0, "weighted_f2")):
        values[name] = (weights * _f_beta(p, r, beta)).sum(axis=0)
    return values


_VALUES = {
    "regression": _regression_values,
    "binary_classification": _binary_values,
    "multiclass_classification": _multiclass_values,
}


def quality_metrics(
    truth: np.ndarray, predicted: np.ndarray, problem_type: str = "regression"
) -> dict[str, Metric]:
    """The problem type's metrics, each with a bootstrap standard deviation (seeded), equal
    to scikit-learn's on the same rows. Regression: mse, rmse, mae, r2. Binary
    classification (predictions are labels or scores, thresholded at 0.5; positives are 1):
    accuracy, precision, recall, f0_5, f1, f2, auc. Multiclass (predictions are labels):
    accuracy, macro precision, recall and f1, and weighted_precision, weighted_recall,
    weighted_f0_5, weighted_f1, weighted_f2."""
    truth = np.asarray(truth, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if truth.size == 0:
        raise DataError("no rows to evaluate")
    values = _VALUES[problem_type]
    point = values(truth, predicted)
    rng = np.random.default_rng(0)
    size = min(truth.size, BOOTSTRAP_ROWS)
    scale = np.sqrt(size / truth.size)  # a subsample's spread, rescaled to the full size
    index = rng.integers(0, truth.size, size=(BOOTSTRAP_SAMPLES, size))
    samples = values(truth[index], predicted[index])
    return {
        name: Metric(float(point[name]), float(np.nanstd(samples[name]) * scale)) for name in point
    }


def regression_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, Metric]:
    """mse, rmse, mae and r2 with bootstrap standard deviations."""
    return quality_metrics(truth, predicted, "regression")


def _section(problem_type: str) -> str:
    return f"{problem_type}_metrics"


def breaches(metrics: dict[str, Metric], thresholds: dict[str, float]) -> list[dict[str, Any]]:
    """Violations in Model Monitor's model-quality shape, with ``value``/``threshold``."""
    found = []
    for name, threshold in thresholds.items():
        if name not in metrics:
            raise DataError(
                f"no metric '{name}' to hold a threshold",
                hint=f"metrics are {', '.join(metrics)}",
            )
        metric = metrics[name]
        worse = metric.value > threshold if name in LOWER_IS_BETTER else metric.value < threshold
        operator = "GreaterThanThreshold" if name in LOWER_IS_BETTER else "LessThanThreshold"
        if worse:
            found.append(
                {
                    "constraint_check_type": operator,
                    "metric_name": name,
                    "description": f"Metric {name} with {metric.value:.6g} +/- "
                    f"{metric.standard_deviation:.3g} was {operator} {threshold:g}",
                    "value": metric.value,
                    "threshold": float(threshold),
                    "method": operator,
                }
            )
    return found


def evaluation_report(
    metrics: dict[str, Metric],
    mse_threshold: float | None = None,
    problem_type: str = "regression",
    passed: bool | None = None,
) -> dict[str, Any]:
    """The reference's ``evaluation.json``: ``regression_metrics.mse.value`` and friends;
    with a threshold, also ``model_quality_passed`` (mse <= threshold) and ``mse_threshold``."""
    report: dict[str, Any] = {
        _section(problem_type): {name: metric.to_json() for name, metric in metrics.items()}
    }
    if mse_threshold is not None:
        report["model_quality_passed"] = bool(metrics["mse"].value <= mse_threshold)
        report["mse_threshold"] = float(mse_threshold)
    elif passed is not None:
        report["model_quality_passed"] = passed
    return report


def model_quality_statistics(
    metrics: dict[str, Metric], rows: int, problem_type: str = "regression"
) -> dict[str, Any]:
    return {
        "version": 0.0,
        "dataset": {"item_count": rows},
        _section(problem_type): {name: metric.to_json() for name, metric in metrics.items()},
    }


def model_quality_constraints(
    thresholds: dict[str, float], problem_type: str = "regression"
) -> dict[str, Any]:
    return {
        "version": 0.0,
        f"{problem_type}_constraints": {
            name: {
                "threshold": float(value),
                "comparison_operator": "GreaterThanThreshold"
                if name in LOWER_IS_BETTER
                else "LessThanThreshold",
            }
            for name, value in thresholds.items()
        },
    }


def read_column(
    path: Path,
    column: str | int,
    header: bool,
    id_column: str | None = None,
    allow_missing: bool = False,
) -> tuple[np.ndarray, pa.Array | None]:
    """One numeric column (by name, or by position in headerless CSV) of every data file
    under ``path``, in order, and the id column when asked for. Missing values are NaN
    when ``allow_missing`` (rows a batch transform rejected), an error otherwise."""
    files = data_files(path)
    names: Sequence[str]
    if file_format(files[0]) == "parquet" or header:
        names = (
            header_columns(files[0])
            if file_format(files[0]) == "csv"
            else pq.read_schema(files[0]).names
        )
        if isinstance(column, int):
            column = names[column]
    else:
        width = _csv_width(files[0])
        names = [f"_c{i}" for i in range(width)]
        if isinstance(column, str):
            raise DataError(
                f"cannot find column '{column}' in a headerless file", where=str(files[0])
            )
        column = names[column]
    wanted = [column] + ([id_column] if id_column else [])
    for name in wanted:
        if name not in names:
            raise DataError(f"column '{name}' not found", where=str(files[0]))
    spec = TableSpec(list(names), {column: "numeric"}, header=header)
    table = read_table(path, spec)
    values = table.column(column)
    if values.null_count and not allow_missing:
        missing = pc.index(pc.is_null(values), True).as_py()
        raise DataError(
            "missing value where a number was expected",
            where=f"{path}, row {missing + 1 + int(header)}, column '{column}'",
        )
    ids = table.column(id_column).combine_chunks() if id_column else None
    return pc.fill_null(values, np.nan).to_numpy().astype(np.float64), ids


def _csv_width(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        first = handle.readline()
    return first.count(",") + 1 if first.strip() else 1


def join_predictions(
    predicted: tuple[np.ndarray, pa.Array | None],
    truth: tuple[np.ndarray, pa.Array | None],
) -> tuple[np.ndarray, np.ndarray]:
    """(truth, predictions) aligned by id when both have one, else by row order; rows
    without a prediction (rejected by the transform) are left out."""
    values, ids = predicted
    true_values, true_ids = truth
    if ids is not None and true_ids is not None:
        position = pc.index_in(ids.cast(pa.string()), value_set=true_ids.cast(pa.string()))
        if position.null_count:
            unmatched = ids[pc.index(pc.is_null(position), True).as_py()]
            raise DataError(f"prediction id {unmatched} has no ground truth")
        true_values = true_values[position.to_numpy()]
    elif values.size != true_values.size:
        raise DataError(
            f"{values.size} predictions but {true_values.size} ground-truth rows",
            hint="rows are joined by order without an id column; give both files the same rows "
            "or an id column",
        )
    scored = ~np.isnan(values)
    return true_values[scored], values[scored]
