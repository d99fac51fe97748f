"""The orchestrator: the only writer of execution state (DESIGN §3 rule 2).

It walks the step graph, runs inline steps itself, hands task steps to an executor on a pool
of worker threads, and records every transition (with its event) in the metadata store. Worker
threads report back through a queue; all store writes happen on the orchestrator's thread.

Semantics:
- a step runs when everything it depends on Succeeded; a dependency that Failed, Stopped or
  did not run makes it ``NotRun``; a step on the branch a condition did not take, or behind a
  skipped step, is ``Skipped``;
- a failing task step is retried by its retry policy; independent branches keep running;
- a ``fail`` step ends the execution: nothing new starts, running steps finish;
- a stop request terminates running steps (``Stopped``), the rest become ``NotRun``;
- on retry, steps that Succeeded or were Skipped keep their results; the others run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from scoreline.artifacts import ArtifactStore, execution_key
from scoreline.engine.context import ExecutionContext
from scoreline.engine.executors import Executor, LocalExecutor
from scoreline.engine.handlers import (
    InlineHandler,
    TaskHandler,
    cache_key,
    handler_for,
    result_key,
)
from scoreline.engine.locations import DataRoots
from scoreline.engine.tasks import Task, TaskResult
from scoreline.errors import FencedError, ScorelineError
from scoreline.pipeline.graph import branch_owners
from scoreline.pipeline.model import PipelineDefinition
from scoreline.pipeline.steps import StepBase, parse_duration
from scoreline.store import ExecutionRecord, MetadataStore, StepRecord
from scoreline.store.outage import DEFAULT_BUDGET_SECONDS, ride_out, tolerant
from scoreline.store.tables import utcnow
from scoreline.types import ExecutionStatus, RunQueue, StepStatus

CONTROL_INTERVAL = 0.5
QUEUE_POLL_SECONDS = 0.5
QUEUE_POLL_MAX_SECONDS = 2.0
_BAD = {StepStatus.FAILED.value, StepStatus.STOPPED.value, StepStatus.NOT_RUN.value}
_DONE = {StepStatus.SUCCEEDED.value, StepStatus.SKIPPED.value}


def new_owner() -> str:
    """Identity of an orchestrator: ``host:pid:random``."""
    return f"{os.uname().nodename}:{os.getpid()}:{secrets.token_hex(3)}"


class Orchestrator:
    """Runs executions of one project."""

    def __init__(
        self,
        store: MetadataStore,
        artifacts: ArtifactStore,
        project_root: Path,
        work_root: Path,
        *,
        executor: Executor | None = None,
        max_workers: int = 4,
        owner: str | None = None,
        data_roots: DataRoots | None = None,
        queue: RunQueue | None = None,
        on_wait: Callable[[], Any] | None = None,
        store_outage_seconds: float = DEFAULT_BUDGET_SECONDS,
        take_next_as: str | None = None,
    ) -> None:
        self.raw_store = store
        self.store = tolerant(store, store_outage_seconds)
        self.store_outage_seconds = store_outage_seconds
        self.queue = queue or RunQueue()
        self.on_wait = on_wait
        self.data_roots = data_roots
        self.artifacts = artifacts
        self.project_root = project_root
        self.work_root = work_root
        self.executor: Executor = executor or LocalExecutor()
        self.max_workers = max_workers
        self.owner = owner or new_owner()
        self.take_next_as = take_next_as
        self.next_execution: str | None = None
        """With ``take_next_as`` (an owner marker of this process): the Pending execution
        whose turn came when this one ended, for this process to run next."""

    def run(self, execution_id: str) -> ExecutionRecord:
        """Drive an execution to a final status and return it, once it has its turn among
        the executions its run queue lets run at once."""
        execution = self._claim(execution_id)
        if ExecutionStatus(execution.status).is_final:
            return execution  # stopped while it waited, or closed meanwhile: nothing to run
        version = self.store.get_pipeline_version(
            execution.pipeline_name, execution.pipeline_version
        )
        definition = PipelineDefinition.from_dict(version.definition)
        run = _Run(self, execution, definition)
        try:
            return run.loop()
        except FencedError:
            raise  # no longer ours: nothing more may be recorded
        except BaseException as exc:
            run.abandon(
                exc.line() if isinstance(exc, ScorelineError) else f"orchestrator error: {exc!r}"
            )
            raise

    def _claim(self, execution_id: str) -> ExecutionRecord:
        """Wait for a Pending execution's turn (oldest first), then own it. While waiting,
        the lease is renewed and executions whose orchestrator died are closed, so that
        their turns are not held."""
        delay = QUEUE_POLL_SECONDS
        while True:
            execution = self.store.claim_execution(execution_id, self.owner, self.queue)
            if execution is not None:
                return execution
            if self.on_wait is not None:
                ride_out(self.on_wait, self.store_outage_seconds)
            time.sleep(delay)
            delay = min(delay * 1.5, QUEUE_POLL_MAX_SECONDS)


@dataclass
class _Running:
    step: StepBase
    record: StepRecord
    cancel: threading.Event


class _Run:
    """The state of one execution while the orchestrator drives it."""

    def __init__(
        self, orch: Orchestrator, execution: ExecutionRecord, definition: PipelineDefinition
    ) -> None:
        self.orch = orch
        self.store = orch.store
        self.execution = execution
        self.definition = definition
        self.records: dict[str, StepRecord] = {
            r.step_name: r for r in self.store.get_steps(execution.id)
        }
        self.deps = definition.dependencies()
        self.branch_owner = branch_owners(definition.steps)
        self.pending: list[str] = [
            n
            for n in definition.order()
            if n not in self.records or self.records[n].status not in _DONE
        ]
        self.running: dict[str, _Running] = {}
        self.retry_at: dict[str, float] = {}
        self.messages: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.fail_message: str | None = None
        self.stopping = execution.stop_requested
        self.next_control = 0.0
        self.ctx = ExecutionContext(
            execution,
            definition,
            orch.artifacts,
            orch.project_root,
            self.records,
            orch.store,
            orch.data_roots,
        )

    # --- main loop -----------------------------------------------------------------------

    def loop(self) -> ExecutionRecord:
        with ThreadPoolExecutor(max_workers=self.orch.max_workers) as pool:
            self.pool = pool
            try:
                while True:
                    self._control()
                    if not self.stopping and self.fail_message is None:
                        self._advance()
                    if not self.running and (
                        not self.pending
                        or self.stopping
                        or self.fail_message is not None
                        or not self.retry_at
                    ):
                        break
                    self._drain(self._wait_time())
            except FencedError:
                self._kill_running()
                raise
        return self._finish()

    def _kill_running(self) -> None:
        """Kill the process groups of the running steps at once (fenced: another
        orchestrator may already be running them again)."""
        here = os.uname().nodename
        for item in self.running.values():
            item.cancel.set()
            host, _, pid = (self.records[item.step.name].process or "").partition(":")
            if host == here and pid.isdigit():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(pid), signal.SIGKILL)

    def _wait_time(self) -> float:
        wait = CONTROL_INTERVAL
        if self.retry_at:
            wait = min(wait, max(min(self.retry_at.values()) - time.monotonic(), 0.0))
        return wait

    def _control(self) -> None:
        """Renew the lease and notice stop requests, at most every CONTROL_INTERVAL."""
        now = time.monotonic()
        if now < self.next_control:
            return
        self.next_control = now + CONTROL_INTERVAL
        if self.store.heartbeat(self.execution.id, self.orch.owner) and not self.stopping:
            self.stopping = True
            for item in self.running.values():
                item.cancel.set()
                self._update(item.step.name, status=StepStatus.STOPPING)

    def _advance(self) -> None:
        """Settle every pending step that can be decided, launching those that are ready."""
        progressed = True
        while progressed and self.fail_message is None:
            progressed = False
            for name in list(self.pending):
                if len(self.running) >= self.orch.max_workers:
                    return
                if self._decide(name):
                    progressed = True
                    if self.fail_message is not None:
                        return

    def _decide(self, name: str) -> bool:
        """Try to settle or launch one pending step; True when its state changed."""
        step = self.definition.step(name)
        owner = self.branch_owner.get(name)
        statuses = {  # a step still pending is undecided, whatever an earlier run recorded
            d: self.records[d].status if d in self.records and d not in self.pending else None
            for d in self.deps[name]
        }
        bad = sorted(d for d, s in statuses.items() if s in _BAD)
        if bad:
            return self._settle(
                step, StepStatus.NOT_RUN, f"upstream step '{bad[0]}' {statuses[bad[0]]}"
            )
        if any(s not in _DONE for s in statuses.values()):
            return False
        if owner is not None and self.records[owner].status == StepStatus.SUCCEEDED.value:
            taken = self.records[owner].metadata.get("outcome")
            if_steps, _ = self.definition.step(owner).branches()
            if (name in if_steps) != bool(taken):
                return self._settle(
                    step, StepStatus.SKIPPED, f"condition '{owner}' evaluated to {bool(taken)}"
                )
        skipped = sorted(d for d, s in statuses.items() if s == StepStatus.SKIPPED.value)
        if skipped:
            return self._settle(
                step, StepStatus.SKIPPED, f"upstream step '{skipped[0]}' was skipped"
            )
        if name in self.retry_at:
            if time.monotonic() < self.retry_at[name]:
                return False
            del self.retry_at[name]
        self.pending.remove(name)
        if step.runs_as_task:
            self._launch(step)
        else:
            self._run_inline(step)
        return True

    def _settle(self, step: StepBase, status: StepStatus, reason: str) -> bool:
        self.pending.remove(step.name)
        self.records[step.name] = self.store.mark_step(
            self.execution.id, step.name, step.kind, status, reason, owner=self.orch.owner
        )
        return True

    # --- running steps -------------------------------------------------------------------

    def _run_inline(self, step: StepBase) -> None:
        handler: InlineHandler = handler_for(step)  # type: ignore[assignment]
        record = self._start(step)
        try:
            result = handler.run_inline(step, self.ctx)
        except ScorelineError as exc:
            self._update(step.name, status=StepStatus.FAILED, failure_reason=exc.line())
            return
        if result.fail_message is not None:
            self.fail_message = result.fail_message
            self._update(
                step.name,
                status=StepStatus.FAILED,
                failure_reason=result.fail_message,
                metadata={**record.metadata, **result.metadata},
            )
            return
        self._update(
            step.name,
            status=StepStatus.SUCCEEDED,
            outputs=result.outputs,
            metadata={**record.metadata, **result.metadata},
        )

    def _launch(self, step: StepBase) -> None:
        handler: TaskHandler = handler_for(step)  # type: ignore[assignment]
        previous = self.records.get(step.name)
        if previous is not None and self._adopt(previous):
            return
        history = list(previous.metadata.get("previousAttempts", [])) if previous else []
        if previous is not None and previous.status == StepStatus.EXECUTING.value:
            history.append({"attempt": previous.attempt, "failureReason": previous.failure_reason})
        record = self._start(step, {"previousAttempts": history} if history else None)
        try:
            if step.cache is not None and step.cache.enabled and self._cache_hit(step, handler):
                return
            work_dir = (
                self.orch.work_root / self.execution.id / step.name / f"attempt-{record.attempt}"
            )
            shutil.rmtree(work_dir, ignore_errors=True)
            # what an earlier attempt, killed while committing, left half-written
            self.orch.artifacts.sweep_partial(execution_key(self.execution.id, step.name))
            work_dir.mkdir(parents=True)
            task = handler.build_task(step, self.ctx, record.attempt, work_dir)
        except ScorelineError as exc:
            self._update(
                step.name,
                status=StepStatus.FAILED,
                failure_reason=exc.line(),
                metadata={**record.metadata, "errorSource": "user"},
            )
            return
        self._update(step.name, status=StepStatus.EXECUTING, log_uri=str(work_dir / "log.txt"))
        cancel = threading.Event()
        self.running[step.name] = _Running(step, self.records[step.name], cancel)
        future = self.pool.submit(self._execute, task, cancel)
        future.add_done_callback(partial(self._report_done, step.name))

    def _report_done(self, name: str, future: Future[TaskResult]) -> None:
        self.messages.put(("done", name, future))

    def _execute(self, task: Task, cancel: threading.Event) -> TaskResult:
        try:
            return self.orch.executor.run(
                task,
                cancel,
                lambda process: self.messages.put(("process", task.step_name, process)),
                lambda report: self.messages.put(("progress", task.step_name, report)),
            )
        except ScorelineError as exc:  # e.g. the cluster went away: say so in one line
            return TaskResult(outcome="failed", failure_reason=exc.line(), error_source="user")
        except Exception as exc:
            return TaskResult(
                outcome="failed",
                failure_reason=f"scoreline error: {exc!r}",
                error_detail=traceback.format_exc(),
                error_source="system",
            )

    def _cache_hit(self, step: StepBase, handler: TaskHandler) -> bool:
        assert step.cache is not None
        key = cache_key(handler.cache_material(step, self.ctx))
        not_before = None
        if step.cache.expire_after:
            not_before = utcnow() - parse_duration(step.cache.expire_after)
        hit = self.store.find_cache_hit(key, not_before)
        if hit is None:
            self._update(step.name, cache_key=key)
            return False
        self._update(
            step.name,
            status=StepStatus.SUCCEEDED,
            cache_key=key,
            outputs=hit.outputs,
            cache_hit_source=hit.id,
            log_uri=hit.log_uri,
            metadata={"cacheHit": {"stepExecutionId": hit.id, "executionId": hit.execution_id}},
        )
        return True

    def _drain(self, timeout: float) -> None:
        try:
            message = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            kind, name, payload = message
            if kind == "process":
                self._update(name, process=payload)
            elif kind == "progress":
                if name in self.running:  # not after the step's result
                    self._update(
                        name, metadata={**self.records[name].metadata, "progress": payload}
                    )
            else:
                self._finish_task(name, payload)
            try:
                message = self.messages.get_nowait()
            except queue.Empty:
                return

    def _finish_task(self, name: str, future: Future[TaskResult]) -> None:
        item = self.running.pop(name)
        result = future.result()
        work_dir = Path(str(self.records[name].log_uri)).parent
        reported = dict(result.metadata)
        emitted = reported.pop("events", [])
        monitoring = reported.pop("monitoring", None)
        kept = {k: v for k, v in self.records[name].metadata.items() if k != "progress"}
        metadata = {**kept, **reported, "exitCode": result.exit_code}
        common: dict[str, Any] = {"log_uri": result.log_uri or self.records[name].log_uri}
        if result.outcome == "succeeded":
            _crash_point("after-commit", name)
            self._succeed(name, result, metadata, emitted, monitoring)
            shutil.rmtree(work_dir, ignore_errors=True)
            return
        if result.outcome == "stopped":
            self._update(
                name,
                status=StepStatus.STOPPED,
                failure_reason=result.failure_reason,
                error_detail=result.error_detail,
                metadata=metadata,
                **common,
            )
            return
        metadata["errorSource"] = result.error_source
        policy = item.step.retry
        attempt = self.records[name].attempt
        if policy is not None and attempt < policy.max_attempts and not self.stopping:
            self._update(
                name,
                failure_reason=result.failure_reason,
                error_detail=result.error_detail,
                metadata=metadata,
                **common,
            )
            self.retry_at[name] = time.monotonic() + policy.delay_before(attempt + 1)
            self.pending.append(name)
            return
        self._update(
            name,
            status=StepStatus.FAILED,
            failure_reason=result.failure_reason,
            error_detail=result.error_detail,
            metadata=metadata,
            **common,
        )

    def _succeed(
        self,
        name: str,
        result: TaskResult,
        metadata: dict[str, Any],
        emitted: Any,
        monitoring: Any,
    ) -> None:
        model = self.ctx.model_of(self.execution.id)
        self._update(
            name,
            status=StepStatus.SUCCEEDED,
            outputs=result.outputs,
            metadata=metadata,
            events=_events(emitted, model),
            monitoring=_monitoring(monitoring, model, result.outputs),
            log_uri=result.log_uri or self.records[name].log_uri,
        )

    def _adopt(self, previous: StepRecord) -> bool:
        """Record as Succeeded an attempt whose outputs were committed (its result file
        exists) although its status was not (the orchestrator or the store failed in
        between); True when it was adopted, so the step does not run again."""
        if previous.status in _DONE or not previous.attempt:
            return False
        key = result_key(self.execution.id, previous.step_name, previous.attempt)
        try:
            result = TaskResult(**json.loads(self.orch.artifacts.read_bytes(key)))
        except Exception:  # not committed, unreadable now, or not ours: it runs again
            return False
        if result.outcome != "succeeded":
            return False
        reported = dict(result.metadata)
        emitted = reported.pop("events", [])
        monitoring = reported.pop("monitoring", None)
        metadata = {
            **{k: v for k, v in previous.metadata.items() if k != "progress"},
            **reported,
            "exitCode": result.exit_code,
            "adoptedCommittedOutputs": True,
        }
        self._succeed(previous.step_name, result, metadata, emitted, monitoring)
        return True

    # --- records -------------------------------------------------------------------------

    def _start(self, step: StepBase, metadata: dict[str, Any] | None = None) -> StepRecord:
        previous = self.records.get(step.name)
        record = self.store.start_step(
            self.execution.id,
            step.name,
            step.kind,
            metadata=metadata,
            owner=self.orch.owner,
            attempt=previous.attempt + 1 if previous else 1,
        )
        self.records[step.name] = record
        return record

    def _update(self, name: str, **values: Any) -> StepRecord:
        record = self.store.update_step(self.records[name].id, owner=self.orch.owner, **values)
        self.records[name] = record
        return record

    def _finish(self) -> ExecutionRecord:
        if self.stopping:
            reason = "execution stopped"
        elif self.fail_message is not None:
            reason = "execution ended by a fail step"
        else:
            reason = "an earlier step failed"
        for name in list(self.pending):
            self._settle(self.definition.step(name), StepStatus.NOT_RUN, reason)
        failed = [r for r in self.records.values() if r.status == StepStatus.FAILED.value]
        if self.stopping:
            status, why = ExecutionStatus.STOPPED, "stopped on request"
        elif self.fail_message is not None:
            status, why = ExecutionStatus.FAILED, self.fail_message
        elif failed:
            first = min(failed, key=lambda r: r.ended_at or r.started_at or utcnow())
            status, why = (
                ExecutionStatus.FAILED,
                f"step '{first.step_name}' failed: "
                + (first.failure_reason or "no reason recorded"),
            )
        else:
            status, why = ExecutionStatus.SUCCEEDED, None
        if self.orch.take_next_as is None:
            return self.store.set_execution_status(
                self.execution.id, status, failure_reason=why, expected_owner=self.orch.owner
            )
        ended, self.orch.next_execution = self.store.end_and_take_next(
            self.execution.id,
            status,
            why,
            self.orch.owner,
            self.orch.queue,
            self.orch.take_next_as,
        )
        return ended

    def abandon(self, reason: str) -> None:
        """Best effort after an orchestrator fault: stop tasks, record the failure."""
        for item in self.running.values():
            item.cancel.set()
        store, owner = self.orch.raw_store, self.orch.owner  # no waiting out an outage now
        try:
            for record in self.records.values():
                if not StepStatus(record.status).is_final:
                    store.update_step(
                        record.id,
                        owner=owner,
                        status=StepStatus.FAILED,
                        failure_reason=reason,
                        metadata={**record.metadata, "errorSource": "system"},
                    )
            store.set_execution_status(
                self.execution.id,
                ExecutionStatus.FAILED,
                failure_reason=reason,
                expected_owner=owner,
            )
        except Exception:  # noqa: S110 - recovery on the next start marks it instead
            pass


def _crash_point(point: str, step: str) -> None:
    """A test hook: with ``SCORELINE_TEST_CRASH=<point>:<step>`` this process is killed
    here, as by a power cut, to show that what was committed before survives it."""
    if os.environ.get("SCORELINE_TEST_CRASH") == f"{point}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


def _events(emitted: Any, model: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Events a step asked for (``events`` in its metadata file), with the model stamped in."""
    events = []
    for item in emitted if isinstance(emitted, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("detail-type"), str):
            continue
        detail = item.get("detail")
        events.append(
            (item["detail-type"], {**model, **(detail if isinstance(detail, dict) else {})})
        )
    return events


def _monitoring(
    result: Any, model: dict[str, Any], outputs: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """A quality check's result as a monitoring record, tied to the model in use."""
    if not isinstance(result, dict) or "check_type" not in result:
        return None
    return {
        "group_name": model.get("ModelPackageGroupName"),
        "model_version": model.get("ModelPackageVersion"),
        "report_uri": outputs.get("report", {}).get("uri"),
        **result,
    }
