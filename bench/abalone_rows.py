"""Shared by the benchmarks: abalone-like rows, the example's model, and measuring a
program in its own process (wall time and peak memory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from scoreline.examples import ABALONE_COLUMNS

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "src/scoreline/examples/abalone/data/training-data.csv"
COLUMNS = list(ABALONE_COLUMNS)
FEATURES = COLUMNS[:-1]

PRELUDE = """
import json, sys, time
from pathlib import Path
class NoPandas:  # as installed: scoreline's runtime has no pandas, which pyarrow would
    def find_spec(self, name, path=None, target=None):  # import (0.6 s) on first use
        if name.split(".")[0] == "pandas":
            raise ImportError("pandas is not part of scoreline's runtime")
if sys.argv[-1] == "no-pandas":
    sys.meta_path.insert(0, NoPandas())
def memory(field):
    status = Path("/proc/self/status").read_text()
    return int(next(l for l in status.splitlines() if l.startswith(field)).split()[1]) / 1024
def report(seconds, **extra):
    # VmHWM, not ru_maxrss: Linux carries a parent's ru_maxrss across fork and exec.
    print(json.dumps({"seconds": seconds, "peak_mib": memory("VmHWM"), **extra}))
"""


def measure(program: str, *args: str, python: str = sys.executable) -> dict[str, Any]:
    """Run ``program`` (after PRELUDE) in a fresh interpreter; it ends by calling
    ``report(seconds, ...)``, whose JSON line is returned."""
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(program)
    result = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, check=False
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
