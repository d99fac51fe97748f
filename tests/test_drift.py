"""Data-quality checks on real Abalone batches: each kind of damage gives exactly its
violation, resamples give no false drift alarm, and the files keep Model Monitor's format."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from scoreline import plugins
from scoreline.data.io import TableSpec, load_json_object, read_table
from scoreline.examples import ABALONE_COLUMNS
from scoreline.monitoring import drift
from scoreline.monitoring.checks import check_data_quality
from scoreline.monitoring.constraints import read_constraints
from scoreline.monitoring.dataset import profile_data, write_baseline
from scoreline.monitoring.statistics import profile
from tests.conftest import ProjectDir

HERE = Path(__file__).resolve().parent
ABALONE = HERE.parent / "src/scoreline/examples/abalone/data/training-data.csv"
FIXTURES = HERE / "fixtures"
FEATURES = list(ABALONE_COLUMNS[:-1])


@pytest.fixture(scope="module")
def split() -> tuple[pa.Table, pa.Table]:
    """The example's split: a seeded 70 % training part and the rest (features as text)."""
    raw = read_table(ABALONE, TableSpec(list(ABALONE_COLUMNS), {})).select(FEATURES)
    order = np.random.default_rng(42).permutation(raw.num_rows)
    cut = int(0.7 * raw.num_rows)
    return raw.take(pa.array(order[:cut])), raw.take(pa.array(order[cut:]))


@pytest.fixture(scope="module")
def baseline(split: tuple[pa.Table, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("baseline")
    write_baseline(profile([split[0]], FEATURES), folder)
    return folder


def _write(table: pa.Table, path: Path) -> Path:
    pacsv.write_csv(table, path)  # with a header, so dropped or extra columns are visible
    return path


def _violations(baseline: Path, batch: Path) -> set[tuple[str, str]]:
    statistics = load_json_object(baseline / "statistics.json")
    constraints = read_constraints(load_json_object(baseline / "constraints.json"))
    current = profile_data(batch, header=True)
    report = check_data_quality(current, constraints, statistics)
    return {(v.feature_name, v.constraint_check_type) for v in report.violations}


def _replace(table: pa.Table, name: str, values: list[str | None]) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, pa.array(values, pa.string()))


def _shift(table: pa.Table) -> pa.Table:
    values = np.array(table.column("length").to_pylist(), dtype=float)
    return _replace(table, "length", [f"{v + values.std():.4f}" for v in values])


def _sex_mix(table: pa.Table) -> pa.Table:
    rng = np.random.default_rng(3)
    sexes = table.column("sex").to_pylist()
    return _replace(table, "sex", ["M" if s == "I" and rng.random() < 0.8 else s for s in sexes])


def _missing(table: pa.Table) -> pa.Table:
    heights = table.column("height").to_pylist()
    return _replace(table, "height", [None if i % 10 == 0 else h for i, h in enumerate(heights)])


def _text(table: pa.Table) -> pa.Table:
    diameters = table.column("diameter").to_pylist()
    return _replace(table, "diameter", ["n/a" if i == 7 else d for i, d in enumerate(diameters)])


def _dropped(table: pa.Table) -> pa.Table:
    return table.drop_columns(["shell_weight"])


def _extra(table: pa.Table) -> pa.Table:
    return table.append_column("colour", pa.array(["brown"] * table.num_rows))


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda t: t, set()),
        (_shift, {("length", "baseline_drift_check")}),
        (_sex_mix, {("sex", "baseline_drift_check")}),
        (_missing, {("height", "completeness_check")}),
        (_text, {("diameter", "data_type_check")}),
        (_dropped, {("shell_weight", "missing_column_check")}),
        (_extra, {("colour", "extra_column_check")}),
    ],
    ids=["clean", "shifted", "sex-mix", "missing", "text", "dropped", "extra"],
)
def test_each_damage_gives_exactly_its_violation(
    split: tuple[pa.Table, pa.Table],
    baseline: Path,
    tmp_path: Path,
    damage: Callable[[pa.Table], pa.Table],
    expected: set[tuple[str, str]],
) -> None:
    batch = _write(damage(split[1]), tmp_path / "batch.csv")
    assert _violations(baseline, batch) == expected


