"""Prepare: a seeded, stratified split of the labelled rows into training and validation
sets, and the training features alone (no label) for the data-quality baseline that
inference batches are checked against."""

import argparse
import os
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

LABEL = "malignant"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--validation-share", type=float, default=0.25)
    args = parser.parse_args()
    source = Path(os.environ["SCORELINE_INPUT_INPUT"])
    files = sorted(source.glob("*.csv")) if source.is_dir() else [source]
    data = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    if LABEL not in data:
        raise SystemExit(f"the input has no '{LABEL}' column (columns: {', '.join(data)})")
    train, validation = train_test_split(
        data, test_size=args.validation_share, random_state=args.seed, stratify=data[LABEL]
    )
    for name, frame in (("train", train), ("validation", validation)):
        folder = Path(os.environ[f"SCORELINE_OUTPUT_{name.upper()}"])
        frame.to_csv(folder / f"{name}.csv", index=False)
    baseline = Path(os.environ["SCORELINE_OUTPUT_BASELINE"])
    train.drop(columns=LABEL).to_csv(baseline / "features.csv", index=False)
    print(f"{len(train)} training rows, {len(validation)} validation rows")


if __name__ == "__main__":
    main()
