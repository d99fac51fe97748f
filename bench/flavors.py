"""Benchmark: the built-in batch transform with a model of each flavor, against that model
library's own predict on the same rows already in memory.

For each flavor (a binary classifier: 200 trees for the boosters; a scikit-learn pipeline
with its own scaling and one-hot encoding, saved with skops and converted to ONNX) and each
size, in the same run and on the same rows:
- library: the library's own predict / predict_proba on the rows in memory (a data frame or
  matrix, as the library takes it), model loaded before the clock starts;
- scoreline: CSV -> CSV and Parquet -> Parquet through the step's own code (model load,
  reading, scoring, writing, all inside the clock).

- I/O floor: the same CSV read (the model's columns) and three columns of numbers written,
  with no model: what CSV -> CSV costs whatever the model.

Each measurement runs in its own subprocess and reports wall time and peak resident memory.
Targets (issue 21): CSV -> CSV >= 0.7x and Parquet -> Parquet >= 0.8x the library's own
predict; peak memory flat in rows. On 2 cores reading and writing compete with predict for
the same cores, so CSV -> CSV cannot beat library + I/O floor by much; the last figure,
(library + I/O floor) / CSV -> CSV, says how close it comes (1.0: no overhead of its own).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from abalone_rows import REPO, measure

sys.path.insert(0, str(REPO))
from tests.models import FLAVORS, frame, train

SIZES = (1_000_000, 2_000_000)

LIBRARY = """
import pandas as pd, pyarrow.parquet as pq
work, flavor = Path(sys.argv[1]), sys.argv[2]
inputs = json.loads((work / flavor / "inputs.json").read_text())
rows = pq.read_table(work / "rows.parquet", columns=inputs).to_pandas()
path = next(p for p in (work / flavor).iterdir() if p.name.startswith("model."))
if flavor == "xgboost":
    import xgboost
    model = xgboost.Booster(model_file=str(path))
    predict = lambda: model.inplace_predict(rows.to_numpy(dtype="float32"))
elif flavor == "lightgbm":
    import lightgbm
    model = lightgbm.Booster(model_file=str(path))
    predict = lambda: model.predict(rows.to_numpy())
elif flavor == "catboost":
    import catboost
    model = catboost.CatBoost()
    model.load_model(str(path))
    predict = lambda: model.predict(rows, prediction_type="Probability")
elif flavor == "onnx":
    import numpy as np, onnxruntime
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: (rows[i.name].to_numpy(dtype=object) if i.type == "tensor(string)"
                     else rows[i.name].to_numpy(dtype="float32")).reshape(-1, 1)
            for i in session.get_inputs()}
    predict = lambda: session.run(None, feed)
else:
    import skops.io
    model = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path) or None)
    predict = lambda: model.predict_proba(rows)
start = time.perf_counter()
predict()
report(time.perf_counter() - start, rows=len(rows))
"""

IO_FLOOR = """
import numpy as np, pyarrow as pa, pyarrow.csv as pacsv
work, flavor = Path(sys.argv[1]), sys.argv[2]
inputs = json.loads((work / flavor / "inputs.json").read_text())
start = time.perf_counter()
reader = pacsv.open_csv(work / "csv-in" / "rows.csv",
                        convert_options=pacsv.ConvertOptions(include_columns=inputs))
writer = None
rows = 0
for batch in reader:
    values = pa.array(np.zeros(batch.num_rows))
    out = pa.RecordBatch.from_arrays([values] * 3, names=["prediction", "proba_0", "proba_1"])
    writer = writer or pacsv.CSVWriter(work / "io.csv", out.schema)
    writer.write_batch(out)
    rows += batch.num_rows
writer.close()
report(time.perf_counter() - start, rows=rows)
"""

SCORELINE = """
from scoreline.data.io import use_jemalloc
from scoreline.data.transform import batch_transform
from scoreline.runners.batch_transform import prepare_scoring
use_jemalloc()  # as the batch_transform step does
work, flavor, fmt = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
import importlib  # the libraries' imports stay outside the clock, as in the library program
for name in {"sklearn": ["skops.io"], "onnx": ["onnxruntime", "onnx"]}.get(flavor, [flavor]):
    importlib.import_module(name)
start = time.perf_counter()
model, encoder, options = prepare_scoring({"header": True}, work / flavor, None, 0)
result = batch_transform(work / f"{fmt}-in", model, encoder, work / f"out-{flavor}-{fmt}",
                         options)
report(time.perf_counter() - start, rows=result.scored)
"""


def write_rows(work: Path, rows: int) -> None:
    """``rows`` rows like the training data, as CSV (with a header) and Parquet."""
    table = pa.Table.from_pandas(frame(rows=rows, seed=11), preserve_index=False)
    for name in ("csv", "parquet"):
        (work / f"{name}-in").mkdir(exist_ok=True)
    pacsv.write_csv(table, work / "csv-in" / "rows.csv")
    pq.write_table(table, work / "rows.parquet")
    target = work / "parquet-in" / "rows.parquet"
    target.unlink(missing_ok=True)
    os.link(work / "rows.parquet", target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--flavors", nargs="*", default=list(FLAVORS))
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} cores: {os.cpu_count()} python {platform.python_version()}"
    )
    peaks: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="scoreline-bench-") as tmp:
        work = Path(tmp)
        training = frame(rows=20_000)
        for flavor in args.flavors:
            trained = train(flavor, "binary", training, work / flavor, rounds=200)
            (work / flavor / "inputs.json").write_text(__import__("json").dumps(trained.inputs))
        for rows in args.rows:
            write_rows(work, rows)
            size = (work / "csv-in" / "rows.csv").stat().st_size / 2**20
            print(f"\n{rows:,} rows ({size:.0f} MiB of CSV)")
            for flavor in args.flavors:
                results: dict[str, dict[str, Any]] = {
                    "library": measure(LIBRARY, str(work), flavor),
                    "csv": measure(SCORELINE, str(work), flavor, "csv"),
                    "parquet": measure(SCORELINE, str(work), flavor, "parquet"),
                    "io": measure(IO_FLOOR, str(work), flavor),
                }
                library = results["library"]["seconds"]
                io = results["io"]["seconds"]
                line = [f"  {flavor:<9} library {library:6.2f} s, CSV I/O floor {io:5.2f} s"]
                for fmt, target in (("csv", 0.7), ("parquet", 0.8)):
                    m = results[fmt]
                    peaks.setdefault((flavor, fmt), []).append(m["peak_mib"])
                    line.append(
                        f"{fmt} {m['seconds']:6.2f} s = {library / m['seconds']:4.2f}x "
                        f"(target >= {target}) peak {m['peak_mib']:4.0f} MiB"
                    )
                csv = results["csv"]["seconds"]
                line.append(f"(library + I/O floor) / csv {(library + io) / csv:4.2f}")
                print(" | ".join(line))
    if len(args.rows) >= 2:
        print()
        for (flavor, fmt), values in peaks.items():
            low, high = values[0], values[-1]
            print(
                f"peak memory {flavor} {fmt}: {low:.0f} MiB at {min(args.rows):,} rows, "
                f"{high:.0f} MiB at {max(args.rows):,} rows ({high / low - 1:+.0%})"
            )


if __name__ == "__main__":
    main()
