"""The project file ``scoreline.yaml``: where a project keeps its state and pipelines.

A project is a folder holding ``scoreline.yaml``. Relative paths in it are relative to that
folder. Everything has an embedded default: a SQLite file and a local artifact folder under
``.scoreline/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from scoreline.environments import DEFAULT_ENV, Environment, load_environment
from scoreline.errors import ConfigError
from scoreline.types import RunQueue
from scoreline.yaml12 import load_yaml

PROJECT_FILE = "scoreline.yaml"
STATE_DIR = ".scoreline"


NEVER_PASSED = ("SCORELINE_STORE", "SCORELINE_TOKEN", "SCORELINE_SMTP_URL")
"""Variables no step ever gets: the store (and its password), API tokens, the SMTP URL."""


class ExecutorSettings(BaseModel):
    """Which executor runs step tasks, and how many at once. ``$SCORELINE_RAY_ADDRESS``, when
    set, selects the Ray executor at that address (like ``$SCORELINE_STORE`` for records)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = "local"
    address: str | None = Field(
        default=None, description="Ray cluster address (host:port of the head) for kind: ray"
    )
    max_workers: int = Field(default=4, ge=1, le=256)
    max_concurrent_executions: int = Field(
        default=0,
        ge=0,
        description="executions of this project that run steps at once; later ones wait, "
        "oldest first (0: two per CPU core, at least 4)",
    )
    mount_namespaces: Literal["auto", "off"] = Field(
        default="auto",
        description="auto: bind steps' container paths (/opt/ml/...) in a private mount "
        "namespace; off: refuse such steps",
    )
    pass_environment: list[str] = Field(
        default_factory=list,
        description="variables of scoreline's own environment that steps also get (names or "
        "globs such as AWS_*); steps otherwise get only their contract, PATH, HOME, locale",
    )

    max_concurrent_per_pipeline: dict[str, PositiveInt] = Field(
        default_factory=dict,
        description="at most this many executions of the named pipeline at once (within "
        "max_concurrent_executions); others wait without holding up other pipelines",
    )

    def run_queue(self) -> RunQueue:
        """The run queue's limits, ``max_concurrent_executions`` 0 read as its default
        (two per CPU core, at least 4)."""
        total = self.max_concurrent_executions or max(4, 2 * (os.cpu_count() or 1))
        return RunQueue(total, dict(self.max_concurrent_per_pipeline))

    @model_validator(mode="after")
    def _never_private(self) -> ExecutorSettings:
        from fnmatch import fnmatchcase

        for pattern in self.pass_environment:
            for private in NEVER_PASSED:
                if fnmatchcase(private, pattern):
                    raise ValueError(f"'{pattern}' would pass {private}, which steps never get")
        return self

    @property
    def ray_address(self) -> str | None:
        """The Ray cluster to run on, or None for the local executor."""
        from_env = os.environ.get("SCORELINE_RAY_ADDRESS")
        if from_env:
            return from_env
        return (self.address or "auto") if self.kind == "ray" else None


class RuleTarget(BaseModel):
    """What a rule does: start a pipeline, and/or send the matching events to the
    notification targets. Parameter values that are strings starting with ``$.`` are paths
    into the triggering event (``$.detail.ModelPackageGroupName``)."""

    model_config = ConfigDict(extra="forbid")

    start_pipeline: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    notify: bool = False

    @model_validator(mode="after")
    def _does_something(self) -> RuleTarget:
        if not self.start_pipeline and not self.notify:
            raise ValueError("a rule target needs start_pipeline or notify: true")
        return self


class Guardrails(BaseModel):
    """Limits on what a rule starts, per scope (e.g. per model package group)."""

    model_config = ConfigDict(extra="forbid")

    scope: str = Field(default="", description="path into the event, e.g. $.detail.group")
    cooldown: str | None = Field(default=None, description="ISO 8601 duration, e.g. PT6H")
    max_in_flight: int = Field(default=1, ge=0, le=1, description="1: one at a time; 0: no limit")
    consecutive: int = Field(default=1, ge=1, description="matching events needed in a row")
    reset_pattern: dict[str, Any] | None = Field(
        default=None, description="events that reset the consecutive count"
    )


