"""TrainingPreProcessStep: split the raw rows 70/15/15 with a fixed seed, fit the
preprocessing (median imputation and standardisation of the measurements, one-hot `sex`) on
the training split only, and write:

- train/validation/test: processed rows, headerless, target first (the reference's layout);
- preprocessing: the fitted preprocessing, registered with the model and reused unchanged at
  inference (no refitting on a scoring batch);
- baseline: the raw feature rows of the training split, for the data-quality baseline;
- reference: the raw rows of the test split with a header (features and rings), registered
  with the model to estimate its quality on new batches before their ground truth arrives.
"""

import argparse
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from scoreline.data.io import TableSpec, read_table
from scoreline.data.preprocess import Preprocessor

COLUMNS = [
    "sex",
    "length",
    "diameter",
    "height",
    "whole_weight",
    "shucked_weight",
    "viscera_weight",
    "shell_weight",
    "rings",
]
TARGET = "rings"
FEATURES = COLUMNS[:-1]
SPLIT_FILES = {
    "train": "training-processed.csv",
    "validation": "validation-processed.csv",
    "test": "testing-processed.csv",
}


def write_csv(table: pa.Table, path: Path) -> None:
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(include_header=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    kinds = dict.fromkeys(COLUMNS, "numeric")
    kinds["sex"] = "categorical"
    raw = read_table(Path(os.environ["SCORELINE_INPUT_INPUT"]), TableSpec(COLUMNS, kinds))
    rows = raw.num_rows
    order = np.random.default_rng(args.seed).permutation(rows)
    cut_train, cut_validation = int(0.7 * rows), int(0.85 * rows)
    splits = {
        "train": order[:cut_train],
        "validation": order[cut_train:cut_validation],
        "test": order[cut_validation:],
    }
    train = raw.take(pa.array(splits["train"]))
    preprocessing = Preprocessor.fit(
        train, numeric=FEATURES[1:], categorical=["sex"], target=TARGET
    )
    preprocessing.save(Path(os.environ["SCORELINE_OUTPUT_PREPROCESSING"]))

    for name, index in splits.items():
        part = raw.take(pa.array(index))
        matrix = preprocessing.encode(part).matrix
        columns = {TARGET: part.column(TARGET)}
        for position, feature in enumerate(preprocessing.feature_names):
            columns[feature] = matrix[:, position]
        out = Path(os.environ[f"SCORELINE_OUTPUT_{name.upper()}"])
        write_csv(pa.table(columns), out / SPLIT_FILES[name])
        print(f"{name}: {part.num_rows} rows")

    baseline = train.select(FEATURES)
    baseline = baseline.set_column(0, "sex", baseline.column("sex").cast(pa.string()))
    write_csv(baseline, Path(os.environ["SCORELINE_OUTPUT_BASELINE"]) / "training-baseline.csv")

    reference = raw.take(pa.array(splits["test"]))
    reference = reference.set_column(0, "sex", reference.column("sex").cast(pa.string()))
    pacsv.write_csv(
        reference, Path(os.environ["SCORELINE_OUTPUT_REFERENCE"]) / "test-reference.csv"
    )


if __name__ == "__main__":
    main()
