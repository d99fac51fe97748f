"""Monitoring against its peers on the same inputs: scipy's two-sample tests and distances,
scikit-learn's classification metrics, the exact CDF for the KLL sketch, and Model Monitor's
rules for high-cardinality categories, descriptions and headerless files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn import metrics as skm

from scoreline.monitoring import drift
from scoreline.monitoring.checks import check_data_quality
from scoreline.monitoring.constraints import read_constraints, suggest_constraints
from scoreline.monitoring.dataset import constraint_domains, profile_data
from scoreline.monitoring.model_quality import quality_metrics
from scoreline.monitoring.sketch import KLLSketch
from scoreline.monitoring.statistics import DatasetProfile, profile

TIGHT = 1e-9


def _numeric(values: np.ndarray, seed: int = 0, chunk: int | None = None) -> drift.Numeric:
    sketch = KLLSketch(seed=seed)
    step = chunk or values.size
    for start in range(0, values.size, step):
        sketch.update(values[start : start + step])
    return drift.Numeric(sketch, values.size, values.min(), values.max(), values.std())


@pytest.mark.parametrize(("n", "m", "shift"), [(40, 60, 0.0), (300, 450, 0.3), (1200, 900, 0.1)])
def test_ks_statistic_and_p_value_are_scipys_on_exact_inputs(n: int, m: int, shift: float) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.normal(0, 1, n), rng.normal(shift, 1, m)
    statistic, p_value = drift.ks_test(_numeric(a), _numeric(b))
    expected = stats.ks_2samp(a, b)
    assert statistic == pytest.approx(expected.statistic, abs=TIGHT)
    assert p_value == pytest.approx(expected.pvalue, abs=TIGHT)


def test_ks_on_sketched_samples_stays_within_the_sketch_error_and_raises_no_false_alarms() -> None:
    rng = np.random.default_rng(7)
    ours = scipys = 0
    for trial in range(20):
        a, b = rng.normal(0, 1, 50_000), rng.normal(0, 1, 50_000)
        statistic, p_value = drift.ks_test(_numeric(a, trial), _numeric(b, trial + 100))
        expected = stats.ks_2samp(a, b)
        assert abs(statistic - expected.statistic) <= 0.002
        ours += p_value < 0.05
        scipys += expected.pvalue < 0.05
    assert ours <= scipys + 1, "the sketch adds no false alarms to the test's own"


def test_wasserstein_is_scipys_in_units_of_the_baselines_spread() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.gamma(2.0, 1.5, 800), rng.gamma(2.5, 1.5, 600)
    value = drift.numeric_distance("Wasserstein", _numeric(a), _numeric(b))
    assert value * a.std() == pytest.approx(stats.wasserstein_distance(a, b), abs=TIGHT)


def test_jensen_shannon_is_scipys_in_natural_log_and_in_any_base() -> None:
    baseline = {"M": 40.0, "F": 35.0, "I": 25.0}
    current = {"M": 10, "F": 50, "I": 30, "X": 10}
    keys = ["F", "I", "M", "X"]
    p = np.array([baseline.get(k, 0.0) for k in keys])
    q = np.array([current.get(k, 0) for k in keys], dtype=float)
    value = drift.categorical_distance("JensenShannon", baseline, current)
    assert value == pytest.approx(jensenshannon(p, q), abs=TIGHT)
    in_bits = drift.categorical_distance("JensenShannon", baseline, current, 2.0)
    assert in_bits == pytest.approx(jensenshannon(p, q, base=2), abs=TIGHT)

    a, b = _numeric(np.linspace(0, 10, 500)), _numeric(np.linspace(2, 12, 500))
    cells = drift._cells(a, b)
    assert drift.numeric_distance("JensenShannon", a, b) == pytest.approx(
        jensenshannon(*cells), abs=TIGHT
    )
    with pytest.raises(Exception, match="is not a logarithm base"):
        read_constraints({"features": [], "monitoring_config": {"jensen_shannon_base": 1}})


def test_classification_metrics_are_scikit_learns() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 4, 500)
    predicted = np.where(rng.random(500) < 0.6, truth, rng.integers(0, 5, 500))  # 4: never true
    found = {
        k: m.value
        for k, m in quality_metrics(truth, predicted, "multiclass_classification").items()
    }
    expected = {
        "accuracy": skm.accuracy_score(truth, predicted),
        "precision": skm.precision_score(truth, predicted, average="macro", zero_division=0),
        "recall": skm.recall_score(truth, predicted, average="macro", zero_division=0),
        "f1": skm.f1_score(truth, predicted, average="macro", zero_division=0),
        "weighted_precision": skm.precision_score(
            truth, predicted, average="weighted", zero_division=0
        ),
        "weighted_recall": skm.recall_score(truth, predicted, average="weighted", zero_division=0),
        "weighted_f0_5": skm.fbeta_score(truth, predicted, beta=0.5, average="weighted"),
        "weighted_f1": skm.f1_score(truth, predicted, average="weighted", zero_division=0),
        "weighted_f2": skm.fbeta_score(truth, predicted, beta=2, average="weighted"),
    }
    assert found == pytest.approx(expected, abs=TIGHT)

    labels = rng.integers(0, 2, 400)
    scores = np.clip(labels * 0.3 + rng.random(400) * 0.7, 0, 1)
    binary = {
        k: m.value for k, m in quality_metrics(labels, scores, "binary_classification").items()
    }
    decided = scores >= 0.5
    assert binary == pytest.approx(
        {
            "accuracy": skm.accuracy_score(labels, decided),
            "precision": skm.precision_score(labels, decided),
            "recall": skm.recall_score(labels, decided),
            "f0_5": skm.fbeta_score(labels, decided, beta=0.5),
            "f1": skm.f1_score(labels, decided),
            "f2": skm.fbeta_score(labels, decided, beta=2),
            "auc": skm.roc_auc_score(labels, scores),
        },
        abs=TIGHT,
    )


DISTRIBUTIONS = {
    "uniform": lambda rng, n: rng.uniform(0, 1, n),
    "normal": lambda rng, n: rng.normal(0, 1, n),
    "heavy-tailed": lambda rng, n: rng.pareto(1.5, n),
    "many ties": lambda rng, n: rng.integers(0, 10, n).astype(float),
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_the_sketchs_cdf_is_within_0_002_of_the_exact_one_at_a_million_rows(name: str) -> None:
    rng = np.random.default_rng(11)
    values = DISTRIBUTIONS[name](rng, 1_000_000)
    for chunk in (1_000_000, 65_536, 8_192):  # one batch, the profiler's, small
        sketch = _numeric(values, chunk=chunk).sketch
        ordered = np.sort(values)
        points = np.unique(np.quantile(values, np.linspace(0, 1, 4001)))
        exact = np.searchsorted(ordered, points, side="right") / values.size
        assert np.abs(sketch.cdf(points) - exact).max() <= 0.002, (name, chunk)


def test_two_samples_of_one_distribution_are_within_0_003_through_the_profiler() -> None:
    rng = np.random.default_rng(13)
    batches = [
        profile(
            [pa.table({"x": rng.normal(0, 1, 131_072)}) for _ in range(8)],
            ["x"],
        )
        for _ in range(2)
    ]
    a, b = (p.features["x"] for p in batches)
    numeric = [
        drift.Numeric(f.sketch, f.count, f.low, f.high, np.sqrt(f.m2 / f.count)) for f in (a, b)
    ]
    assert drift.numeric_distance("LInfinity", *numeric) <= 0.003


def _write(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_quarter_of_new_values_in_a_high_cardinality_column_breaks_the_domain(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(17)
    states = [f"S{i:02d}" for i in range(50)]
    baseline_rows = ["state,amount"] + [
        f"{states[i % 50]},{v:.2f}" for i, v in enumerate(rng.normal(100, 10, 20_000))
    ]
    base = profile_data(_write(tmp_path / "base" / "b.csv", baseline_rows).parent, header=True)
    statistics = base.to_statistics()
    constraints = suggest_constraints(statistics).to_json()
    assert read_constraints(constraints).domains()["state"] == frozenset(states)

    rows = ["state,amount"]
    for i, v in enumerate(rng.normal(100, 10, 20_000)):
        state = f"N{(i // 4) % 1506:04d}" if i % 4 == 0 else states[i % 50]  # 1,506 new
        rows.append(f"{state},{v:.2f}")
    batch = _write(tmp_path / "batch" / "b.csv", rows).parent
    current = profile_data(
        batch, header=True, baseline=statistics, domains=constraint_domains(constraints)
    )
    assert current.features["state"].categories is None, "over the category limit"
    found = check_data_quality(current, read_constraints(constraints), statistics).violations
    domain = [v for v in found if v.constraint_check_type == "categorical_values_check"]
    assert [v.feature_name for v in domain] == ["state"]
    assert domain[0].value == pytest.approx(0.75)
    assert "'N0000'" in domain[0].description


def test_descriptions_keep_every_digit_as_model_monitor_does() -> None:
    values = ["1"] * 2907 + ["1.5"]  # 99.96560...% integral
    current = profile([pa.table({"n": values})], ["n"])
    constraints = read_constraints(
        {"features": [{"name": "n", "inferred_type": "Integral"}], "monitoring_config": {}}
    )
    (violation,) = check_data_quality(current, constraints).violations
    share = 2907 / 2908
    assert violation.constraint_check_type == "data_type_check"
    assert f"Observed: Only {share * 100!r}% of data is Integral." in violation.description
    assert "Expected match: 100.0%" in violation.description


def test_a_headerless_file_with_a_column_less_or_more_is_matched_by_position(
    tmp_path: Path,
) -> None:
    rows = [f"{i % 3},{i * 0.5},{i * 2}" for i in range(300)]
    base = profile_data(_write(tmp_path / "base" / "b.csv", rows).parent, header=False)
    statistics = base.to_statistics()
    statistics["features"] = [
        {**f, "name": n}
        for f, n in zip(statistics["features"], ["kind", "size", "weight"], strict=True)
    ]
    constraints = read_constraints(suggest_constraints(statistics).to_json())

    fewer = _write(tmp_path / "fewer" / "b.csv", [r.rsplit(",", 1)[0] for r in rows]).parent
    current = profile_data(fewer, header=False, baseline=statistics)
    (missing,) = [
        v
        for v in check_data_quality(current, constraints, statistics).violations
        if v.constraint_check_type == "missing_column_check"
    ]
    assert missing.feature_name == "weight"
    assert "the file has 2 columns and no header, the baseline 3" in missing.description

    more = _write(tmp_path / "more" / "b.csv", [r + ",7" for r in rows]).parent
    current = profile_data(more, header=False, baseline=statistics)
    found = check_data_quality(current, constraints, statistics).violations
    assert [(v.feature_name, v.constraint_check_type) for v in found] == [
        ("_c3", "extra_column_check")
    ]
    assert isinstance(current, DatasetProfile)
