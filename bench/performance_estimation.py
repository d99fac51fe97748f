"""Benchmark: model quality estimated without labels, against NannyML on the same data.

A binary classifier and a regressor (XGBoost, 300 trees, on 6 numeric features) are trained
on 40,000 rows; a reference period of 50,000 rows (their predictions and true values) fits
the estimators; 10 analysis chunks of 10,000 rows each move two features a little further
(a known covariate shift: P(y | x) stays, so quality changes only through the shift).
Each chunk is estimated by scoreline (CBPE: accuracy, precision, recall, f1, ROC AUC; DLE:
mse, mae, rmse) and by NannyML 0.13 (the same methods, with its defaults) in a virtualenv
this benchmark creates under .bench/. Each program runs in its own process; "fit +
estimate" is timed inside it, after its imports, and "whole" is the process from start to
exit.

Targets: on every chunk, scoreline's estimate within 0.02 of NannyML's for ROC AUC and
accuracy and within 10% for MSE; fit + estimate at least 10x faster (printed for both
methods together and for each).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from abalone_rows import measure
from peers import peer_python

NANNYML_PINS = (
    "nannyml==0.13.1",
    "statsmodels==0.14.4",
    "scipy==1.15.3",
    "pandas==2.2.3",
    "numpy==2.2.6",
)
CHUNKS, CHUNK_ROWS, REFERENCE_ROWS, TRAIN_ROWS = 10, 10_000, 50_000, 40_000
FEATURES = [f"x{k}" for k in range(6)]

SCORELINE = """
import numpy as np, pyarrow.parquet as pq
import scipy.optimize, xgboost  # imported when first used; here, before the clock as NannyML's
from scoreline.monitoring.estimation import CBPE, DLE
work = Path(sys.argv[1])
def load(name):
    table = pq.read_table(work / f"{name}.parquet")
    return {k: table.column(k).to_numpy() for k in table.column_names}
features = [f"x{k}" for k in range(6)]
start = time.perf_counter()
out = {"classification": [], "regression": []}
ref = load("classification_reference")
cbpe = CBPE(ref["y_pred_proba"], ref["y_true"].astype(int))
analysis = load("classification_analysis")
for k in range(int(sys.argv[2])):
    rows = analysis["chunk"] == k
    est = cbpe.estimate(analysis["y_pred_proba"][rows])
    out["classification"].append({m: e.value for m, e in est.items()})
classified = time.perf_counter()
ref = load("regression_reference")
dle = DLE(np.column_stack([ref[f] for f in features]), ref["y_pred"], ref["y_true"])
analysis = load("regression_analysis")
for k in range(int(sys.argv[2])):
    rows = analysis["chunk"] == k
    x = np.column_stack([analysis[f][rows] for f in features])
    est = dle.estimate(dle.losses(x, analysis["y_pred"][rows]))
    out["regression"].append({m: e.value for m, e in est.items()})
end = time.perf_counter()
report(end - start, cbpe=classified - start, dle=end - classified, estimates=out)
"""

NANNYML = """
import warnings
warnings.filterwarnings("ignore")
import logging
logging.disable(logging.WARNING)
import pandas as pd
import nannyml as nml
work = Path(sys.argv[1])
features = [f"x{k}" for k in range(6)]
chunk_size = int(sys.argv[3])
start = time.perf_counter()
out = {"classification": [], "regression": []}
names = {"roc_auc": "auc", "accuracy": "accuracy", "precision": "precision",
         "recall": "recall", "f1": "f1"}
cbpe = nml.CBPE(problem_type="classification_binary", y_pred_proba="y_pred_proba",
                y_pred="y_pred", y_true="y_true", metrics=list(names), chunk_size=chunk_size)
cbpe.fit(pd.read_parquet(work / "classification_reference.parquet"))
analysis = pd.read_parquet(work / "classification_analysis.parquet").drop(columns=["chunk"])
frame = cbpe.estimate(analysis).filter(period="analysis").to_df()
for k in range(len(frame)):
    out["classification"].append(
        {ours: float(frame[(theirs, "value")].iloc[k]) for theirs, ours in names.items()})
classified = time.perf_counter()
dle = nml.DLE(feature_column_names=features, y_pred="y_pred", y_true="y_true",
              metrics=["mse", "mae", "rmse"], chunk_size=chunk_size)
dle.fit(pd.read_parquet(work / "regression_reference.parquet"))
analysis = pd.read_parquet(work / "regression_analysis.parquet").drop(columns=["chunk"])
frame = dle.estimate(analysis).filter(period="analysis").to_df()
for k in range(len(frame)):
    values = {m: float(frame[(m, "value")].iloc[k]) for m in ("mse", "mae", "rmse")}
    out["regression"].append(values)
