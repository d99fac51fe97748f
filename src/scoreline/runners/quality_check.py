"""The ``quality_check`` step: data quality (statistics, suggested constraints, violations
against a baseline) or model quality (metrics of predictions against ground truth)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from scoreline.data.io import (
    FastPathError,
    TableSpec,
    careful_csv_chunks,
    data_files,
    fast_chunks,
    file_format,
    header_columns,
)
from scoreline.errors import DataError, StepError
from scoreline.monitoring.checks import check_data_quality, violations_json
from scoreline.monitoring.constraints import read_constraints, suggest_constraints
from scoreline.monitoring.model_quality import (
    evaluation_report,
    join_predictions,
    model_quality_constraints,
    model_quality_statistics,
    model_quality_violations,
    read_column,
    regression_metrics,
)
from scoreline.monitoring.statistics import profile
from scoreline.runners.common import input_dir, output_dir, run, single_file, write_json


def main(config: dict[str, Any]) -> dict[str, Any]:
    if config["check_type"] == "model_quality":
        return model_quality(config)
    return data_quality(config)


def _load_json(folder: Path | None, name: str) -> dict[str, Any] | None:
    if folder is None:
        return None
    path = single_file(folder, name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", where=name) from None
    if not isinstance(data, dict):
        raise DataError("expected a JSON object", where=name)
    return data


def _columns(
    config: dict[str, Any], files: list[Path], baseline: dict[str, Any] | None
) -> list[str]:
    if config.get("columns"):
        return list(config["columns"])
    first = files[0]
    if file_format(first) == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(first).names)
    if config.get("header"):
        return header_columns(first)
    if baseline is not None:
        return [f["name"] for f in baseline.get("features", [])]
    with first.open(encoding="utf-8") as handle:
        width = handle.readline().count(",") + 1
    return [f"_c{i}" for i in range(width)]


def _batches(files: list[Path], spec: TableSpec) -> Iterator[pa.RecordBatch]:
    for path in files:
        try:
            for chunk in fast_chunks(path, spec):
                yield chunk.batch
        except FastPathError:
            for chunk in careful_csv_chunks(path, spec):
                if chunk.rejects:
                    first = chunk.rejects[0]
                    raise DataError(
                        first.reason,
                        where=first.where(),
                        hint="every row needs the same columns as the baseline",
                    ) from None


def data_quality(config: dict[str, Any]) -> dict[str, Any]:
    dataset = input_dir("dataset")
    assert dataset is not None
    baseline_statistics = _load_json(input_dir("baseline_statistics"), "statistics.json")
    baseline_constraints = _load_json(input_dir("baseline_constraints"), "constraints.json")
    files = data_files(dataset)
    columns = _columns(config, files, baseline_statistics)
    current = profile(_batches(files, TableSpec(columns, {}, bool(config.get("header")))), columns)
    report = output_dir("report")
    statistics = current.to_statistics()
    write_json(report / "statistics.json", statistics)
    metadata: dict[str, Any] = {"itemCount": current.item_count, "columns": len(columns)}
    if config.get("register_new_baseline") or baseline_constraints is None:
        write_json(report / "constraints.json", suggest_constraints(statistics).to_json())
        metadata["calculatedBaseline"] = True
    if config.get("skip_check"):
        metadata["checkSkipped"] = True
        return metadata
    if baseline_constraints is None:
        raise StepError(
            "no baseline constraints to check against",
            hint="give baseline_constraints, or set skip_check to only compute a baseline",
        )
    constraints = read_constraints(baseline_constraints)
    violations = check_data_quality(current, constraints, baseline_statistics)
    write_json(report / "constraint_violations.json", violations_json(violations))
    metadata["violations"] = len(violations)
    metadata["violationsByCheck"] = _count(v.constraint_check_type for v in violations)
    if violations and config.get("fail_on_violation"):
        first = violations[0]
        raise StepError(
            f"{len(violations)} data-quality violation(s); first: {first.feature_name} "
            f"{first.constraint_check_type}: {first.description}",
            hint="see constraint_violations.json in the step's report output",
        )
    return metadata


def _count(values: Iterator[str] | Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def model_quality(config: dict[str, Any]) -> dict[str, Any]:
    predictions, truth = input_dir("predictions"), input_dir("ground_truth")
    assert predictions is not None
    assert truth is not None
    header = bool(config.get("header"))
    id_column = config.get("id_column")
    predicted = read_column(
        predictions, config["prediction_column"], header, id_column, allow_missing=True
    )
    actual = read_column(truth, config["ground_truth_column"], header, id_column)
    y_true, y_pred = join_predictions(predicted, actual)
    metrics = regression_metrics(y_true, y_pred)
    threshold = config.get("mse_threshold")
    report = output_dir("report")
    write_json(report / "evaluation.json", evaluation_report(metrics, threshold))
    write_json(report / "statistics.json", model_quality_statistics(metrics, int(y_true.size)))
    metadata: dict[str, Any] = {
        "rows": int(y_true.size),
        **{name: metric.value for name, metric in metrics.items()},
    }
    if threshold is None:
        return metadata
    write_json(report / "constraints.json", model_quality_constraints(threshold))
    violations = model_quality_violations(metrics, threshold)
    write_json(report / "constraint_violations.json", violations)
    passed = not violations["violations"]
    metadata.update(model_quality_passed=passed, mse_threshold=threshold)
    if not passed and config.get("fail_on_violation"):
        raise StepError(violations["violations"][0]["description"])
    return metadata


if __name__ == "__main__":
    run(main)
