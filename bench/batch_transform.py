"""Benchmark: the built-in batch transform on 1M and 10M abalone-like rows.

For each size, in the same run and on the same rows:
- compute limit: XGBoost ``inplace_predict`` on the preprocessed rows already in memory;
- naive: a pandas script (read_csv, get_dummies, predict, to_csv);
- scoreline: CSV -> CSV and Parquet -> Parquet through ``scoreline.data.transform``.

Every measurement runs in its own subprocess, which reports its wall time (model load
included; interpreter start-up and library imports excluded for every program alike) and
its peak resident memory (``VmHWM``).
Targets on 2 cores: CSV -> CSV >= 5x the naive script and >= 0.4x the compute limit;
Parquet -> Parquet >= 0.7x the compute limit; peak memory <= 512 MiB at 10M rows and
within 20% of the 1M-row figure.

The model is the Abalone example's TrainingStep configuration (max_depth 4, eta 0.05,
300 rounds) trained on the bundled data; rows are bootstrapped from the Abalone features
with small noise, four decimals, like the real file.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from abalone_rows import generate, measure, prepare

SIZES = (1_000_000, 10_000_000)

COMPUTE_LIMIT = """
import numpy as np, pyarrow.parquet as pq
from scoreline.data.flavors import load_model
from scoreline.data.preprocess import Preprocessor
work = Path(sys.argv[1])
pre = Preprocessor.load(work / "preprocessing.json")
matrix = np.ascontiguousarray(pre.encode(pq.read_table(work / "rows.parquet")).matrix)
model = load_model(work / "model")
model.predict(matrix[:1000])
start = time.perf_counter()
predictions = model.predict(matrix)
report(time.perf_counter() - start, rows=len(predictions))
"""

NAIVE = """
import pandas as pd, xgboost as xgb
work = Path(sys.argv[1])
start = time.perf_counter()
spec = json.loads((work / "preprocessing.json").read_text())
columns = spec["columns"][:-1]
frame = pd.read_csv(work / "rows.csv", header=None, names=columns)
for feature in spec["features"]:
    if feature["type"] == "numeric":
        name = feature["name"]
        values = frame[name].fillna(feature["impute"]["value"])
        frame[name] = (values - feature["scale"]["mean"]) / feature["scale"]["std"]
frame = pd.get_dummies(frame, columns=["sex"], dtype="float32")
booster = xgb.Booster(model_file=str(work / "model" / "model.json"))
predictions = booster.inplace_predict(frame.to_numpy(dtype="float32"))
pd.DataFrame(predictions).to_csv(work / "naive.csv", header=False, index=False)
report(time.perf_counter() - start, rows=len(frame))
"""

SCORELINE = """
import xgboost  # imported before the clock starts, like the other programs' libraries
from scoreline.data.io import use_jemalloc
from scoreline.data.flavors import load_model
from scoreline.data.preprocess import Preprocessor
from scoreline.data.transform import TransformOptions, batch_transform
use_jemalloc()  # as the batch_transform step does
work, source, fmt = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
pre = Preprocessor.load(work / "preprocessing.json")
model = load_model(work / "model")
result = batch_transform(work / source, model, pre, work / f"out-{fmt}",
                         TransformOptions(pre.input_spec(), output_format=fmt))
report(time.perf_counter() - start, rows=result.scored)
"""


def run_size(work: Path, rows: int) -> dict[str, dict[str, Any]]:
    generate(work, rows)
    return {
        "compute": measure(COMPUTE_LIMIT, str(work), "no-pandas"),
        "naive": measure(NAIVE, str(work)),
        "csv": measure(SCORELINE, str(work), "csv-in", "csv", "no-pandas"),
        "parquet": measure(SCORELINE, str(work), "parquet-in", "parquet", "no-pandas"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=list(SIZES))
    parser.add_argument(
        "--rounds", type=int, default=300, help="boosting rounds of the model (the example: 300)"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} cores: {os.cpu_count()} "
        f"python {platform.python_version()} model: {args.rounds} rounds, max_depth 4"
    )
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="scoreline-bench-") as tmp:
        work = Path(tmp)
        prepare(work, args.rounds)
        for rows in args.rows:
            results[rows] = run_size(work, rows)
            r = results[rows]
            print(f"\n{rows:,} rows ({(work / 'rows.csv').stat().st_size / 2**20:.0f} MiB of CSV)")
            for key, label in (
                ("compute", "compute limit (inplace_predict in memory)"),
                ("naive", "naive pandas script (CSV -> CSV)"),
                ("csv", "scoreline CSV -> CSV"),
                ("parquet", "scoreline Parquet -> Parquet"),
            ):
                m = r[key]
                rate = m["rows"] / m["seconds"] / 1e6
                print(
                    f"  {label:<44} {m['seconds']:7.2f} s {rate:6.2f} M rows/s "
                    f"peak {m['peak_mib']:6.0f} MiB"
                )
            compute, naive = r["compute"]["seconds"], r["naive"]["seconds"]
            csv, parquet = r["csv"]["seconds"], r["parquet"]["seconds"]
            print(f"  CSV -> CSV vs naive:            {naive / csv:5.2f}x (target >= 5)")
            print(f"  CSV -> CSV vs compute limit:    {compute / csv:5.2f}x (target >= 0.4)")
            print(f"  Parquet vs compute limit:       {compute / parquet:5.2f}x (target >= 0.7)")
    if len(results) >= 2:
        small, large = results[min(results)], results[max(results)]
        for key in ("csv", "parquet"):
            low, high = small[key]["peak_mib"], large[key]["peak_mib"]
            print(
                f"peak memory {key}: {low:.0f} MiB at {min(results):,} rows, "
                f"{high:.0f} MiB at {max(results):,} rows ({high / low - 1:+.0%}; "
                "targets <= 512 MiB and within 20%)"
            )


if __name__ == "__main__":
    main()