def test_resamples_raise_no_false_drift_alarm(
    split: tuple[pa.Table, pa.Table], baseline: Path, tmp_path: Path
) -> None:
    everything = pa.concat_tables(split)
    alarms = 0
    for seed in range(20):
        rows = np.random.default_rng(seed).integers(0, everything.num_rows, split[1].num_rows)
        batch = _write(everything.take(pa.array(rows)), tmp_path / f"resample-{seed}.csv")
        found = _violations(baseline, batch)
        alarms += any(check == "baseline_drift_check" for _, check in found)
    assert alarms <= 1


def _mean(numeric: drift.Numeric) -> float:
    values, weights = numeric.sketch.weighted()
    return float((values * weights).sum() / weights.sum())


MEAN_SHIFT = drift.DriftMethod(
    "difference of the means in baseline standard deviations",
    numeric=lambda b, c, _: abs(_mean(c) - _mean(b)) / (b.std or 1.0),
)
"""A drift method a plugin adds (registered below as a package's entry point would be)."""


@pytest.mark.parametrize("method", ["KS", "PSI", "Wasserstein", "JensenShannon", "MeanShift"])
def test_each_drift_method_sees_the_shift_and_not_the_clean_batch(
    split: tuple[pa.Table, pa.Table],
    baseline: Path,
    tmp_path: Path,
    method: str,
) -> None:
    plugins.register("drift_methods", "MeanShift", f"{__name__}:MEAN_SHIFT")
    data = load_json_object(baseline / "constraints.json")
    for feature in data["features"]:
        if feature["name"] == "length":
            feature["num_constraints"]["monitoring_config_overrides"] = {
                "drift_method": method,
                "comparison_threshold": 0.2,
            }
    constraints = read_constraints(data)
    statistics = load_json_object(baseline / "statistics.json")

    def drift_of(table: pa.Table) -> tuple[float, bool]:
        report = check_data_quality(profile([table], FEATURES), constraints, statistics)
        length = next(d for d in report.drift if d.feature_name == "length")
        assert length.method.startswith(method)
        return length.value, length.violated

    clean, shifted = drift_of(split[1]), drift_of(_shift(split[1]))
    assert not clean[1]
    assert shifted[1]
    assert shifted[0] > 3 * clean[0]


def test_our_files_and_sagemakers_match_the_format_schemas(baseline: Path) -> None:
    for kind in ("statistics", "constraints"):
        schema = json.loads((FIXTURES / "schemas" / f"{kind}.schema.json").read_text())
        ours = load_json_object(baseline / f"{kind}.json")
        jsonschema.validate(ours, schema)
        for path in (FIXTURES / "model-monitor").glob(f"*{kind}*.json"):
            jsonschema.validate(json.loads(path.read_text()), schema)
    read_constraints(load_json_object(baseline / "constraints.json"))


def test_a_sagemaker_baseline_checks_a_data_set_with_its_columns(tmp_path: Path) -> None:
    statistics = json.loads((FIXTURES / "model-monitor/housing-statistics.json").read_text())
    constraints = read_constraints(
        json.loads((FIXTURES / "model-monitor/housing-constraints.json").read_text())
    )
    names = [f["name"] for f in statistics["features"]]
    rng = np.random.default_rng(5)
    columns: dict[str, list[str]] = {}
    for feature in statistics["features"]:
        name = feature["name"]
        if feature["inferred_type"] == "String":
            buckets = (
                feature["string_statistics"]
                .get("distribution", {})
                .get("categorical", {})
                .get("buckets")
            )
            choices = [b["value"] for b in buckets] if buckets else ["x", "y"]
            columns[name] = [str(rng.choice(choices)) for _ in range(300)]
        else:
            numbers = feature["numerical_statistics"]
            low, high = numbers["min"], numbers["max"]
            draws = rng.uniform(low, high, 300)
            if feature["inferred_type"] == "Integral":
                columns[name] = [str(int(v)) for v in draws]
            else:
                columns[name] = [f"{v:.2f}" for v in draws]
    table = pa.table({name: columns[name] for name in names})
    report = check_data_quality(profile([table], names), constraints, statistics)
    checked = {d.feature_name for d in report.drift}
    assert "price" in checked
    assert "state" in checked
    assert not [v for v in report.violations if v.constraint_check_type != "baseline_drift_check"]


