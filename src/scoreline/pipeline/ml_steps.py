"""The built-in machine-learning step kinds: ``quality_check``, ``tuning``,
``batch_transform``, ``register_model`` and ``resolve_model``.

They register in :mod:`scoreline.plugins` like any plugin would. The first
three run through an executor (scoreline's own code in a subprocess); the registry steps run
inside the orchestrator, which is the only writer of records.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoreline import plugins
from scoreline.pipeline.expressions import Value
from scoreline.pipeline.steps import PropertyFile, PythonEnvironment, StepBase, TrainingStep


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _TaskStep(StepBase):
    """A built-in step that runs as a task; ``property_files`` may name its outputs' JSON."""

    property_files: list[PropertyFile] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0)

    def declared_property_files(self) -> list[PropertyFile]:
        return list(self.property_files)

    @property
    def runs_as_task(self) -> bool:
        return True


class QualityCheckStep(_TaskStep):
    """Data quality (statistics, constraints, violations against a baseline), model quality
    (predictions against ground truth), or model quality estimated before the ground truth
    arrives (the batch ``dataset`` scored by ``model``, against the version's labelled
    ``reference``), written to the output ``report`` in Model Monitor's formats. A
    violation is an alert: the step succeeds unless ``fail_on_violation``."""

    location_fields = (
        "dataset",
        "baseline_statistics",
        "baseline_constraints",
        "predictions",
        "ground_truth",
        "model",
        "preprocessing",
        "reference",
    )

    handler: ClassVar[str] = "scoreline.engine.ml_handlers:QualityCheckHandler"
    kind: Literal["quality_check"] = "quality_check"
    check_type: Literal["data_quality", "model_quality", "model_quality_estimate"] = "data_quality"
    # data quality
    dataset: Value | None = None
    columns: list[str] | None = None
    header: bool = False
    baseline_statistics: Value | None = None
    baseline_constraints: Value | None = None
    skip_check: Value = False
    register_new_baseline: Value = False
    # model quality
    predictions: Value | None = None
    ground_truth: Value | None = None
    problem_type: Literal["regression", "binary_classification", "multiclass_classification"] = (
        "regression"
    )
    prediction_column: str | int = 0
    ground_truth_column: str | int = 0
    id_column: str | None = None
    mse_threshold: Value | None = None
    thresholds: dict[str, Value] = Field(
        default_factory=dict, description="metric -> threshold, e.g. {accuracy: 0.8}"
    )
    fail_on_violation: Value = False
    # model quality estimate (also dataset, header, columns, ground_truth_column, thresholds)
    model: Value | None = None
    preprocessing: Value | None = None
    reference: Value | None = None

    @model_validator(mode="after")
    def _inputs_for_type(self) -> QualityCheckStep:
        if self.check_type != "model_quality" and self.dataset is None:
            raise ValueError(f"a {self.check_type} check needs 'dataset'")
        if self.check_type == "model_quality_estimate" and (
            self.model is None or self.reference is None
        ):
            raise ValueError("a model_quality_estimate check needs 'model' and 'reference'")
        if self.check_type == "model_quality" and (
            self.predictions is None or self.ground_truth is None
        ):
            raise ValueError("a model_quality check needs 'predictions' and 'ground_truth'")
        return self

    def declared_outputs(self) -> list[str]:
        return ["report"]


class ParameterRange(_Config):
    """A hyperparameter range: ``integer`` and ``continuous`` between bounds (``log`` scaling
    optional), or ``categorical`` values."""

    type: Literal["integer", "continuous", "categorical"]
    min: float | None = None
    max: float | None = None
    values: list[str | int | float] | None = None
    scaling: Literal["linear", "log"] = "linear"

    @model_validator(mode="after")
    def _bounds(self) -> ParameterRange:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical range needs 'values'")
        elif self.min is None or self.max is None or self.min > self.max:
            raise ValueError("a range needs 'min' <= 'max'")
        return self


