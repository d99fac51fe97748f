"""DataCheckPreProcessingStep, written for a SageMaker processing container: joins the batch
transform's predictions (/opt/ml/processing/inference_results/*.out, JSON arrays) to the
features it scored (/opt/ml/processing/inference_data), prediction first, the layout of the
training baseline, in /opt/ml/processing/output/inference-data-combined.csv.

A transform answers in one JSON array per mini-batch; the arrays are read one after another,
so a batch larger than one request is joined correctly."""

import json
import os

import numpy as np
import pandas as pd

BASE = "/opt/ml/processing"


def read_predictions(path):
    with open(path) as handle:
        text = handle.read()
    decoder, values, position = json.JSONDecoder(), [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return np.asarray(values, dtype=float)
        array, position = decoder.raw_decode(text, position)
        values.extend(array)


def main():
    predictions = read_predictions(f"{BASE}/inference_results/inference-data-processed.csv.out")
    features = pd.read_csv(f"{BASE}/inference_data/inference-data-processed.csv", header=None)
    if len(predictions) != len(features):
        raise ValueError(f"{len(predictions)} predictions for {len(features)} rows")
    combined = pd.concat([pd.Series(predictions), features], axis=1)
    os.makedirs(f"{BASE}/output", exist_ok=True)
    combined.to_csv(f"{BASE}/output/inference-data-combined.csv", header=False, index=False)
    print(f"combined {len(combined)} rows")


if __name__ == "__main__":
    main()
