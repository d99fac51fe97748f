"""The artifact store: bytes under one fsspec root (a local folder by default).

Every object is written under a temporary name and then renamed, so a reader never sees half
a file; a committed folder carries ``_manifest.json`` with the sha256 and size of each file,
written last, and reads verify against it. Execution outputs live under
``executions/<execution id>/<step>/<output>/``, so concurrent executions never share a path.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import fsspec

from scoreline.errors import ArtifactError, ConfigError, UnavailableError, first_line

MANIFEST = "_manifest.json"
CREDENTIAL_ERRORS = ("NoCredentialsError", "PartialCredentialsError", "ProfileNotFound")
"""botocore's errors for missing credentials, known by name so botocore is not imported."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredObject:
    """One stored file: where it is (relative to its folder), its sha256 and size."""

    path: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StoredFolder:
    """A committed folder: its URI, its files, and a fingerprint of its whole content."""

    uri: str
    files: tuple[StoredObject, ...]

    @property
    def sha256(self) -> str:
        digest = hashlib.sha256()
        for f in self.files:
            digest.update(f"{f.path}\0{f.sha256}\n".encode())
        return digest.hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "sha256": self.sha256, "files": [f.to_dict() for f in self.files]}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def execution_key(execution_id: str, step: str, *rest: str) -> str:
    """The per-execution prefix of a step: ``executions/<id>/<step>/...``."""
    return "/".join(["executions", execution_id, step, *rest])


PROTOCOL_ALIASES = {"s3a": "s3"}
"""URI schemes that name the same filesystem (Hadoop's ``s3a://`` is S3), so they share its
options."""

StorageOptions = Mapping[str, Mapping[str, Any]]
"""fsspec storage options by protocol, e.g. ``{"s3": {"endpoint_url": ...}}``."""


def filesystem(uri: str, options: StorageOptions | None = None) -> tuple[Any, str]:
    """The fsspec filesystem of ``uri`` (a path or a URI), with the options of its protocol,
    and the path within it."""
    protocol = uri.split("://", 1)[0] if "://" in uri else "file"
    protocol = PROTOCOL_ALIASES.get(protocol, protocol)
    try:
        return fsspec.core.url_to_fs(uri, **(options or {}).get(protocol, {}))  # type: ignore[no-any-return]
    except ImportError as exc:  # fsspec names the package its protocol needs
        raise ConfigError(
            str(exc), where=uri, hint="pip install 'scoreline[s3]'" if protocol == "s3" else None
        ) from None