class Objective(_Config):
    """What the tuner optimises: a value printed in the trial's log (``metric_regex``, the
    reference's ``MSE = ([0-9\\.]+)``) or read from a JSON file in the trial's ``output``."""

    metric_name: str = "validation:mse"
    type: Literal["Minimize", "Maximize"] = "Minimize"
    metric_regex: str | None = None
    metric_file: str | None = None
    metric_path: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Objective:
        if (self.metric_regex is None) == (self.metric_file is None):
            raise ValueError("an objective needs exactly one of 'metric_regex' or 'metric_file'")
        if self.metric_file is not None and not self.metric_path:
            raise ValueError("'metric_file' needs 'metric_path' (e.g. regression_metrics.mse)")
        return self


class TuningStep(TrainingStep):
    """Hyperparameter tuning with Optuna: runs the training script once per trial (at most
    ``max_parallel_jobs`` at a time); the best trial's ``model`` and ``output`` are the step's
    outputs and every trial is recorded in ``trials/trials.json`` and the step metadata."""

    handler: ClassVar[str] = "scoreline.engine.ml_handlers:TuningHandler"
    kind: Literal["tuning"] = "tuning"  # type: ignore[assignment]
    outputs: list[str] = Field(default_factory=lambda: ["model", "output", "trials"])
    ranges: dict[str, ParameterRange] = Field(min_length=1)
    objective: Objective
    max_jobs: Value = 4
    max_parallel_jobs: Value = 1
    strategy: Literal["tpe", "random", "grid"] = "tpe"
    seed: int = 0

    @model_validator(mode="after")
    def _has_trials_output(self) -> TuningStep:
        for name in ("model", "trials"):
            if name not in self.outputs:
                raise ValueError(f"a tuning step must declare the output '{name}'")
        if self.container_paths:
            raise ValueError(
                "tuning trials do not use container paths; the training script reads its "
                "folders from SM_CHANNEL_<NAME> and SM_MODEL_DIR"
            )
        return self


OutputColumn = Literal["prediction", "probabilities"]
OUTPUT_COLUMNS: tuple[OutputColumn, ...] = ("prediction", "probabilities")


class BatchTransformStep(_TaskStep):
    """Scores ``data`` with a model folder and its fitted preprocessing (DESIGN §5): streams
    in chunks, one prediction per input row in input order, written to the output
    ``predictions``; rejected rows (``on_error: reject``) go to ``predictions/rejected.csv``.

    With ``entry_point``, the model is served the way SageMaker's framework containers serve
    it: the script's ``model_fn``, ``input_fn``, ``predict_fn`` and ``output_fn`` (defaults
    where one is missing) answer mini-batches of the input's lines, in the step's ``python``
    environment; ``output_layout: sagemaker`` writes ``<input file>.out`` as Batch Transform
    does."""

    location_fields = ("data", "model", "preprocessing")

    handler: ClassVar[str] = "scoreline.engine.ml_handlers:BatchTransformHandler"
    kind: Literal["batch_transform"] = "batch_transform"
    data: Value
    model: Value
    preprocessing: Value | None = None
    columns: list[str] | None = None
    header: bool = False
    output_format: Literal["csv", "parquet"] | None = None
    id_column: str | None = None
    output_columns: list[OutputColumn] = Field(
        default_factory=lambda: list(OUTPUT_COLUMNS),
        min_length=1,
        description="for a classifier: the predicted label and/or one proba_<class> column "
        "per class (a regressor writes its prediction)",
    )
    threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="for a binary classifier: predict the positive class when its probability "
        "is at least this (default: the more probable class)",
    )
    on_error: Literal["fail", "reject"] = "fail"
    allow_empty: bool = Field(
        default=False, description="let an input without rows succeed (0 rows scored)"
    )
    threads: int = Field(default=0, ge=0)
    statistics: bool = Field(
        default=False, description="also write statistics.json of the input, in the same pass"
    )
    shares: int = Field(
        default=0,
        ge=0,
        description="on a Ray cluster: tasks to split the input into (0: one per CPU)",
    )
    entry_point: str | None = Field(
        default=None, description="inference script with SageMaker's handler functions"
    )
    python: PythonEnvironment | None = None
    content_type: str = "text/csv"
    accept: str = "application/json"
    split_type: Literal["Line", "None"] = "Line"
    batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord"
    max_payload_mb: float = Field(default=6.0, gt=0, le=100)
    assemble_with: Literal["None", "Line"] = "None"
    output_layout: Literal["rows", "sagemaker"] = "rows"

    @model_validator(mode="after")
    def _handler_options(self) -> BatchTransformStep:
        if self.entry_point is None:
            if self.output_layout == "sagemaker" or self.python is not None:
                raise ValueError("'output_layout: sagemaker' and 'python' need an 'entry_point'")
            return self
        if self.threshold is not None or self.output_columns != list(OUTPUT_COLUMNS):
            raise ValueError("'output_columns' and 'threshold' apply to built-in flavors only")
        for name in ("preprocessing", "columns", "id_column"):
            if getattr(self, name) is not None:
                raise ValueError(
                    f"'{name}' applies to built-in flavors; with an entry_point the "
                    "script's input_fn prepares the data"
                )
        if self.statistics or self.on_error != "fail" or self.output_format is not None:
            raise ValueError(
                "'statistics', 'on_error' and 'output_format' apply to built-in flavors only"
            )
        return self

    def declared_outputs(self) -> list[str]:
        return ["predictions"]


