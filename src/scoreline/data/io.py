"""Reading tabular inputs (CSV with or without a header, Parquet) in bounded chunks.

The fast path hands whole files to pyarrow's streaming readers. When a CSV file has a row
pyarrow cannot convert, :func:`careful_csv_chunks` reads it again with Python's ``csv`` module,
which knows each row's line number, so the error (or the rejected-rows file) can name the
file, row and column.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib.abc
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from scoreline.errors import ConfigError, DataError

ColumnKind = Literal["numeric", "integer", "categorical", "string"]
DATA_SUFFIXES = (".csv", ".parquet", ".pq", ".txt")
MAX_FIELD_ENV = "SCORELINE_MAX_FIELD_CHARS"
"""The longest CSV field read, 1 MiB unless set (a quote left open makes the rest of a file
one field); steps inherit it."""


def max_field_chars() -> int:
    text = os.environ.get(MAX_FIELD_ENV, "")
    if not text:
        return 1 << 20
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"'{text}' is not a positive whole number", where=f"${MAX_FIELD_ENV}")
    return int(text)


_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def use_jemalloc() -> None:
    """Make jemalloc pyarrow's memory pool in a process scoreline owns (step runners, the
    command line): with streaming reads it returns freed memory to the system sooner than
    the default mimalloc (about 40 MiB less at the same speed). Kept as is when unavailable."""
    with contextlib.suppress(pa.ArrowNotImplementedError, NotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


@contextlib.contextmanager
def without_pandas() -> Iterator[None]:
    """Within: pandas cannot be imported, unless it already was.

    pyarrow imports pandas (about 0.2 s) when it first converts Python values, only to
    recognise pandas objects; data-quality work never hands it any. Afterwards pandas
    imports normally again (pyarrow's ``to_pandas()`` included).
    """
    if "pandas" in sys.modules:
        yield
        return
    finder = _PandasAbsent()
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class _PandasAbsent(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ImportError("pandas is not used here")
        return


def load_json_object(path: Path, what: str = "file") -> dict[str, Any]:
    """A JSON file holding an object; a missing file or bad JSON is a one-line error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{what} not found", where=str(path)) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg}, line {exc.lineno})", where=str(path)) from None
    except UnicodeDecodeError:
        raise DataError("not valid JSON (not UTF-8 text)", where=str(path)) from None
    if not isinstance(data, dict):
        raise DataError("expected a JSON object", where=str(path))
    return data


def data_files(path: Path) -> list[Path]:
    """The data files at ``path``: the file itself, or a folder's data files sorted by name."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError("no such file or folder", where=str(path))
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix.lower() in DATA_SUFFIXES and not p.name.startswith(("_", "."))
    )
    if not files:
        raise DataError(
            "folder holds no data files", where=str(path), hint="expected *.csv or *.parquet"
        )
    return files


def file_format(path: Path) -> Literal["csv", "parquet"]:
    return "parquet" if path.suffix.lower() in (".parquet", ".pq") else "csv"


def arrow_type(kind: ColumnKind) -> pa.DataType:
    if kind == "numeric":
        return pa.float64()
    if kind == "integer":
        return pa.int64()
    if kind == "categorical":
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


@dataclass(frozen=True)
class Reject:
    """A row that could not be used, and why."""

    file: str
    """The file's name."""
    row: int
    column: str | None
    reason: str

    def where(self) -> str:
        place = f"{self.file}, row {self.row}"
        return f"{place}, column '{self.column}'" if self.column else place


@dataclass
class Chunk:
    """A slice of one input file (or of one :class:`Share` of it): ``row`` is the number of
    its first row counted from the start of the share, header lines included; rows flagged
    in ``rejected_mask`` hold nulls only."""

    file: Path
    row: int
    batch: pa.RecordBatch
    rejects: list[Reject] = field(default_factory=list)
    rejected_mask: np.ndarray | None = None
    share: Share | None = None

    @property
    def first_row(self) -> int:
        """The file row number of the first row. For a share after the first, the lines
        before it are counted only when a row number is asked for (an error, a reject)."""
        return self.row + (self.share.lines_before() if self.share else 0)


@dataclass(frozen=True)
class Share:
    """Part of a CSV file: the whole lines between byte ``start`` and byte ``end``, as a
    cluster worker scores it. ``start`` is 0 or just after a newline."""

    path: Path
    start: int
    end: int

    @property
    def whole(self) -> bool:
        return self.start == 0 and self.end >= self.path.stat().st_size

    def lines_before(self) -> int:
        """Lines of the file before this share."""
        return _lines_before(self.path, self.start)


