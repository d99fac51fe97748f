"""Fit y = a*x + b by least squares, with SageMaker's training contract:
the channel in SM_CHANNEL_TRAIN, the model saved into SM_MODEL_DIR."""

import argparse
import csv
import json
import os
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--ridge", type=float, default=0.0)
args = parser.parse_args()

with (Path(os.environ["SM_CHANNEL_TRAIN"]) / "train.csv").open() as handle:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(handle)]
n = len(rows)
mean_x = sum(x for x, _ in rows) / n
mean_y = sum(y for _, y in rows) / n
sxx = sum((x - mean_x) ** 2 for x, _ in rows) + args.ridge
sxy = sum((x - mean_x) * (y - mean_y) for x, y in rows)
slope = sxy / sxx
model = {"slope": slope, "intercept": mean_y - slope * mean_x}
(Path(os.environ["SM_MODEL_DIR"]) / "model.json").write_text(json.dumps(model))
print(f"fitted slope={model['slope']:.3f} intercept={model['intercept']:.3f} on {n} rows")
