"""TrainingEval: score the held-out test split with the trained model and write
evaluation.json (the reference's regression_metrics.mse.value and standard_deviation, plus
rmse, mae and r2)."""

import json
import os
from pathlib import Path

import numpy as np
import xgboost as xgb

from scoreline.monitoring.model_quality import evaluation_report, regression_metrics


def main() -> None:
    booster = xgb.Booster(model_file=str(Path(os.environ["SCORELINE_INPUT_MODEL"]) / "model.json"))
    files = sorted(Path(os.environ["SCORELINE_INPUT_TEST"]).glob("*.csv"))
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    truth, features = data[:, 0], data[:, 1:]
    metrics = regression_metrics(truth, booster.inplace_predict(features))
    report = evaluation_report(metrics)
    out = Path(os.environ["SCORELINE_OUTPUT_EVALUATION"]) / "evaluation.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"test MSE = {metrics['mse'].value:.4f} over {truth.size} rows")


if __name__ == "__main__":
    main()
