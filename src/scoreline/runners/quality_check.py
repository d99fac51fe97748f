"""The ``quality_check`` step: data quality (statistics, suggested constraints, violations
against a baseline) or model quality (metrics of predictions against ground truth)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scoreline.data.io import data_files, load_json_object, without_pandas
from scoreline.errors import StepError
from scoreline.monitoring.dataset import (
    constraint_domains,
    profile_data,
    write_baseline,
    write_check,
    write_json,
)
from scoreline.monitoring.model_quality import (
    breaches,
    evaluation_report,
    join_predictions,
    model_quality_constraints,
    model_quality_statistics,
    quality_metrics,
    read_column,
)
from scoreline.runners.common import (
    Progress,
    estimate_rows,
    input_dir,
    output_dir,
    run,
    single_file,
)


def main(config: dict[str, Any]) -> dict[str, Any]:
    if config["check_type"] == "model_quality":
        return model_quality(config)
    if config["check_type"] == "model_quality_estimate":
        from scoreline.runners.estimation import model_quality_estimate

        return model_quality_estimate(config)
    with without_pandas():
        return data_quality(config)


def _load_json(folder: Path | None, name: str) -> dict[str, Any] | None:
    return None if folder is None else load_json_object(single_file(folder, name))


def data_quality(config: dict[str, Any]) -> dict[str, Any]:
    dataset = input_dir("dataset")
    assert dataset is not None
    baseline_statistics = _load_json(input_dir("baseline_statistics"), "statistics.json")
    baseline_constraints = _load_json(input_dir("baseline_constraints"), "constraints.json")
    header = bool(config.get("header"))
    total, estimated = estimate_rows(data_files(dataset), header)
    progress = Progress("rows profiled", total, estimated=estimated)
    current = profile_data(
        dataset,
        header,
        config.get("columns"),
        baseline_statistics,
        on_rows=progress.add,
        domains=constraint_domains(baseline_constraints),
    )
    report = output_dir("report")
    metadata: dict[str, Any] = {"itemCount": current.item_count, "columns": len(current.columns)}
    if config.get("register_new_baseline") or baseline_constraints is None:
        write_baseline(current, report)
        metadata["calculatedBaseline"] = True
    else:
        write_json(report / "statistics.json", current.to_statistics())
    if config.get("skip_check"):
        metadata["checkSkipped"] = True
        return metadata
    if baseline_constraints is None:
        raise StepError(
            "no baseline constraints to check against",
            hint="give baseline_constraints, or set skip_check to only compute a baseline",
        )
    result = write_check(current, baseline_constraints, baseline_statistics, report)
    violations = [v.to_json() for v in result.violations]
    by_check = _count(v.constraint_check_type for v in result.violations)
    metadata.update(violations=len(violations), violationsByCheck=by_check)
    metadata["monitoring"] = {
        "check_type": "data_quality",
        "item_count": current.item_count,
        "violation_count": len(violations),
        "passed": not violations,
        "drift": [d.to_json() for d in result.drift],
        "violations": violations,
    }
    if violations and config.get("fail_on_violation"):
        first = result.violations[0]
        raise StepError(
            f"{len(violations)} data-quality violation(s); first: {first.feature_name} "
            f"{first.constraint_check_type}: {first.description}",
            hint="see constraint_violations.json in the step's report output",
        )
    if violations:
        metadata["events"] = [
            {
                "detail-type": "Data Quality Violation",
                "detail": {
                    "violationCount": len(violations),
                    "violationsByCheck": by_check,
                    "features": sorted({v["feature_name"] for v in violations}),
                    "violations": violations[:50],
                },
            }
        ]
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
    problem_type = config.get("problem_type", "regression")
    predicted = read_column(
        predictions, config["prediction_column"], header, id_column, allow_missing=True
    )
    actual = read_column(truth, config["ground_truth_column"], header, id_column)
    y_true, y_pred = join_predictions(predicted, actual)
    metrics = quality_metrics(y_true, y_pred, problem_type)
    mse_threshold = config.get("mse_threshold")
    thresholds = dict(config.get("thresholds") or {})
    if mse_threshold is not None:
        thresholds["mse"] = mse_threshold
    violations = breaches(metrics, thresholds)
    passed = not violations if thresholds else None
    report = output_dir("report")
    write_json(
        report / "evaluation.json",
        evaluation_report(metrics, mse_threshold, problem_type, passed),
    )
    write_json(
        report / "statistics.json",
        model_quality_statistics(metrics, int(y_true.size), problem_type),
    )
    values = {name: metric.value for name, metric in metrics.items()}
    metadata: dict[str, Any] = {"rows": int(y_true.size), **values}
    if thresholds:
        write_json(report / "constraints.json", model_quality_constraints(thresholds, problem_type))
        write_json(report / "constraint_violations.json", {"violations": violations})
        metadata.update(model_quality_passed=passed, thresholds=thresholds)
    if mse_threshold is not None:
        metadata["mse_threshold"] = mse_threshold
    source = config.get("source_model") or {}
    if source:  # a later check of an earlier execution's predictions: its model counts
        metadata["sourceModel"] = source
    metadata["monitoring"] = {
        **(
            {"scored_execution_id": config["scored_execution"]}
            if config.get("scored_execution")
            else {}
        ),
        **(
            {
                "group_name": source["ModelPackageGroupName"],
                "model_version": source["ModelPackageVersion"],
            }
            if source
            else {}
        ),
        "check_type": "model_quality",
        "item_count": int(y_true.size),
        "violation_count": len(violations),
        "passed": passed,
        "metrics": {name: metric.to_json() for name, metric in metrics.items()},
        "violations": violations,
    }
    if violations and config.get("fail_on_violation"):
        raise StepError(violations[0]["description"])
    if violations:
        metadata["events"] = [
            {
                "detail-type": "Model Quality Violation",
                "detail": {
                    **source,
                    "problemType": problem_type,
                    "metrics": values,
                    "thresholds": thresholds,
                    "violations": violations,
                    "rows": int(y_true.size),
                },
            }
        ]
    return metadata


if __name__ == "__main__":
    run(main)
