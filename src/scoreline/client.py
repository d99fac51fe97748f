"""One façade over a project, used by the command line, the UI and Python users.

Example::

    from scoreline.client import Client

    client = Client.open("my-project")
    execution = client.start("TrainingPipeline", {"AccuracyMseThreshold": "7.5"}, wait=True)
    print(execution.status)
"""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from scoreline.artifacts import ArtifactStore, sha256_file
from scoreline.engine.executors import executor_for
from scoreline.engine.locations import DataRoots
from scoreline.engine.orchestrator import Orchestrator
from scoreline.engine.ray_executor import check_installed, check_reachable
from scoreline.engine.recovery import recover_lost_executions
from scoreline.environments import ENVS_DIR
from scoreline.errors import (
    DefinitionError,
    NotFoundError,
    ParameterError,
    ScorelineError,
    StateError,
)
from scoreline.pipeline.loader import load_file, load_params_file
from scoreline.pipeline.model import PipelineDefinition
from scoreline.settings import (
    PROJECT_FILE,
    Project,
    RuleSettings,
    ScheduleSettings,
    TriggerSettings,
    load_project,
)
from scoreline.store import (
    DeliveryRecord,
    EventRecord,
    ExecutionRecord,
    MetadataStore,
    ModelVersionRecord,
    MonitoringRecord,
    PipelineVersionRecord,
    StepRecord,
)
from scoreline.store.outage import ride_out
from scoreline.store.tables import utcnow
from scoreline.supervision import LoopHealth
from scoreline.types import STARTING_OWNER, DetailType, ExecutionStatus, RunQueue

if TYPE_CHECKING:
    from scoreline.events.notify import Notifier
    from scoreline.events.rules import Rule
    from scoreline.model_import import ModelSource


def current_user() -> str:
    """The actor recorded on writes: ``$SCORELINE_USER`` or the login name."""
    return os.environ.get("SCORELINE_USER") or getpass.getuser()


@dataclass(frozen=True)
class StepLog:
    step_name: str
    attempt: int
    text: str


