"""Data-quality statistics in one streaming pass, written as Model Monitor's
``statistics.json``.

Each column is profiled from its text (CSV) or its typed values (Parquet): how many values
are present, missing, integral, fractional or other text, the numeric moments, a KLL quantile
sketch, a distinct-count sketch and, for low-cardinality text, the category counts. Profiles
merge, so chunks (and workers) can be profiled apart and combined.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from scoreline.monitoring.sketch import (
    DistinctCounter,
    KLLSketch,
    hash_numbers,
    hash_strings,
)

NUMBER_PATTERN = r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"
INTEGER_PATTERN = r"^\s*[+-]?\d+\s*$"
CATEGORY_LIMIT = 1000
"""Text columns with more distinct values than this get no category distribution (their
domain check still counts exactly, see :class:`FeatureProfile`)."""
BUCKETS = 10

INTEGRAL, FRACTIONAL, STRING, UNKNOWN = "Integral", "Fractional", "String", "Unknown"


class NonFiniteError(ValueError):
    """A column holds ±inf; the caller, which knows the rows, says where."""


class FeatureProfile:
    """Running profile of one column. With the baseline's ``domain`` (its allowed text
    values), the values inside it are counted exactly whatever the column's cardinality."""

    def __init__(self, name: str, domain: frozenset[str] | None = None) -> None:
        self.name = name
        self.domain = domain
        self.in_domain = 0
        self.outside: list[str] = []  # a few values outside the domain, for the message
        self.missing = 0
        self.integral = 0
        self.fractional = 0
        self.text = 0
        self.count = 0  # numeric values seen
        self.mean = 0.0
        self.m2 = 0.0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.sketch = KLLSketch()
        self.numeric_distinct = DistinctCounter()
        self.text_distinct = DistinctCounter()
        self.categories: dict[str, int] | None = {}

    @property
    def present(self) -> int:
        return self.integral + self.fractional + self.text

    def update(self, column: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            if self._update_categories(column):
                return
            column = column.cast(pa.string())
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            self._update_typed(column)
            return
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            column = column.cast(pa.string())
        present = pc.drop_null(column)
        try:  # the common case: every value is a number, checked by one vectorised cast
            numbers = pc.cast(present, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            self._update_mixed(column)
            return
        self.missing += column.null_count
        fractional = pc.or_(
            pc.match_substring(present, "."), pc.match_substring(present, "e", ignore_case=True)
        )
        n_fractional = int(pc.sum(pc.cast(fractional, pa.int64())).as_py() or 0)
        self.fractional += n_fractional
        self.integral += len(present) - n_fractional
        self._update_numbers(numbers)

    def _update_mixed(self, column: pa.Array) -> None:
        """Text that is not all numbers: classify each value (Model Monitor's rules)."""
        text = pc.utf8_trim_whitespace(column)
        empty = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
        self.missing += int(pc.sum(pc.cast(empty, pa.int64())).as_py() or 0)
        present = pc.filter(text, pc.invert(pc.fill_null(empty, True)))
        is_number = pc.match_substring_regex(present, NUMBER_PATTERN)
        is_integer = pc.match_substring_regex(present, INTEGER_PATTERN)
        n_number = int(pc.sum(pc.cast(is_number, pa.int64())).as_py() or 0)
        n_integer = int(pc.sum(pc.cast(is_integer, pa.int64())).as_py() or 0)
        self.integral += n_integer
        self.fractional += n_number - n_integer
        self.text += len(present) - n_number
        if n_number:
            self._update_numbers(pc.cast(pc.filter(present, is_number), pa.float64()))
        self._update_text(present)

    def _update_categories(self, column: pa.Array) -> bool:
        """A dictionary-encoded text column, classified by its distinct values rather than
        row by row; False (nothing counted) when some value is a number."""
        counts = pc.value_counts(column)
        values = counts.field("values")
        if pa.types.is_dictionary(values.type):
            values = values.cast(pa.string())
        text = pc.utf8_trim_whitespace(values)
        numeric = pc.match_substring_regex(pc.fill_null(text, ""), NUMBER_PATTERN)
        if pc.any(numeric).as_py():
            return False
        tally = dict(zip(text.to_pylist(), counts.field("counts").to_pylist(), strict=True))
        self.missing += tally.pop(None, 0) + tally.pop("", 0)
        self.text += sum(tally.values())
        self._count_domain(tally)
        present = pa.array(list(tally), pa.string())
        self.text_distinct.update_hashes(hash_strings(present.to_pylist()))
        if self.categories is not None:
            for value, count in tally.items():
                self.categories[value] = self.categories.get(value, 0) + count
            if len(self.categories) > CATEGORY_LIMIT:
                self.categories = None
        return True

    def _update_typed(self, column: pa.Array) -> None:
        self.missing += column.null_count
        values = pc.drop_null(column)
        if pa.types.is_integer(column.type):
            self.integral += len(values)
        else:
            self.fractional += len(values)
        self._update_numbers(values if values.type == pa.float64() else values.cast(pa.float64()))

    def _update_numbers(self, numbers: pa.Array) -> None:
        n = len(numbers)
        if not n:
            return
        values = numbers.to_numpy()
        total = float(values.sum())
        if not math.isfinite(total) and bool((abs(values) == math.inf).any()):
            raise NonFiniteError("an infinite number cannot be profiled")
        mean = float(values.mean())
        m2 = float(((values - mean) ** 2).sum())
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.total += total
        self.low = min(self.low, float(values.min()))
        self.high = max(self.high, float(values.max()))
        self.sketch.update(values)
        self.numeric_distinct.update_hashes(hash_numbers(pc.unique(numbers).to_numpy()))

    def _update_text(self, present: pa.Array) -> None:
        counts = pc.value_counts(present)
        values = counts.field("values").to_pylist()
        tally = dict(zip(values, counts.field("counts").to_pylist(), strict=True))
        self.text_distinct.update_hashes(hash_strings(values))
        self._count_domain(tally)
        if self.categories is None:
            return
        for value, count in tally.items():
            self.categories[value] = self.categories.get(value, 0) + count
        if len(self.categories) > CATEGORY_LIMIT:
            self.categories = None

    def _count_domain(self, tally: dict[str, int]) -> None:
        if self.domain is None:
            return
        for value, count in tally.items():
            if value in self.domain:
                self.in_domain += count
            elif len(self.outside) < 5 and value not in self.outside:
                self.outside.append(value)

    def merge(self, other: FeatureProfile) -> None:
        """Fold another profile of the same column into this one."""
        self.missing += other.missing
        self.integral += other.integral
        self.fractional += other.fractional
        self.text += other.text
        if other.count:
            total = self.count + other.count
            delta = other.mean - self.mean
            self.mean += delta * other.count / total
            self.m2 += other.m2 + delta * delta * self.count * other.count / total
            self.count = total
            self.total += other.total
            self.low = min(self.low, other.low)
            self.high = max(self.high, other.high)
            self.sketch.merge(other.sketch)
            self.numeric_distinct.merge(other.numeric_distinct)
        self.text_distinct.merge(other.text_distinct)
        self.in_domain += other.in_domain
        self.outside += [v for v in other.outside if v not in self.outside][: 5 - len(self.outside)]
        if self.categories is None or other.categories is None:
            self.categories = None
        else:
            for value, count in other.categories.items():
                self.categories[value] = self.categories.get(value, 0) + count
            if len(self.categories) > CATEGORY_LIMIT:
                self.categories = None

    @property
    def inferred_type(self) -> str:
        """Model Monitor's rule: any text makes a String, any fraction a Fractional."""
        if self.text:
            return STRING
        if self.fractional:
            return FRACTIONAL
        if self.integral:
            return INTEGRAL
        return UNKNOWN

    def to_json(self) -> dict[str, Any]:
        kind = self.inferred_type
        total = self.present + self.missing
        completeness = self.present / total if total else 0.0
        common = {"num_present": self.present, "num_missing": self.missing}
        if kind in (INTEGRAL, FRACTIONAL):
            std = math.sqrt(self.m2 / self.count) if self.count else 0.0
            return {
                "name": self.name,
                "inferred_type": kind,
                "numerical_statistics": {
                    "common": common,
                    "mean": self.mean,
                    "sum": self.total,
                    "std_dev": std,
                    "min": self.low,
                    "max": self.high,
                    "approximate_num_distinct_values": self.numeric_distinct.estimate(),
                    "completeness": completeness,
                    "distribution": {
                        "kll": {
                            "buckets": self.sketch.buckets(
                                self.low, self.high, BUCKETS, self.count
                            ),
                            "sketch": self.sketch.to_json(),
                        }
                    },
                },
            }
        stats: dict[str, Any] = {
            "common": common,
            # Numbers seen before the first text value were counted apart (as numbers).
            "distinct_count": float(
                self.text_distinct.estimate() + self.numeric_distinct.estimate()
            ),
            "completeness": completeness,
        }
        if self.categories:
            stats["distribution"] = {
                "categorical": {
                    "buckets": [
                        {"value": v, "count": c}
                        for v, c in sorted(self.categories.items(), key=lambda kv: (-kv[1], kv[0]))
                    ]
                }
            }
        return {"name": self.name, "inferred_type": kind, "string_statistics": stats}


class DatasetProfile:
    """Profiles of every column of a dataset (``domains``: the baseline's allowed values of
    its categorical columns, counted exactly; see :class:`FeatureProfile`)."""

    def __init__(
        self, columns: Sequence[str], domains: Mapping[str, frozenset[str]] | None = None
    ) -> None:
        self.columns = list(columns)
        self.domains = dict(domains or {})
        self.features = {
            name: FeatureProfile(name, self.domains.get(name)) for name in self.columns
        }
        self.item_count = 0
        self.column_note = ""
        """Why the columns may not be the baseline's (added to missing/extra column checks)."""

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.item_count += batch.num_rows
        for name in self.columns:
            self.features[name].update(batch.column(name))

    def merge(self, other: DatasetProfile) -> None:
        self.item_count += other.item_count
        for name, feature in other.features.items():
            if name not in self.features:
                self.columns.append(name)
                self.features[name] = FeatureProfile(name, feature.domain)
            self.features[name].merge(feature)

    def to_statistics(self) -> dict[str, Any]:
        """``statistics.json`` (Model Monitor format, version 0.0)."""
        return {
            "version": 0.0,
            "dataset": {"item_count": self.item_count},
            "features": [self.features[name].to_json() for name in self.columns],
        }


def profile(batches: Iterable[pa.RecordBatch | pa.Table], columns: Sequence[str]) -> DatasetProfile:
    """Profile a stream of batches holding ``columns``."""
    result = DatasetProfile(columns)
    for batch in batches:
        result.update(batch)
    return result
