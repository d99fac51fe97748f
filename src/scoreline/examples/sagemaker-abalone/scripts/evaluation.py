"""TrainingEval, written for a SageMaker processing container: unpacks the training job's
/opt/ml/processing/model/model.tar.gz, scores /opt/ml/processing/test and writes
/opt/ml/processing/evaluation/evaluation.json."""

import json
import os
import tarfile

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error

BASE = "/opt/ml/processing"


def main():
    with tarfile.open(f"{BASE}/model/model.tar.gz") as tar:
        tar.extractall(path=".", filter="data")
    model = joblib.load("model.joblib")
    test = pd.read_csv(f"{BASE}/test/testing-processed.csv", header=None)
    truth = test.iloc[:, 0].to_numpy()
    predictions = model.predict(test.iloc[:, 1:].to_numpy())
    mse = mean_squared_error(truth, predictions)
    report = {
        "regression_metrics": {
            "mse": {"value": float(mse), "standard_deviation": float(np.std(truth - predictions))}
        }
    }
    os.makedirs(f"{BASE}/evaluation", exist_ok=True)
    with open(f"{BASE}/evaluation/evaluation.json", "w") as handle:
        json.dump(report, handle)
    print(f"test MSE = {mse}")


if __name__ == "__main__":
    main()
