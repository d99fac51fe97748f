"""Container paths: a step's hard-coded folders (SageMaker's ``/opt/ml/processing/...``)
bound to its own working folders in a private mount namespace.

The executor wraps the step's command as
``unshare --mount [--map-root-user] -- python -m scoreline.engine.mounts SPEC -- COMMAND``.
Inside the new namespace this module binds every host folder of ``SPEC`` (a JSON list of
``[container_path, host_folder]``) onto its container path, then replaces itself with the
command, so the step keeps the executor's process id. Mounts vanish with the namespace: the
host never sees them, and two steps running at once each see only their own folders.

A container path whose parent folders do not exist (``/opt/ml`` on most machines) is made
without touching the host: its nearest existing ancestor is shadowed by a staging folder that
re-binds each of the ancestor's entries and adds the missing folders.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import PurePosixPath

MS_BIND = 0x1000
MS_REC = 0x4000
STAGING_FOLDER = ".container-root"


@cache
def namespace_command() -> tuple[list[str] | None, str]:
    """The ``unshare`` arguments that work on this machine, or None and the reason why not.

    As root a plain mount namespace is enough; otherwise (or when root lacks the capability,
    as in some containers) a user namespace maps the caller to root inside it."""
    if sys.platform != "linux":
        return None, f"mount namespaces are a Linux feature (this is {sys.platform})"
    unshare = shutil.which("unshare")
    if unshare is None:
        return None, "util-linux 'unshare' is not installed"
    attempts = [[unshare, "--mount"]] if os.geteuid() == 0 else []
    attempts.append([unshare, "--mount", "--map-root-user"])
    reason = ""
    for attempt in attempts:
        probe = subprocess.run(
            [*attempt, "--propagation", "private", "true"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            return [*attempt, "--propagation", "private"], ""
        reason = (probe.stderr.strip().splitlines() or ["unshare failed"])[-1]
    return None, f"'unshare' cannot create a mount namespace here ({reason})"


def wrap(command: list[str], mapping: dict[str, str], prefix: list[str]) -> list[str]:
    """``command`` run inside a namespace (``prefix`` from :func:`namespace_command`) in
    which each container path of ``mapping`` shows its host folder."""
    spec = json.dumps(sorted(mapping.items()))
    return [*prefix, "--", sys.executable, "-m", __name__, spec, "--", *command]


class _Libc:
    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)

    def bind(self, source: str, target: str, recursive: bool) -> None:
        flags = MS_BIND | (MS_REC if recursive else 0)
        if self.libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"cannot bind {source} onto {target}: {os.strerror(errno)}")


def _nearest_existing(path: str) -> str:
    current = PurePosixPath(path)
    while not os.path.lexists(current):
        current = current.parent
    return str(current)


def _shadow(libc: _Libc, real: str, stage: str, missing: list[str]) -> None:
    """Make ``real`` show its own entries plus the ``missing`` relative folders."""
    os.makedirs(stage)
    with os.scandir(real) as entries:
        for entry in entries:
            target = os.path.join(stage, entry.name)
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir():
                os.mkdir(target)
                libc.bind(entry.path, target, recursive=True)
            else:
                open(target, "w").close()  # a mount point for the file
                libc.bind(entry.path, target, recursive=False)
    for relative in missing:
        os.makedirs(os.path.join(stage, relative), exist_ok=True)
    libc.bind(stage, real, recursive=True)


def mount_all(mapping: list[tuple[str, str]], staging: str) -> None:
    """Bind every host folder onto its container path (inside a private namespace only)."""
    libc = _Libc()
    shutil.rmtree(staging, ignore_errors=True)  # mount points of an earlier attempt
    shadows: dict[str, list[str]] = {}
    for container, _ in mapping:
        existing = _nearest_existing(container)
        if existing == "/":
            raise OSError(f"cannot map {container}: its top folder does not exist on this host")
        if existing != container:
            shadows.setdefault(existing, []).append(os.path.relpath(container, existing))
        elif not os.path.isdir(container):
            raise OSError(f"cannot map {container}: it is a file on this host")
    for number, real in enumerate(sorted(shadows, key=lambda p: p.count("/"))):
        _shadow(libc, real, os.path.join(staging, str(number)), shadows[real])
    for container, host in mapping:
        libc.bind(host, container, recursive=True)


def main(argv: list[str]) -> None:
    """``SPEC -- COMMAND``: mount, then become the command."""
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: python -m scoreline.engine.mounts SPEC -- COMMAND...")
    mapping = [(str(c), str(h)) for c, h in json.loads(argv[0])]
    try:
        mount_all(mapping, os.path.join(os.getcwd(), STAGING_FOLDER))
    except OSError as exc:
        print(f"error: container paths: {exc}", file=sys.stderr)
        sys.exit(70)
    command = argv[2:]
    os.execvp(command[0], command)  # noqa: S606 (the step's own command, as given)


if __name__ == "__main__":
    main(sys.argv[1:])