class RuleSettings(BaseModel):
    """An event rule (DESIGN §8): an EventBridge-style pattern and what to do on a match."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")
    description: str = ""
    enabled: bool = True
    pattern: dict[str, Any]
    target: RuleTarget
    guardrails: Guardrails = Field(default_factory=Guardrails)


class TriggerSettings(BaseModel):
    """Data arrival: a complete new object (or a new version of one) under ``location``
    whose name matches ``pattern`` starts ``pipeline`` with its URI as ``parameter``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")
    location: str = Field(description="folder or s3://bucket/prefix, e.g. ${bucket_name}/...")
    pattern: str = Field(default="*", description="glob on the object name")
    pipeline: str
    parameter: str = "InputData"
    settle_seconds: float = Field(
        default=2.0, ge=0, description="a local file counts once unchanged this long"
    )


class ScheduleSettings(BaseModel):
    """A cron schedule that starts ``pipeline``; ``missed`` says what to do about ticks
    that passed while nothing was running: ``skip`` them or ``run_once`` for all of them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")
    cron: str
    timezone: str = "UTC"
    pipeline: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    missed: Literal["skip", "run_once"] = "skip"


SUBJECT_FIELDS = (
    "pipeline",
    "pipeline_lower",
    "execution",
    "status",
    "step",
    "group",
    "version",
    "detail_type",
)


class SubjectTemplates(BaseModel):
    """Message subjects per kind of event, as Python format strings over
    :data:`SUBJECT_FIELDS`; " - Action Required" is appended for custom_notification_config
    entries."""

    model_config = ConfigDict(extra="forbid")

    execution: str = "Pipeline: {pipeline} - {status}"
    step: str = "Pipeline Step: {step} - {status}"
    approval: str = "Model {group}/{version} is waiting for approval"
    model: str = "Model {group}/{version}: {status}"
    other: str = "{detail_type}: {pipeline}"

    @model_validator(mode="after")
    def _known_fields(self) -> SubjectTemplates:
        import string

        for kind, template in self.model_dump().items():
            try:
                names = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            except ValueError as exc:
                raise ValueError(f"{kind}: {exc}") from None
            unknown = [n for n in names if n not in SUBJECT_FIELDS]
            if unknown:
                raise ValueError(
                    f"{kind}: unknown field {{{unknown[0]}}}; known: {', '.join(SUBJECT_FIELDS)}"
                )
        return self


SUBJECT_PRESETS = {
    "scoreline": SubjectTemplates(),
    # The reference's Lambda: mail filters written for it keep matching. Its pipeline name
    # was the last segment of the pipeline ARN, hence lower case.
    "reference": SubjectTemplates(
        execution="SageMaker Pipeline: {pipeline_lower} Execution - {status}",
        step="SageMaker Pipeline Step: {step} Execution - {status}",
    ),
}


NotifyOn = Literal[
    "outcomes",
    "failed_steps",
    "custom_steps",
    "violations",
    "approvals",
    "executions",
    "steps",
    "model_changes",
]
DEFAULT_NOTIFY_ON: tuple[NotifyOn, ...] = (
    "outcomes",
    "failed_steps",
    "custom_steps",
    "violations",
    "approvals",
)


class NotificationSettings(BaseModel):
    """Where status changes are sent. Email goes to the environment's ``email_recipient``
    through ``smtp`` (or ``$SCORELINE_SMTP_URL``); ``urls`` are further apprise targets."""

    model_config = ConfigDict(extra="forbid")

    smtp: str | None = Field(default=None, description="smtp://host:port (or smtps://)")
    sender: str = "scoreline@localhost"
    urls: list[str] = Field(default_factory=list)
    notify_on: list[NotifyOn] = Field(
        default_factory=lambda: list(DEFAULT_NOTIFY_ON),
        description="what is sent: outcomes, failed_steps, custom_steps, violations, "
        "approvals (the default), and to widen: executions (every execution status change), "
        "steps (every step status change), model_changes (every approval change)",
    )
    events: list[str] | None = Field(
        default=None,
        description="send every event of these detail-types instead of notify_on",
    )
    ui_url: str | None = Field(
        default=None,
        description="the UI's base URL for links in messages (e.g. https://host/ui); "
        "default: the address `serve` serves the UI on",
    )
    subjects: SubjectTemplates | str = Field(
        default="scoreline",
        description=f"a preset ({', '.join(SUBJECT_PRESETS)}) or templates per kind",
    )
    max_attempts: int = Field(
        default=8, ge=1, description="fast retries (1 s, 2 s, 4 s ...) before the slow ones"
    )
    retry_for_hours: float = Field(
        default=24.0,
        gt=0,
        description="after the fast retries, try every 10 minutes until the message is this "
        "old; then it is a dead letter (`scoreline notifications retry` sends it again)",
    )

    @field_validator("subjects", mode="before")
    @classmethod
    def _preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in SUBJECT_PRESETS:
                raise ValueError(
                    f"'{value}' is not a subject preset; use {' or '.join(SUBJECT_PRESETS)}, "
                    "or templates per kind"
                )
            return value
        if isinstance(value, dict):
            try:
                return SubjectTemplates.model_validate(value)
            except ValidationError as exc:
                where, text = first_error(exc)
                raise ValueError(f"{where}: {text}" if where else text) from None
        return value

    def subject_templates(self) -> SubjectTemplates:
        return SUBJECT_PRESETS[self.subjects] if isinstance(self.subjects, str) else self.subjects


class S3Settings(BaseModel):
    """How to reach an S3-compatible store (artifacts, s3:// inputs, bucket triggers), when
    the environment's ``AWS_*`` variables are not to decide alone. No secrets here: keys
    come from ``AWS_*`` or from ``profile`` in the AWS credentials file."""

    model_config = ConfigDict(extra="forbid")

    endpoint_url: str | None = Field(
        default=None, description="e.g. http://127.0.0.1:8333; else $AWS_ENDPOINT_URL"
    )
    region: str | None = Field(default=None, description="else $AWS_DEFAULT_REGION")
    profile: str | None = Field(
        default=None, description="a profile of the AWS credentials file (~/.aws/credentials)"
    )

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"key", "secret", "aws_secret_access_key"} & set(data):
            raise ValueError(
                "keys do not belong in scoreline.yaml: use AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or a profile"
            )
        return data

    def storage_options(self) -> dict[str, dict[str, Any]]:
        """fsspec storage options by protocol (what s3fs takes)."""
        options: dict[str, Any] = {}
        if self.endpoint_url:
            options["endpoint_url"] = self.endpoint_url
        if self.region:
            options["client_kwargs"] = {"region_name": self.region}
        if self.profile:
            options["profile"] = self.profile
        return {"s3": options} if options else {}


class ServerSettings(BaseModel):
    """How ``scoreline serve`` protects its API and UI (see docs/security.md)."""

    model_config = ConfigDict(extra="forbid")

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names accepted besides 127.0.0.1, localhost and [::1] (and the "
        "--host address); '*' accepts any",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, description="larger: 413")
    max_upload_bytes: int = Field(
        default=4 * 1024**3,
        ge=1024,
        description="body limit of a model upload (POST /api/v1/models/GROUP/versions), read "
        "only from a caller that may register models; larger: 413",
    )
    session_idle_minutes: float = Field(default=30, gt=0, le=7 * 24 * 60)
    session_max_hours: float = Field(default=12, gt=0, le=24 * 90)
    unauthenticated_per_minute: int = Field(
        default=30, ge=1, description="refused requests per client address, then 429"
    )


class ProjectSettings(BaseModel):
    """Contents of ``scoreline.yaml``."""

    model_config = ConfigDict(extra="forbid")

    name: str = "scoreline-project"
    store: str | None = Field(default=None, description="SQLAlchemy URL of the metadata store")
    artifacts: str | None = Field(default=None, description="fsspec URI of the artifact root")
    s3: S3Settings = Field(default_factory=S3Settings)
    pipelines: list[str] = Field(default_factory=lambda: ["pipelines/*.yaml", "pipelines/*.py"])
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)
    lease_seconds: float = Field(default=30.0, gt=0)
    store_outage_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long orchestrators and senders wait out an unreachable metadata "
        "store (a database restart) before failing",
    )
    rules: list[RuleSettings] = Field(default_factory=list)
    triggers: list[TriggerSettings] = Field(default_factory=list)
    schedules: list[ScheduleSettings] = Field(default_factory=list)
    notifications: NotificationSettings = Field(default_factory=NotificationSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    data_roots: list[str] = Field(
        default_factory=list,
        description="folders or s3://bucket/prefix locations that path parameters may name, "
        "besides the project folder, the artifact root and trigger locations",
    )


class Project:
    """A loaded project: its root folder and settings, with the defaults resolved."""

    def __init__(self, root: Path, settings: ProjectSettings) -> None:
        self.root = root.resolve()
        self.settings = settings

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def store_url(self) -> str:
        url = os.environ.get("SCORELINE_STORE") or self.settings.store
        if url:
            return url
        return f"sqlite:///{self.state_dir / 'scoreline.db'}"

    @property
    def artifact_root(self) -> str:
        root = os.environ.get("SCORELINE_ARTIFACTS") or self.settings.artifacts
        if not root:
            return str(self.state_dir / "artifacts")
        if "://" in root:
            return root
        return str((self.root / root).resolve())

    @property
    def storage_options(self) -> dict[str, dict[str, Any]]:
        """fsspec options by protocol for the artifact store, inputs and triggers."""
        return self.settings.s3.storage_options()

    @property
    def work_dir(self) -> Path:
        """Local scratch space for step working folders and logs."""
        return self.state_dir / "work"

    @property
    def env_name(self) -> str:
        """The environment whose variables apply: ``$SCORELINE_ENV``, else ``dev``."""
        return os.environ.get("SCORELINE_ENV") or DEFAULT_ENV

    def environment(self, env: str | None = None) -> Environment:
        """The variables of ``env`` (default: the current one) and where each came from;
        naming an environment that has no file is an error."""
        return load_environment(self.root, env or self.env_name, required=env is not None)

    def variables(self, env: str | None = None) -> dict[str, Any]:
        """Variables for ``env``: built-in defaults, then its environment file."""
        return self.environment(env).values()

    def pipeline_files(self) -> list[Path]:
        files: list[Path] = []
        for pattern in self.settings.pipelines:
            files.extend(sorted(p for p in self.root.glob(pattern) if p.is_file()))
        return [f for f in files if not f.name.endswith(".params.yaml")]


def load_project(start: Path | None = None) -> Project:
    """Find ``scoreline.yaml`` in ``start`` (or ``$SCORELINE_PROJECT``, or the current folder)
    or one of its parents, and load it."""
    origin = (start or Path(os.environ.get("SCORELINE_PROJECT") or Path.cwd())).resolve()
    for folder in (origin, *origin.parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return Project(folder, read_settings(candidate))
    raise ConfigError(
        f"no {PROJECT_FILE} found",
        where=str(origin),
        hint="run `scoreline init DIR` or pass --project DIR",
    )


def read_settings(path: Path) -> ProjectSettings:
    """Parse and validate a ``scoreline.yaml`` file."""
    raw: Any = load_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError("expected a mapping at the top level", where=str(path))
    try:
        return ProjectSettings.model_validate(raw)
    except ValidationError as exc:
        key, text = first_error(exc)
        raise ConfigError(f"key '{key}': {text}", where=str(path)) from exc


def first_error(exc: ValidationError) -> tuple[str, str]:
    """Where (dotted keys) and what, of a validation's first error, as one line."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return where, str(first["msg"]).removeprefix("Value error, ")
