"""Test-set metrics in the reference's evaluation.json shape."""

import csv
import json
import math
import os
from pathlib import Path

model = json.loads((Path(os.environ["SCORELINE_INPUT_MODEL"]) / "model.json").read_text())
with (Path(os.environ["SCORELINE_INPUT_TEST"]) / "test.csv").open() as handle:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
errors = [(model["slope"] * x + model["intercept"] - y) ** 2 for x, y in rows]
mse = sum(errors) / len(errors)
std = math.sqrt(sum((e - mse) ** 2 for e in errors) / len(errors))
report = {
    "regression_metrics": {"mse": {"value": round(mse, 6), "standard_deviation": round(std, 6)}}
}
out = Path(os.environ["SCORELINE_OUTPUT_EVALUATION"]) / "evaluation.json"
out.write_text(json.dumps(report, indent=2))
print(f"MSE = {mse:.4f}")
