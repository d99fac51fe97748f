"""Executors run a :class:`Task` and return a :class:`TaskResult`; they never touch the
metadata store. Executors are pluggable by short name (DESIGN §3 rule 4)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from scoreline import plugins
from scoreline.artifacts import ArtifactStore, write_archive
from scoreline.engine import mounts, stepenv
from scoreline.engine.pyenvs import step_python
from scoreline.engine.tasks import MODEL_ARCHIVE, STEP_PYTHON, STEP_PYTHON_ENV, Task, TaskResult
from scoreline.errors import (
    ConfigError,
    ScorelineError,
    StepError,
    disk_full,
    first_line,
    nearly_full,
    no_space,
)
from scoreline.settings import ExecutorSettings

LOG_TAIL_LINES = 40
METADATA_FILE = "metadata.json"
PROGRESS_FILE = "progress.json"
PROGRESS_SECONDS = 0.5
STOP_GRACE_SECONDS = 10.0

ProgressCallback = Callable[[dict[str, Any]], None]


class Executor(Protocol):
    """Runs tasks. ``on_process`` is called with a description of the started process;
    ``on_progress``, where the executor can see it, with what the step last reported in
    its progress file (rows scored, trials done...)."""

    def run(
        self,
        task: Task,
        cancel: threading.Event,
        on_process: Callable[[str], None],
        on_progress: ProgressCallback | None = None,
    ) -> TaskResult: ...


def executor_for(settings: ExecutorSettings) -> Executor:
    """The executor ``scoreline.yaml`` (or ``$SCORELINE_RAY_ADDRESS``) asks for."""
    address = settings.ray_address
    if address is None:
        return LocalExecutor(
            mount_namespaces=settings.mount_namespaces,
            die_with_parent=True,
            pass_environment=tuple(settings.pass_environment),
        )
    cls: Any = executor_class("ray")
    return cls(  # type: ignore[no-any-return]
        address,
        mount_namespaces=settings.mount_namespaces,
        pass_environment=tuple(settings.pass_environment),
    )


def executor_class(kind: str) -> type[Executor]:
    """The executor class registered as ``kind``."""
    cls: type[Executor] = plugins.load(
        "executors", kind, ConfigError, "scoreline.yaml: executor.kind"
    )
    return cls


class LocalExecutor:
    """Runs each task as a subprocess in its own process group on this machine.

    ``mount_namespaces="off"`` refuses steps with container paths instead of binding them
    in a private mount namespace (for machines or policies that do not allow namespaces).
    ``die_with_parent`` has the kernel kill a step whose executor process dies (where
    util-linux's ``setpriv`` is installed): a killed orchestrator leaves no step running on
    (whose side effects a retry would repeat), and a Ray worker's orphans, which recovery
    could not find from the orchestrator's host, end with it. ``pass_environment`` names the
    variables of this process a step also gets (see :mod:`scoreline.engine.stepenv`)."""

    def __init__(
        self,
        hostname: str = "",
        mount_namespaces: str = "auto",
        die_with_parent: bool = False,
        pass_environment: tuple[str, ...] = (),
    ) -> None:
        self.hostname = hostname or os.uname().nodename
        self.mount_namespaces = mount_namespaces
        self.die_with_parent = die_with_parent
        self.pass_environment = pass_environment

    def run(
        self,
        task: Task,
        cancel: threading.Event,
        on_process: Callable[[str], None],
        on_progress: ProgressCallback | None = None,
    ) -> TaskResult:
        work = Path(task.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        log_path = work / "log.txt"
        artifacts = ArtifactStore(task.artifact_root, task.storage_options)
        try:
            namespace = self._namespace(task)
            python, python_record = step_python(task.python)
        except ScorelineError as exc:
            return TaskResult(outcome="failed", failure_reason=exc.line(), error_source="user")
        try:
            self._stage(task, artifacts)
        except ScorelineError as exc:
            return TaskResult(
                outcome="failed", failure_reason=f"input staging failed: {exc}", error_source="user"
            )
        except Exception as exc:  # scoreline's own fault, kept apart from the user's
            return TaskResult(
                outcome="failed",
                failure_reason=f"scoreline error: {exc!r}",
                error_detail=traceback.format_exc(),
                error_source="system",
            )
        command = [python if part == STEP_PYTHON else part for part in task.command]
        if task.container_paths:
            command = mounts.wrap(command, task.container_paths, namespace)
        setpriv = shutil.which("setpriv") if self.die_with_parent else None
        if setpriv:
            command = [setpriv, "--pdeathsig", "KILL", "--", *command]
        env = {
            **stepenv.inherited(self.pass_environment),
            **task.environment,
            STEP_PYTHON_ENV: python,
            "SCORELINE_STEP_TOKEN": task.token,
            "PYTHONUNBUFFERED": "1",
        }
        progress = _ProgressWatch(work / PROGRESS_FILE, on_progress)
        outcome, exit_code = self._execute(
            task, command, env, log_path, cancel, on_process, progress
        )
        secrets = stepenv.secret_values(env)
        stepenv.mask_file(log_path, secrets)
        try:
            log_uri = self._store_log(artifacts, task, log_path)
        except Exception:  # the artifact store is down: outputs cannot be kept either
            log_uri = None
        tail = stepenv.mask(_tail(log_path), secrets)
        metadata = _read_metadata(work / METADATA_FILE)
        if isinstance(metadata.get("failureReason"), str):
            metadata["failureReason"] = stepenv.mask(metadata["failureReason"], secrets)
        if task.python:
            metadata["pythonEnvironment"] = python_record
        if outcome == "stopped":
            return TaskResult(
                outcome="stopped",
                log_uri=log_uri,
                exit_code=exit_code,
                failure_reason="stopped on request",
                error_detail=tail,
            )
        if outcome == "timeout" or exit_code != 0:
            reason = (
                f"timed out after {task.timeout_seconds:g} s"
                if outcome == "timeout"
                else metadata.pop("failureReason", None)
                or f"script exited with code {exit_code}: {_last_line(tail) or 'no output'}"
            )
            # The machine's fault, not the script's (with no room, even its traceback may
            # not have reached the log).
            full = disk_full(tail) or nearly_full(work)
            if full:
                reason = f"{no_space('the work folder', work)}: {reason}"
            return TaskResult(
                outcome="failed",
                log_uri=log_uri,
                exit_code=exit_code,
                failure_reason=as_given(str(reason), work, task.inputs),
                error_detail=tail,
                error_source="system" if full else "user",
                metadata=metadata,
            )
        try:
            for name in task.archive_outputs:
                write_archive(work / "output" / name, MODEL_ARCHIVE)
            outputs = {
                name: artifacts.commit_folder(work / "output" / name, key).to_dict()
                for name, key in task.outputs.items()
            }
            result = TaskResult(
                outcome="succeeded",
                outputs=outputs,
                log_uri=log_uri,
                exit_code=exit_code,
                metadata=metadata,
            )
            if task.result_key:  # last: it says that every output is committed
                artifacts.put_bytes(task.result_key, json.dumps(asdict(result)).encode())
        except Exception as exc:
            if artifacts.is_local and disk_full(str(exc)):  # copytree lists every file
                root = no_space("the artifact root", Path(artifacts.root))
                why = f"{root}: {os.strerror(errno.ENOSPC)}"
            else:
                why = (
                    f"the artifact store {artifacts.root} could not store the step's results: "
                    f"{first_line(exc)}"
                )
            return TaskResult(
                outcome="failed",
                log_uri=log_uri,
                exit_code=exit_code,
                failure_reason=f"{why} (retry the execution once it answers)",
                error_detail=traceback.format_exc(),
                error_source="system",
            )
        return result

    def _namespace(self, task: Task) -> list[str]:
        """The ``unshare`` prefix for a task with container paths (fails before it runs)."""
        if not task.container_paths:
            return []
        paths = ", ".join(sorted(task.container_paths))
        if self.mount_namespaces == "off":
            raise StepError(
                f"the script uses container paths ({paths}) but mount namespaces are off",
                hint="set executor.mount_namespaces: auto in scoreline.yaml, or have the "
                "script read SCORELINE_INPUT_<NAME> / SCORELINE_OUTPUT_<NAME> instead",
            )
        prefix, reason = mounts.namespace_command()
        if prefix is None:
            raise StepError(
                f"the script uses container paths ({paths}) but {reason}",
                hint="on Linux, install util-linux and run as root or allow unprivileged user "
                "namespaces (sysctl kernel.unprivileged_userns_clone=1), or have the script "
                "read SCORELINE_INPUT_<NAME> / SCORELINE_OUTPUT_<NAME> instead",
            )
        return prefix

    def _stage(self, task: Task, artifacts: ArtifactStore) -> None:
        work = Path(task.work_dir)
        for name, uri in task.inputs.items():
            artifacts.fetch(uri, work / "input" / name)
        for name in task.outputs:
            (work / "output" / name).mkdir(parents=True, exist_ok=True)

    def _execute(
        self,
        task: Task,
        command: list[str],
        env: dict[str, str],
        log_path: Path,
        cancel: threading.Event,
        on_process: Callable[[str], None],
        progress: _ProgressWatch,
    ) -> tuple[str, int | None]:
        deadline = time.monotonic() + task.timeout_seconds if task.timeout_seconds else None
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command,
                cwd=task.cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            on_process(f"{self.hostname}:{proc.pid}")
            while True:
                try:
                    return "exited", proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
                progress.check()
                if cancel.is_set():
                    return "stopped", _terminate(proc)
                if deadline is not None and time.monotonic() > deadline:
                    return "timeout", _terminate(proc)

    def _store_log(self, artifacts: ArtifactStore, task: Task, log_path: Path) -> str | None:
        if not log_path.exists() or not task.log_key:
            return None
        artifacts.put_file(log_path, task.log_key)
        return artifacts.uri(task.log_key)


class _ProgressWatch:
    """Passes on what a step writes to its progress file, at most every
    :data:`PROGRESS_SECONDS` and only when the file changed."""

    def __init__(self, path: Path, callback: ProgressCallback | None) -> None:
        self.path = path
        self.callback = callback
        self.next_check = 0.0
        self.seen: int | None = None

    def check(self) -> None:
        now = time.monotonic()
        if self.callback is None or now < self.next_check:
            return
        self.next_check = now + PROGRESS_SECONDS
        try:
            changed = self.path.stat().st_mtime_ns
            if changed == self.seen:
                return
            self.seen = changed
            report = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return  # not written yet; the step writes it atomically
        if isinstance(report, dict):
            self.callback(report)


def _terminate(proc: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM the step's process group, then SIGKILL after a grace period."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return proc.poll()
    try:
        return proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def as_given(text: str, work: Path, inputs: dict[str, str]) -> str:
    """``text`` with the staged copies of the inputs named as the user gave them: a failure
    reason points at ``data/batch.csv``, not at a folder under the work directory."""
    for name, uri in inputs.items():
        staged = str(work / "input" / name)
        stem = uri.rstrip("/")
        text = text.replace(f"{staged}/{stem.rsplit('/', 1)[-1]}", stem).replace(staged, stem)
    return text


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(size - 64 * 1024, 0))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _read_metadata(path: Path) -> dict[str, Any]:
    """What the step wrote to ``SCORELINE_METADATA_FILE`` (a JSON object), if anything."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {"value": data}


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()[:500]
    return ""
