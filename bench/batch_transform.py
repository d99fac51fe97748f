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
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from scoreline.examples import ABALONE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src/scoreline/examples/abalone/data/training-data.csv"
COLUMNS = list(ABALONE_COLUMNS)
FEATURES = COLUMNS[:-1]
SIZES = (1_000_000, 10_000_000)

PRELUDE = """
import json, sys, time
from pathlib import Path
class NoPandas:  # as installed: scoreline's runtime has no pandas, which pyarrow would
    def find_spec(self, name, path=None, target=None):  # import (0.6 s) on first use
        if name.split(".")[0] == "pandas":
            raise ImportError("pandas is not part of scoreline's runtime")
if sys.argv[-1] == "no-pandas":
    sys.meta_path.insert(0, NoPandas())
from pathlib import Path
def report(seconds, **extra):
    # VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss across fork and exec.
    status = Path("/proc/self/status").read_text()
    peak = int(next(l for l in status.splitlines() if l.startswith("VmHWM")).split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "peak_mib": peak, **extra}))
"""

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
from scoreline.data.flavors import load_model
from scoreline.data.preprocess import Preprocessor
from scoreline.data.transform import TransformOptions, batch_transform
work, source, fmt = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
pre = Preprocessor.load(work / "preprocessing.json")
model = load_model(work / "model")
result = batch_transform(work / source, model, pre, work / f"out-{fmt}",
                         TransformOptions(pre.input_spec(), output_format=fmt))
report(time.perf_counter() - start, rows=result.scored)
"""


def measure(program: str, *args: str) -> dict[str, Any]:
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(program)
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark program failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def prepare(work: Path, rounds: int) -> None:
    """Fit the preprocessing and train the example's model on the bundled data."""
    import xgboost as xgb

    from scoreline.data.io import TableSpec, read_table
    from scoreline.data.preprocess import Preprocessor

    kinds = dict.fromkeys(COLUMNS, "numeric") | {"sex": "categorical"}
    table = read_table(DATA, TableSpec(COLUMNS, kinds))
    pre = Preprocessor.fit(table, FEATURES[1:], ["sex"], target="rings")
    pre.save(work)
    params = {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.05, "seed": 0}
    booster = xgb.train(
        params,
        xgb.DMatrix(pre.encode(table).matrix, label=table.column("rings").to_numpy()),
        num_boost_round=rounds,
    )
    (work / "model").mkdir()
    booster.save_model(str(work / "model" / "model.json"))


def generate(work: Path, rows: int) -> None:
    """Abalone-like rows: bootstrapped real rows plus small noise, as CSV and Parquet."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from scoreline.data.io import TableSpec, read_table

    kinds = dict.fromkeys(COLUMNS, "numeric") | {"sex": "string"}
    source = read_table(DATA, TableSpec(COLUMNS, kinds))  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    csv_writer = parquet_writer = None
    step = 1_000_000
    for start in range(0, rows, step):
        pick = pa.array(rng.integers(0, source.num_rows, size=min(step, rows - start)))
        part = source.take(pick).select(FEATURES)
        columns = {"sex": part.column("sex")}
        for name in FEATURES[1:]:
            values = part.column(name).to_numpy() * rng.normal(1.0, 0.02, size=len(pick))
            columns[name] = pa.array(np.round(np.abs(values), 4))
        table = pa.table(columns)
        if csv_writer is None:
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            csv_writer = pacsv.CSVWriter(work / "rows.csv", table.schema, write_options=options)
            parquet_writer = pq.ParquetWriter(work / "rows.parquet", table.schema)
        csv_writer.write_table(table)
        assert parquet_writer is not None
        parquet_writer.write_table(table)
    assert csv_writer is not None
    assert parquet_writer is not None
    csv_writer.close()
    parquet_writer.close()
    for name in ("csv", "parquet"):
        folder = work / f"{name}-in"
        folder.mkdir(exist_ok=True)
        target = folder / f"rows.{name}"
        target.unlink(missing_ok=True)
        os.link(work / f"rows.{name}", target)


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
