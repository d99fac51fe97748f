"""Artifact store contract on both tiers (a local folder, a real S3-compatible server):
atomic commits, sha256 manifests, verified reads."""

from __future__ import annotations

import hashlib
from pathlib import Path

import fsspec
import pytest

from scoreline.artifacts import ArtifactStore, execution_key
from scoreline.errors import ArtifactError


def _folder(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True, exist_ok=True)
    (src / "a.csv").write_text("1,2\n")
    (src / "sub" / "b.json").write_text("{}")
    return src


def test_commit_records_sha256_and_fetch_verifies(tmp_path: Path, artifact_root: str) -> None:
    store = ArtifactStore(artifact_root)
    key = execution_key("e1", "Prep", "train")
    folder = store.commit_folder(_folder(tmp_path), key)
    assert folder.uri == f"{artifact_root}/executions/e1/Prep/train"
    assert {f.path: f.sha256 for f in folder.files} == {
        "a.csv": hashlib.sha256(b"1,2\n").hexdigest(),
        "sub/b.json": hashlib.sha256(b"{}").hexdigest(),
    }
    assert store.folder(folder.uri) == folder
    dest = tmp_path / "dest"
    store.fetch(folder.uri, dest)
    assert (dest / "sub" / "b.json").read_text() == "{}"

    fs, root = fsspec.core.url_to_fs(artifact_root)
    fs.pipe_file(f"{root}/{key}/a.csv", b"tampered")
    with pytest.raises(ArtifactError, match=r"sha256 mismatch for 'a\.csv'"):
        store.fetch(folder.uri, tmp_path / "again")


def test_outputs_are_never_overwritten_and_no_temporary_names_remain(
    tmp_path: Path, artifact_root: str
) -> None:
    store = ArtifactStore(artifact_root)
    store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    with pytest.raises(ArtifactError, match="already exists"):
        store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    store.put_bytes("executions/e1/S/logs/attempt-1.txt", b"log")
    fs, root = fsspec.core.url_to_fs(artifact_root)
    assert [p for p in fs.find(root) if ".tmp-" in p] == []


@pytest.mark.parametrize("artifact_root", ["s3"], indirect=True)
def test_a_folder_whose_commit_was_cut_short_can_be_committed_again(
    tmp_path: Path, artifact_root: str
) -> None:
    """On an object store, files without a manifest are an interrupted commit, not an output
    (a local commit is one rename, so it cannot be cut short)."""
    store = ArtifactStore(artifact_root)
    fs, root = fsspec.core.url_to_fs(artifact_root)
    fs.pipe_file(f"{root}/executions/e1/S/out/a.csv", b"half")
    folder = store.commit_folder(_folder(tmp_path), "executions/e1/S/out")
    assert store.read_bytes(f"{folder.uri}/a.csv") == b"1,2\n"


def test_put_is_atomic_when_the_write_fails(tmp_path: Path, artifact_root: str) -> None:
    store = ArtifactStore(artifact_root)
    store.put_bytes("x/data.bin", b"old")

    with pytest.raises(FileNotFoundError):
        store.put_file(tmp_path / "vanished.bin", "x/data.bin")
    assert store.read_bytes("x/data.bin") == b"old"
    fs, root = fsspec.core.url_to_fs(artifact_root)
    assert [Path(p).name for p in fs.ls(f"{root}/x", detail=False)] == ["data.bin"]


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
