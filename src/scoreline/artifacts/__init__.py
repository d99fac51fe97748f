"""The artifact store: bytes, written atomically, with sha256 recorded."""

from scoreline.artifacts.archive import write_archive
from scoreline.artifacts.store import (
    ArtifactStore,
    StoredFolder,
    StoredObject,
    execution_key,
    sha256_file,
)

__all__ = [
    "ArtifactStore",
    "StoredFolder",
    "StoredObject",
    "execution_key",
    "sha256_file",
    "write_archive",
]
