"""The built-in batch transform: stream rows in, apply the saved preprocessing and the model,
write one prediction per input row, in input order.

Three stages overlap: a reader thread (pyarrow parses with its own threads), the caller's
thread encoding and predicting (the model uses every core), and a writer thread. Queues
between them hold at most two chunks each, so memory stays bounded whatever the input size.
"""

from __future__ import annotations

import csv
import io
import os
import queue
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from scoreline.data.flavors import Model, ModelInfo
from scoreline.data.io import (
    CHUNK_BYTES,
    Chunk,
    FastPathError,
    Reject,
    Share,
    TableSpec,
    careful_csv_chunks,
    data_files,
    fast_chunks,
    file_format,
    non_finite,
)
from scoreline.data.preprocess import Encoder, UnknownValue
from scoreline.errors import ArtifactError, DataError

OnError = Literal["fail", "reject"]
OutputColumn = Literal["prediction", "probabilities"]
REJECTED_FILE = "rejected.csv"
_QUEUE_DEPTH = 2
PROFILE_BATCH_BYTES = 4 << 20
_END = object()


class Profiler(Protocol):
    """Statistics of record batches, mergeable (``monitoring.statistics.DatasetProfile``)."""

    def update(self, batch: pa.RecordBatch | pa.Table) -> None: ...

    def merge(self, other: Any) -> None: ...


@dataclass(frozen=True)
class TransformOptions:
    """How to read the input and write the predictions."""

    spec: TableSpec
    output_format: Literal["csv", "parquet"] | None = None
    """``None`` writes the input's own format."""
    id_column: str | None = None
    on_error: OnError = "fail"
    chunk_bytes: int = CHUNK_BYTES
    profiler: Callable[[], Profiler] | None = None
    """Makes a profile of the scored input rows (statistics collected in the same pass)."""
    on_rows: Callable[[int], None] | None = None
    """Told the number of rows of each chunk once it is written (progress reports)."""
    outputs: tuple[OutputColumn, ...] = ("prediction", "probabilities")
    """For a classifier: the predicted label and/or one ``proba_<class>`` column per class."""
    threshold: float | None = None
    """For a binary classifier: the positive class is predicted when its probability is at
    least this (``None``: the more probable class)."""


@dataclass
class TransformReport:
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    profile: Profiler | None = None

    def add(self, source: str, output: str, region: RegionReport) -> None:
        """Count a scored file (or all the shares of one)."""
        if region.profile is not None:
            if self.profile is None:
                self.profile = region.profile
            else:
                self.profile.merge(region.profile)
        self.rows += region.rows
        self.rejected += region.rejected
        self.scored += region.rows - region.rejected
        self.files.append(
            {"input": source, "output": output, "rows": region.rows, "rejected": region.rejected}
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "scored": self.scored,
            "rejected": self.rejected,
            "files": self.files,
        }


