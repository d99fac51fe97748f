"""Executions whose orchestrator died (kill -9, crash, power loss) are found and closed.

An execution is *lost* when its owner is on this host and its process is gone, or when its
heartbeat is older than the lease (any host); a Pending one only when the process here that
waits for it is gone (one without an owner waits for :meth:`MetadataStore.dispatch`). Time
the database itself was down does not count against the lease: an orchestrator waiting out a
restart of PostgreSQL could not renew it, and is not lost for that. Lost executions are
marked ``Failed`` with the reason "orchestrator lost" (``Stopped`` if a stop had been
requested); their unfinished steps are marked ``Failed`` the same way and any of their
processes still running are killed. ``scoreline executions retry`` then resumes from the
failed steps.
"""

from __future__ import annotations

import contextlib
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

from scoreline.store import ExecutionRecord, MetadataStore
from scoreline.store.tables import utcnow
from scoreline.types import STARTING_OWNER, ExecutionStatus, StepStatus

LOST = "orchestrator lost"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def recover_lost_executions(store: MetadataStore, lease_seconds: float) -> list[ExecutionRecord]:
    """Close every lost execution; returns the ones closed."""
    closed = []
    up_since = store.up_since()
    for execution in store.active_executions():
        if not _is_lost(execution, lease_seconds, up_since):
            continue
        for step in store.get_steps(execution.id):
            if StepStatus(step.status).is_final:
                continue
            if step.process:
                _kill_orphan(step.process, f"{execution.id}/{step.step_name}/{step.attempt}")
            store.update_step(
                step.id,
                status=StepStatus.FAILED,
                failure_reason=f"{LOST} while the step was {step.status}",
            )
        status = (
            ExecutionStatus.STOPPED
            if execution.status == ExecutionStatus.STOPPING.value
            else ExecutionStatus.FAILED
        )
        reason = f"{LOST}: {execution.owner or 'no orchestrator'} ended without finishing it"
        closed.append(store.set_execution_status(execution.id, status, failure_reason=reason))
    for execution in store.held_slots():  # ended, and its process died before letting go
        if execution.owner and _is_lost(execution, lease_seconds, up_since):
            store.release(execution.id, execution.owner)
    return closed


def _is_lost(
    execution: ExecutionRecord, lease_seconds: float, up_since: datetime | None = None
) -> bool:
    host, _, rest = (execution.owner or "").partition(":")
    pid, _, nonce = rest.partition(":")
    local = host == os.uname().nodename and pid.isdigit()
    if execution.status == ExecutionStatus.PENDING.value:
        # Waiting for its turn: lost only with the process here that waits for it.
        return local and not _pid_alive(int(pid))
    if local and nonce == STARTING_OWNER:
        # A detached orchestrator still starting (on a busy machine that can take longer
        # than the lease): lost only when its process is gone.
        return not _pid_alive(int(pid))
    last_sign = max(execution.heartbeat_at or execution.created_at, up_since or _EPOCH)
    if utcnow() - last_sign > timedelta(seconds=lease_seconds):
        return True
    if not execution.owner:
        return False  # a detached orchestrator is still starting; the lease decides
    return local and not _pid_alive(int(pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    return True


def _kill_orphan(process: str, token: str) -> None:
    """Kill a step's process group if it is still ours (its environment carries the token)."""
    host, _, pid_text = process.partition(":")
    if host != os.uname().nodename or not pid_text.isdigit():
        return
    pid = int(pid_text)
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return
    if f"SCORELINE_STEP_TOKEN={token}".encode() in environ.split(b"\0"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