SERVE_LOG = logging.getLogger("scoreline.serve")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Client:
    """Everything a user can do with a project, without a server."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.health = LoopHealth()
        """How `serve`'s loop is doing (see :mod:`scoreline.supervision`)."""

    @classmethod
    def open(cls, project_dir: str | Path | None = None) -> Client:
        return cls(load_project(Path(project_dir) if project_dir else None))

    @cached_property
    def store(self) -> MetadataStore:
        self._private_state_dir()
        return MetadataStore(self.project.store_url)

    def _private_state_dir(self) -> None:
        """``.scoreline/`` (the store, artifacts, logs) is readable by its owner only."""
        state = self.project.state_dir
        if state.is_dir():
            info = state.stat()
            if info.st_mode & 0o077 and info.st_uid == os.getuid():
                state.chmod(0o700)
        else:
            state.mkdir(mode=0o700, parents=True)

    @cached_property
    def artifacts(self) -> ArtifactStore:
        return ArtifactStore(self.project.artifact_root, self.project.storage_options)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()

    def recover(self) -> list[ExecutionRecord]:
        """Close executions whose orchestrator died (see :mod:`scoreline.engine.recovery`),
        and give their turns to executions waiting in the run queue."""
        closed = recover_lost_executions(self.store, self.project.settings.lease_seconds)
        self.dispatch()
        return closed

    def sweep_work(self) -> int:
        """Remove the working folders of executions that have ended (a failed attempt's
        folder is kept until then, its log is in the artifact store); returns how many."""
        work = self.project.work_dir
        removed = 0
        for folder in work.iterdir() if work.is_dir() else []:
            try:
                ended = ExecutionStatus(self.store.get_execution(folder.name).status).is_final
            except NotFoundError:
                ended = True
            if ended:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def dispatch(self) -> list[ExecutionRecord]:
        """Start an orchestrator for each Pending execution whose turn has come (see
        :meth:`MetadataStore.dispatch`); returns the executions that got their turn."""
        promoted = self.store.dispatch(self._run_queue())
        for execution in promoted:
            if execution.owner is None:  # else a process here waits to claim it
                self._spawn(execution.id)
        return promoted

    def _run_queue(self) -> RunQueue:
        return self.project.settings.executor.run_queue()

    # --- model registry ------------------------------------------------------------------

    def models(
        self, group: str | None = None, status: str | None = None
    ) -> list[ModelVersionRecord]:
        """Model versions, newest first within each group."""
        return self.store.models.list(group, status)

    def model(self, group: str, version: int) -> ModelVersionRecord:
        return self.store.models.get(group, version)

    def set_model_status(
        self,
        group: str,
        version: int,
        status: str,
        comment: str = "",
        actor: str | None = None,
        *,
        move_aliases_to: int | None = None,
        drop_aliases: bool = False,
    ) -> ModelVersionRecord:
        """Approve or reject a version as ``actor`` (default: the current user); audited and
        emitted as an event. Rejecting a version with aliases needs ``move_aliases_to`` or
        ``drop_aliases``."""
        return self.store.models.set_status(
            group,
            version,
            status,
            actor or current_user(),
            comment,
            move_aliases_to=move_aliases_to,
            drop_aliases=drop_aliases,
        )

    def register_model(
        self, group: str, source: ModelSource, actor: str | None = None
    ) -> tuple[ModelVersionRecord, bool]:
        """Register a model file trained anywhere (see :mod:`scoreline.model_import`); says
        whether the same file's existing version was returned instead of a new one."""
        from scoreline.model_import import register_model_file

        return register_model_file(
            self.store, self.artifacts, group, source, actor or current_user()
        )

    def set_model_alias(
        self, group: str, version: int, alias: str, actor: str | None = None
    ) -> ModelVersionRecord:
        """Point ``alias`` at a version that is not Rejected."""
        return self.store.models.set_alias(group, alias, version, actor or current_user())

    # --- pipelines -----------------------------------------------------------------------

    def definitions(self, *, strict: bool = False) -> dict[str, PipelineDefinition]:
        """The pipelines declared in the project's files, by name. A file that does not
        load affects only its own pipelines (see :meth:`broken_files`), unless ``strict``
        (as for `plan`, which must not take a broken file's pipelines for deleted)."""
        declared, broken = self._scan()
        if strict and broken:
            raise next(iter(broken.values()))
        return {name: definition for name, (definition, _) in declared.items()}

    def broken_files(self) -> dict[str, ScorelineError]:
        """Pipeline files that do not load, by path relative to the project, with why."""
        return self._scan()[1]

    def _declared(self) -> dict[str, tuple[PipelineDefinition, Path]]:
        return self._scan()[0]

    def _scan(
        self,
    ) -> tuple[dict[str, tuple[PipelineDefinition, Path]], dict[str, ScorelineError]]:
        found: dict[str, tuple[PipelineDefinition, Path]] = {}
        broken: dict[str, ScorelineError] = {}
        variables = self.project.variables()
        for path in self.project.pipeline_files():
            shown = path.relative_to(self.project.root).as_posix()
            try:
                loaded = load_file(path, variables)
                for definition in loaded:
                    if definition.name in found:
                        raise DefinitionError(
                            f"pipeline '{definition.name}' is also defined in "
                            f"{found[definition.name][1].relative_to(self.project.root)}",
                            where=str(path),
                        )
            except ScorelineError as exc:
                broken[shown] = exc
                continue
            for definition in loaded:
                found[definition.name] = (definition, path)
        return found, broken

    def pipeline_overview(self, name: str) -> dict[str, Any]:
        """A declared pipeline as runs will see it: each parameter's value and where it
        comes from (the definition, an environment variable in it, or the parameter file),
        and each step's kind and dependencies."""
        declared = self._declared()
        if name not in declared:
            self.definition(name)  # the one-line "no pipeline named" error
        definition, path = declared[name]
        raw = _raw_parameter_defaults(path, name)
        environment = self.project.environment()
        overrides = self.parameter_file_values(name)
        params_file = f"pipelines/{name}.params.yaml"
        parameters = []
        for p in definition.parameters:
            source = "definition"
            variable = _only_variable(raw.get(p.name))
            if variable and variable in environment.variables:
                source = f"${{{variable}}} from {environment.variables[variable].source}"
            value = p.default
            if p.name in overrides:
                value, source = p.coerce(overrides[p.name]), params_file
            parameters.append(
                {
                    "name": p.name,
                    "type": p.type.value,
                    "value": value,
                    "source": source if value is not None else "required (-p)",
                    "description": p.description,
                }
            )
        dependencies = definition.dependencies()
        return {
            "name": name,
            "file": str(path.relative_to(self.project.root)),
            "environment": environment.name,
            "parameters": parameters,
            "steps": [
                {
                    "name": step.name,
                    "kind": step.kind,
                    "depends_on": sorted(dependencies[step.name]),
                    "reads_parameters": sorted(step.location_parameters()),
                }
                for step in definition.steps
            ],
        }

    def definition(self, name: str) -> PipelineDefinition:
        declared, broken = self._scan()
        if name not in declared:
            if len(broken) == 1:  # most likely the file being edited: its own error
                raise next(iter(broken.values()))
            known = ", ".join(sorted(declared)) or "none"
            unreadable = f"; files that do not load: {', '.join(broken)}" if broken else ""
            raise NotFoundError(
                f"no pipeline named '{name}' in the project",
                hint=f"declared pipelines: {known}{unreadable}",
            )
        return declared[name][0]

    def parameter_file_values(self, pipeline: str) -> dict[str, Any]:
        """Overrides from ``pipelines/<pipeline>.params.yaml`` (key ``Parameters``), which
        sit between the definition's defaults and ``-p`` on the command line."""
        path = self.project.root / "pipelines" / f"{pipeline}.params.yaml"
        return load_params_file(path) if path.is_file() else {}

    def register(self, definition: PipelineDefinition) -> tuple[PipelineVersionRecord, bool]:
        """Store a definition as the pipeline's next version unless it is unchanged."""
        return self.store.register_pipeline(definition.to_dict(), current_user())

    def pipelines(self) -> list[dict[str, Any]]:
        """Declared and registered pipelines with their latest registered version, then
        each pipeline file that does not load (``name`` None, ``broken`` why)."""
        registered = {p.name: p for p in self.store.list_pipelines()}
        declared, broken = self._scan()
        rows: list[dict[str, Any]] = []
        for name in sorted(set(declared) | set(registered)):
            record = registered.get(name)
            rows.append(
                {
                    "name": name,
                    "declared": name in declared,
                    "file": declared[name][1].relative_to(self.project.root).as_posix()
                    if name in declared
                    else None,
                    "latest_version": record.latest_version if record else None,
                    "updated_at": record.to_dict()["updated_at"] if record else None,
                    "broken": None,
                }
            )
        for file, error in broken.items():
            rows.append(
                {
                    "name": None,
                    "declared": False,
                    "file": file,
                    "latest_version": None,
                    "updated_at": None,
                    "broken": error.line(),
                }
            )
        return rows

    # --- executions ----------------------------------------------------------------------

    def start(
        self,
        pipeline: str,
        parameters: dict[str, Any] | None = None,
        *,
        wait: bool = False,
        client_request_token: str | None = None,
        actor: str | None = None,
        check: bool = True,
    ) -> ExecutionRecord:
        """Start an execution of the project's current definition of ``pipeline``. With
        ``wait`` it runs here and returns when it ends; otherwise a detached orchestrator
        process runs it. A repeated ``client_request_token`` returns the first execution.
        With ``check`` an unreachable Ray cluster or artifact store is one error now rather
        than a failed step later; rules start without it, so that an outage leaves a Failed
        execution to retry instead of no execution."""
        definition = self.definition(pipeline)
        values = definition.resolve_parameters(
            {**self.parameter_file_values(pipeline), **(parameters or {})}
        )
        return self._start(
            definition,
            values,
            wait=wait,
            client_request_token=client_request_token,
            actor=actor,
            check=check,
        )

    def _start(
        self,
        definition: PipelineDefinition,
        values: dict[str, Any],
        *,
        wait: bool,
        client_request_token: str | None,
        actor: str | None,
        check: bool,
    ) -> ExecutionRecord:
        self._check_locations(definition, values)
        self._check_project_files(definition)
        if check:
            self.check_reachable()
        version, _ = self.register(definition)
        orchestrator = self._orchestrator() if wait else None
        execution, created = self.store.create_execution(
            version,
            dict(values),
            started_by=actor or current_user(),
            # this process, waiting for its turn (recovery sees it alive; others it queue)
            owner=_starting_owner(os.getpid()) if orchestrator else None,
            client_request_token=client_request_token,
            queue=self._run_queue(),
        )
        if not created:
            if (
                orchestrator is None
                and execution.owner is None
                and execution.status == ExecutionStatus.EXECUTING.value
            ):
                # Created by a process that died before starting its orchestrator (a
                # repeated start with the same token, e.g. a rule after a restart): run it.
                self._spawn(execution.id)
            return execution
        if orchestrator is not None:
            return self._after(orchestrator.run(execution.id))
        if execution.status == ExecutionStatus.EXECUTING.value:
            self._spawn(execution.id)
        return execution  # Pending: an orchestrator that ends (or `serve`) starts it

    def predict(
        self,
        group: str,
        version: str,
        data: str,
        output: Path | None = None,
        output_format: Literal["csv", "parquet"] | None = None,
        id_column: str | None = None,
        actor: str | None = None,
        header: bool = True,
    ) -> tuple[ExecutionRecord, list[Path]]:
        """Score ``data`` (a file or prefix with a header) with a registered version (``""``:
        the latest Approved; N; or an alias) as a recorded execution of the built-in
        ``ModelsPredict`` pipeline, run here; its predictions are then copied to ``output``
        (a file for one input file, else a folder), with ``id_column`` carried through; a
        CSV without a ``header`` holds the model's input columns in order. Returns the
        execution and the files."""
        from scoreline.pipeline.builtin import predict_definition

        self.store.models.resolve(group, version)
        definition = predict_definition(output_format, id_column, header)
        values = definition.resolve_parameters(
            {"ModelPackageGroupName": group, "ModelVersion": version, "InputData": data}
        )
        execution = self._start(
            definition, values, wait=True, client_request_token=None, actor=actor, check=True
        )
        if output is None or execution.status != ExecutionStatus.SUCCEEDED.value:
            return execution, []
        step = next(s for s in self.store.get_steps(execution.id) if s.step_name == "Predict")
        return execution, self._copy_predictions(step.outputs["predictions"]["uri"], output)

    def _copy_predictions(self, uri: str, output: Path) -> list[Path]:
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory(prefix="scoreline-predict-") as tmp:
            self.artifacts.fetch(uri, Path(tmp))
            files = sorted(
                p
                for p in Path(tmp).iterdir()
                if p.is_file() and p.suffix in (".csv", ".parquet") and p.name != "rejected.csv"
            )
            if len(files) == 1 and output.suffix in (".csv", ".parquet"):
                targets = [output]
            else:
                output.mkdir(parents=True, exist_ok=True)
                targets = [output / f.name for f in files]
            for source, target in zip(files, targets, strict=True):
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                shutil.copyfile(source, partial)
                partial.replace(target)
        return targets

    def data_roots(self) -> DataRoots:
        """Where steps may read: the project, the artifact root, the triggers' locations and
        ``data_roots`` (variables filled in)."""
        from scoreline.pipeline.loader import substitute

        declared = substitute(
            list(self.project.settings.data_roots),
            self.project.variables(),
            "scoreline.yaml: data_roots",
        )
        locations = [t.location for t in self.triggers()]
        return DataRoots(self.project.root, [self.artifacts.root, *declared, *locations])

    def _check_locations(self, definition: PipelineDefinition, values: dict[str, Any]) -> None:
        """Refuse a parameter that a step reads as a file or folder when it names a location
        outside the data roots, before an execution exists."""
        roots = self.data_roots()
        for name in sorted(definition.location_parameters()):
            value = values.get(name)
            if isinstance(value, str) and value:
                where = f"parameter '{name}'"
                location = roots.resolve(value, where)
                if "://" not in location and not Path(location).exists():
                    raise ParameterError(
                        f"'{value}' does not exist",
                        where=where,
                        hint=f"looked for {location}; relative paths given with -p are "
                        "the current folder's, in the API and files the project's",
                    )

    def _check_project_files(self, definition: PipelineDefinition) -> None:
        """Refuse to start when a step's script, entry point or requirements file is
        missing, before an execution exists."""
        root = self.project.root
        for step in definition.steps:
            for field, relative in step.project_files().items():
                if not (root / relative).is_file():
                    raise DefinitionError(
                        f"{field} '{relative}' not found",
                        where=f"pipeline '{definition.name}', step '{step.name}'",
                        hint="paths in a pipeline are relative to the project root",
                    )

    def check_reachable(self) -> None:
        """Fail with one line when the Ray cluster or the artifact store that executions
        need cannot be used: before an execution exists that a detached orchestrator would
        fail on a step at a time."""
        ray_address = self.project.settings.executor.ray_address
        if ray_address:
            check_installed()
            check_reachable(ray_address)
        self.artifacts.check_reachable()

    def run_execution(self, execution_id: str) -> ExecutionRecord:
        """Drive an execution in this process until it ends, and return it."""
        return self._after(self._orchestrator().run(execution_id))

    def work_off(self, execution_id: str) -> ExecutionRecord:
        """What a detached orchestrator process does: drive an execution, then, while
        executions wait in the run queue, the oldest, handed over as this one ends (its
        output going to that execution's log): a queue is worked off by at most as many
        processes as may run at once, each started once. Returns the first execution."""
        orchestrator = self._orchestrator(take_next=True)
        current = execution_id
        try:
            ended = self._after(orchestrator.run(execution_id))
            while True:
                following = orchestrator.next_execution or self.store.hand_over(
                    current, orchestrator.owner, self._run_queue(), _starting_owner(os.getpid())
                )  # the slot goes to one that arrived meanwhile, or is let go
                if following is None:
                    return ended
                current = following
                self._log_to(current)
                orchestrator = self._orchestrator(take_next=True)
                self._after(orchestrator.run(current))
        finally:  # whatever happened, no slot stays held for this process
            with contextlib.suppress(Exception):  # else recovery releases it
                self.store.release(current, orchestrator.owner)

    def _after(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Once an execution ends, let the rules decide on the events it produced (through
        a database restart: deciding again is safe)."""
        ride_out(self.process_rules, self.project.settings.store_outage_seconds)
        self.dispatch()  # a slot this execution freed goes to the next in the queue
        return execution

    # --- monitoring ----------------------------------------------------------------------

    def monitoring_results(self, execution_id: str) -> list[MonitoringRecord]:
        """The quality-check results an execution recorded."""
        self.store.get_execution(execution_id)
        return self.store.monitoring.for_execution(execution_id)

    def monitoring_history(
        self,
        group: str,
        check_type: str | None = None,
        limit: int = 50,
        superseded: bool = False,
    ) -> list[MonitoringRecord]:
        """Quality-check results of executions that used a model of ``group``; estimates
        a realized result has replaced only when ``superseded``."""
        return self.store.monitoring.history(group, check_type, limit, superseded)

    # --- rules ---------------------------------------------------------------------------

    def process_rules(self) -> int:
        """Decide every new event for every rule of ``scoreline.yaml``; returns how many
        executions the rules started. Safe to call from several processes at once."""
        rules = self.event_rules()
        if not rules:
            return 0
        from scoreline.events.rules import RuleProcessor

        return RuleProcessor(self.store, rules, self._start_for_rule).process()

    def event_rules(self) -> list[Rule]:
        """The rules in force, checked: declared or deployed ones, and the implicit rules
        of the triggers and schedules."""
        settings = self.project.settings
        if not (settings.rules or settings.triggers or settings.schedules):
            return []
        from scoreline.events.rules import load_rules
        from scoreline.events.sources import schedule_rule, trigger_rule

        implicit = [trigger_rule(t) for t in self.triggers()]
        implicit += [schedule_rule(s) for s in self.schedules()]
        return load_rules([*self.rules(), *implicit], self.project.variables())

    def triggers(self) -> list[TriggerSettings]:
        """The data-arrival triggers in force: the deployed ones once the environment has
        been applied, else the project's, variables filled in."""
        from scoreline.events.variables import filled

        deployed = self._deployed("trigger")
        if deployed is not None:
            return [TriggerSettings.model_validate(spec) for spec in deployed]
        return filled(self.project.settings.triggers, self.project.variables(), "triggers")

    def schedules(self) -> list[ScheduleSettings]:
        from scoreline.events.sources import check_schedule
        from scoreline.events.variables import filled

        deployed = self._deployed("schedule")
        if deployed is not None:
            found = [ScheduleSettings.model_validate(spec) for spec in deployed]
        else:
            found = filled(self.project.settings.schedules, self.project.variables(), "schedules")
        for schedule in found:
            check_schedule(schedule)
        return found

    def rules(self) -> list[RuleSettings]:
        """Event rules in force (deployed, or the project's)."""
        deployed = self._deployed("rule")
        if deployed is not None:
            return [RuleSettings.model_validate(spec) for spec in deployed]
        return list(self.project.settings.rules)

    def _deployed(self, kind: str) -> list[dict[str, Any]] | None:
        resources = self.store.deployments.deployed(self.project.env_name)
        if not resources:
            return None
        return [spec for (k, _), spec in sorted(resources.items()) if k == kind]

    # --- plan / apply / destroy ----------------------------------------------------------

    def declared_resources(self) -> dict[tuple[str, str], dict[str, Any]]:
        """What the project declares for the current environment (DESIGN §9)."""
        import hashlib

        from scoreline.events.variables import filled

        variables = self.project.variables()
        settings = self.project.settings
        resources: dict[tuple[str, str], dict[str, Any]] = {}
        for name, definition in self.definitions(strict=True).items():
            resources[("pipeline", name)] = definition.to_dict()
        for trigger in filled(settings.triggers, variables, "triggers"):
            resources[("trigger", trigger.name)] = trigger.model_dump(mode="json")
        for schedule in filled(settings.schedules, variables, "schedules"):
            resources[("schedule", schedule.name)] = schedule.model_dump(mode="json")
        for rule in filled(settings.rules, variables, "rules"):
            resources[("rule", rule.name)] = rule.model_dump(mode="json")
        for target in self.notifier().targets:
            digest = hashlib.sha256(target.url.encode()).hexdigest()
            resources[("notification", target.name)] = {"url_sha256": digest}
        resources[("notification_settings", "notifications")] = {
            **settings.notifications.model_dump(mode="json", exclude={"smtp", "urls"}),
            "custom_notification_config": variables.get("custom_notification_config") or [],
        }
        for name, file in self._parameter_files().items():
            resources[("parameter_file", name)] = file
        for to, source in self._declared_uploads(variables).items():
            resources[("upload", to)] = {
                "source": source.relative_to(self.project.root).as_posix(),
                "sha256": sha256_file(source),
            }
        group = str(variables.get("model_package_group_name") or "")
        if group:
            resources[("model_group", group)] = {"name": group}
        return resources

    def _parameter_files(self) -> dict[str, dict[str, Any]]:
        """Each declared pipeline's parameter file, as runs will read it."""
        found = {}
        for name in self.definitions():
            values = self.parameter_file_values(name)
            if values:
                found[name] = {"path": f"pipelines/{name}.params.yaml", "values": values}
        return found

    def _declared_uploads(self, variables: dict[str, Any]) -> dict[str, Path]:
        """The data files the environment asks apply to upload, by destination."""
        found = {}
        for flag, name, to in (
            ("upload_training_data", "training-data.csv", "training"),
            ("upload_inference_data", "inference-data.csv", "inference"),
        ):
            source = self.project.root / "data" / name
            if variables.get(flag) and source.is_file():
                found[to] = source
        return found

    def plan(self) -> list[dict[str, Any]]:
        """The changes `apply` would make for the current environment, with the values runs
        will use where a parameter file pins them."""
        from scoreline.deploy import mark_pinned, plan

        deployed = self.store.deployments.deployed(self.project.env_name)
        changes = plan(self.declared_resources(), deployed)
        mark_pinned(changes, self._parameter_files())
        return changes

    def apply(self) -> tuple[list[dict[str, Any]], list[str]]:
        """Apply the plan in one locked transaction, recorded with who and when, uploading
        the data files the environment asks for when their content is new (so an unchanged
        file starts nothing). Returns the changes and uploaded URIs."""
        from scoreline.deploy import mark_pinned, plan

        variables = self.project.variables()
        declared = self.declared_resources()
        uploads = self._declared_uploads(variables)
        pinned = self._parameter_files()
        actor = current_user()
        uploaded: list[str] = []

        def planned(deployed: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
            changes = plan(declared, deployed)
            mark_pinned(changes, pinned)
            replaced = [
                c["name"] for c in changes if c["kind"] == "pipeline" and c["action"] == "update"
            ]
            if replaced and not variables.get("recreate_pipelines"):
                raise StateError(
                    f"pipeline {replaced[0]} is deployed and would change",
                    hint="set recreate_pipelines to true to replace deployed pipelines",
                )
            return changes

        def apply_one(conn: Any, change: dict[str, Any]) -> None:
            if change["kind"] == "upload" and change["action"] != "delete":
                # Last in the plan; a failed upload rolls the whole apply back.
                uploaded.append(self.upload(uploads[change["name"]], change["name"]))
            if change["kind"] != "pipeline":
                return
            if change["action"] == "delete":
                self.store.drop_unused_pipeline(conn, change["name"])
            else:
                self.store.register_pipeline(change["spec"], actor, conn)

        changes = self.store.deployments.change(
            self.project.env_name, actor, planned, apply_one, DetailType.DEPLOYMENT_APPLIED
        )
        return changes, uploaded

    def destroy(self, purge: bool = False) -> list[dict[str, Any]]:
        """Remove what apply deployed in the current environment. Pipelines that have run
        and model versions are history and stay, unless ``purge``."""
        from scoreline.deploy import plan

        def planned(deployed: dict[tuple[str, str], dict[str, Any]]) -> list[dict[str, Any]]:
            return plan({}, deployed)

        def remove(conn: Any, change: dict[str, Any]) -> None:
            if change["kind"] == "pipeline":
                if purge:
                    self.store.purge_pipeline(conn, change["name"])
                else:
                    self.store.drop_unused_pipeline(conn, change["name"])
            elif change["kind"] == "model_group" and purge:
                self.store.models.purge_group(conn, change["name"])

        return self.store.deployments.change(
            self.project.env_name, current_user(), planned, remove, DetailType.DEPLOYMENT_DESTROYED
        )

    # --- serve ---------------------------------------------------------------------------

    def serve_once(self, now: datetime | None = None, notifier: Notifier | None = None) -> None:
        """One round of everything `scoreline serve` does: poll triggers and schedules,
        decide rules (which start executions), queue and send notifications."""
        from scoreline.events.sources import poll_schedule, poll_trigger

        now = now or utcnow()
        for trigger in self.triggers():
            poll_trigger(self.store, trigger, self.project.root, now, self.project.storage_options)
        for schedule in self.schedules():
            poll_schedule(self.store, schedule, now)
        self.process_rules()
        self.dispatch()
        notifier = notifier or self.notifier()
        notifier.enqueue(now)
        notifier.deliver(now)

    def notifier(self, ui_url: str | None = None) -> Notifier:
        """Notifications as the project configures them; ``ui_url`` is where links in
        messages point unless ``notifications.ui_url`` says otherwise."""
        from scoreline.events.notify import Notifier
        from scoreline.events.rules import load_notify_patterns

        variables = self.project.variables()
        patterns = load_notify_patterns(self.rules(), variables)
        settings = self.project.settings.notifications
        return Notifier(self.store, settings, variables, self._tail, patterns, ui_url)

    def _tail(self, execution_id: str, step: str) -> str:
        try:
            logs = self.logs(execution_id, step)
        except ScorelineError:
            return ""
        return "\n".join(logs[-1].text.splitlines()[-20:]) if logs else ""

    def serve(
        self,
        stop: threading.Event,
        interval: float = 1.0,
        replay_since: datetime | None = None,
        ui_url: str | None = None,
    ) -> None:
        """Run until ``stop`` is set: recover lost executions, then poll every ``interval``
        seconds. A failing round, whatever the error, is logged and retried after a backoff
        (:mod:`scoreline.supervision`).
        Notifications start from now the first time (from ``replay_since`` when given) and
        link to ``ui_url`` unless the settings name another. A changed ``scoreline.yaml`` or
        environment file is loaded between rounds; an invalid one is reported and the
        previous settings stay in force."""
        self.recover()
        self.sweep_work()
        notifier = self.notifier(ui_url)
        notifier.begin(replay_since)
        last_recovery = time.monotonic()
        watched = self._settings_signature()
        while not stop.is_set():
            delay = interval
            try:
                if self._settings_signature() != watched:
                    watched = self._settings_signature()
                    notifier = self._reload(notifier, ui_url)
                self.serve_once(notifier=notifier)
                if time.monotonic() - last_recovery > self.project.settings.lease_seconds:
                    self.recover()
                    last_recovery = time.monotonic()
                self.health.succeeded(utcnow())
            except Exception as exc:  # the loop outlives any round: log, back off, go on
                reason = exc.line() if isinstance(exc, ScorelineError) else _first_line(exc)
                delay = self.health.failed(utcnow(), reason, interval)
                SERVE_LOG.error(
                    "round failed: %s; next try in %.0f s",
                    reason,
                    delay,
                    exc_info=not isinstance(exc, ScorelineError),
                )
            stop.wait(delay)

    def _settings_signature(self) -> list[tuple[str, int, int]]:
        root = self.project.root
        files = [root / PROJECT_FILE, *sorted((root / ENVS_DIR).glob("*"))]
        found = []
        for path in files:
            with contextlib.suppress(OSError):
                info = path.stat()
                found.append((path.name, info.st_mtime_ns, info.st_size))
        return found

    def _reload(self, notifier: Notifier, ui_url: str | None) -> Notifier:
        """The project's settings and notifications read again; on any error, the old."""
        previous = self.project
        try:
            self.project = load_project(previous.root)
            self.event_rules()  # checks triggers, schedules and rules
            reloaded = self.notifier(ui_url)
        except ScorelineError as exc:
            self.project = previous
            SERVE_LOG.error("the changed settings are not used: %s", exc.line())
            return notifier
        SERVE_LOG.info("settings reloaded")
        return reloaded

    def upload(self, source: Path, to: str, env: str | None = None) -> str:
        """Put a file where the data-arrival triggers watch (atomically: the triggers never
        see a partial object). Returns its URI."""
        from scoreline.events.sources import upload

        return upload(
            source, to, self.project.variables(env), self.project.root, self.project.storage_options
        )

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[DeliveryRecord]:
        return self.store.deliveries.list(status, limit)

    def triggers_overview(self) -> list[dict[str, Any]]:
        """Each trigger, schedule and pipeline-starting rule in force: what it starts, how
        far its rule has read the events, what it emitted, and its starts still pending or
        failed (with why)."""
        from scoreline.events.sources import schedule_rule, trigger_rule

        overview = []
        sources: list[tuple[str, Any, RuleSettings]] = [
            ("trigger", t, trigger_rule(t)) for t in self.triggers()
        ]
        sources += [("schedule", s, schedule_rule(s)) for s in self.schedules()]
        implicit = {rule.name for _, _, rule in sources}
        sources += [
            ("rule", r.settings, r.settings)
            for r in self.event_rules()  # variables filled in
            if r.settings.target.start_pipeline and r.name not in implicit
        ]
        for kind, source, rule in sources:
            cursor, _ = self.store.rules.load(rule.name)
            starts = [
                i.to_dict()
                for status in ("pending", "failed")
                for i in self.store.intents.list([rule.name], status)
            ]
            if kind == "trigger":
                watches = source.location
            elif kind == "schedule":
                watches = source.cron
            else:
                watches = ", ".join(source.pattern.get("detail-type", [])) or "events"
            item: dict[str, Any] = {
                "name": source.name,
                "kind": kind,
                "pipeline": rule.target.start_pipeline,
                "watches": watches,
                "rule": rule.name,
                "cursor": cursor,
                "pending": sum(s["status"] == "pending" for s in starts),
                "failed": sum(s["status"] == "failed" for s in starts),
                "starts": starts,
            }
            if kind == "trigger":
                item["emitted"], item["last_emitted_at"] = self.store.sources.emitted(source.name)
            overview.append(item)
        return overview

    def retry_starts(self, name: str) -> int:
        """Try the pending and failed starts of a trigger, schedule or rule again now (a
        running ``serve`` does within its next round); returns how many."""
        rules = {
            **{f"trigger.{t.name}": [t.name] for t in self.triggers()},
            **{f"schedule.{s.name}": [s.name] for s in self.schedules()},
            **{r.name: [r.name] for r in self.rules()},
        }
        matching = [rule for rule, names in rules.items() if name in (rule, *names)]
        if not matching:
            raise NotFoundError(
                f"no trigger, schedule or rule named '{name}'",
                hint="see `scoreline triggers list`",
            )
        return self.store.intents.retry(matching, utcnow())

    def _start_for_rule(
        self, pipeline: str, parameters: dict[str, Any], token: str
    ) -> ExecutionRecord:
        execution = self.start(pipeline, parameters, client_request_token=token, check=False)
        SERVE_LOG.info("started %s execution %s (%s)", pipeline, execution.id, token)
        return execution

    def retry(self, execution_id: str, *, wait: bool = False) -> ExecutionRecord:
        """Run again the failed, stopped and not-run steps of an ended execution."""
        self.recover()
        execution = self.store.get_execution(execution_id)
        if execution.status not in (ExecutionStatus.FAILED.value, ExecutionStatus.STOPPED.value):
            raise StateError(
                f"execution {execution_id} is {execution.status}",
                hint="only Failed or Stopped executions can be retried",
            )
        reopened = self.store.reopen(
            execution_id, self._run_queue(), _starting_owner(os.getpid()) if wait else None
        )
        if wait:
            return self.run_execution(execution_id)
        if reopened.status == ExecutionStatus.EXECUTING.value:
            self._spawn(execution_id)
        return self.store.get_execution(execution_id)

    def stop(self, execution_id: str) -> ExecutionRecord:
        """Ask the execution's orchestrator to stop it (or close it if its orchestrator is
        gone)."""
        record = self.store.request_stop(execution_id)
        self.recover()
        return self.store.get_execution(record.id)

    def execution(self, execution_id: str) -> ExecutionRecord:
        return self.store.get_execution(execution_id)

    def executions(
        self, *, pipeline: str | None = None, status: str | None = None, limit: int = 50
    ) -> list[ExecutionRecord]:
        return self.store.list_executions(pipeline=pipeline, status=status, limit=limit)

    def steps(self, execution_id: str) -> list[StepRecord]:
        self.store.get_execution(execution_id)
        return self.store.get_steps(execution_id)

    def logs(self, execution_id: str, step: str | None = None) -> list[StepLog]:
        """The captured output of each step (or one step) of an execution."""
        steps = self.steps(execution_id)
        if step is not None:
            steps = [s for s in steps if s.step_name == step]
            if not steps:
                raise NotFoundError(f"execution {execution_id} has no step '{step}'")
        logs = []
        for s in steps:
            if not s.log_uri:
                continue
            try:
                text = self.artifacts.read_bytes(s.log_uri).decode("utf-8", errors="replace")
            except Exception:
                text = f"(log not available at {s.log_uri})"
            logs.append(StepLog(s.step_name, s.attempt, text))
        return logs

    def events(
        self,
        *,
        execution_id: str | None = None,
        detail_type: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[EventRecord]:
        return self.store.list_events(
            execution_id=execution_id, detail_type=detail_type, after_seq=after_seq, limit=limit
        )

    def recent_events(
        self,
        *,
        execution_id: str | None = None,
        detail_type: str | None = None,
        since: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 20,
    ) -> tuple[list[EventRecord], int]:
        """The newest events (before ``before_seq``, at or after ``since``), newest first,
        and how many older ones the same filters select."""
        filters: dict[str, Any] = {
            "execution_id": execution_id,
            "detail_type": detail_type,
            "since": since,
        }
        found = self.store.list_events(
            **filters, before_seq=before_seq, limit=limit, newest_first=True
        )
        older = self.store.count_events(**filters, before_seq=found[-1].seq) if found else 0
        return found, older

    # --- internals -----------------------------------------------------------------------

    def _orchestrator(self, take_next: bool = False) -> Orchestrator:
        self.recover()
        return Orchestrator(
            self.store,
            self.artifacts,
            self.project.root,
            self.project.work_dir,
            executor=executor_for(self.project.settings.executor),
            max_workers=self.project.settings.executor.max_workers,
            data_roots=self.data_roots(),
            queue=self._run_queue(),
            on_wait=self.recover,
            store_outage_seconds=self.project.settings.store_outage_seconds,
            take_next_as=_starting_owner(os.getpid()) if take_next else None,
        )

    def _orchestrator_log(self, execution_id: str) -> Path:
        log_dir = self.project.state_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        return log_dir / f"orchestrator-{execution_id}.log"

    def _log_to(self, execution_id: str) -> None:
        """Send this (detached orchestrator) process's output to the log of the execution
        it now runs, so that each execution's log is its own."""
        sys.stdout.flush()
        sys.stderr.flush()
        with self._orchestrator_log(execution_id).open("ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)

    def _spawn(self, execution_id: str) -> None:
        """Start a detached orchestrator process for an execution."""
        with self._orchestrator_log(execution_id).open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scoreline",
                    "--project",
                    str(self.project.root),
                    "_orchestrate",
                    execution_id,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.project.root,
            )
        self.store.mark_starting(execution_id, _starting_owner(process.pid))


def _starting_owner(pid: int) -> str:
    """The owner of an execution whose orchestrator, process ``pid`` here, has not taken
    it yet (starting, or waiting for its turn)."""
    return f"{os.uname().nodename}:{pid}:{STARTING_OWNER}"


def _raw_parameter_defaults(path: Path, pipeline: str) -> dict[str, Any]:
    """Parameter defaults of ``pipeline`` as written in its YAML or JSON file, before
    variables are filled in (empty for Python files)."""
    if path.suffix not in (".yaml", ".yml", ".json"):
        return {}
    from scoreline.yaml12 import load_yaml

    data: Any = load_yaml(path) or {}
    items = data.get("pipelines", [data]) if isinstance(data, dict) else []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("name") == pipeline:
            return {
                str(p.get("name")): p.get("default")
                for p in item.get("parameters") or []
                if isinstance(p, dict)
            }
    return {}


def _only_variable(raw: Any) -> str | None:
    """``name`` when ``raw`` is exactly ``${name}``."""
    if isinstance(raw, str) and raw.startswith("${") and raw.endswith("}") and raw.count("$") == 1:
        return raw[2:-1]
    return None
