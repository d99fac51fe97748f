"""The web UI: server-rendered pages (Jinja2) over the same client and tokens as the API.

It works offline: its own small script and stylesheet, and plotly.js from the installed
plotly package. Approving and rejecting go through the API, so roles and the audit trail
are the API's.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from scoreline.client import Client
from scoreline.errors import ScorelineError
from scoreline.server.security import PERMISSIONS, Caller, Guard
from scoreline.server.sessions import mount_sessions
from scoreline.types import ExecutionStatus

HERE = Path(__file__).parent
BOX_WIDTH, BOX_HEIGHT, GAP_X, GAP_Y = 190, 44, 50, 16


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _duration(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return ""
    seconds = (end - start).total_seconds()
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def step_graph(client: Client, execution_id: str) -> dict[str, Any]:
    """Boxes placed by dependency depth, with edges, coloured by status."""
    from scoreline.pipeline.model import PipelineDefinition

    execution = client.execution(execution_id)
    version = client.store.get_pipeline_version(execution.pipeline_name, execution.pipeline_version)
    definition = PipelineDefinition.from_dict(version.definition)
    deps = definition.dependencies()
    depth: dict[str, int] = {}
    for name in definition.order():
        depth[name] = 1 + max((depth[d] for d in deps[name]), default=-1)
    statuses = {s.step_name: s.status for s in client.steps(execution_id)}
    rows: dict[int, int] = {}
    nodes, place = [], {}
    for name in definition.order():
        column = depth[name]
        row = rows.get(column, 0)
        rows[column] = row + 1
        x, y = 10 + column * (BOX_WIDTH + GAP_X), 10 + row * (BOX_HEIGHT + GAP_Y)
        place[name] = (x, y)
        nodes.append({"name": name, "x": x, "y": y, "status": statuses.get(name, "pending")})
    edges = [
        {
            "x1": place[d][0] + BOX_WIDTH,
            "y1": place[d][1] + BOX_HEIGHT / 2,
            "x2": place[name][0],
            "y2": place[name][1] + BOX_HEIGHT / 2,
        }
        for name in definition.order()
        for d in sorted(deps[name])
    ]
    return {
        "nodes": nodes,
        "edges": edges,
        "box_width": BOX_WIDTH,
        "box_height": BOX_HEIGHT,
        "width": 20 + (max(depth.values(), default=0) + 1) * (BOX_WIDTH + GAP_X),
        "height": 20 + max(rows.values(), default=1) * (BOX_HEIGHT + GAP_Y),
    }


def _shares(
    baseline: dict[str, Any], current: dict[str, Any]
) -> tuple[list[str], list[float], list[float]]:
    """Baseline and current shares over the baseline's buckets: numeric features through
    the current KLL sketch at the baseline's edges, categorical ones by category."""
    import numpy as np

    from scoreline.monitoring.sketch import KLLSketch

    numbers = baseline.get("numerical_statistics")
    if numbers:
        buckets = numbers.get("distribution", {}).get("kll", {}).get("buckets", [])
        sketch = current.get("numerical_statistics", {}).get("distribution", {}).get("kll", {})
        if not buckets or not sketch.get("sketch"):
            return [], [], []
        total = sum(b["count"] for b in buckets) or 1
        edges = np.array([b["lower_bound"] for b in buckets] + [buckets[-1]["upper_bound"]])
        kll = KLLSketch.from_json(sketch["sketch"])
        cdf = kll.cdf(edges)
        cdf[0] = kll.cdf(np.array([np.nextafter(edges[0], -np.inf)]))[0]  # include the low edge
        labels = [f"{b['lower_bound']:.3g}" for b in buckets]
        return labels, [b["count"] / total for b in buckets], [float(v) for v in np.diff(cdf)]
    categories = (
        baseline.get("string_statistics", {}).get("distribution", {}).get("categorical", {})
    )
    base = {str(b["value"]): b["count"] for b in categories.get("buckets", [])}
    now_buckets = (
        current.get("string_statistics", {}).get("distribution", {}).get("categorical", {})
    ).get("buckets", [])
    now = {str(b["value"]): b["count"] for b in now_buckets}
    labels = sorted(set(base) | set(now))
    base_total, now_total = sum(base.values()) or 1, sum(now.values()) or 1
    return (
        labels,
        [base.get(k, 0) / base_total for k in labels],
        [now.get(k, 0) / now_total for k in labels],
    )


