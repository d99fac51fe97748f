"""Where a step may read from: the project folder, the artifact root, the locations of the
data-arrival triggers and the ``data_roots`` of ``scoreline.yaml``. Any other path or URI
(``/etc/passwd``, ``../../x.csv``, another bucket) is refused with one line, so an operator
cannot make the server read files outside what the project declares."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from scoreline.errors import ParameterError

ALIASES = {"s3a": "s3", "s3n": "s3"}


def _uri_parts(value: str) -> tuple[str, str] | None:
    """(scheme, normalised path) of a URI, or None for a local path."""
    if "://" not in value:
        return None
    parts = urlsplit(value)
    scheme = ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme == "file":
        return None
    path = posixpath.normpath(f"/{parts.netloc}/{parts.path.lstrip('/')}")
    return scheme, path


def _local(value: str, base: Path) -> Path:
    path = value.removeprefix("file://") if value.startswith("file://") else value
    return (base / Path(path).expanduser()).resolve()


class DataRoots:
    """The locations inputs may come from; relative paths are the project folder's."""

    def __init__(self, project_root: Path, roots: Iterable[str] = ()) -> None:
        self.project_root = project_root.resolve()
        self.folders: list[Path] = [self.project_root]
        self.prefixes: list[tuple[str, str]] = []
        self.shown: list[str] = [str(self.project_root)]
        for root in roots:
            if not root:
                continue
            uri = _uri_parts(root)
            if uri is None:
                self.folders.append(_local(root, self.project_root))
            else:
                self.prefixes.append(uri)
            self.shown.append(root)

    def resolve(self, value: str, where: str) -> str:
        """The absolute location of ``value``, or a ParameterError naming ``where`` when it is
        outside every root."""
        uri = _uri_parts(value)
        if uri is None:
            path = _local(value, self.project_root)
            if any(path.is_relative_to(folder) for folder in self.folders):
                return str(path)
        elif any(
            uri[0] == scheme and (uri[1] == prefix or uri[1].startswith(prefix.rstrip("/") + "/"))
            for scheme, prefix in self.prefixes
        ):
            return value
        raise ParameterError(
            f"'{value}' is outside the project and its data roots",
            where=where,
            hint="use a path inside the project, or add its folder or bucket to data_roots "
            "in scoreline.yaml",
        )