end = time.perf_counter()
report(end - start, cbpe=classified - start, dle=end - classified, estimates=out)
"""


def write_data(work: Path, seed: int = 0) -> dict[str, list[dict[str, float]]]:
    """The four parquet files both programs read, and the realized metrics per chunk."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    import xgboost as xgb
    from sklearn import metrics as skm

    rng = np.random.default_rng(seed)

    def rows(n: int, shift: float = 0.0) -> tuple[Any, Any, Any]:
        x = rng.normal(0.0, 1.0, (n, len(FEATURES)))
        x[:, 2:4] += shift  # the features the noise and the interaction depend on
        logit = 1.5 * x[:, 0] - x[:, 1] + 0.5 * x[:, 2] * x[:, 3]
        label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
        value = 2 * x[:, 0] + x[:, 1] ** 2 + rng.normal(0, 1, n) * (0.5 + np.abs(x[:, 2]))
        return x, label, value

    x, label, value = rows(TRAIN_ROWS)
    params = {"max_depth": 4, "eta": 0.05, "seed": 0, "nthread": 2}
    classifier = xgb.train(
        {**params, "objective": "binary:logistic"}, xgb.DMatrix(x, label=label), 300
    )
    regressor = xgb.train(params, xgb.DMatrix(x, label=value), 300)
    realized: dict[str, list[dict[str, float]]] = {"classification": [], "regression": []}

    def save(name: str, x: Any, label: Any, value: Any, chunk: Any | None) -> None:
        proba = classifier.predict(xgb.DMatrix(x))
        predicted = regressor.predict(xgb.DMatrix(x))
        columns = {f: x[:, k] for k, f in enumerate(FEATURES)}
        extra = {} if chunk is None else {"chunk": chunk}
        pq.write_table(
            pa.table(
                {"y_pred_proba": proba, "y_pred": (proba >= 0.5).astype(int), "y_true": label}
                | extra
            ),
            work / f"classification_{name}.parquet",
        )
        pq.write_table(
            pa.table({**columns, "y_pred": predicted, "y_true": value} | extra),
            work / f"regression_{name}.parquet",
        )
        if chunk is None:
            return
        for k in range(CHUNKS):
            rows_k = chunk == k
            y, p = label[rows_k], proba[rows_k]
            realized["classification"].append(
                {"auc": skm.roc_auc_score(y, p), "accuracy": skm.accuracy_score(y, p >= 0.5)}
            )
            realized["regression"].append(
                {"mse": skm.mean_squared_error(value[rows_k], predicted[rows_k])}
            )

    save("reference", *rows(REFERENCE_ROWS), None)
    parts = [rows(CHUNK_ROWS, shift) for shift in np.linspace(0.0, 0.9, CHUNKS)]
    save(
        "analysis",
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.repeat(np.arange(CHUNKS), CHUNK_ROWS),
    )
    return realized


def whole_seconds(program: str, python: str, *args: str) -> float:
    from abalone_rows import PRELUDE

    start = time.perf_counter()
    subprocess.run([python, "-c", PRELUDE + program, *args], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    python = peer_python("nannyml", NANNYML_PINS)
    print(
        f"machine: {platform.machine()} cores: {os.cpu_count()} "
        f"python {platform.python_version()} peer: {NANNYML_PINS[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="scoreline-bench-") as tmp:
        work = Path(tmp)
        realized = write_data(work)
        args = (str(work), str(CHUNKS), str(CHUNK_ROWS))
        ours = measure(SCORELINE, *args)
        theirs = measure(NANNYML, *args, python=python)
        ours_whole = whole_seconds(SCORELINE, sys.executable, *args)
        theirs_whole = whole_seconds(NANNYML, python, *args)
    print(
        f"reference {REFERENCE_ROWS:,} rows, {CHUNKS} analysis chunks of {CHUNK_ROWS:,} rows "
        "with a growing covariate shift"
    )
    worst = {"auc": 0.0, "accuracy": 0.0, "mse": 0.0}
    print(
        "chunk  realized auc  ours  nannyml | realized acc  ours  nannyml | "
        "realized mse  ours  nannyml"
    )
    for k in range(CHUNKS):
        a, b = ours["estimates"], theirs["estimates"]
        c, r = a["classification"][k], b["classification"][k]
        g, s = a["regression"][k], b["regression"][k]
        real_c, real_r = realized["classification"][k], realized["regression"][k]
        worst["auc"] = max(worst["auc"], abs(c["auc"] - r["auc"]))
        worst["accuracy"] = max(worst["accuracy"], abs(c["accuracy"] - r["accuracy"]))
        worst["mse"] = max(worst["mse"], abs(g["mse"] / s["mse"] - 1))
        print(
            f"{k:5d}  {real_c['auc']:12.4f} {c['auc']:.4f} {r['auc']:.4f}  | "
            f"{real_c['accuracy']:12.4f} {c['accuracy']:.4f} {r['accuracy']:.4f}  | "
            f"{real_r['mse']:12.3f} {g['mse']:.3f} {s['mse']:.3f}"
        )
    print(
        f"largest difference from NannyML: auc {worst['auc']:.4f}, accuracy "
        f"{worst['accuracy']:.4f} (target <= 0.02), mse {worst['mse']:.1%} (target <= 10%)"
    )
    print(
        f"fit + estimate: scoreline {ours['seconds']:.2f} s (peak {ours['peak_mib']:.0f} MiB), "
        f"NannyML {theirs['seconds']:.2f} s (peak {theirs['peak_mib']:.0f} MiB): "
        f"{theirs['seconds'] / ours['seconds']:.1f}x faster (target >= 10x)"
    )
    for method in ("cbpe", "dle"):
        print(
            f"  {method.upper()}: scoreline {ours[method]:.2f} s, NannyML {theirs[method]:.2f} s: "
            f"{theirs[method] / ours[method]:.1f}x faster"
        )
    print(
        f"whole programs: scoreline {ours_whole:.2f} s, NannyML {theirs_whole:.2f} s: "
        f"{theirs_whole / ours_whole:.1f}x faster"
    )


if __name__ == "__main__":
    main()
