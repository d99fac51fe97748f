"""The Ray executor: each task attempt is a Ray task on a cluster, scheduled with the step's
declared resources (``resources: {cpus, memory_mb}``).

On the worker, the task runs exactly as the local executor runs it (staging, container paths,
step Python, committing outputs to the artifact store), so a step behaves the same on both
tiers. Workers get only the :class:`Task`, which holds no database credentials; the
orchestrator that submitted it records every state change. Workers need the project's files
at the same path (one machine, or a shared file system) and an artifact store they can reach
(S3 for a cluster of several machines).

Ray is an optional extra (``pip install 'scoreline[ray]'``), imported only when this executor
is used. A driver connects once per process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import threading
import traceback
from collections.abc import Callable
from typing import Any

from scoreline.engine.executors import LocalExecutor
from scoreline.engine.tasks import Task, TaskResult
from scoreline.errors import ConfigError, UnavailableError, first_line

STOP_WAIT_SECONDS = 30.0
STEP_ADDRESS_ENV = "SCORELINE_RAY_ADDRESS"
"""Given to every step on the cluster, so scoreline's runners can fan out (tuning trials,
batch-transform shares) on the same cluster."""
_connected: dict[str, Any] = {}
_connect_lock = threading.Lock()


MISSING_RAY = ConfigError(
    "the Ray executor needs the Python package 'ray'",
    where="scoreline.yaml: executor.kind / $SCORELINE_RAY_ADDRESS",
    hint="pip install 'scoreline[ray]'",
)


def check_installed() -> None:
    """Fail with one line, before anything starts, when the ``ray`` extra is missing."""
    if importlib.util.find_spec("ray") is None:
        raise MISSING_RAY


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra to install."""
    try:
        import ray
    except ModuleNotFoundError:
        raise MISSING_RAY from None
    return ray


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail with one line when nothing answers at ``address`` (``ray.init`` would wait for
    minutes, logging). ``auto`` (a cluster started on this machine) is left to Ray."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as exc:
        raise UnavailableError(
            f"cannot reach the Ray cluster at {address} ({exc})",
            where="executor.address / $SCORELINE_RAY_ADDRESS",
            hint="start one with `ray start --head` or correct the address (host:port)",
        ) from None


def connect(address: str) -> Any:
    """Connect this process to the cluster at ``address`` (once) and return ``ray``."""
    ray = import_ray()
    with _connect_lock:
        if address not in _connected:
            check_reachable(address)
            try:
                ray.init(
                    address=address,
                    logging_level="ERROR",
                    log_to_driver=False,
                    configure_logging=False,
                )
            except ConnectionError as exc:
                raise UnavailableError(
                    f"cannot reach the Ray cluster at {address} ({exc})",
                    where="executor.address / $SCORELINE_RAY_ADDRESS",
                    hint="start one with `ray start --head` or correct the address",
                ) from None
            _connected[address] = ray
    return ray


RAY_VARIABLES = ("RAY_*",)
"""A step on a worker also gets Ray's own settings: its runner may connect to the cluster."""


def _run_on_worker(
    task: Task, mount_namespaces: str, address: str, pass_environment: tuple[str, ...] = ()
) -> TaskResult:
    """Run one attempt on a worker. A ``ray.cancel`` arrives as KeyboardInterrupt in this
    thread; the attempt then stops its process group like a local stop does."""
    cancel = threading.Event()
    outcome: list[TaskResult] = []
    environment = {**task.environment, STEP_ADDRESS_ENV: address}
    local = Task(**{**task.__dict__, "environment": environment})

    def attempt() -> None:
        try:
            executor = LocalExecutor(
                mount_namespaces=mount_namespaces,
                die_with_parent=True,
                pass_environment=(*pass_environment, *RAY_VARIABLES),
            )
            result = executor.run(local, cancel, lambda _: None)
        except Exception as exc:  # scoreline's own fault, reported like the local executor's
            result = TaskResult(
                outcome="failed",
                failure_reason=f"scoreline error on the Ray worker: {exc!r}",
                error_detail=traceback.format_exc(),
                error_source="system",
            )
        outcome.append(result)

    runner = threading.Thread(target=attempt, name="scoreline-task")
    runner.start()
    while runner.is_alive():
        try:
            runner.join(0.1)
        except KeyboardInterrupt:
            cancel.set()
    return outcome[0]


class RayExecutor:
    """Runs each task as a Ray task on the cluster at ``address``."""

    def __init__(
        self, address: str, mount_namespaces: str = "auto", pass_environment: tuple[str, ...] = ()
    ) -> None:
        check_installed()
        self.address = address
        self.mount_namespaces = mount_namespaces
        self.pass_environment = pass_environment

    def run(
        self,
        task: Task,
        cancel: threading.Event,
        on_process: Callable[[str], None],
        on_progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> TaskResult:
        """Runs the task on a Ray worker; its progress file stays on the worker, so
        ``on_progress`` is not called."""
        ray = connect(self.address)
        available = ray.cluster_resources().get("CPU", 0.0)
        if task.cpus > available:
            return TaskResult(
                outcome="failed",
                failure_reason=f"the step asks for {task.cpus:g} CPUs; the Ray cluster has "
                f"{available:g} (lower resources.cpus or add nodes)",
                error_source="user",
            )
        options: dict[str, Any] = {"num_cpus": task.cpus, "name": task.step_name, "max_retries": 0}
        if task.memory_mb:
            options["memory"] = task.memory_mb * 1024 * 1024
        remote = ray.remote(_run_on_worker).options(**options)
        ref = remote.remote(task, self.mount_namespaces, self.address, self.pass_environment)
        on_process(f"ray:{ref.task_id().hex()}")
        while True:
            ready, _ = ray.wait([ref], timeout=0.1)
            if ready:
                try:
                    result: TaskResult = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker or its node died
                    message = first_line(exc)
                    return TaskResult(
                        outcome="failed",
                        failure_reason=f"the step's Ray worker was lost: {message}",
                        error_source="system",
                    )
                return result
            if cancel.is_set():
                ray.cancel(ref)
                ready, _ = ray.wait([ref], timeout=STOP_WAIT_SECONDS)
                with contextlib.suppress(Exception):  # raises when cancelled before it started
                    if ready:
                        stopped: TaskResult = ray.get(ref)
                        return stopped
                return TaskResult(outcome="stopped", failure_reason="stopped on request")
