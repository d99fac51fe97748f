"""The ``batch_transform`` step: the model and its fitted preprocessing applied to every row.

On a Ray cluster (the step runs there with ``SCORELINE_RAY_ADDRESS`` set) the input is split
at line boundaries into one share per cluster CPU (or ``shares``), each share is scored by its
own Ray task that streams it into a part file, and the parts of each input file are joined in
order into the same output a single process writes. Parts live in a hidden folder until every
share has succeeded; the step's output folder is then committed as one unit, as always.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from scoreline.data.flavors import Model, ModelInfo, load_model
from scoreline.data.io import Share, TableSpec, data_files, line_shares
from scoreline.data.preprocess import Encoder, NumericFeature, Preprocessor, RawColumns
from scoreline.data.transform import (
    REJECTED_FILE,
    RegionReport,
    RejectLog,
    TransformOptions,
    TransformReport,
    batch_transform,
    join_parts,
    output_name,
    score_region,
)
from scoreline.engine.ray_executor import STEP_ADDRESS_ENV, connect
from scoreline.errors import DataError, StepError
from scoreline.monitoring.dataset import write_json
from scoreline.monitoring.statistics import DatasetProfile
from scoreline.runners.common import Progress, estimate_rows, input_dir, output_dir, run


def _model(config: dict[str, Any], folder: Path, threads: int) -> Model:
    """The model, verified, with what the registry recorded about it filled in."""
    model = load_model(
        folder,
        sha256=config.get("model_sha256"),
        threads=threads,
        trusted=tuple(config.get("trusted_types") or ()),
    )
    model.info = model.info.completed(config.get("input_schema") or {})
    return model


def _encoder(config: dict[str, Any], folder: Path | None, info: ModelInfo) -> Encoder:
    """What turns raw rows into the model's inputs: the model's own columns when it carries
    its preprocessing, else the fitted preprocessing, else the numeric columns as they are."""
    id_column = config.get("id_column")
    recorded = [
        f["name"] for f in (config.get("input_schema") or {}).get("features", []) if "name" in f
    ]
    if info.takes_columns:
        return RawColumns(tuple(info.features or recorded), info.kinds)
    if folder is not None:
        return Preprocessor.load(folder)
    given = [c for c in config.get("columns") or [] if c != id_column]
    columns = given or list(info.features or ()) or recorded
    if not columns:
        raise StepError(
            "without 'preprocessing' the step needs 'columns' (the model's numeric inputs)"
        )
    identity = tuple(NumericFeature(c, float("nan"), 0.0, 1.0) for c in columns)
    return Preprocessor(tuple(config.get("columns") or columns), identity)


def _spec(config: dict[str, Any], encoder: Encoder) -> TableSpec:
    spec = encoder.input_spec(bool(config.get("header")), config.get("columns"))
    id_column = config.get("id_column")
    if id_column and id_column not in spec.columns:
        return TableSpec([*spec.columns, id_column], spec.kinds, spec.header)
    return spec


def _profiler(encoder: Encoder) -> Callable[[], DatasetProfile]:
    """Profiles of the raw input features, collected while scoring (one pass)."""
    features = encoder.feature_columns
    return lambda: DatasetProfile(features)


def _options(config: dict[str, Any], encoder: Encoder) -> TransformOptions:
    return TransformOptions(
        spec=_spec(config, encoder),
        output_format=config.get("output_format"),
        id_column=config.get("id_column"),
        on_error=config.get("on_error", "fail"),
        profiler=_profiler(encoder) if config.get("statistics") else None,
        outputs=tuple(config.get("outputs") or ("prediction", "probabilities")),
        threshold=config.get("threshold"),
    )


def prepare_scoring(
    config: dict[str, Any], model_folder: Path, preprocessing: Path | None, threads: int
) -> tuple[Model, Encoder, TransformOptions]:
    """The verified model, what turns rows into its inputs, and how to read and write: all a
    batch transform (or one share of it) needs besides the files, from the step's config."""
    model = _model(config, model_folder, threads)
    encoder = _encoder(config, preprocessing, model.info)
    return model, encoder, _options(config, encoder)


