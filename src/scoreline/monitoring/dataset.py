"""Data quality of files: the one-pass profile of a CSV/Parquet file or folder, a baseline
from it, and a check of it against a baseline. Used by the ``quality_check`` step and by
``scoreline monitoring baseline|check`` outside any pipeline."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoreline.data.io import (
    Chunk,
    ColumnKind,
    FastPathError,
    TableSpec,
    careful_csv_chunks,
    data_files,
    fast_chunks,
    file_format,
    header_columns,
    non_finite,
)
from scoreline.errors import DataError
from scoreline.monitoring.checks import DataQualityReport, check_data_quality, violations_json
from scoreline.monitoring.constraints import Constraints, read_constraints, suggest_constraints
from scoreline.monitoring.statistics import DatasetProfile, NonFiniteError


def dataset_columns(
    files: list[Path],
    header: bool,
    columns: Sequence[str] | None = None,
    baseline: dict[str, Any] | None = None,
) -> list[str]:
    """Column names: given, from the header or Parquet schema, else the baseline's (the
    file must then have as many columns), else ``_c0``, ``_c1``...."""
    if columns:
        return list(columns)
    first = files[0]
    if file_format(first) == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(first).names)
    if header:
        return header_columns(first)
    with first.open(encoding="utf-8", errors="surrogateescape") as handle:
        width = handle.readline().count(",") + 1
    if baseline is not None:
        # Matched by position, as Model Monitor names headerless columns: the check then
        # reports the baseline's last columns as missing, or the file's last as extra.
        names = [f["name"] for f in baseline.get("features", [])]
        return names[:width] + [f"_c{i}" for i in range(len(names), width)]
    return [f"_c{i}" for i in range(width)]


def position_note(files: list[Path], header: bool, names: Sequence[str], baseline: Any) -> str:
    """Why columns are missing or extra when a headerless file was matched by position."""
    if header or baseline is None or file_format(files[0]) != "csv":
        return ""
    expected = len(baseline.get("features", []))
    if expected == len(names):
        return ""
    return (
        f" (the file has {len(names)} columns and no header, the baseline {expected}: "
        "columns were matched by position)"
    )


PROFILE_READ_BYTES = 256 << 10
PROFILE_BATCH_BYTES = 4 << 20


def _baseline_kinds(baseline: dict[str, Any] | None) -> dict[str, ColumnKind]:
    """How to read the baseline's columns: numbers as numbers (pyarrow's parallel parser),
    text dictionary-encoded."""
    kinds: dict[str, ColumnKind] = {}
    for feature in (baseline or {}).get("features", []):
        kind = feature.get("inferred_type")
        if kind == "Fractional":
            kinds[feature["name"]] = "numeric"
        elif kind == "Integral":
            kinds[feature["name"]] = "integer"
        elif kind == "String":  # dictionary-encoded: classified per distinct value
            kinds[feature["name"]] = "categorical"
    return kinds


def _profile_file(
    chunks: Iterator[Chunk],
    names: list[str],
    on_rows: Callable[[int], None] | None,
    domains: Mapping[str, frozenset[str]] | None,
) -> DatasetProfile:
    """Small reads keep pyarrow's read-ahead small (it holds about 40 blocks); batches are
    then profiled a few at a time, so the per-call cost of profiling stays low."""
    result = DatasetProfile(names, domains)
    pending: list[Chunk] = []
    size = 0

    def profile() -> None:
        table = pa.Table.from_batches([c.batch for c in pending])
        try:
            result.update(table)
        except NonFiniteError:
            _refuse_non_finite(pending)
            raise
        if on_rows is not None:
            on_rows(table.num_rows)

    for chunk in chunks:
        pending.append(chunk)
        size += chunk.batch.nbytes
        if size >= PROFILE_BATCH_BYTES:
            profile()
            pending, size = [], 0
    if pending:
        profile()
    return result


_INFINITE = r"^\s*[+-]?(inf|infinity)\s*$"


def _refuse_non_finite(chunks: list[Chunk]) -> None:
    """Raise naming the first ±inf of ``chunks`` (read as numbers, or as text)."""
    for chunk in chunks:
        found = non_finite(chunk)
        for name, column in zip(chunk.batch.schema.names, chunk.batch.columns, strict=True):
            if pa.types.is_dictionary(column.type):
                column = column.cast(pa.string())
            if pa.types.is_string(column.type):
                hits = pc.match_substring_regex(column, _INFINITE, ignore_case=True)
                rows = np.flatnonzero(hits.fill_null(False).to_numpy(zero_copy_only=False))
                found += [(int(i), name, column[int(i)].as_py()) for i in rows]
        if found:
            index, column_name, value = min(found)
            raise DataError(
                f"'{value}' is not a finite number",
                where=f"{chunk.file}, row {chunk.first_row + index}, column '{column_name}'",
                hint="remove or fix the row: statistics cannot use it",
            )


def _careful(file: Path, spec: TableSpec) -> Iterator[Chunk]:
    """The file read row by row; the first row that does not fit is an error."""
    for chunk in careful_csv_chunks(file, spec):
        if chunk.rejects:
            first = chunk.rejects[0]
            hint = None if first.column else "every row needs the same columns as the first"
            raise DataError(first.reason, where=first.where(), hint=hint)
        yield chunk


def profile_data(
    path: Path,
    header: bool,
    columns: Sequence[str] | None = None,
    baseline: dict[str, Any] | None = None,
    on_rows: Callable[[int], None] | None = None,
    domains: Mapping[str, frozenset[str]] | None = None,
) -> DatasetProfile:
    """One streaming pass over every data file under ``path``. Columns the baseline says are
    numbers are parsed as numbers; a file where that fails (a text value, a fraction in an
    integer column) is profiled again from its text, which Model Monitor's type rules need.
    ``on_rows`` is told the number of rows of each profiled batch; values of a column with
    ``domains`` (the baseline constraints' allowed values) are counted against it exactly."""
    files = data_files(path)
    names = dataset_columns(files, header, columns, baseline)
    typed = TableSpec(
        names, {n: k for n, k in _baseline_kinds(baseline).items() if n in names}, header
    )
    text = TableSpec(names, {}, header)
    total = DatasetProfile(names, domains)
    total.column_note = "" if columns else position_note(files, header, names, baseline)
    for file in files:
        profile = partial(_profile_file, names=names, on_rows=on_rows, domains=domains)
        try:
            part = profile(fast_chunks(file, typed if typed.kinds else text, PROFILE_READ_BYTES))
        except FastPathError:
            try:
                part = profile(fast_chunks(file, text, PROFILE_READ_BYTES))
            except FastPathError:  # a row pyarrow cannot read: Python's csv names it
                part = profile(_careful(file, text))
        total.merge(part)
    if total.item_count == 0:
        raise DataError("no rows to profile", where=str(path), hint="check the input")
    return total


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a temporary name, then a rename): objects indented, lists of
    plain values (a sketch's thousands of numbers) on one line, as Model Monitor lays out
    its files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(_layout(data, "") + "\n", encoding="utf-8")
    partial.replace(path)


def _layout(value: Any, indent: str) -> str:
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(str(k))}: {_layout(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        items = (f"{inner}{_layout(v, inner)}" for v in value)
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value)


def write_baseline(current: DatasetProfile, out: Path) -> tuple[dict[str, Any], Constraints]:
    """``statistics.json`` and suggested ``constraints.json`` of a profile, into ``out``."""
    statistics = current.to_statistics()
    constraints = suggest_constraints(statistics)
    write_json(out / "statistics.json", statistics)
    write_json(out / "constraints.json", constraints.to_json())
    return statistics, constraints


def constraint_domains(constraints: dict[str, Any] | None) -> dict[str, frozenset[str]]:
    """The allowed values per feature of a ``constraints.json`` document (none without)."""
    return read_constraints(constraints).domains() if constraints else {}


def write_check(
    current: DatasetProfile,
    constraints: dict[str, Any],
    baseline_statistics: dict[str, Any] | None,
    out: Path,
) -> DataQualityReport:
    """Check a profile against a baseline: ``statistics.json`` and
    ``constraint_violations.json`` into ``out``."""
    report = check_data_quality(current, read_constraints(constraints), baseline_statistics)
    write_json(out / "statistics.json", current.to_statistics())
    write_json(out / "constraint_violations.json", violations_json(report.violations))
    return report