def line_shares(path: Path, count: int) -> list[Share]:
    """Split ``path`` into at most ``count`` shares of about equal size at line boundaries
    (a Parquet file, or a CSV file too small to split, is one share). Lines are split on
    newlines, so a quoted field may not hold one."""
    size = path.stat().st_size
    if file_format(path) == "parquet" or count <= 1 or size < 2 * CHUNK_BYTES:
        return [Share(path, 0, size)]
    bounds = [0]
    with path.open("rb") as handle:
        for k in range(1, count):
            handle.seek(max(size * k // count, bounds[-1]))
            handle.readline()  # to the end of the line this offset falls in
            bounds.append(min(handle.tell(), size))
    bounds.append(size)
    return [Share(path, a, b) for a, b in pairwise(bounds) if b > a]


@functools.lru_cache(maxsize=64)
def _lines_before(path: Path, offset: int) -> int:
    """Lines before byte ``offset`` (a line boundary): a memchr-speed pass over the prefix,
    which a share's reader does not need until it reports a row number."""
    lines = 0
    with path.open("rb") as handle:
        remaining = offset
        while remaining > 0:
            block = handle.read(min(remaining, 1 << 22))
            lines += block.count(b"\n")
            remaining -= len(block)
    return lines


class _RangeReader(io.RawIOBase):
    """A read-only view of bytes ``start`` to ``end`` of a file."""

    def __init__(self, share: Share) -> None:
        self.handle = share.path.open("rb")
        self.handle.seek(share.start)
        self.left = share.end - share.start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)[: self.left]
        read = self.handle.readinto(view)
        self.left -= read
        return read

    def close(self) -> None:
        self.handle.close()
        super().close()


class FastPathError(Exception):
    """pyarrow could not read the file as declared; read it carefully instead."""


@dataclass(frozen=True)
class TableSpec:
    """The columns a reader must produce: names in file order and how to type them.
    Columns not listed in ``kinds`` are read as strings."""

    columns: Sequence[str]
    kinds: dict[str, ColumnKind]
    header: bool = False

    def schema(self) -> pa.Schema:
        return pa.schema([(c, arrow_type(self.kinds.get(c, "string"))) for c in self.columns])


def header_columns(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        first = next(_rows(_csv_reader(handle), path, 0), None)
    if not first:
        raise DataError("file is empty, expected a header line", where=str(path))
    if any(_NOT_UTF8.search(name) for name in first):
        raise DataError(
            "the header line is not UTF-8 text", where=f"{path}, row 1", hint=NOT_UTF8_HINT
        )
    return [c.strip() for c in first]


NOT_UTF8_HINT = "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"


def _csv_reader(handle: Any) -> Any:
    csv.field_size_limit(max_field_chars())
    return csv.reader(handle)


CHUNK_BYTES = 1 << 20
"""CSV block size. pyarrow's streaming reader holds about 40 blocks in flight, so larger
blocks cost memory (8 MiB: 330 MiB) without reading faster."""
PARQUET_BATCH_ROWS = 65536


def fast_chunks(
    path: Path, spec: TableSpec, chunk_bytes: int = CHUNK_BYTES, share: Share | None = None
) -> Iterator[Chunk]:
    """Stream a file (or one share of it) with pyarrow; raises :class:`FastPathError` on a
    row it cannot convert."""
    if file_format(path) == "parquet":
        yield from _parquet_chunks(path, spec)
        return
    names = list(spec.columns)
    first = share is None or share.start == 0
    read = pacsv.ReadOptions(column_names=names, block_size=chunk_bytes)
    if spec.header:
        found = header_columns(path)
        _check_header(path, found, names)
        read = pacsv.ReadOptions(
            column_names=found, skip_rows=1 if first else 0, block_size=chunk_bytes
        )
    convert = pacsv.ConvertOptions(
        column_types={c: arrow_type(spec.kinds.get(c, "string")) for c in names},
        include_columns=names,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    row = 2 if spec.header and first else 1
    source: Any = path if share is None else _RangeReader(share)
    try:
        reader = pacsv.open_csv(source, read_options=read, convert_options=convert)
        for batch in reader:
            yield Chunk(path, row, batch, share=None if first else share)
            row += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise FastPathError(str(exc)) from exc
    finally:
        if share is not None:
            source.close()


def _check_header(path: Path, found: Sequence[str], needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in found]
    if missing:
        raise DataError(
            f"column '{missing[0]}' is missing from the header",
            where=f"{path}, row 1",
            hint=f"the header must name {', '.join(needed)}",
        )


def _parquet_chunks(path: Path, spec: TableSpec) -> Iterator[Chunk]:
    import pyarrow.parquet as pq  # imports pyarrow's filesystems and ssl: only for Parquet

    # Without pre-buffering, memory stays flat however many row groups the file has.
    handle = pq.ParquetFile(path, pre_buffer=False, buffer_size=CHUNK_BYTES)
    names = list(spec.columns)
    _check_header(path, handle.schema_arrow.names, names)
    row = 1
    for batch in handle.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=names):
        columns = []
        for name, column in zip(names, batch.columns, strict=True):
            target = arrow_type(spec.kinds.get(name, "string"))
            if column.type != target:
                try:
                    column = column.cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DataError(
                        f"column has type {column.type}, expected {spec.kinds.get(name)}",
                        where=f"{path}, column '{name}'",
                    ) from exc
            columns.append(column)
        batch = pa.RecordBatch.from_arrays(columns, names=names)
        yield Chunk(path, row, batch)
        row += batch.num_rows


def careful_csv_chunks(
    path: Path, spec: TableSpec, chunk_rows: int = 65536, share: Share | None = None
) -> Iterator[Chunk]:
    """Read a CSV file (or one share of it) row by row, recording every row that does not
    fit ``spec``."""
    names = list(spec.columns)
    first = share is None or share.start == 0
    offset = 0 if share is None or first else share.lines_before()
    raw: Any = path.open("rb") if share is None else _RangeReader(share)
    # Bytes that are not UTF-8 are kept as surrogates, so the row they are in is named.
    with io.TextIOWrapper(raw, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = _csv_reader(handle)
        positions = list(range(len(names)))
        width = len(names)
        if spec.header:
            found = header_columns(path)
            _check_header(path, found, names)
            positions = [found.index(c) for c in names]
            width = len(found)
            if first:
                next(reader, None)
        rows: list[list[str] | None] = []
        rejects: list[Reject] = []
        first_row = offset + reader.line_num + 1
        for values in _rows(reader, path, offset):
            problem = _row_problem(values, width, names, positions, spec)
            if problem is None:
                rows.append([values[p] for p in positions])
            else:
                rows.append(None)
                line = offset + reader.line_num
                rejects.append(Reject(path.name, line, problem[0], problem[1]))
            if len(rows) >= chunk_rows:
                yield _chunk_from_rows(path, first_row, rows, rejects, spec)
                first_row = offset + reader.line_num + 1
                rows, rejects = [], []
        if rows:
            yield _chunk_from_rows(path, first_row, rows, rejects, spec)


def _rows(reader: Any, path: Path, offset: int) -> Iterator[list[str]]:
    """The reader's rows; a field past :func:`max_field_chars` is an error naming its row."""
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" not in str(exc):
                raise DataError(f"not a readable CSV row ({exc})", where=f"{path}, row "
                                f"{offset + reader.line_num}") from None  # fmt: skip
            raise DataError(
                f"a field is longer than {max_field_chars()} characters",
                where=f"{path}, row {offset + reader.line_num}",
                hint="a quote left open makes the rest of the file one field; or raise "
                "$SCORELINE_MAX_FIELD_CHARS",
            ) from None
        yield values


def _row_problem(
    values: list[str], width: int, names: list[str], positions: list[int], spec: TableSpec
) -> tuple[str | None, str] | None:
    if len(values) != width:
        return None, f"expected {width} columns, found {len(values)}"
    for name, pos in zip(names, positions, strict=True):
        if _NOT_UTF8.search(values[pos]):
            return name, f"holds bytes that are not UTF-8 text ({NOT_UTF8_HINT})"
        if spec.kinds.get(name) == "numeric":
            text = values[pos].strip()
            if text:
                try:
                    number = float(text)
                except ValueError:
                    return name, f"'{values[pos]}' is not a number"
                if not math.isfinite(number):
                    return name, f"'{values[pos]}' is not a finite number"
    return None


def non_finite(chunk: Chunk) -> list[tuple[int, str, float]]:
    """(index in the chunk, column, value) of every ±inf in a number column: pyarrow reads
    "inf" as a number, which no model or statistic can use."""
    found = []
    for name, column in zip(chunk.batch.schema.names, chunk.batch.columns, strict=True):
        if not pa.types.is_floating(column.type):
            continue
        infinite = pc.is_inf(column)
        if not pc.any(infinite).as_py():  # the usual case: one pass, nothing copied
            continue
        hits = np.flatnonzero(infinite.fill_null(False).to_numpy(zero_copy_only=False))
        found += [(int(i), name, float(column[int(i)].as_py())) for i in hits]
    return sorted(found)


def _chunk_from_rows(
    path: Path,
    first_row: int,
    rows: list[list[str] | None],
    rejects: list[Reject],
    spec: TableSpec,
) -> Chunk:
    arrays = []
    for index, name in enumerate(spec.columns):
        kind = spec.kinds.get(name, "string")
        if kind == "numeric":
            values: list[object] = [
                None if r is None or not r[index].strip() else float(r[index]) for r in rows
            ]
        else:
            values = [None if r is None or r[index] == "" else r[index] for r in rows]
        array = pa.array(values, type=pa.float64() if kind == "numeric" else pa.string())
        if kind == "categorical":
            array = array.dictionary_encode()
        arrays.append(array)
    mask = np.fromiter((r is None for r in rows), dtype=bool, count=len(rows))
    return Chunk(
        path,
        first_row,
        pa.RecordBatch.from_arrays(arrays, names=list(spec.columns)),
        rejects,
        mask if mask.any() else None,
    )


def read_table(path: Path, spec: TableSpec) -> pa.Table:
    """A whole (small) file or folder as one table; a bad row is a :class:`DataError`."""
    batches: list[pa.RecordBatch] = []
    for file in data_files(path):
        try:
            batches.extend(c.batch for c in fast_chunks(file, spec))
        except FastPathError:
            for chunk in careful_csv_chunks(file, spec):
                if chunk.rejects:
                    first = chunk.rejects[0]
                    raise DataError(first.reason, where=first.where()) from None
                batches.append(chunk.batch)
    if not batches:
        return spec.schema().empty_table()
    return pa.Table.from_batches(batches).unify_dictionaries()
