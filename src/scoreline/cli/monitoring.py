"""``scoreline monitoring baseline|check|show|history``: data quality outside a pipeline
(like Model Monitor's analyzer), and the monitoring results recorded by pipelines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scoreline.cli import render
from scoreline.cli.render import JsonFlag
from scoreline.cli.state import client

app = typer.Typer(help="Data and model quality: baselines, checks, results.", no_args_is_help=True)

Header = Annotated[
    bool, typer.Option("--header/--no-header", help="CSV files start with a header line.")
]
Columns = Annotated[
    str | None, typer.Option("--columns", help="Column names, comma separated (headerless CSV).")
]
Output = Annotated[Path, typer.Option("--output", "-o", help="Folder for the JSON reports.")]


def _columns(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


@app.command("baseline")
def baseline(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file, or a folder of them.")],
    output: Output,
    header: Header = False,
    columns: Columns = None,
) -> None:
    """Write statistics.json and constraints.json (Model Monitor formats) for DATA."""
    from scoreline.data.io import use_jemalloc, without_pandas
    from scoreline.monitoring.dataset import profile_data, write_baseline

    use_jemalloc()
    with without_pandas():
        current = profile_data(data, header, _columns(columns))
        _, constraints = write_baseline(current, output)
    render.console.print(
        f"Baseline of {current.item_count} rows, {len(constraints.features)} features: "
        f"{output / 'statistics.json'}, {output / 'constraints.json'}",
        highlight=False,
    )


@app.command("check")
def check(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file, or a folder of them.")],
    output: Output,
    baseline: Annotated[
        Path | None,
        typer.Option("--baseline", help="Folder with statistics.json and constraints.json."),
    ] = None,
    statistics: Annotated[
        Path | None, typer.Option("--statistics", help="Baseline statistics.json.")
    ] = None,
    constraints: Annotated[
        Path | None, typer.Option("--constraints", help="Baseline constraints.json.")
    ] = None,
    header: Header = False,
    columns: Columns = None,
    fail_on_violation: Annotated[
        bool, typer.Option("--fail-on-violation", help="Exit 1 when there is a violation.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check DATA against a baseline; writes statistics.json and constraint_violations.json."""
    from scoreline.data.io import load_json_object, use_jemalloc, without_pandas
    from scoreline.errors import ParameterError
    from scoreline.monitoring.dataset import constraint_domains, profile_data, write_check

    use_jemalloc()
    if baseline is not None:
        statistics = statistics or baseline / "statistics.json"
        constraints = constraints or baseline / "constraints.json"
    if constraints is None:
        raise ParameterError(
            "no baseline given", where="--baseline", hint="give --baseline DIR or --constraints"
        )
    baseline_statistics = load_json_object(statistics) if statistics else None
    baseline_constraints = load_json_object(constraints)
    with without_pandas():
        current = profile_data(
            data,
            header,
            _columns(columns),
            baseline_statistics,
            domains=constraint_domains(baseline_constraints),
        )
        report = write_check(current, baseline_constraints, baseline_statistics, output)
    violations = [v.to_json() for v in report.violations]
    if as_json:
        render.print_json({"item_count": current.item_count, "violations": violations})
    elif violations:
        render.table(
            f"{len(violations)} violation(s) in {current.item_count} rows",
            ["Feature", "Check", "Value", "Threshold", "Description"],
            [
                (
                    v["feature_name"],
                    v["constraint_check_type"],
                    _number(v.get("value")),
                    _number(v.get("threshold")),
                    v["description"],
                )
                for v in violations
            ],
        )
    else:
        render.console.print(f"No violations in {current.item_count} rows.")
    if violations and fail_on_violation:
        raise typer.Exit(1)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else ""


@app.command("show")
def show(execution_id: str, as_json: JsonFlag = False) -> None:
    """The monitoring results an execution recorded."""
    results = client().monitoring_results(execution_id)
    if as_json:
        render.print_json([r.to_dict() for r in results])
        return
    for r in results:
        model = f"{r.group_name}/{r.model_version}" if r.group_name else "no model"
        verdict = "passed" if r.passed else f"{r.violation_count} violation(s)"
        render.console.print(
            f"[bold]{r.step_name}[/bold] ({r.check_type}, {model}): {verdict}", highlight=False
        )
        if r.metrics:
            render.console.print(
                "  " + ", ".join(f"{k}={v['value']:.4g}" for k, v in r.metrics.items()),
                highlight=False,
            )
        if r.drift:
            render.table(
                None,
                ["Feature", "Method", "Distance", "Threshold", ""],
                [
                    (
                        d["feature_name"],
                        d["method"],
                        f"{d['value']:.4f}",
                        f"{d['threshold']:.4f}",
                        "DRIFT" if d["value"] > d["threshold"] else "",
                    )
                    for d in r.drift
                ],
            )
        for v in r.violations:
            if v.get("constraint_check_type") != "baseline_drift_check":
                render.console.print(
                    f"  {v.get('feature_name', v.get('metric_name', ''))}: "
                    f"{v['constraint_check_type']}: {v['description']}",
                    highlight=False,
                )


@app.command("history")
def history(
    group: str,
    check_type: Annotated[
        str | None,
        typer.Option("--check", help="data_quality, model_quality or model_quality_estimate"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1)] = 50,
    superseded: Annotated[
        bool,
        typer.Option(
            "--superseded", help="Also estimates whose realized model quality has arrived."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Metrics and drift over the executions that used a model of GROUP, oldest first. A
    batch's estimated model quality is replaced by the realized one once its ground truth
    has been checked."""
    results = client().monitoring_history(group, check_type, limit, superseded)
    if as_json:
        render.print_json([r.to_dict() for r in results])
        return
    render.table(
        None,
        ["When", "Execution", "Version", "Check", "Rows", "Violations", "Metrics / max drift"],
        [
            (
                render.when(r.created_at),
                r.execution_id,
                r.model_version,
                r.check_type,
                r.item_count,
                r.violation_count,
                _summary(r),
            )
            for r in results
        ],
    )


def _summary(record: Any) -> str:
    if record.metrics:
        return ", ".join(f"{k}={v['value']:.4g}" for k, v in record.metrics.items())
    if record.drift:
        top = max(record.drift, key=lambda d: d["value"])
        return f"{top['feature_name']} {top['value']:.3f} ({top['method']})"
    return ""
