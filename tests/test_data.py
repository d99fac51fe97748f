"""Readers, fitted preprocessing and the batch transform, on real files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import xgboost as xgb

from scoreline.data import io
from scoreline.data.flavors import load_model, model_digest
from scoreline.data.io import TableSpec, line_shares, read_table
from scoreline.data.preprocess import Preprocessor
from scoreline.data.transform import TransformOptions, batch_transform, join_parts, score_region
from scoreline.errors import ArtifactError, DataError
from scoreline.examples import ABALONE_COLUMNS

ABALONE = Path(__file__).resolve().parents[1] / "src/scoreline/examples/abalone/data"
COLUMNS = list(ABALONE_COLUMNS)
KINDS = dict.fromkeys(COLUMNS, "numeric") | {"sex": "categorical"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Preprocessor, Path]:
    """Preprocessing fitted on the Abalone training rows and a small XGBoost model."""
    table = read_table(ABALONE / "training-data.csv", TableSpec(COLUMNS, KINDS))
    pre = Preprocessor.fit(table, COLUMNS[1:8], ["sex"], target="rings")
    booster = xgb.train(
        {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0},
        xgb.DMatrix(pre.encode(table).matrix, label=table.column("rings").to_numpy()),
        num_boost_round=20,
    )
    model_dir = tmp_path_factory.mktemp("model")
    booster.save_model(str(model_dir / "model.json"))
    return pre, model_dir


def _options(pre: Preprocessor, **kwargs: object) -> TransformOptions:
    return TransformOptions(spec=pre.input_spec(), **kwargs)  # type: ignore[arg-type]


def _predictions(path: Path) -> list[float | None]:
    return [float(v) if v else None for v in path.read_text().splitlines()]


def test_preprocessing_is_fitted_once_and_round_trips(
    fitted: tuple[Preprocessor, Path], tmp_path: Path
) -> None:
    pre, _ = fitted
    assert pre.feature_names[-3:] == ["sex_F", "sex_I", "sex_M"]
    saved = Preprocessor.load(pre.save(tmp_path))
    assert saved == pre
    assert json.loads((tmp_path / "preprocessing.json").read_text())["format"] == (
        "scoreline.preprocessing/v1"
    )
    # One sex value only: the encoded width and values do not change (no refitting).
    only_m = pa.table({"sex": ["M", "M"], **{c: [0.5, 0.6] for c in COLUMNS[1:8]}})
    matrix = saved.encode(only_m).matrix
    assert matrix.shape == (2, 10)
    assert matrix[:, -3:].tolist() == [[0, 0, 1], [0, 0, 1]]


def test_missing_numbers_take_the_training_median(fitted: tuple[Preprocessor, Path]) -> None:
    pre, _ = fitted
    row = pa.table({"sex": ["F"], **{c: pa.array([None], pa.float64()) for c in COLUMNS[1:8]}})
    assert np.allclose(
        pre.encode(row).matrix[0, :7],
        [
            (f.median - f.mean) / f.scale
            for f in pre.features[:7]  # type: ignore[union-attr]
        ],
    )


def test_transform_keeps_input_order_across_chunks(
    fitted: tuple[Preprocessor, Path], tmp_path: Path
) -> None:
    pre, model_dir = fitted
    model = load_model(model_dir, sha256=model_digest(model_dir))
    out = tmp_path / "out"
    report = batch_transform(
        ABALONE / "inference-data.csv", model, pre, out, _options(pre, chunk_bytes=4096)
    )
    assert report.rows == report.scored == 4177
    predicted = np.array(_predictions(out / "inference-data.csv"))
    raw = read_table(ABALONE / "inference-data.csv", pre.input_spec())
    expected = model.predict(pre.encode(raw).matrix)
    assert np.allclose(predicted, expected, atol=1e-4)


def test_parquet_in_parquet_out_with_an_id_column(
    fitted: tuple[Preprocessor, Path], tmp_path: Path
) -> None:
    pre, model_dir = fitted
    raw = read_table(ABALONE / "inference-data.csv", pre.input_spec())
    raw = raw.append_column("id", pa.array([f"row-{i}" for i in range(raw.num_rows)]))
    raw = raw.set_column(0, "sex", raw.column("sex").cast(pa.string()))
    source = tmp_path / "in"
    source.mkdir()
    pq.write_table(raw.slice(0, 2000), source / "part-0.parquet")
    pq.write_table(raw.slice(2000), source / "part-1.parquet")
    spec = TableSpec([*pre.input_spec().columns, "id"], pre.input_spec().kinds)
    report = batch_transform(
        source, load_model(model_dir), pre, tmp_path / "out", TransformOptions(spec, id_column="id")
    )
    assert [f["rows"] for f in report.files] == [2000, 2177]
    second = pq.read_table(tmp_path / "out" / "part-1.parquet")
    assert second.column_names == ["id", "prediction"]
    assert second.column("id")[0].as_py() == "row-2000"


BAD_ROWS = (
    "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\n"
    "X,0.4,0.3,0.1,0.5,0.2,0.1,0.15\n"
    "M,0.4,abc,0.1,0.5,0.2,0.1,0.15\n"
    "M,0.4,0.3\n"
    "F,,0.3,0.1,0.5,0.2,0.1,0.15\n"
)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\nX,0.4,0.3,0.1,0.5,0.2,0.1,0.15\n",
            "bad.csv, row 2, column 'sex': unknown category 'X'",
        ),
        (
            "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\nM,0.4,abc,0.1,0.5,0.2,0.1,0.15\n",
            "bad.csv, row 2, column 'diameter': 'abc' is not a number",
        ),
        (
            "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\n" * 3 + "M,0.4,0.3\n",
            "bad.csv, row 4: expected 8 columns, found 3",
        ),
        (
            "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\nM,0.4,0.3,inf,0.5,0.2,0.1,0.15\n",
            "bad.csv, row 2, column 'height': 'inf' is not a finite number",
        ),
        (
            "M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\nM,0.4,0.3,0.1,0.5,0.2,0.1,-Infinity\n",
            "bad.csv, row 2, column 'shell_weight': '-inf' is not a finite number",
        ),
        (
            b"M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\n\xe9,0.4,0.3,0.1,0.5,0.2,0.1,0.15\n",
            "bad.csv, row 2, column 'sex': holds bytes that are not UTF-8 text",
        ),
        (
            'M,0.4,0.3,0.1,0.5,0.2,0.1,0.15\nM,"0.4' + "9" * (1 << 21) + "\n",
            "bad.csv, row 2: a field is longer than 1048576 characters",
        ),
    ],
)
def test_a_malformed_row_is_named_by_file_row_and_column(
    fitted: tuple[Preprocessor, Path], tmp_path: Path, rows: str | bytes, message: str
) -> None:
    pre, model_dir = fitted
    if isinstance(rows, bytes):
        (tmp_path / "bad.csv").write_bytes(rows)
    else:
        (tmp_path / "bad.csv").write_text(rows)
    with pytest.raises(DataError) as caught:
        batch_transform(
            tmp_path / "bad.csv", load_model(model_dir), pre, tmp_path / "out", _options(pre)
        )
    line = caught.value.line()
    assert line.startswith(message) or line.startswith(f"{tmp_path}/{message}"), line
    assert not list((tmp_path / "out").glob("*.csv")), "nothing is half-written"


def test_rejected_rows_keep_their_place_and_the_rest_is_scored(
    fitted: tuple[Preprocessor, Path], tmp_path: Path
) -> None:
    pre, model_dir = fitted
    (tmp_path / "bad.csv").write_text(BAD_ROWS)
    report = batch_transform(
        tmp_path / "bad.csv",
        load_model(model_dir),
        pre,
        tmp_path / "out",
        _options(pre, on_error="reject"),
    )
    assert (report.rows, report.scored, report.rejected) == (5, 2, 3)
    predictions = _predictions(tmp_path / "out" / "bad.csv")
    assert [p is None for p in predictions] == [False, True, True, True, False]
    rejected = list(pacsv.read_csv(tmp_path / "out" / "rejected.csv").to_pylist())
    assert [(r["row"], r["column"] or None) for r in rejected] == [
        (2, "sex"),
        (3, "diameter"),
        (4, None),
    ]


def test_a_changed_model_file_is_refused(fitted: tuple[Preprocessor, Path], tmp_path: Path) -> None:
    _, model_dir = fitted
    digest = model_digest(model_dir)
    copy = tmp_path / "model"
    copy.mkdir()
    (copy / "model.json").write_text((model_dir / "model.json").read_text().replace("0", "1", 1))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(copy, sha256=digest)


def test_a_folder_without_a_safe_model_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"not loaded")
    with pytest.raises(ArtifactError, match="pickle is not accepted"):
        load_model(tmp_path)


@pytest.mark.parametrize("header", [False, True])
def test_shares_scored_apart_and_joined_equal_the_whole_file(
    fitted: tuple[Preprocessor, Path], tmp_path: Path, header: bool
) -> None:
    """What a cluster does with one file: line-aligned shares, one part each, joined in order;
    a bad row is still named by its row number in the whole file."""
    pre, model_dir = fitted
    lines = (ABALONE / "inference-data.csv").read_text().splitlines() * 12  # ~2.3 MB
    bad_row, unknown_row = len(lines) - 100, len(lines) - 150
    lines[bad_row] = lines[bad_row].replace(lines[bad_row].split(",")[2], "oops", 1)
    lines[unknown_row] = "Q" + lines[unknown_row][1:]  # a sex the preprocessing never saw
    text = ("sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,"
            "shell_weight\n" if header else "") + "\n".join(lines) + "\n"  # fmt: skip
    source = tmp_path / "big.csv"
    source.write_text(text)
    options = TransformOptions(spec=pre.input_spec(header=header), on_error="reject")
    model = load_model(model_dir)
    whole = batch_transform(source, model, pre, tmp_path / "whole", options)

    shares = line_shares(source, 4)
    assert len(shares) == 4
    assert [s.start for s in shares[1:]] == [s.end for s in shares[:-1]]
    assert all(text.encode()[s.start - 1 : s.start] == b"\n" for s in shares[1:])
    parts = [tmp_path / f"part-{k}" for k in range(4)]
    regions = [
        score_region(source, share, part, model, pre, options)
        for share, part in zip(shares, parts, strict=True)
    ]
    join_parts(parts, tmp_path / "joined.csv")
    assert (tmp_path / "joined.csv").read_bytes() == (tmp_path / "whole" / "big.csv").read_bytes()
    assert sum(r.rows for r in regions) == whole.rows == len(lines)
    rejects = sorted((x.row, x.column) for r in regions for x in r.rejects)
    assert rejects == [(unknown_row + 1 + header, "sex"), (bad_row + 1 + header, "diameter")]

    clean = tmp_path / "clean.csv"
    clean.write_text(text.replace("oops", "0.1").replace("\nQ", "\nM"))
    io._lines_before.cache_clear()
    for k, share in enumerate(line_shares(clean, 4)):
        score_region(clean, share, tmp_path / f"clean-{k}", model, pre, options)
    assert io._lines_before.cache_info().misses == 0, "rows are counted only for a row number"


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_parts_join_in_order_with_or_without_a_kernel_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    if not kernel_copy:  # e.g. parts on another file system: EXDEV

        def refuse(*_: object) -> int:
            raise OSError(18, "Invalid cross-device link")

        monkeypatch.setattr(os, "copy_file_range", refuse)
    contents = [b"1.5\n2.5\n", b"", b"3.5\n" * 100_000, b"4.5\n"]
    parts = []
    for k, content in enumerate(contents):
        parts.append(tmp_path / f"part-{k}")
        parts[-1].write_bytes(content)
    join_parts(parts, tmp_path / "joined.csv")
    assert (tmp_path / "joined.csv").read_bytes() == b"".join(contents)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["joined.csv"]


def test_progress_counts_every_scored_and_profiled_row_and_estimates_the_total(
    fitted: tuple[Preprocessor, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scoreline.monitoring.dataset import profile_data
    from scoreline.runners.common import Progress, estimate_rows

    pre, model_dir = fitted
    model = load_model(model_dir, sha256=model_digest(model_dir))
    source = ABALONE / "inference-data.csv"  # headerless, 4177 rows
    big = tmp_path / "big" / "rows.csv"
    big.parent.mkdir()
    big.write_text("\n".join(["a,b"] + [f"{i},{i * 7 % 1000}" for i in range(200_000)]) + "\n")
    table = pacsv.read_csv(big)
    pq.write_table(table, tmp_path / "rows.parquet")

    assert estimate_rows([source], header=False) == (4177, False)
    total, estimated = estimate_rows([big], header=True)
    assert estimated
    assert abs(total - 200_000) / 200_000 < 0.02
    assert estimate_rows([tmp_path / "rows.parquet"], header=False) == (200_000, False)

    report = tmp_path / "progress.json"
    monkeypatch.setenv("SCORELINE_PROGRESS_FILE", str(report))
    progress = Progress("rows", 4177, every=0.0)
    scored = batch_transform(
        source, model, pre, tmp_path / "out", _options(pre, chunk_bytes=4096, on_rows=progress.add)
    )
    written = json.loads(report.read_text())
    assert written["done"] == scored.rows == 4177
    assert (written["unit"], written["total"], written["estimated"]) == ("rows", 4177, False)
    assert list(tmp_path.glob(".progress*")) == [], "written atomically, nothing left over"

    profiled: list[int] = []
    profile_data(big.parent, header=True, on_rows=profiled.append)
    assert sum(profiled) == 200_000
