"""Folders as ``.tar.gz`` files that are the same bytes for the same content, so their sha256
identifies a model the way SageMaker's ``model.tar.gz`` does."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path


def _normalised(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(folder: Path, name: str) -> Path:
    """Pack every file of ``folder`` (except ``name`` itself) into ``folder/name``, written
    under a temporary name and renamed; entries are sorted and their times zeroed."""
    target = folder / name
    partial = folder / f".{name}.partial"
    members = sorted(p for p in folder.rglob("*") if p.is_file() and p not in (target, partial))
    with partial.open("wb") as raw:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for path in members:
                tar.add(path, arcname=path.relative_to(folder).as_posix(), filter=_normalised)
        raw.flush()
        os.fsync(raw.fileno())
    partial.replace(target)
    return target
