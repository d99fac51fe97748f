"""DataPreProcessingStep, written for a SageMaker processing container: reads the raw
inference rows from /opt/ml/processing/input and writes the model's features (headerless) to
/opt/ml/processing/output/inference-data-processed.csv.

Like the reference's script, it fits the transformer on the batch it scores, so its scaling
follows each batch rather than the training data; the native `abalone` example applies the
preprocessing fitted at training time instead."""

import os

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

BASE = "/opt/ml/processing"
FEATURES = [
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
]


def main():
    dtypes = dict.fromkeys(FEATURES[1:], np.float64)
    dtypes["sex"] = str
    frame = pd.read_csv(
        f"{BASE}/input/inference-data.csv", header=None, names=FEATURES, dtype=dtypes
    )
    transformer = ColumnTransformer(
        [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                FEATURES[1:],
            ),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                ["sex"],
            ),
        ]
    )
    features = transformer.fit_transform(frame)
    if hasattr(features, "toarray"):
        features = features.toarray()
    os.makedirs(f"{BASE}/output", exist_ok=True)
    pd.DataFrame(features).to_csv(
        f"{BASE}/output/inference-data-processed.csv", header=False, index=False
    )
    print(f"prepared {len(frame)} rows")


if __name__ == "__main__":
    main()
