"""Statistics, constraints and checks in the Model Monitor formats; model-quality metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from scoreline.data.io import TableSpec, read_table
from scoreline.errors import ConfigError, DataError
from scoreline.events.patterns import matches, validate_pattern
from scoreline.examples import ABALONE_COLUMNS
from scoreline.monitoring.checks import check_data_quality, violations_json
from scoreline.monitoring.constraints import read_constraints, suggest_constraints
from scoreline.monitoring.model_quality import (
    breaches,
    evaluation_report,
    join_predictions,
    quality_metrics,
    regression_metrics,
)
from scoreline.monitoring.sketch import KLLSketch
from scoreline.monitoring.statistics import DatasetProfile, profile

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "model-monitor"
ABALONE = Path(__file__).resolve().parents[1] / "src/scoreline/examples/abalone/data"
FEATURES = list(ABALONE_COLUMNS[:-1])


def _abalone() -> pa.Table:
    return read_table(ABALONE / "inference-data.csv", TableSpec(FEATURES, {}))


def test_statistics_have_the_model_monitor_shape() -> None:
    stats = profile([_abalone()], FEATURES).to_statistics()
    assert stats["version"] == 0.0
    assert stats["dataset"] == {"item_count": 4177}
    sex, length = stats["features"][0], stats["features"][1]
    assert sex["inferred_type"] == "String"
    assert {
        b["value"] for b in sex["string_statistics"]["distribution"]["categorical"]["buckets"]
    } == {
        "M",
        "F",
        "I",
    }
    assert length["inferred_type"] == "Fractional"
    numbers = length["numerical_statistics"]
    assert set(numbers) >= {"common", "mean", "sum", "std_dev", "min", "max", "distribution"}
    kll = numbers["distribution"]["kll"]
    assert len(kll["buckets"]) == 10
    assert sum(b["count"] for b in kll["buckets"]) == 4177
    assert kll["sketch"]["parameters"] == {"c": 0.64, "k": 4096.0}
    values = _abalone().column("length").to_numpy(zero_copy_only=False).astype(float)
    assert numbers["mean"] == pytest.approx(values.mean())
    assert numbers["std_dev"] == pytest.approx(values.std())


def test_profiles_of_chunks_merge_into_the_whole() -> None:
    table = _abalone()
    whole = profile([table], FEATURES)
    merged = DatasetProfile(FEATURES)
    for part in (table.slice(0, 1000), table.slice(1000)):
        merged.merge(profile([part], FEATURES))
    a, b = whole.to_statistics(), merged.to_statistics()
    for fa, fb in zip(a["features"][1:], b["features"][1:], strict=True):
        na, nb = fa["numerical_statistics"], fb["numerical_statistics"]
        assert na["common"] == nb["common"]
        assert na["mean"] == pytest.approx(nb["mean"])
        assert na["std_dev"] == pytest.approx(nb["std_dev"])
        assert (na["min"], na["max"]) == (nb["min"], nb["max"])


def test_kll_quantiles_stay_close_on_a_large_stream() -> None:
    rng = np.random.default_rng(0)
    sketch = KLLSketch()
    values = rng.normal(size=500_000)
    for chunk in np.array_split(values, 50):
        sketch.update(chunk)
    points = np.array([-1.0, 0.0, 1.0])
    exact = np.array([(values <= p).mean() for p in points])
    assert np.abs(sketch.cdf(points) - exact).max() < 0.01
    assert sum(level.size for level in sketch.levels) < 20_000


def test_types_and_missing_values_are_inferred_like_model_monitor() -> None:
    table = pa.table({"a": ["1", "2", ""], "b": ["1.5", "2", "3"], "c": ["x", "1", "2"]})
    stats = profile([table], ["a", "b", "c"]).to_statistics()["features"]
    assert [f["inferred_type"] for f in stats] == ["Integral", "Fractional", "String"]
    assert stats[0]["numerical_statistics"]["common"] == {"num_present": 2, "num_missing": 1}


def test_a_dataset_checked_against_its_own_baseline_has_no_violations() -> None:
    current = profile([_abalone()], FEATURES)
    stats = current.to_statistics()
    constraints = suggest_constraints(stats)
    report = check_data_quality(current, constraints, stats)
    assert report.violations == []
    assert {d.feature_name for d in report.drift} == set(FEATURES)


def test_violations_name_the_check_and_carry_numbers() -> None:
    baseline = profile([_abalone()], FEATURES).to_statistics()
    constraints = suggest_constraints(baseline)
    rows = _abalone().slice(0, 500).to_pydict()
    rows["length"] = [str(float(v) * 3) for v in rows["length"]]  # drift
    rows["sex"] = ["X" if i % 2 else v for i, v in enumerate(rows["sex"])]  # new category
    rows["height"] = ["" if i % 10 == 0 else v for i, v in enumerate(rows["height"])]
    rows["diameter"] = ["n/a" if i == 0 else v for i, v in enumerate(rows["diameter"])]
    del rows["shell_weight"]
    rows["extra"] = ["1"] * 500
    columns = [*FEATURES[:-1], "extra"]
    current = profile([pa.table(rows)], columns)
    found = {
        (v["feature_name"], v["constraint_check_type"]): v
        for v in violations_json(check_data_quality(current, constraints, baseline).violations)[
            "violations"
        ]
    }
    assert set(found) >= {
        ("length", "baseline_drift_check"),
        ("sex", "categorical_values_check"),
        ("height", "completeness_check"),
        ("diameter", "data_type_check"),
        ("shell_weight", "missing_column_check"),
        ("extra", "extra_column_check"),
    }
    drift = found[("length", "baseline_drift_check")]
    assert drift["value"] > drift["threshold"] == 0.1
    assert drift["method"] == "LInfinity/Robust"
    assert "exceeds threshold: 0.1" in drift["description"]
    assert found[("height", "completeness_check")]["value"] == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("name", "threshold"),
    [("housing-constraints.json", 0.1), ("sdk-constraints-older-variant.json", 1.0)],
)
def test_constraints_written_by_sagemaker_are_read(name: str, threshold: float) -> None:
    constraints = read_constraints(json.loads((FIXTURES / name).read_text()))
    assert constraints.config.comparison_threshold == threshold
    assert constraints.config.perform_comparison is True
    assert constraints.features[0].completeness == 1.0


def test_statistics_written_by_sagemaker_serve_as_a_drift_baseline() -> None:
    stats = json.loads((FIXTURES / "housing-statistics.json").read_text())
    constraints = read_constraints(json.loads((FIXTURES / "housing-constraints.json").read_text()))
    price = next(f for f in stats["features"] if f["name"] == "price")
    rng = np.random.default_rng(1)
    table = pa.table({"price": [str(v) for v in rng.normal(5e6, 1e5, size=2000)]})
    current = profile([table], ["price"])
    found = check_data_quality(current, constraints, {"features": [price]}).violations
    drift = [v for v in found if v.constraint_check_type == "baseline_drift_check"]
    assert drift
    assert drift[0].feature_name == "price"
    assert drift[0].value is not None
    assert drift[0].value > 0.9


def test_regression_metrics_match_their_definitions() -> None:
    truth = np.array([3.0, 5.0, 7.0, 9.0])
    predicted = np.array([2.5, 5.0, 8.0, 9.5])
    metrics = regression_metrics(truth, predicted)
    assert metrics["mse"].value == pytest.approx(np.mean((truth - predicted) ** 2))
    assert metrics["mae"].value == pytest.approx(0.5)
    assert metrics["rmse"].value == pytest.approx(np.sqrt(metrics["mse"].value))
    assert metrics["r2"].value == pytest.approx(1 - metrics["mse"].value / truth.var())
    report = evaluation_report(metrics, mse_threshold=0.3)
    assert report["regression_metrics"]["mse"]["value"] == metrics["mse"].value
    assert report["model_quality_passed"] is False
    assert report["mse_threshold"] == 0.3


def test_predictions_join_ground_truth_by_id_or_by_order() -> None:
    ids = pa.array(["b", "a"])
    truth, predicted = join_predictions(
        (np.array([1.0, 2.0]), ids), (np.array([20.0, 10.0]), pa.array(["a", "b"]))
    )
    assert truth.tolist() == [10.0, 20.0]
    assert predicted.tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="3 predictions but 2 ground-truth rows"):
        join_predictions((np.zeros(3), None), (np.zeros(2), None))


def test_binary_classification_metrics_match_their_definitions() -> None:
    truth = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    scores = np.array([0.9, 0.2, 0.4, 0.8, 0.6, 0.1, 0.7, 0.3])
    metrics = quality_metrics(truth, scores, "binary_classification")
    # labels at 0.5: 1 0 0 1 1 0 1 0 -> tp 3, fp 1, fn 1, tn 3
    assert metrics["accuracy"].value == pytest.approx(6 / 8)
    assert metrics["precision"].value == pytest.approx(3 / 4)
    assert metrics["recall"].value == pytest.approx(3 / 4)
    assert metrics["f1"].value == pytest.approx(3 / 4)
    positives, negatives = scores[truth == 1], scores[truth == 0]
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    assert metrics["auc"].value == pytest.approx(np.mean(pairs))
    found = breaches(metrics, {"accuracy": 0.9, "auc": 0.5})
    assert [(b["metric_name"], b["constraint_check_type"]) for b in found] == [
        ("accuracy", "LessThanThreshold")
    ]


@pytest.mark.parametrize(
    ("pattern", "matched"),
    [
        ({"detail-type": ["Model Quality Violation"]}, True),
        ({"detail-type": ["Other", "Model Quality Violation"]}, True),
        ({"detail": {"pipelineName": [{"prefix": "Infer"}]}}, True),
        ({"detail": {"pipelineName": [{"prefix": "Train"}]}}, False),
        ({"detail": {"metadata": {"passed": [False]}}}, True),
        ({"detail": {"metadata": {"passed": [0]}}}, False),
        ({"detail": {"missing": ["x"]}}, False),
        ({"source": ["scoreline"], "detail": {"tags": ["b"]}}, True),
    ],
)
def test_event_patterns_follow_eventbridge(pattern: dict[str, object], matched: bool) -> None:
    event = {
        "source": "scoreline",
        "detail-type": "Model Quality Violation",
        "detail": {
            "pipelineName": "InferencePipeline",
            "metadata": {"passed": False},
            "tags": ["a", "b"],
        },
    }
    validate_pattern(pattern, "test")
    assert matches(pattern, event) is matched


def test_invalid_patterns_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="'detail-type' must be a list of allowed values"):
        validate_pattern({"detail-type": "Model Quality Violation"}, "rules[0].pattern")
    with pytest.raises(ConfigError, match=r"only \{prefix: ...\} is supported"):
        validate_pattern({"source": [{"suffix": "x"}]}, "rules[0].pattern")
