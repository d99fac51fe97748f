"""Artifact store on a local folder: atomic commits, sha256 manifests, verified reads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scoreline.artifacts import ArtifactStore, execution_key
from scoreline.errors import ArtifactError


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.csv").write_text("1,2\n")
    (src / "sub" / "b.json").write_text("{}")
    return src


def test_commit_records_sha256_and_fetch_verifies(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    key = execution_key("e1", "Prep", "train")
    folder = store.commit_folder(_folder(tmp_path), key)
    assert folder.uri == f"{tmp_path}/artifacts/executions/e1/Prep/train"
    assert {f.path: f.sha256 for f in folder.files} == {
        "a.csv": hashlib.sha256(b"1,2\n").hexdigest(),
        "sub/b.json": hashlib.sha256(b"{}").hexdigest(),
    }
    assert store.folder(folder.uri) == folder
    dest = tmp_path / "dest"
    store.fetch(folder.uri, dest)
    assert (dest / "sub" / "b.json").read_text() == "{}"

    (tmp_path / "artifacts" / key / "a.csv").write_text("tampered")
    with pytest.raises(ArtifactError, match=r"sha256 mismatch for 'a\.csv'"):
        store.fetch(folder.uri, tmp_path / "again")


def test_outputs_are_never_overwritten_and_no_temporary_names_remain(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    with pytest.raises(ArtifactError, match="already exists"):
        store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    store.put_bytes("executions/e1/S/logs/attempt-1.txt", b"log")
    leftovers = [p for p in (tmp_path / "artifacts").rglob("*") if ".tmp-" in p.name]
    assert leftovers == []


def test_put_is_atomic_when_the_write_fails(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    store.put_bytes("x/data.bin", b"old")

    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "vanished.bin", "x/data.bin")
    assert store.read_bytes("x/data.bin") == b"old"
    assert [p.name for p in (tmp_path / "artifacts" / "x").iterdir()] == ["data.bin"]


def test_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    with pytest.raises(ArtifactError, match="stay under the root"):
        store.put_bytes("../outside.txt", b"x")


def test_fingerprint_follows_content(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "artifacts"))
    data = tmp_path / "in.csv"
    data.write_text("a")
    first = store.fingerprint(str(data))
    data.write_text("b")
    assert store.fingerprint(str(data)) != first
    with pytest.raises(ArtifactError, match="input not found"):
        store.fingerprint(str(tmp_path / "missing.csv"))