QUALITY_METRICS = ("mse", "auc", "accuracy", "f1")
"""The metric the model-quality chart follows: the first of these the results have."""


def _quality_chart(client: Client, results: list[Any]) -> dict[str, Any] | None:
    """Realized model quality (a line), estimates made before the labels arrived (dotted,
    with their bands) and the threshold each check used."""
    checks = [r for r in results if r.check_type.startswith("model_quality")]
    metric = next((m for m in QUALITY_METRICS if any(m in r.metrics for r in checks)), None)
    if metric is None:
        return None
    traces: list[dict[str, Any]] = []
    thresholds: list[tuple[str, float]] = []
    for check_type, name, style in (
        ("model_quality", metric, {"mode": "lines+markers"}),
        (
            "model_quality_estimate",
            f"{metric} (estimated)",
            {"mode": "markers+lines", "line": {"dash": "dot"}},
        ),
    ):
        rows = [r for r in checks if r.check_type == check_type and metric in r.metrics]
        if not rows:
            continue
        values = [r.metrics[metric] for r in rows]
        trace: dict[str, Any] = {
            "x": [_when(r.created_at) for r in rows],
            "y": [v["value"] for v in values],
            "name": name,
            "type": "scatter",
            **style,
        }
        if check_type == "model_quality_estimate":
            trace["error_y"] = {
                "type": "data",
                "symmetric": False,
                "array": [v.get("upper", v["value"]) - v["value"] for v in values],
                "arrayminus": [v["value"] - v.get("lower", v["value"]) for v in values],
            }
        traces.append(trace)
        for r in rows:
            step = next(
                (s for s in client.steps(r.execution_id) if s.step_name == r.step_name), None
            )
            limit = (step.metadata.get("thresholds") or {}).get(metric) if step else None
            if limit is not None:
                thresholds.append((_when(r.created_at), float(limit)))
    if thresholds:
        thresholds.sort()
        traces.append(
            {
                "x": [x for x, _ in thresholds],
                "y": [y for _, y in thresholds],
                "name": "threshold",
                "type": "scatter",
                "mode": "markers",
                "marker": {"symbol": "line-ew-open", "size": 14, "color": "#cf222e"},
            }
        )
    title = f"Model quality ({metric}) over executions, realized and estimated"
    return {
        "id": "chart-quality",
        "title": title,
        "traces": traces,
        "layout": {"title": {"text": title}, "margin": {"t": 40, "r": 10, "l": 40, "b": 60}},
    }


def monitoring_charts(client: Client, group: str) -> list[dict[str, Any]]:
    """Model quality over executions with its threshold, the latest drift per feature, and
    baseline-versus-current distributions of each feature."""
    results = client.monitoring_history(group, limit=200, superseded=True)
    charts: list[dict[str, Any]] = []
    quality = _quality_chart(client, results)
    if quality:
        charts.append(quality)
    data = [r for r in results if r.check_type == "data_quality" and r.drift]
    if data:
        latest = data[-1]
        features = [d["feature_name"] for d in latest.drift]
        charts.append(
            {
                "id": "chart-drift",
                "title": f"Drift distance per feature ({latest.execution_id})",
                "traces": [
                    {
                        "x": features,
                        "y": [d["value"] for d in latest.drift],
                        "type": "bar",
                        "name": "distance",
                    },
                    {
                        "x": features,
                        "y": [d["threshold"] for d in latest.drift],
                        "type": "scatter",
                        "mode": "markers",
                        "name": "threshold",
                        "marker": {"symbol": "line-ew-open", "size": 24, "color": "#cf222e"},
                    },
                ],
                "layout": {
                    "title": {"text": f"Drift distance per feature ({latest.execution_id})"},
                    "margin": {"t": 40, "r": 10, "l": 40, "b": 80},
                },
            }
        )
        charts += _distributions(client, group, latest)
    return charts


