"""Batch transform through SageMaker inference handlers.

Run by path with the step's own Python (``python sagemaker_host.py``), which need not have
scoreline installed: this file imports only the standard library, plus numpy and joblib for
the default handlers, the way SageMaker's scikit-learn container provides them.

It loads the model with the entry point's ``model_fn`` (default: ``joblib.load`` of
``model.joblib``), then sends each input file's lines in mini-batches (``split_type: Line``,
``batch_strategy``, ``max_payload_mb``) through ``input_fn`` → ``predict_fn`` →
``output_fn``. With ``output_layout: sagemaker`` each input file ``F`` gets ``F.out`` holding
the handler's responses as they are (joined by newlines with ``assemble_with: Line``);
otherwise ``<stem>.csv`` holds one prediction per input line. Outputs are written under a
temporary name and renamed, and a model archive is checked against its expected sha256 before
it is unpacked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import sys
import tarfile
import time
import traceback
from pathlib import Path
from typing import Any

HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn")
ARCHIVE = "model.tar.gz"


class HostError(Exception):
    """A problem with the step's inputs or configuration: one line, no traceback."""


def _folder(kind: str, name: str) -> Path:
    value = os.environ.get(f"SCORELINE_{kind}_{name}")
    if not value:
        raise HostError(f"the step has no {kind.lower()} '{name.lower()}'")
    return Path(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_dir(source: Path, expected_sha256: str | None, work: Path) -> Path:
    """The folder ``model_fn`` receives: ``model.tar.gz`` verified and unpacked, as SageMaker
    unpacks it into ``/opt/ml/model``; or the model folder itself when it has no archive."""
    archive = source / ARCHIVE
    if not archive.is_file():
        if expected_sha256:
            raise HostError(
                f"the model folder has no {ARCHIVE} (expected sha256 {expected_sha256[:12]}…)"
            )
        return source
    if expected_sha256:
        actual = _sha256(archive)
        if actual != expected_sha256:
            raise HostError(
                f"{ARCHIVE} checksum mismatch: expected {expected_sha256[:12]}…, found "
                f"{actual[:12]}… (the registered model was changed after registration)"
            )
    target = work / "model"
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # Python < 3.11.4: refuse anything that leaves the folder
            for member in tar.getmembers():
                resolved = (target / member.name).resolve()
                if not (member.isfile() or member.isdir()) or target.resolve() not in (
                    resolved,
                    *resolved.parents,
                ):
                    raise HostError(f"unsafe entry '{member.name}' in {ARCHIVE}")
            tar.extractall(target)  # noqa: S202 (members checked above)
    return target


def load_entry_point(path: Path) -> Any:
    """Import the inference script as SageMaker does (its ``__main__`` block does not run)."""
    if not path.is_file():
        raise HostError(f"entry point '{path}' not found")
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


# --- the defaults of SageMaker's scikit-learn container ------------------------------------


def default_model_fn(model_dir: str) -> Any:
    import joblib  # in the step environment only

    path = Path(model_dir) / "model.joblib"
    if not path.is_file():
        raise HostError("the entry point has no model_fn and the model has no model.joblib")
    return joblib.load(path)


def default_input_fn(input_data: Any, content_type: str) -> Any:
    import numpy as np

    if content_type == "text/csv":
        text = input_data if isinstance(input_data, str) else input_data.decode("utf-8")
        return np.genfromtxt(io.StringIO(text), delimiter=",", dtype=float, ndmin=2)
    if content_type == "application/json":
        return np.asarray(json.loads(input_data))
    if content_type == "application/x-npy":
        return np.load(io.BytesIO(input_data), allow_pickle=False)
    raise HostError(f"the default input_fn does not read content type '{content_type}'")


def default_predict_fn(input_data: Any, model: Any) -> Any:
    return model.predict(input_data)


def default_output_fn(prediction: Any, accept: str) -> Any:
    import numpy as np

    array = np.asarray(prediction)
    if accept == "application/json":
        return json.dumps(array.tolist())
    if accept == "text/csv":
        rows = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
        return "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"
    if accept == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    raise HostError(f"the default output_fn does not write accept type '{accept}'")


DEFAULTS = {
    "model_fn": default_model_fn,
    "input_fn": default_input_fn,
    "predict_fn": default_predict_fn,
    "output_fn": default_output_fn,
}


# --- batching and writing ---------------------------------------------------------------


def data_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)
    )


