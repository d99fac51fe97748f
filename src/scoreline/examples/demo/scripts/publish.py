"""Write a small report combining the model, its evaluation and the data profile."""

import json
import os
from pathlib import Path


def read(name: str, file: str) -> dict:
    return json.loads((Path(os.environ[f"SCORELINE_INPUT_{name}"]) / file).read_text())


report = {
    "model": read("MODEL", "model.json"),
    "evaluation": read("EVALUATION", "evaluation.json"),
    "profile": read("PROFILE", "profile.json"),
}
(Path(os.environ["SCORELINE_OUTPUT_REPORT"]) / "report.json").write_text(json.dumps(report))
print("published report")