def batch_transform(
    source: Path,
    model: Model,
    preprocessor: Encoder,
    out_dir: Path,
    options: TransformOptions,
) -> TransformReport:
    """Score every data file under ``source`` into ``out_dir`` (one output per input file,
    named after it). Rejected rows, when ``on_error="reject"``, go to ``rejected.csv``."""
    if options.id_column and options.id_column not in options.spec.columns:
        raise DataError(
            f"id column '{options.id_column}' is not among the input columns",
            hint=f"columns are {', '.join(options.spec.columns)}",
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    report = TransformReport()
    rejects = RejectLog(out_dir / REJECTED_FILE)
    try:
        for path in data_files(source):
            target = out_dir / output_name(path, options)
            region = score_region(path, None, target, model, preprocessor, options)
            rejects.add(region.rejects)
            report.add(path.name, target.name, region)
    finally:
        rejects.close()
    return report


def join_parts(parts: list[Path], target: Path) -> None:
    """Concatenate the part files of one input, in order, into ``target`` (written under a
    temporary name and renamed), then remove them."""
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb", buffering=0) as sink:
        for part in parts:
            with part.open("rb", buffering=0) as source:
                _append(source, sink)
    partial.replace(target)
    for part in parts:
        part.unlink()


def _append(source: io.FileIO, sink: io.FileIO) -> None:
    """Copy the rest of ``source`` to ``sink`` (unbuffered files, so both fall back alike):
    inside the kernel where it can, about ten times faster than through Python's buffers;
    this copy is the serial end of a fan-out."""
    left = os.fstat(source.fileno()).st_size - source.tell()
    try:
        while left > 0:
            copied = os.copy_file_range(source.fileno(), sink.fileno(), left)
            if copied == 0:
                break
            left -= copied
    except (AttributeError, OSError):  # no copy_file_range here, or not between these files
        pass
    shutil.copyfileobj(source, sink, 8 << 20)


def output_name(path: Path, options: TransformOptions) -> str:
    """The predictions file of input ``path``: its stem, in the output format."""
    fmt = options.output_format or file_format(path)
    return f"{path.stem}.{'parquet' if fmt == 'parquet' else 'csv'}"


@dataclass
class RegionReport:
    """What scoring one file, or one share of it, found."""

    rows: int
    rejected: int
    profile: Profiler | None
    rejects: list[Reject]


def score_region(
    path: Path,
    share: Share | None,
    target: Path,
    model: Model,
    preprocessor: Encoder,
    options: TransformOptions,
) -> RegionReport:
    """Score a whole file (``share`` None) or one share of it into ``target``, reading it
    again row by row when pyarrow meets a row it cannot convert. A share after the first
    writes no header line, so the shares of a file concatenate into one output."""
    fmt = options.output_format or file_format(path)
    header = options.spec.header and (share is None or share.start == 0)
    rejects = RejectLog(None)
    score = partial(
        _score_file,
        model=model,
        preprocessor=preprocessor,
        target=target,
        fmt=fmt,
        options=options,
        rejects=rejects,
        header=header,
    )
    try:
        counts = score(fast_chunks(path, options.spec, options.chunk_bytes, share))
    except FastPathError:
        rejects.forget(path.name)
        counts = score(careful_csv_chunks(path, options.spec, share=share))
    rows, rejected, profile = counts
    return RegionReport(rows, rejected, profile, rejects.rows)


def _score_file(
    chunks: Iterator[Chunk],
    model: Model,
    preprocessor: Encoder,
    target: Path,
    fmt: str,
    options: TransformOptions,
    rejects: RejectLog,
    header: bool,
) -> tuple[int, int, Profiler | None]:
    profile = options.profiler() if options.profiler else None
    writer = _Writer(target, fmt, options, profile, header, model.info)
    rows = rejected = 0
    try:
        for chunk in _read_ahead(chunks):
            encoded = preprocessor.encode(chunk.batch)
            mask = unscorable_rows(chunk, encoded.unknown, options.on_error)
            predictions = model.predict(encoded.matrix)
            if mask is not None:
                rejected += int(mask.sum())
                rejects.add(chunk.rejects)
            writer.put(chunk.batch, predictions, mask)
            rows += chunk.batch.num_rows
            if options.on_rows is not None:
                options.on_rows(chunk.batch.num_rows)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return rows, rejected, profile


def prediction_columns(
    predictions: np.ndarray, info: ModelInfo, options: TransformOptions
) -> list[tuple[str, np.ndarray]]:
    """The output columns for a chunk's predictions: ``prediction`` (or ``prediction_<k>``
    for several outputs) of a regressor; the label and ``proba_<class>`` of a classifier."""
    values = predictions.reshape(len(predictions), -1)
    if info.problem_type == "regression" or info.classes is None:
        if values.shape[1] == 1:
            return [("prediction", values[:, 0])]
        return [(f"prediction_{k}", values[:, k]) for k in range(values.shape[1])]
    classes = info.classes
    if values.shape[1] != len(classes):
        raise ArtifactError(
            f"the model gave {values.shape[1]} probabilities per row for {len(classes)} classes",
            hint="register the version with its classes (models register --classes)",
        )
    columns: list[tuple[str, np.ndarray]] = []
    if "prediction" in options.outputs:
        if options.threshold is not None and len(classes) == 2:
            chosen = (values[:, 1] >= options.threshold).astype(np.int64)
        else:
            chosen = values.argmax(axis=1)
        columns.append(("prediction", np.asarray(classes)[chosen]))
    if "probabilities" in options.outputs:
        columns += [(f"proba_{label}", values[:, k]) for k, label in enumerate(classes)]
    return columns


def unscorable_rows(
    chunk: Chunk, unknown: list[UnknownValue], on_error: OnError
) -> np.ndarray | None:
    """Rows of the chunk that must not be scored; raises on the first when ``on_error=fail``."""
    flagged = [(i.index, i.column, f"unknown category '{i.value}'") for i in unknown]
    flagged += [(i, c, f"'{v}' is not a finite number") for i, c, v in non_finite(chunk)]
    for index, column, reason in flagged:
        chunk.rejects.append(Reject(chunk.file.name, chunk.first_row + index, column, reason))
    if not chunk.rejects:
        return chunk.rejected_mask
    if on_error == "fail":
        first = min(chunk.rejects, key=lambda r: r.row)
        raise DataError(
            first.reason,
            where=first.where(),
            hint="fix the row, or set on_error: reject on the step to score the others",
        )
    mask = (
        chunk.rejected_mask.copy()
        if chunk.rejected_mask is not None
        else np.zeros(chunk.batch.num_rows, dtype=bool)
    )
    for index, _, _ in flagged:
        mask[index] = True
    return mask


def _read_ahead(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """Read the next chunks on a helper thread while the caller scores the current one."""
    box: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        box.put(chunk, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(_END)
        except BaseException as exc:
            box.put(exc)

    thread = threading.Thread(target=produce, name="scoreline-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                box.get_nowait()
            except queue.Empty:
                thread.join(0.05)


class _Writer:
    """Writes prediction batches on a helper thread, to a temporary name renamed at close."""

    def __init__(
        self,
        target: Path,
        fmt: str,
        options: TransformOptions,
        profile: Profiler | None,
        header: bool,
        info: ModelInfo,
    ) -> None:
        self.target = target
        self.info = info
        self.header = header
        self.profile = profile
        self.observed: list[pa.RecordBatch] = []
        self.observed_bytes = 0
        self.partial = target.with_name(f".{target.name}.partial")
        self.fmt = fmt
        self.options = options
        self.box: queue.Queue[Any] = queue.Queue(maxsize=_QUEUE_DEPTH)
        self.error: BaseException | None = None
        self.sink: Any = None
        self.thread = threading.Thread(target=self._run, name="scoreline-writer", daemon=True)
        self.thread.start()

    def put(self, batch: pa.RecordBatch, predictions: np.ndarray, mask: np.ndarray | None) -> None:
        if self.error is not None:
            raise self.error
        self.box.put((batch, predictions, mask))

    def _table(
        self, batch: pa.RecordBatch, predictions: np.ndarray, mask: np.ndarray | None
    ) -> pa.RecordBatch:
        columns: list[pa.Array] = []
        names: list[str] = []
        if self.options.id_column:
            columns.append(batch.column(self.options.id_column))
            names.append(self.options.id_column)
        for name, values in prediction_columns(predictions, self.info, self.options):
            columns.append(pa.array(values, mask=mask))
            names.append(name)
        return pa.RecordBatch.from_arrays(columns, names=names)

    def _run(self) -> None:
        try:
            while True:
                item = self.box.get()
                if item is _END:
                    if self.profile is not None:
                        self._observe(None)
                    break
                table = self._table(*item)
                if self.profile is not None:  # here, overlapping the next chunk's scoring
                    batch, _, mask = item
                    self._observe(batch if mask is None else batch.filter(~mask))
                if self.sink is None:
                    self.sink = self._open(table.schema)
                self.sink.write_batch(table)
        except BaseException as exc:
            self.error = exc
            while self.box.get() is not _END:
                pass

    def _observe(self, batch: pa.RecordBatch | None) -> None:
        """Profile input rows a few MiB at a time (the per-call cost dominates small ones)."""
        if batch is not None:
            self.observed.append(batch)
            self.observed_bytes += batch.nbytes
        if self.observed and (batch is None or self.observed_bytes >= PROFILE_BATCH_BYTES):
            assert self.profile is not None
            self.profile.update(pa.Table.from_batches(self.observed))
            self.observed, self.observed_bytes = [], 0

    def _open(self, schema: pa.Schema) -> Any:
        if self.fmt == "parquet":
            return pq.ParquetWriter(self.partial, schema)
        return pacsv.CSVWriter(
            self.partial,
            schema,
            write_options=pacsv.WriteOptions(include_header=self.header),
        )

    def _finish_thread(self) -> None:
        self.box.put(_END)
        self.thread.join()
        if self.sink is not None:
            self.sink.close()

    def close(self) -> None:
        self._finish_thread()
        if self.error is not None:
            self.partial.unlink(missing_ok=True)
            raise self.error
        if self.sink is None:  # an input without rows still gets its (empty) output
            self.partial.write_bytes(b"")
        self.partial.replace(self.target)

    def abort(self) -> None:
        self._finish_thread()
        self.partial.unlink(missing_ok=True)


class RejectLog:
    """``rejected.csv``: file, row, column, reason for every row not scored (``path`` None:
    only collect them)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.rows: list[Reject] = []

    def add(self, rejects: list[Reject]) -> None:
        self.rows.extend(rejects)

    def forget(self, file: str) -> None:
        self.rows = [r for r in self.rows if r.file != file]

    def close(self) -> None:
        if not self.rows or self.path is None:
            return
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(["file", "row", "column", "reason"])
            for r in sorted(self.rows, key=lambda r: (r.file, r.row)):
                out.writerow([r.file, r.row, r.column or "", r.reason])