def mini_batches(path: Path, config: dict[str, Any]) -> Any:
    """(first record number, record count, body bytes) for each request, in file order."""
    limit = int(float(config.get("max_payload_mb", 6)) * 1024 * 1024)
    if config.get("split_type", "Line") == "None":
        body = path.read_bytes()
        if len(body) > limit:
            raise HostError(
                f"{path.name} is {len(body)} bytes, over max_payload_mb; set split_type: Line"
            )
        yield 0, 1, body
        return
    single = config.get("batch_strategy", "MultiRecord") == "SingleRecord"
    lines: list[bytes] = []
    size = first = number = 0
    with path.open("rb") as handle:
        for line in handle:
            if not line.strip():
                continue
            if not line.endswith(b"\n"):
                line += b"\n"
            if len(line) > limit:
                raise HostError(f"{path.name} line {number + 1} is larger than max_payload_mb")
            if lines and (single or size + len(line) > limit):
                yield first, len(lines), b"".join(lines)
                lines, size, first = [], 0, number
            lines.append(line)
            size += len(line)
            number += 1
    if lines:
        yield first, len(lines), b"".join(lines)


def _as_bytes(response: Any) -> bytes:
    if isinstance(response, tuple):  # (body, content type), as the inference toolkit allows
        response = response[0]
    if isinstance(response, bytes):
        return response
    if isinstance(response, str):
        return response.encode("utf-8")
    return json.dumps(response).encode("utf-8")


def _prediction_lines(prediction: Any, count: int, where: str) -> bytes:
    import numpy as np

    array = np.asarray(prediction)
    array = array.reshape(len(array), -1) if array.ndim else array.reshape(1, 1)
    if len(array) != count:
        raise HostError(
            f"predict_fn returned {len(array)} predictions for {count} records ({where})"
        )
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in array).encode()


def transform(config: dict[str, Any], work: Path) -> dict[str, Any]:
    module = load_entry_point(Path(config["entry_point"]))
    handlers = {name: getattr(module, name, None) or DEFAULTS[name] for name in HANDLERS}
    used = {name: "script" if hasattr(module, name) else "default" for name in HANDLERS}
    folder = model_dir(_folder("INPUT", "MODEL"), config.get("model_sha256"), work)
    model = _call(handlers, "model_fn", "loading the model", str(folder))
    sagemaker_layout = config.get("output_layout") == "sagemaker"
    source, out = _folder("INPUT", "DATA"), _folder("OUTPUT", "PREDICTIONS")
    files, requests, records = [], 0, 0
    for path in data_files(source):
        relative = path.relative_to(source) if source.is_dir() else Path(path.name)
        name = f"{relative}.out" if sagemaker_layout else str(relative.with_suffix(".csv"))
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        answered, count = _answer_file(path, target, handlers, model, config)
        requests += answered
        records += count
        files.append({"input": str(relative), "output": name, "records": count})
    return {"rows": records, "requests": requests, "files": files, "handlers": used,
            "outputLayout": "sagemaker" if sagemaker_layout else "rows"}  # fmt: skip


def _answer_file(
    path: Path, target: Path, handlers: dict[str, Any], model: Any, config: dict[str, Any]
) -> tuple[int, int]:
    """Send one input file through the handlers into ``target`` (written under a temporary
    name, renamed when complete, removed on failure); returns (requests, records)."""
    content_type = config.get("content_type", "text/csv")
    accept = config.get("accept", "application/json")
    text_like = content_type.startswith("text/") or content_type == "application/json"
    separator = b"\n" if config.get("assemble_with") == "Line" else b""
    partial = target.with_name(f".{target.name}.partial")
    requests = records = 0
    try:
        with partial.open("wb") as sink:
            for first, size, body in mini_batches(path, config):
                where = f"{path.name}, records {first + 1}-{first + size}"
                request = body.decode("utf-8") if text_like else body
                data = _call(handlers, "input_fn", where, request, content_type)
                prediction = _call(handlers, "predict_fn", where, data, model)
                if config.get("output_layout") == "sagemaker":
                    response = _as_bytes(_call(handlers, "output_fn", where, prediction, accept))
                    sink.write(response)
                    if separator and not response.endswith(separator):
                        sink.write(separator)
                else:
                    sink.write(_prediction_lines(prediction, size, where))
                requests += 1
                records += size
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    return requests, records


def _call(handlers: dict[str, Any], name: str, where: str, *args: Any) -> Any:
    try:
        return handlers[name](*args)
    except HostError:
        raise
    except Exception as exc:
        traceback.print_exc()
        raise HostError(f"{name} raised {type(exc).__name__}: {str(exc)[:200]} ({where})") from None


def _write_metadata(data: dict[str, Any]) -> None:
    target = os.environ.get("SCORELINE_METADATA_FILE")
    if target:
        partial = f"{target}.partial"
        Path(partial).write_text(json.dumps(data), encoding="utf-8")
        os.replace(partial, target)


def main() -> None:
    config = json.loads(os.environ.get("SCORELINE_TASK_CONFIG", "{}"))
    started = time.perf_counter()
    try:
        result = transform(config, Path.cwd())
    except HostError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _write_metadata({"failureReason": str(exc)})
        sys.exit(1)
    seconds = time.perf_counter() - started
    result["seconds"] = round(seconds, 3)
    result["modelFlavor"] = "sagemaker"
    print(f"scored {result['rows']} records in {result['requests']} requests in {seconds:.2f} s")
    _write_metadata(result)


if __name__ == "__main__":
    main()