class ArtifactStore:
    """Read and write artifacts under ``root`` (a folder path or an fsspec URI); ``options``
    configure the filesystems of its root and of the URIs it reads."""

    def __init__(self, root: str, options: StorageOptions | None = None) -> None:
        self.root = root.rstrip("/")
        self.options: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (options or {}).items()}
        self.fs, self._root_path = filesystem(self.root, self.options)
        self.is_local = "file" in _protocols(self.fs)
        if self.is_local:
            Path(self._root_path).mkdir(parents=True, exist_ok=True)

    def check_reachable(self) -> None:
        """Fail with one line, before anything starts, when a remote root cannot be used:
        its endpoint does not answer, its credentials are refused or its bucket is missing.
        A local root needs no check."""
        if self.is_local:
            return
        bucket = self._root_path.split("/", 1)[0]
        where = f"artifact root {self.root}"
        try:
            self.fs.info(bucket)
        except FileNotFoundError:
            raise UnavailableError(
                f"bucket '{bucket}' does not exist",
                where=where,
                hint="create it, or correct `artifacts` in scoreline.yaml / $SCORELINE_ARTIFACTS",
            ) from None
        except Exception as exc:  # PermissionError, or the client library's own errors
            if isinstance(exc, PermissionError) or type(exc).__name__ in CREDENTIAL_ERRORS:
                raise UnavailableError(
                    f"access denied ({first_line(exc)})",
                    where=where,
                    hint="check the credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or s3.profile in scoreline.yaml, for s3://; they must list the bucket",
                ) from None
            raise UnavailableError(
                f"cannot reach the artifact store ({first_line(exc)})",
                where=where,
                hint="check that it is running, and its endpoint: AWS_ENDPOINT_URL or "
                "s3.endpoint_url in scoreline.yaml, for s3://",
            ) from None

    def uri(self, key: str) -> str:
        """The URI of ``key`` under the root."""
        return f"{self.root}/{key.strip('/')}"

    # --- writing -------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store ``data`` at ``key`` atomically."""
        target = self._path(key)
        self._write_atomically(target, lambda tmp: self._write_bytes(tmp, data))
        return StoredObject(path=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data))

    def put_file(self, local: Path, key: str) -> StoredObject:
        """Copy a local file to ``key`` atomically."""
        target = self._path(key)
        self._write_atomically(target, lambda tmp: self.fs.put_file(str(local), tmp))
        return StoredObject(path=key, sha256=sha256_file(local), size=local.stat().st_size)

    def commit_folder(self, local: Path, key: str) -> StoredFolder:
        """Store the content of a local folder under ``key`` as one unit: files first, then
        the manifest. On a local root the folder appears at once by a rename."""
        files = tuple(
            StoredObject(
                path=rel, sha256=sha256_file(local / rel), size=(local / rel).stat().st_size
            )
            for rel in _relative_files(local)
        )
        manifest = json.dumps({"files": [f.to_dict() for f in files]}, indent=1).encode()
        target = self._path(key)
        if self.is_local:
            if os.path.exists(target):
                raise ArtifactError("already exists; outputs are never overwritten", where=target)
            tmp = f"{target}.tmp-{secrets.token_hex(4)}"
            try:
                shutil.copytree(local, tmp)
                (Path(tmp) / MANIFEST).write_bytes(manifest)
                os.rename(tmp, target)
            except BaseException:  # a full disk, an interrupt: nothing half-written stays
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        else:  # an object store has no rename: the manifest, written last, commits the folder
            if self.fs.exists(f"{target}/{MANIFEST}"):
                raise ArtifactError("already exists; outputs are never overwritten", where=target)
            for f in files:
                self.fs.put_file(str(local / f.path), f"{target}/{f.path}")
            self._write_bytes(f"{target}/{MANIFEST}", manifest)
        return StoredFolder(uri=self.uri(key), files=files)

    # --- reading -------------------------------------------------------------------------

    def read_bytes(self, uri_or_key: str) -> bytes:
        fs, path = self._resolve(uri_or_key)
        try:
            with fs.open(path, "rb") as handle:
                return handle.read()  # type: ignore[no-any-return]
        except FileNotFoundError:
            raise ArtifactError("artifact not found", where=uri_or_key) from None

    def exists(self, uri_or_key: str) -> bool:
        fs, path = self._resolve(uri_or_key)
        return bool(fs.exists(path))

    def folder(self, uri: str) -> StoredFolder:
        """A committed folder with its manifest."""
        data = json.loads(self.read_bytes(f"{uri.rstrip('/')}/{MANIFEST}"))
        return StoredFolder(uri=uri, files=tuple(StoredObject(**f) for f in data["files"]))

    def fetch(self, uri: str, dest: Path) -> None:
        """Copy a file or folder (any fsspec URI or local path) into the local folder ``dest``,
        verifying sha256 against the manifest of a committed folder."""
        fs, path = self._resolve(uri)
        dest.mkdir(parents=True, exist_ok=True)
        if not fs.exists(path):
            raise ArtifactError(
                "input not found", where=uri, hint="check the path or the parameter that gives it"
            )
        if not fs.isdir(path):
            fs.get_file(path, str(dest / Path(path).name))
            return
        manifest_path = f"{path.rstrip('/')}/{MANIFEST}"
        if fs.exists(manifest_path):
            folder = StoredFolder(
                uri=uri,
                files=tuple(
                    StoredObject(**f) for f in json.loads(fs.cat_file(manifest_path))["files"]
                ),
            )
            for f in folder.files:
                local = dest / f.path
                local.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(f"{path.rstrip('/')}/{f.path}", str(local))
                if sha256_file(local) != f.sha256:
                    raise ArtifactError(
                        f"sha256 mismatch for '{f.path}'",
                        where=uri,
                        hint="the stored artifact was changed after it was written",
                    )
        else:
            for src in fs.find(path):
                rel = os.path.relpath(src, path)
                local = dest / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                fs.get_file(src, str(local))

    def fingerprint(self, uri: str) -> str:
        """A sha256 of the content at ``uri`` (file or folder), for cache keys."""
        fs, path = self._resolve(uri)
        if not fs.exists(path):
            raise ArtifactError("input not found", where=uri)
        if fs.isdir(path):
            manifest_path = f"{path.rstrip('/')}/{MANIFEST}"
            if fs.exists(manifest_path):
                return self.folder(uri).sha256
            digest = hashlib.sha256()
            for src in sorted(fs.find(path)):
                digest.update(os.path.relpath(src, path).encode() + b"\0")
                digest.update(_hash_stream(fs, src).encode())
            return digest.hexdigest()
        return _hash_stream(fs, path)

    def sweep_partial(self, prefix: str) -> int:
        """Remove what a process killed while writing left under ``prefix`` (a local root's
        ``*.tmp-*`` files and folders); returns how many. On an object store a folder is
        committed by its manifest, written last, so a partial one is never read."""
        if not self.is_local:
            return 0
        removed = 0
        for partial in Path(self._path(prefix)).glob("**/*.tmp-*"):
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            removed += 1
        return removed

    def digests(self, uris: dict[str, str]) -> dict[str, str]:
        """The fingerprint of each artifact, to record now and :meth:`verify` on use."""
        return {name: self.fingerprint(uri) for name, uri in uris.items()}

    def verify(self, uri: str, expected: str, what: str) -> None:
        """Raise when the content at ``uri`` is no longer what was recorded as ``what``."""
        actual = self.fingerprint(uri)
        if actual != expected:
            raise ArtifactError(
                f"sha256 mismatch: {what} changed after it was recorded "
                f"(expected {expected[:12]}…, found {actual[:12]}…)",
                where=uri,
                hint="restore the original files, or register a new version",
            )

    # --- internals -----------------------------------------------------------------------

    def _path(self, key: str) -> str:
        if ".." in Path(key).parts or key.startswith("/"):
            raise ArtifactError("artifact keys must be relative and stay under the root", where=key)
        return f"{self._root_path.rstrip('/')}/{key.strip('/')}"

    def _resolve(self, uri_or_key: str) -> tuple[Any, str]:
        if "://" in uri_or_key or uri_or_key.startswith("/"):
            return filesystem(uri_or_key, self.options)
        return self.fs, self._path(uri_or_key)

    def _write_bytes(self, path: str, data: bytes) -> None:
        with self.fs.open(path, "wb") as handle:
            handle.write(data)

    def _write_atomically(self, target: str, write: Any) -> None:
        if not self.is_local:
            write(target)  # an object store PUT is atomic already
            return
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{target}.tmp-{secrets.token_hex(4)}"
        try:
            write(tmp)
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return tuple(protocol) if isinstance(protocol, tuple | list) else (protocol,)


def _relative_files(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield path.relative_to(root).as_posix()


def _hash_stream(fs: Any, path: str) -> str:
    digest = hashlib.sha256()
    with fs.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
