"""Fitted preprocessing, saved as JSON and applied unchanged at inference.

The recipe is the reference's (median imputation then standardisation for numeric columns,
one-hot encoding for categorical ones), but it is fitted once, on the training split, and the
fitted values travel with the model version. Inference never refits, so the feature columns
are the same whatever a batch holds (ORIGINAL §10 defect 7).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoreline.data.io import ColumnKind, TableSpec, load_json_object
from scoreline.errors import DataError

FORMAT = "scoreline.preprocessing/v1"
FILE_NAME = "preprocessing.json"


@dataclass(frozen=True)
class NumericFeature:
    name: str
    median: float
    mean: float
    scale: float


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    categories: tuple[str, ...]
    handle_unknown: Literal["error", "ignore"] = "error"


Feature = NumericFeature | CategoricalFeature


@dataclass(frozen=True)
class UnknownValue:
    """A categorical value the preprocessing was not fitted on, at ``index`` in its batch."""

    index: int
    column: str
    value: str


@dataclass
class Encoded:
    matrix: Any
    """A float matrix, or for a model with its own preprocessing the raw columns."""
    unknown: list[UnknownValue] = field(default_factory=list)


class Encoder(Protocol):
    """Turns batches of raw rows into a model's inputs."""

    @property
    def feature_columns(self) -> list[str]:
        """The raw input columns the model uses."""
        ...

    def input_spec(self, header: bool = False, columns: Sequence[str] | None = None) -> TableSpec:
        """How to read raw rows; ``columns`` is the file layout when the file names none."""
        ...

    def encode(self, batch: pa.RecordBatch | pa.Table) -> Encoded: ...


@dataclass(frozen=True)
class RawColumns:
    """For a model that carries its own preprocessing (a scikit-learn pipeline, an ONNX
    graph): its input columns as read, by name, nothing refitted or transformed."""

    features: tuple[str, ...]
    kinds: dict[str, ColumnKind] = field(default_factory=dict)

    @property
    def feature_columns(self) -> list[str]:
        return list(self.features)

    def input_spec(self, header: bool = False, columns: Sequence[str] | None = None) -> TableSpec:
        layout = list(columns) if columns else list(self.features)
        missing = [name for name in self.features if name not in layout]
        if missing:
            raise DataError(
                f"input columns lack feature '{missing[0]}'",
                hint=f"the model needs {', '.join(self.features)}",
            )
        kinds = {name: self.kinds.get(name, "numeric") for name in self.features}
        return TableSpec(layout, kinds, header)

    def encode(self, batch: pa.RecordBatch | pa.Table) -> Encoded:
        return Encoded(batch.select(list(self.features)))


