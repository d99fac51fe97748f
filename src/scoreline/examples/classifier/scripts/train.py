"""Train: a scikit-learn pipeline (scaling, then logistic regression) fitted on the training
channel and saved with skops, which loads without running code, as ``model.skops``. Its
validation metrics go to ``evaluation.json`` in the shape Model Monitor and the registry
read, and the validation AUC is printed as ``AUC = <value>`` for the tuner."""

import argparse
import json
import os
from pathlib import Path

import pandas as pd
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

LABEL = "malignant"


def load(folder: str) -> tuple[pd.DataFrame, pd.Series]:
    data = pd.concat([pd.read_csv(f) for f in sorted(Path(folder).glob("*.csv"))])
    return data.drop(columns=LABEL), data[LABEL]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max_iter", type=int, default=2000)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    args = parser.parse_args()
    x_train, y_train = load(os.environ["SM_CHANNEL_TRAIN"])
    x_validation, y_validation = load(os.environ["SM_CHANNEL_VALIDATION"])

    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=args.max_iter))
    model.fit(x_train, y_train)
    score = model.predict_proba(x_validation)[:, 1]
    label = (score >= 0.5).astype(int)
    metrics = {
        "accuracy": accuracy_score(y_validation, label),
        "precision": precision_score(y_validation, label, zero_division=0),
        "recall": recall_score(y_validation, label, zero_division=0),
        "f1": f1_score(y_validation, label, zero_division=0),
        "auc": roc_auc_score(y_validation, score),
    }
    print(f"AUC = {metrics['auc']}")
    skops.io.dump(model, Path(args.model_dir) / "model.skops")
    report = {
        "binary_classification_metrics": {
            name: {"value": float(value), "standard_deviation": "NaN"}
            for name, value in metrics.items()
        }
    }
    (Path(args.output_data_dir) / "evaluation.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
