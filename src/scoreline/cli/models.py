"""``scoreline models list|show|approve|reject|alias``: the model registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scoreline.cli import render
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client
from scoreline.errors import ParameterError

app = typer.Typer(help="The model registry: versions, approval, aliases.", no_args_is_help=True)

Comment = Annotated[str, typer.Option("--comment", "-m", help="Why (kept in the audit trail).")]


HEADLINE_METRICS = (
    ("regression_metrics", "mse"),
    ("binary_classification_metrics", "auc"),
    ("multiclass_classification_metrics", "accuracy"),
)


def _metric(record: Any) -> str:
    """The version's headline evaluation metric, named: mse, auc or accuracy."""
    for section, name in HEADLINE_METRICS:
        value = record.metrics.get(section, {}).get(name, {}).get("value")
        if isinstance(value, int | float):
            return f"{name} {value:.4f}"
    return "-"


@app.command("list")
def list_models(
    group: Annotated[str | None, typer.Argument(help="Only this model package group.")] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only this approval status.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """List model versions, newest first within each group."""
    records = client().models(group, status)
    if as_json:
        render.print_json([r.to_dict() for r in records])
        return
    render.table(
        None,
        ["Group", "Version", "Status", "Metric", "Aliases", "Created", "By", "Execution"],
        [
            (
                r.group_name,
                r.version,
                render.status(r.approval_status),
                _metric(r),
                ", ".join(r.aliases),
                render.when(r.created_at),
                r.created_by,
                r.lineage.get("pipelineExecutionId", ""),
            )
            for r in records
        ],
    )


Sample = Annotated[
    Path | None,
    typer.Option(
        "--sample",
        help="Input data with a header (CSV or Parquet): input schema and data-quality baseline.",
    ),
]
Target = Annotated[
    str | None, typer.Option("--target", help="The sample's label column (not an input).")
]
Metrics = Annotated[
    Path | None, typer.Option("--metrics", help="A JSON file of evaluation metrics.")
]
Description = Annotated[str, typer.Option("--description", help="Free text.")]
Trust = Annotated[
    list[str] | None,
    typer.Option(
        "--trust", help="A type a skops file may hold beyond skops' trusted defaults (repeatable)."
    ),
]
Status = Annotated[str | None, typer.Option("--status", help="Approval status of the new version.")]

IMPORT_KINDS = ("mlflow", "sagemaker")


def _common(
    sample: Path | None,
    target: str | None,
    metrics: Path | None,
    description: str,
    trust: list[str] | None,
    status: str | None,
) -> dict[str, Any]:
    """The options every way of registering shares, as ModelSource fields."""
    options: dict[str, Any] = {
        "sample": sample,
        "target": target,
        "metrics": metrics,
        "description": description,
        "trusted": tuple(t.strip() for t in trust or () if t.strip()),
    }
    if status is not None:
        options["status"] = status
    return options


def _registered(group: str, source: Any, as_json: bool) -> None:
    record, existing = client().register_model(group, source)
    if as_json:
        render.print_json({**record.to_dict(), "existing": existing})
        return
    kind = record.input_schema.get("problemType", "regression")
    what = f"{record.group_name}/{record.version} ({record.flavor}, {kind})"
    if existing:
        render.console.print(f"Already registered as {what}: the same model file")
        return
    render.console.print(f"Registered {what}: {render.status(record.approval_status)}")


@app.command("register")
def register(
    group: Annotated[str, typer.Argument(help="Model package group (created on first use).")],
    path: Annotated[
        Path, typer.Argument(help="The model file, or a folder holding one.", show_default=False)
    ],
    flavor: Annotated[
        str | None,
        typer.Option(
            "--flavor", help="xgboost, lightgbm, catboost, onnx or sklearn (default: detected)."
        ),
    ] = None,
    problem_type: Annotated[
        str | None,
        typer.Option(
            "--problem-type", help="regression, binary or multiclass (checked against the model)."
        ),
    ] = None,
    classes: Annotated[
        str | None,
        typer.Option("--classes", help="Class labels in probability order, comma-separated."),
    ] = None,
    sample: Sample = None,
    target: Target = None,
    metrics: Metrics = None,
    description: Description = "",
    trust: Trust = None,
    status: Status = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a model trained anywhere (a notebook, another tool) as a new version.
    Pickles are refused: save scikit-learn models with skops, or convert them to ONNX."""
    from scoreline.model_import import ModelSource

    source = ModelSource(
        path=path,
        flavor=flavor,
        problem_type=problem_type,
        classes=tuple(c.strip() for c in classes.split(",")) if classes else None,
        **_common(sample, target, metrics, description, trust, status),
    )
    _registered(group, source, as_json)


@app.command("import")
def import_model(
    kind: Annotated[str, typer.Argument(help="mlflow or sagemaker.", show_default=False)],
    path: Annotated[
        Path, typer.Argument(help="An MLflow model folder (with MLmodel), or a model.tar.gz.")
    ],
    group: Annotated[
        str | None,
        typer.Option("--group", help="Model package group (sagemaker: default the package's)."),
    ] = None,
    package: Annotated[
        Path | None,
        typer.Option(
            "--package",
            help="sagemaker: the JSON of `aws sagemaker describe-model-package` for it.",
        ),
    ] = None,
    sample: Sample = None,
    target: Target = None,
    metrics: Metrics = None,
    description: Description = "",
    trust: Trust = None,
    status: Status = None,
    as_json: JsonFlag = False,
) -> None:
    """Import a model from another registry's files. MLflow: the xgboost, lightgbm,
    catboost, onnx and (skops) sklearn flavors, the signature as input schema. SageMaker: a
    model.tar.gz holding a model in a safe format, with the package's approval status,
    description, metrics and lineage. Pickled models are refused."""
    import tempfile

    from scoreline.model_import import mlflow_source, sagemaker_group, sagemaker_source

    if kind not in IMPORT_KINDS:
        raise ParameterError(f"'{kind}' is not mlflow or sagemaker", where="KIND")
    common = _common(sample, target, metrics, description, trust, status)
    if kind == "mlflow" and package is not None:
        raise ParameterError("applies to sagemaker imports", where="--package")
    name = group or (sagemaker_group(package) if kind == "sagemaker" else None)
    if not name:
        hint = "or give --package" if kind == "sagemaker" else None
        raise ParameterError("a model package group is needed", where="--group", hint=hint)
    if kind == "mlflow":
        _registered(name, mlflow_source(path, **common), as_json)
        return
    with tempfile.TemporaryDirectory(prefix="scoreline-import-") as tmp:
        _registered(name, sagemaker_source(path, package, Path(tmp), **common), as_json)


@app.command("predict")
def predict(
    group: Annotated[str, typer.Argument(help="Model package group.")],
    version: Annotated[
        str, typer.Argument(help="A version number, an alias, or 'latest' (latest Approved).")
    ],
    data: Annotated[
        str,
        typer.Option(
            "--input", help="A CSV file with a header, a Parquet file, or a folder/prefix of them."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", help="Where to copy the predictions: a file, or a folder."),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="csv or parquet (default: the output's or input's)."),
    ] = None,
    id_column: Annotated[
        str | None,
        typer.Option("--id-column", help="An input column to copy into the predictions."),
    ] = None,
    header: Annotated[
        bool,
        typer.Option(
            "--header/--no-header",
            help="Whether CSV input starts with a header; without one, the columns are the "
            "model's inputs in order.",
        ),
    ] = True,
    as_json: JsonFlag = False,
) -> None:
    """Score data with a registered version, as a recorded execution (the built-in
    ModelsPredict pipeline): kept, monitored and retryable like any other."""
    if output_format is None and output is not None and output.suffix in (".csv", ".parquet"):
        output_format = output.suffix[1:]
    if output_format not in (None, "csv", "parquet"):
        raise ParameterError(f"'{output_format}' is not csv or parquet", where="--format")
    selector = "" if version == "latest" else version
    execution, files = client().predict(
        group,
        selector,
        data,
        output,
        output_format,  # type: ignore[arg-type]
        id_column,
        header=header,
    )
    if as_json:
        render.print_json({**execution.to_dict(), "files": [str(f) for f in files]})
    else:
        render.console.print(
            f"Execution {execution.id}: {render.status(execution.status)}", highlight=False
        )
        for file in files:
            render.console.print(f"Predictions: {file}", highlight=False)
        if execution.failure_reason:
            render.console.print(
                f"Reason: {execution.failure_reason}", highlight=False, soft_wrap=True
            )
    if execution.status != "Succeeded":
        raise typer.Exit(1)


@app.command("show")
def show(group: str, version: int, as_json: JsonFlag = False) -> None:
    """Show one version: artifact, metrics, baseline, lineage and approval history."""
    record = client().model(group, version)
    if as_json:
        render.print_json(record.to_dict())
        return
    console = render.console
    console.print(
        f"Model [bold]{record.group_name}/{record.version}[/bold] "
        f"({record.flavor}): {render.status(record.approval_status)}"
        + (f"  aliases: {', '.join(record.aliases)}" if record.aliases else "")
    )
    console.print(f"Artifact: {record.artifact_uri}", highlight=False)
    console.print(f"sha256:   {record.artifact_sha256}", highlight=False)
    if record.preprocessing_uri:
        console.print(f"Preprocessing: {record.preprocessing_uri}", highlight=False)
    problem = record.input_schema.get("problemType")
    if problem:
        classes = record.input_schema.get("classes")
        console.print(
            f"Problem type: {problem}"
            + (f" (classes {', '.join(map(str, classes))})" if classes else ""),
            highlight=False,
        )
    features = [f["name"] for f in record.input_schema.get("features", [])]
    if features:
        console.print(f"Input features: {', '.join(features)}", highlight=False)
    for section, _ in HEADLINE_METRICS:
        metrics = record.metrics.get(section, {})
        shown = [
            f"{k}={v['value']:.4f}"
            for k, v in metrics.items()
            if isinstance(v, dict) and isinstance(v.get("value"), int | float)
        ]
        if shown:
            console.print("Metrics: " + ", ".join(shown), highlight=False)
    for name, uri in record.baseline.items():
        console.print(f"Baseline {name}: {uri}", highlight=False)
    lineage = record.lineage
    if lineage.get("source") == "file":
        console.print(
            f"Lineage: registered from file {lineage.get('file')} by {lineage.get('userId')}",
            highlight=False,
        )
    elif lineage:
        console.print(
            f"Lineage: {lineage.get('pipelineName')} execution "
            f"{lineage.get('pipelineExecutionId')} by {lineage.get('userId')}",
            highlight=False,
        )
    render.table(
        "Approval history",
        ["When", "From", "To", "By", "Comment"],
        [
            (render.when(h.at), h.previous_status or "", h.status, h.actor, h.comment)
            for h in record.history
        ],
    )


def _set_status(
    group: str, version: int, status: str, comment: str, as_json: bool, **aliases: Any
) -> None:
    record = client().set_model_status(group, version, status, comment, **aliases)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.console.print(
        f"Model {record.group_name}/{record.version}: {render.status(record.approval_status)}"
    )


@app.command("approve")
def approve(group: str, version: int, comment: Comment = "", as_json: JsonFlag = False) -> None:
    """Approve a version: inference runs pick the latest Approved version when they start."""
    _set_status(group, version, "Approved", comment, as_json)


@app.command("reject")
def reject(
    group: str,
    version: int,
    comment: Comment = "",
    move_aliases_to: Annotated[
        int | None,
        typer.Option("--move-aliases-to", help="Move this version's aliases to VERSION.", min=1),
    ] = None,
    drop_aliases: Annotated[
        bool, typer.Option("--drop-aliases", help="Remove this version's aliases.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Reject a version (also an Approved one, which then stops being used). A version with
    aliases needs --move-aliases-to or --drop-aliases."""
    _set_status(
        group,
        version,
        "Rejected",
        comment,
        as_json,
        move_aliases_to=move_aliases_to,
        drop_aliases=drop_aliases,
    )


@app.command("alias")
def alias(group: str, version: int, name: str, as_json: JsonFlag = False) -> None:
    """Point alias NAME (e.g. champion) at a version that is not Rejected; approval is
    unchanged."""
    record = client().set_model_alias(group, version, name)
    if as_json:
        render.print_json(record.to_dict())
        return
    render.console.print(f"{group}@{name} -> version {record.version}")