def peak_mib() -> float | None:
    """This process's peak resident memory (``VmHWM``), where Linux reports it."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return round(int(line.split()[1]) / 1024, 1) if line else None


def _score_share(
    share: Share, part: Path, config: dict[str, Any], folders: dict[str, str | None]
) -> tuple[RegionReport, float | None]:
    """One share, on a Ray worker: one core for reading, encoding and predicting."""
    import pyarrow

    pyarrow.set_cpu_count(1)
    preprocessing = folders["preprocessing"]
    model, encoder, options = prepare_scoring(
        config, Path(str(folders["model"])), Path(preprocessing) if preprocessing else None, 1
    )
    return score_region(share.path, share, part, model, encoder, options), peak_mib()


def _on_cluster(
    ray: Any, data: Path, out: Path, config: dict[str, Any], info: ModelInfo
) -> tuple[TransformReport, dict[str, Any]]:
    workers = int(config.get("shares") or ray.cluster_resources().get("CPU", 1))
    files = data_files(data)
    sizes = [f.stat().st_size for f in files]
    preprocessing = input_dir("preprocessing")
    options = _options(config, _encoder(config, preprocessing, info))
    shares = {  # CSV outputs concatenate; a Parquet output is written by one task
        f: line_shares(f, max(1, round(workers * size / max(sum(sizes), 1))))
        if output_name(f, options).endswith(".csv")
        else line_shares(f, 1)
        for f, size in zip(files, sizes, strict=True)
    }
    parts = out / ".parts"
    parts.mkdir(exist_ok=True)
    folders = {
        "model": str(input_dir("model")),
        "preprocessing": preprocessing and str(preprocessing),
    }
    remote = ray.remote(_score_share).options(num_cpus=1, max_retries=0)
    refs = {
        f: [
            remote.remote(share, parts / f"{f.name}.{k:05d}", config, folders)
            for k, share in enumerate(shares[f])
        ]
        for f in files
    }
    report = TransformReport()
    rejects = RejectLog(out / REJECTED_FILE)
    peaks: list[float] = []
    try:
        for f in files:
            answers: list[tuple[RegionReport, float | None]] = ray.get(refs[f])
            regions = [region for region, _ in answers]
            peaks.extend(peak for _, peak in answers if peak is not None)
            target = out / output_name(f, options)
            join_parts([parts / f"{f.name}.{k:05d}" for k in range(len(regions))], target)
            merged = RegionReport(
                rows=sum(r.rows for r in regions),
                rejected=sum(r.rejected for r in regions),
                profile=_merged([r.profile for r in regions]),
                rejects=[x for r in regions for x in r.rejects],
            )
            rejects.add(merged.rejects)
            report.add(f.name, target.name, merged)
    except BaseException:
        every = [r for rs in refs.values() for r in rs]
        _, running = ray.wait(every, num_returns=len(every), timeout=0)
        for ref in running:  # a share failed: the others' output is not wanted
            ray.cancel(ref)
        raise
    finally:
        shutil.rmtree(parts, ignore_errors=True)
        rejects.close()
    placement = {
        "rayShares": sum(len(s) for s in shares.values()),
        "rayWorkerPeakMiB": max(peaks, default=None),
    }
    return report, placement


def _merged(profiles: list[Any]) -> Any:
    found = [p for p in profiles if p is not None]
    for other in found[1:]:
        found[0].merge(other)
    return found[0] if found else None


def main(config: dict[str, Any]) -> dict[str, Any]:
    data, model_folder = input_dir("data"), input_dir("model")
    assert data is not None
    assert model_folder is not None
    address = os.environ.get(STEP_ADDRESS_ENV)
    placement: dict[str, Any] = {}
    if address:
        connecting = time.perf_counter()
        ray = connect(address)
        placement["rayConnectSeconds"] = round(time.perf_counter() - connecting, 3)
        started = time.perf_counter()
        model = _model(config, model_folder, threads=1)
        report, on_cluster = _on_cluster(ray, data, output_dir("predictions"), config, model.info)
        placement.update(on_cluster)
    else:
        started = time.perf_counter()
        model, encoder, options = prepare_scoring(
            config, model_folder, input_dir("preprocessing"), int(config.get("threads") or 0)
        )
        total, estimated = estimate_rows(data_files(data), options.spec.header)
        progress = Progress("rows", total, estimated=estimated)
        options = replace(options, on_rows=progress.add)
        report = batch_transform(data, model, encoder, output_dir("predictions"), options)
    seconds = time.perf_counter() - started
    if report.rows == 0 and not config.get("allow_empty"):
        raise DataError(
            "the input has no rows to score",
            where=str(data),
            hint="check the file; or set allow_empty: true on the step to let it succeed",
        )
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
        "problemType": model.info.problem_type,
        "peakMiB": peak_mib(),
        **placement,
    }


if __name__ == "__main__":
    run(main)
