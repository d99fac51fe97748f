"""Training script in the SageMaker scikit-learn style: channels from SM_CHANNEL_TRAIN and
SM_CHANNEL_VALIDATION, the model saved to SM_MODEL_DIR as model.joblib, the validation MSE
printed as "MSE = <value>" for the tuner. model_fn serves the model in batch transform."""

import argparse
import glob
import os

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import mean_squared_error


def read_channel(folder, name):
    files = sorted(glob.glob(os.path.join(folder, "*.csv")))
    if not files:
        raise ValueError(f"no CSV files in the {name} channel ({folder})")
    return pd.concat([pd.read_csv(f, header=None) for f in files])


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_depth", type=int, default=2)
    parser.add_argument("--output-data-dir", default=os.environ.get("SM_OUTPUT_DATA_DIR"))
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    args = parser.parse_args()

    train = read_channel(args.train, "train")
    validation = read_channel(args.validation, "validation")
    model = RandomForestRegressor(max_depth=args.max_depth, random_state=0)
    model.fit(train.iloc[:, 1:].to_numpy(), train.iloc[:, 0].to_numpy())
    predictions = model.predict(validation.iloc[:, 1:].to_numpy())
    mse = mean_squared_error(validation.iloc[:, 0].to_numpy(), predictions)
    print(f"MSE = {mse}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    np.savetxt(os.path.join(args.output_data_dir, "validation-mse.txt"), [mse])


if __name__ == "__main__":
    main()
