"""TrainingStep: an XGBoost regressor, written for the SageMaker training contract.

It reads the channels from SM_CHANNEL_TRAIN and SM_CHANNEL_VALIDATION (headerless CSV, target
first), takes its hyperparameters as --name value arguments, saves the model to SM_MODEL_DIR
in XGBoost's JSON format (safe to load: no pickle), and prints the validation error as
"MSE = <value>", the line the reference's tuner reads.
"""

import argparse
import json
import os
from pathlib import Path

import numpy as np
import xgboost as xgb


def load(folder: str) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(Path(folder).glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {folder}")
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    return data[:, 1:], data[:, 0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_depth", type=int, default=4)
    parser.add_argument("--eta", type=float, default=0.05)
    parser.add_argument("--num_round", type=int, default=300)
    parser.add_argument("--subsample", type=float, default=0.8)
    parser.add_argument("--min_child_weight", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    args = parser.parse_args()

    x_train, y_train = load(args.train)
    x_validation, y_validation = load(args.validation)
    params = {
        "objective": "reg:squarederror",
        "max_depth": args.max_depth,
        "eta": args.eta,
        "subsample": args.subsample,
        "min_child_weight": args.min_child_weight,
        "seed": args.seed,
        "nthread": int(os.environ.get("SM_NUM_CPUS", "1")),
    }
    booster = xgb.train(params, xgb.DMatrix(x_train, label=y_train), num_boost_round=args.num_round)
    predictions = booster.inplace_predict(x_validation)
    mse = float(np.mean((y_validation - predictions) ** 2))
    print(f"MSE = {mse}")

    booster.save_model(str(Path(args.model_dir) / "model.json"))
    if args.output_data_dir:
        metrics = {"validation": {"mse": mse, "rows": int(y_validation.size)}}
        (Path(args.output_data_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