class RegisterModelStep(StepBase):
    """Registers a new, immutable model version in ``model_package_group_name`` with its
    fitted preprocessing, metrics, data-quality baseline and lineage (DESIGN §6)."""

    location_fields = ("model", "preprocessing", "metrics", "baseline", "reference")

    handler: ClassVar[str] = "scoreline.engine.registry_handlers:RegisterModelHandler"
    kind: Literal["register_model"] = "register_model"
    model_package_group_name: Value
    model: Value
    flavor: str = "xgboost"
    trusted_types: list[str] = Field(
        default_factory=list,
        description="sklearn flavor: types the skops file may hold beyond skops' trusted "
        "defaults (recorded with the version, checked on every load)",
    )
    preprocessing: Value | None = None
    metrics: Value | None = Field(default=None, description="evaluation.json, or its folder")
    baseline: Value | None = Field(
        default=None, description="folder with statistics.json and constraints.json"
    )
    reference: Value | None = Field(
        default=None,
        description="labelled rows the model did not train on (the test split: its input "
        "columns and the true value, with a header), kept with the version to estimate its "
        "quality on new batches before their labels arrive",
    )
    approval_status: Value = "PendingManualApproval"
    model_description: Value = ""
    user_id: Value | None = None
    force_new_version: Value = Field(
        default=False,
        description="register a new version even when one with the same model and "
        "preprocessing content exists (by default that version is returned)",
    )

    @field_validator("flavor")
    @classmethod
    def _known_flavor(cls, value: str) -> str:
        known = plugins.names("flavors")
        if value not in known:
            raise ValueError(f"unknown flavor '{value}' (known: {', '.join(known)})")
        return value


class ResolveModelStep(StepBase):
    """Chooses the model version for this execution when it runs (the reference's
    ``CreateModelStep``, without pinning a version at creation): the latest ``Approved``
    version, or the version or alias ``version`` names. Its outputs are that version's
    artifacts, and the choice is recorded in the step's metadata."""

    handler: ClassVar[str] = "scoreline.engine.registry_handlers:ResolveModelHandler"
    kind: Literal["resolve_model"] = "resolve_model"
    model_package_group_name: Value
    version: Value = Field(default="", description="'' = latest Approved; N; or an alias")

    def declared_outputs(self) -> list[str]:
        return list(RESOLVED_OUTPUTS)


RESOLVED_OUTPUTS = (
    "model",
    "preprocessing",
    "statistics",
    "constraints",
    "evaluation",
    "reference",
)
