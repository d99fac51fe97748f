"""The ``batch_transform`` step: the model and its fitted preprocessing applied to every row."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from scoreline.data.flavors import load_model
from scoreline.data.io import TableSpec
from scoreline.data.preprocess import NumericFeature, Preprocessor
from scoreline.data.transform import TransformOptions, batch_transform
from scoreline.errors import StepError
from scoreline.monitoring.dataset import write_json
from scoreline.monitoring.statistics import DatasetProfile
from scoreline.runners.common import input_dir, output_dir, run


def _preprocessor(config: dict[str, Any]) -> Preprocessor:
    folder = input_dir("preprocessing")
    if folder is not None:
        return Preprocessor.load(folder)
    columns = [c for c in config.get("columns") or [] if c != config.get("id_column")]
    if not columns:
        raise StepError(
            "without 'preprocessing' the step needs 'columns' (the model's numeric inputs)"
        )
    identity = tuple(NumericFeature(c, float("nan"), 0.0, 1.0) for c in columns)
    return Preprocessor(tuple(config.get("columns") or columns), identity)


def _spec(config: dict[str, Any], preprocessor: Preprocessor) -> TableSpec:
    spec = preprocessor.input_spec(bool(config.get("header")), config.get("columns"))
    id_column = config.get("id_column")
    if id_column and id_column not in spec.columns:
        return TableSpec([*spec.columns, id_column], spec.kinds, spec.header)
    return spec


def _profiler(preprocessor: Preprocessor) -> Callable[[], DatasetProfile]:
    """Profiles of the raw input features, collected while scoring (one pass)."""
    features = [f.name for f in preprocessor.features]
    return lambda: DatasetProfile(features)


def main(config: dict[str, Any]) -> dict[str, Any]:
    data, model_folder = input_dir("data"), input_dir("model")
    assert data is not None
    assert model_folder is not None
    preprocessor = _preprocessor(config)
    model = load_model(
        model_folder, sha256=config.get("model_sha256"), threads=int(config.get("threads") or 0)
    )
    options = TransformOptions(
        spec=_spec(config, preprocessor),
        output_format=config.get("output_format"),
        id_column=config.get("id_column"),
        on_error=config.get("on_error", "fail"),
        profiler=_profiler(preprocessor) if config.get("statistics") else None,
    )
    started = time.perf_counter()
    report = batch_transform(data, model, preprocessor, output_dir("predictions"), options)
    seconds = time.perf_counter() - started
    if report.profile is not None:
        write_json(
            output_dir("predictions") / "statistics.json",
            report.profile.to_statistics(),  # type: ignore[attr-defined]
        )
    print(
        f"scored {report.scored} of {report.rows} rows in {seconds:.2f} s"
        + (f"; {report.rejected} rejected (see rejected.csv)" if report.rejected else "")
    )
    return {
        **report.to_dict(),
        "seconds": round(seconds, 3),
        "rowsPerSecond": round(report.rows / seconds) if seconds > 0 else None,
        "modelFlavor": model.flavor,
    }


if __name__ == "__main__":
    run(main)
