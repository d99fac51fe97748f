"""ModelQualityCalcStep, written for a SageMaker processing container: compares the batch
transform's predictions with /opt/ml/processing/ground_truth/ground-truth.csv, writes
/opt/ml/processing/output/inference-evaluation.json, and fails when the MSE is not below
--mse-threshold (the failure is what starts retraining)."""

import argparse
import json
import os

import numpy as np
import pandas as pd
from data_check_preprocessing import read_predictions
from sklearn.metrics import mean_squared_error

BASE = "/opt/ml/processing"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mse-threshold", type=float, default=10.0)
    args = parser.parse_args()
    predictions = read_predictions(f"{BASE}/inference_results/inference-data-processed.csv.out")
    truth = pd.read_csv(f"{BASE}/ground_truth/ground-truth.csv", header=None).iloc[:, 0]
    truth = truth.to_numpy(dtype=float)
    mse = mean_squared_error(truth, predictions)
    passed = bool(mse < args.mse_threshold)
    report = {
        "regression_metrics": {
            "mse": {"value": float(mse), "standard_deviation": float(np.std(truth - predictions))}
        },
        "model_quality_passed": passed,
        "mse_threshold": args.mse_threshold,
    }
    os.makedirs(f"{BASE}/output", exist_ok=True)
    with open(f"{BASE}/output/inference-evaluation.json", "w") as handle:
        json.dump(report, handle)
    print(f"inference MSE = {mse} (threshold {args.mse_threshold})")
    if not passed:
        raise Exception("Model performance was below threshold")


if __name__ == "__main__":
    main()
