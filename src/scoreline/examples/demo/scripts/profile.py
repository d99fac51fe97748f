"""Summary statistics of the training split."""

import csv
import json
import os
import statistics
from pathlib import Path

with (Path(os.environ["SCORELINE_INPUT_DATA"]) / "train.csv").open() as handle:
    rows = list(csv.DictReader(handle))
profile = {
    column: {
        "mean": statistics.fmean(float(r[column]) for r in rows),
        "stdev": statistics.stdev(float(r[column]) for r in rows),
    }
    for column in ("x", "y")
}
out = Path(os.environ["SCORELINE_OUTPUT_PROFILE"]) / "profile.json"
out.write_text(json.dumps(profile, indent=2))
print(json.dumps(profile))