def _scoreline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scoreline", *args], capture_output=True, text=True, timeout=120
    )


def test_standalone_baseline_and_check_from_the_command_line(
    split: tuple[pa.Table, pa.Table], tmp_path: Path
) -> None:
    train = tmp_path / "train.csv"
    pacsv.write_csv(split[0], train, write_options=pacsv.WriteOptions(include_header=False))
    made = _scoreline(
        "monitoring",
        "baseline",
        str(train),
        "--output",
        str(tmp_path / "b"),
        "--columns",
        ",".join(FEATURES),
    )
    assert made.returncode == 0, made.stderr
    assert "Baseline of 2923 rows, 8 features" in made.stdout

    clean = tmp_path / "clean.parquet"
    pq.write_table(split[1], clean)
    checked = _scoreline(
        "monitoring",
        "check",
        str(clean),
        "--baseline",
        str(tmp_path / "b"),
        "--output",
        str(tmp_path / "c1"),
        "--json",
    )
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == {"item_count": 1254, "violations": []}

    damaged = _write(_text(split[1]), tmp_path / "damaged.csv")
    args = [
        "monitoring",
        "check",
        str(damaged),
        "--baseline",
        str(tmp_path / "b"),
        "--output",
        str(tmp_path / "c2"),
        "--header",
    ]
    alert = _scoreline(*args)
    assert alert.returncode == 0, "a violation is reported, not an error"
    assert "data_type_check" in alert.stdout
    written = json.loads((tmp_path / "c2" / "constraint_violations.json").read_text())
    assert [v["feature_name"] for v in written["violations"]] == ["diameter"]
    assert _scoreline(*args, "--fail-on-violation").returncode == 1

    missing = _scoreline("monitoring", "check", str(damaged), "--output", str(tmp_path / "c3"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        "error: --baseline: no baseline given (give --baseline DIR or --constraints)"
    )


def test_a_quality_check_step_alerts_by_default_and_fails_when_asked(
    project: ProjectDir, split: tuple[pa.Table, pa.Table], baseline: Path
) -> None:
    _write(_text(split[1]), project.root / "data" / "batch.csv")
    project.pipeline(
        {
            "name": "Check",
            "parameters": [{"name": "Strict", "type": "Boolean", "default": False}],
            "steps": [
                {
                    "name": "DataQuality",
                    "kind": "quality_check",
                    "dataset": "data/batch.csv",
                    "header": True,
                    "baseline_statistics": str(baseline / "statistics.json"),
                    "baseline_constraints": str(baseline / "constraints.json"),
                    "fail_on_violation": {"expr": "parameter", "name": "Strict"},
                }
            ],
        }
    )
    alert = json.loads(project.cli("run", "Check", "--wait", "--json").stdout)
    assert alert["status"] == "Succeeded"
    assert alert["steps"][0]["metadata"]["violationsByCheck"] == {"data_type_check": 1}
    (event,) = project.cli_json("events", "list", "--type", "Data Quality Violation")
    assert event["detail"]["features"] == ["diameter"]
    assert event["detail"]["pipelineExecutionId"] == alert["id"]
    (record,) = project.cli_json("monitoring", "show", alert["id"])
    assert record["violation_count"] == 1
    assert record["passed"] is False

    strict = project.cli("run", "Check", "-p", "Strict=true", "--wait", "--json", check=False)
    assert strict.returncode == 1
    failed = json.loads(strict.stdout)["steps"][0]
    assert failed["status"] == "Failed"
    assert failed["failure_reason"].startswith(
        "1 data-quality violation(s); first: diameter data_type_check: Data type match"
    )
