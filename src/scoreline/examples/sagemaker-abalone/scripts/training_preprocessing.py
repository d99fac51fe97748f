"""TrainingPreProcessStep, written for a SageMaker processing container: reads the raw
Abalone rows from /opt/ml/processing/input and writes the train, validation and test splits
(label first, headerless) to /opt/ml/processing/{train,validation,test}."""

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
LABEL = "rings"


def main():
    dtypes = dict.fromkeys([*FEATURES[1:], LABEL], np.float64)
    dtypes["sex"] = str
    frame = pd.read_csv(
        f"{BASE}/input/training-data.csv", header=None, names=[*FEATURES, LABEL], dtype=dtypes
    )
    numeric = FEATURES[1:]
    transformer = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
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
    features = transformer.fit_transform(frame.drop(columns=[LABEL]))
    if hasattr(features, "toarray"):
        features = features.toarray()
    rows = np.concatenate([frame[[LABEL]].to_numpy(), features], axis=1)
    np.random.default_rng(42).shuffle(rows)
    train, validation, test = np.split(rows, [int(0.7 * len(rows)), int(0.85 * len(rows))])
    for name, part, file in [
        ("train", train, "training-processed.csv"),
        ("validation", validation, "validation-processed.csv"),
        ("test", test, "testing-processed.csv"),
    ]:
        os.makedirs(f"{BASE}/{name}", exist_ok=True)
        pd.DataFrame(part).to_csv(f"{BASE}/{name}/{file}", header=False, index=False)
    print(f"split {len(rows)} rows into {len(train)}/{len(validation)}/{len(test)}")


if __name__ == "__main__":
    main()