def _distributions(client: Client, group: str, latest: Any) -> list[dict[str, Any]]:
    if latest.model_version is None or not latest.report_uri:
        return []
    try:
        model = client.model(group, latest.model_version)
        baseline = json.loads(client.artifacts.read_bytes(model.baseline["statistics"]))
        current = json.loads(client.artifacts.read_bytes(f"{latest.report_uri}/statistics.json"))
    except (ScorelineError, KeyError, ValueError):
        return []
    charts = []
    reference = {f["name"]: f for f in baseline.get("features", [])}
    for index, item in enumerate(current.get("features", [])):
        name = item["name"]
        if name not in reference:
            continue
        labels, base, now = _shares(reference[name], item)
        if not labels:
            continue
        charts.append(
            {
                "id": f"chart-dist-{index}",
                "title": f"{name}: baseline vs current",
                "traces": [
                    {"x": labels, "y": base, "type": "bar", "name": "baseline"},
                    {"x": labels, "y": now, "type": "bar", "name": "current"},
                ],
                "layout": {
                    "title": {"text": f"{name}: baseline vs current"},
                    "barmode": "group",
                    "margin": {"t": 40, "r": 10, "l": 40, "b": 60},
                },
            }
        )
    return charts


def mount_ui(app: FastAPI, client: Client, guard: Guard) -> None:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(when=_when, duration=_duration)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def page(request: Request, name: str, who: Caller | None, **context: Any) -> Response:
        csrf = who.session.csrf if who is not None and who.session is not None else ""
        return templates.TemplateResponse(request, name, {"actor": who, "csrf": csrf, **context})

    def signed_in(request: Request) -> Caller | None:
        """A browser signed in with a session (pages never act as the anonymous local
        admin: the local mode signs a browser in through the link ``serve`` prints)."""
        who: Caller | None = getattr(request.state, "caller", None)
        return who if who is not None and who.via == "session" else None

    @app.get("/ui/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        import plotly

        path = Path(str(plotly.__file__)).parent / "package_data" / "plotly.min.js"
        return FileResponse(path, media_type="text/javascript")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    mount_sessions(app, client, guard, page)

    def guarded(request: Request) -> Caller | RedirectResponse:
        who = signed_in(request)
        return who if who is not None else RedirectResponse("/ui/login", status_code=303)

    @app.get("/ui/", include_in_schema=False)
    def executions(request: Request, pipeline: str = "", status: str = "") -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        rows = client.executions(pipeline=pipeline or None, status=status or None, limit=100)
        pipelines = client.pipelines()
        return page(
            request,
            "executions.html",
            who,
            executions=rows,
            pipeline_rows=pipelines,
            pipelines=sorted(p["name"] for p in pipelines),
            statuses=[s.value for s in ExecutionStatus],
            pipeline=pipeline,
            status=status,
        )

    def _execution_context(execution_id: str) -> dict[str, Any]:
        execution = client.execution(execution_id)
        return {
            "execution": execution,
            "steps": client.steps(execution_id),
            "graph": step_graph(client, execution_id),
            "final": ExecutionStatus(execution.status).is_final,
        }

    @app.get("/ui/executions/{execution_id}", include_in_schema=False)
    def execution(request: Request, execution_id: str) -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        context = _execution_context(execution_id)
        return page(request, "execution.html", who, logs=client.logs(execution_id), **context)

    @app.get("/ui/executions/{execution_id}/steps", include_in_schema=False)
    def steps(request: Request, execution_id: str) -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        return page(request, "steps.html", who, **_execution_context(execution_id))

    @app.get("/ui/models", include_in_schema=False)
    def models(request: Request) -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        return page(
            request,
            "models.html",
            who,
            models=client.models(),
            can_approve=who.role in PERMISSIONS["approve"],
        )

    @app.get("/ui/monitoring", include_in_schema=False)
    def monitoring(request: Request, group: str = "") -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        groups = sorted({m.group_name for m in client.models()})
        group = group or (groups[0] if groups else "")
        return page(
            request,
            "monitoring.html",
            who,
            group=group,
            groups=groups,
            charts=monitoring_charts(client, group) if group else [],
            results=client.monitoring_history(group, limit=100)[::-1] if group else [],
        )

    @app.get("/ui/events", include_in_schema=False)
    def events(request: Request) -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        found = client.events(limit=100000)[-200:][::-1]
        return page(request, "events.html", who, events=found)

    @app.get("/ui/notifications", include_in_schema=False)
    def notifications(request: Request) -> Response:
        who = guarded(request)
        if isinstance(who, RedirectResponse):
            return who
        return page(request, "notifications.html", who, deliveries=client.deliveries(limit=200))