@dataclass(frozen=True)
class Preprocessor:
    """Fitted preprocessing. ``columns`` is the raw input layout (file order), which may hold
    columns the model does not use (an id, the target)."""

    columns: tuple[str, ...]
    features: tuple[Feature, ...]
    target: str | None = None

    @classmethod
    def fit(
        cls,
        table: pa.Table,
        numeric: Sequence[str],
        categorical: Sequence[str],
        target: str | None = None,
    ) -> Preprocessor:
        """Fit on ``table`` (the training split only)."""
        features: list[Feature] = []
        for name in numeric:
            values = table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
            present = values[~np.isnan(values)]
            median = float(np.median(present)) if present.size else 0.0
            filled = np.where(np.isnan(values), median, values)
            std = float(filled.std()) if filled.size else 0.0
            features.append(
                NumericFeature(name, median, float(filled.mean()), std if std > 0 else 1.0)
            )
        for name in categorical:
            uniques = pc.unique(table.column(name).cast(pa.string())).drop_null().to_pylist()
            features.append(CategoricalFeature(name, tuple(sorted(uniques))))
        return cls(tuple(table.column_names), tuple(features), target)

    @property
    def feature_columns(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def feature_names(self) -> list[str]:
        """Output columns: numeric features first (input order), then one-hot columns."""
        names = [f.name for f in self.features if isinstance(f, NumericFeature)]
        for f in self.features:
            if isinstance(f, CategoricalFeature):
                names += [f"{f.name}_{c}" for c in f.categories]
        return names

    def input_spec(self, header: bool = False, columns: Sequence[str] | None = None) -> TableSpec:
        """How to read raw rows for this preprocessing. ``columns`` overrides the layout
        (e.g. inference rows have no target column)."""
        kinds: dict[str, ColumnKind] = {
            f.name: "numeric" if isinstance(f, NumericFeature) else "categorical"
            for f in self.features
        }
        layout = list(columns) if columns else [c for c in self.columns if c != self.target]
        missing = [name for name in kinds if name not in layout]
        if missing:
            raise DataError(
                f"input columns lack feature '{missing[0]}'",
                hint=f"the model needs {', '.join(kinds)}",
            )
        return TableSpec(layout, kinds, header)

    def encode(self, batch: pa.RecordBatch | pa.Table) -> Encoded:
        """Feature matrix (float32, column-major) for a batch of raw rows."""
        rows = batch.num_rows
        numeric = [f for f in self.features if isinstance(f, NumericFeature)]
        categorical = [f for f in self.features if isinstance(f, CategoricalFeature)]
        width = len(numeric) + sum(len(f.categories) for f in categorical)
        matrix = np.zeros((rows, width), dtype=np.float32, order="F")
        for j, num in enumerate(numeric):
            column = batch.column(num.name)
            if column.type != pa.float64():
                column = column.cast(pa.float64())
            if column.null_count:
                column = pc.fill_null(column, num.median)
            values = column.to_numpy(zero_copy_only=False)
            matrix[:, j] = (values - num.mean) / num.scale
        unknown: list[UnknownValue] = []
        offset = len(numeric)
        for cat in categorical:
            column = batch.column(cat.name)
            if pa.types.is_dictionary(column.type):
                column = column.cast(pa.string())
            index = pc.index_in(column, value_set=pa.array(cat.categories, pa.string()))
            positions = index.to_numpy(zero_copy_only=False)
            if index.null_count:
                valid = np.asarray(index.is_valid())
                unseen = np.flatnonzero(~valid & np.asarray(column.is_valid()))
                if cat.handle_unknown == "error":
                    raw = column.take(pa.array(unseen)).to_pylist()
                    unknown += [
                        UnknownValue(int(i), cat.name, str(v))
                        for i, v in zip(unseen, raw, strict=True)
                    ]
                rows_ok = np.flatnonzero(valid)
                matrix[rows_ok, offset + positions[rows_ok].astype(np.int64)] = 1.0
            else:
                matrix[np.arange(rows), offset + positions.astype(np.int64)] = 1.0
            offset += len(cat.categories)
        return Encoded(matrix, unknown)

    def input_schema(self) -> dict[str, Any]:
        """The raw input schema a model version records (DESIGN §6)."""
        columns: list[dict[str, Any]] = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                columns.append({"name": f.name, "type": "numeric"})
            else:
                columns.append(
                    {"name": f.name, "type": "categorical", "categories": list(f.categories)}
                )
        return {
            "columns": list(self.columns),
            "features": columns,
            "target": self.target,
            "feature_names": self.feature_names,
        }

    def to_dict(self) -> dict[str, Any]:
        features: list[dict[str, Any]] = []
        for f in self.features:
            if isinstance(f, NumericFeature):
                features.append(
                    {
                        "name": f.name,
                        "type": "numeric",
                        "impute": {"strategy": "median", "value": f.median},
                        "scale": {"mean": f.mean, "std": f.scale},
                    }
                )
            else:
                features.append(
                    {
                        "name": f.name,
                        "type": "categorical",
                        "categories": list(f.categories),
                        "handle_unknown": f.handle_unknown,
                    }
                )
        return {
            "format": FORMAT,
            "columns": list(self.columns),
            "target": self.target,
            "features": features,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "preprocessing") -> Preprocessor:
        if data.get("format") != FORMAT:
            raise DataError(
                f"not a scoreline preprocessing file (format {data.get('format')!r})",
                where=source,
                hint=f"expected format '{FORMAT}'",
            )
        features: list[Feature] = []
        try:
            for f in data["features"]:
                if f["type"] == "numeric":
                    features.append(
                        NumericFeature(
                            f["name"],
                            float(f["impute"]["value"]),
                            float(f["scale"]["mean"]),
                            float(f["scale"]["std"]),
                        )
                    )
                else:
                    features.append(
                        CategoricalFeature(
                            f["name"], tuple(f["categories"]), f.get("handle_unknown", "error")
                        )
                    )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"malformed preprocessing file ({exc!r})", where=source) from None
        return cls(tuple(data["columns"]), tuple(features), data.get("target"))

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / FILE_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> Preprocessor:
        """From a ``preprocessing.json`` file or a folder holding one."""
        if path.is_dir():
            path = path / FILE_NAME
        return cls.from_dict(load_json_object(path, "preprocessing file"), str(path))
