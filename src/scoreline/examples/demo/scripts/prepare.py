"""Split the raw CSV (header x,y) into train and test (80/20, seeded)."""

import argparse
import csv
import os
import random
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

raw_dir = Path(os.environ["SCORELINE_INPUT_RAW"])
rows = []
for path in sorted(raw_dir.glob("*.csv")):
    with path.open() as handle:
        rows.extend(csv.DictReader(handle))
random.Random(args.seed).shuffle(rows)
cut = int(len(rows) * 0.8)
for name, part in (("train", rows[:cut]), ("test", rows[cut:])):
    out = Path(os.environ[f"SCORELINE_OUTPUT_{name.upper()}"]) / f"{name}.csv"
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["x", "y"])
        writer.writeheader()
        writer.writerows(part)
print(f"read {len(rows)} rows: {cut} train, {len(rows) - cut} test")
