"""The REST API: the client's operations over HTTP, with tokens, roles and an audit trail.

Who the caller is was decided in front of the routes (:mod:`scoreline.server.security`):
a bearer token, a browser session, or, while the project has never had a token and the
server listens on loopback only, the local admin. Roles: ``viewer`` reads; ``operator`` also
starts, stops and retries executions; ``approver`` also approves and rejects models;
``admin`` does everything, tokens included. Every accepted write appends an "API Write"
event with its actor, method, path and outcome. Errors have one JSON shape with a stable
code.
"""

import shutil
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, Query, Request, UploadFile
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from scoreline import __version__
from scoreline.client import Client
from scoreline.errors import (
    ConfigError,
    DataError,
    DefinitionError,
    NotFoundError,
    ParameterError,
    ScorelineError,
    StateError,
    UnavailableError,
)
from scoreline.server.security import PERMISSIONS, SAFE_METHODS, Caller, Guard
from scoreline.store.tables import utcnow
from scoreline.store.tokens import LIFETIME_PATTERN, parse_lifetime

MAX_INT = 2**31 - 1
ERRORS: list[tuple[type[ScorelineError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (ParameterError, 422, "invalid_parameter"),
    (DataError, 422, "invalid_data"),
    (StateError, 409, "conflict"),
    (DefinitionError, 400, "invalid_definition"),
    (ConfigError, 400, "invalid_configuration"),
    (UnavailableError, 503, "unavailable"),
]
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed request (e.g. a body that is not JSON)"},
    401: {"description": "Missing or unknown token"},
    403: {"description": "The token's role may not do this"},
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "status": status}}, status_code=status
    )


class Actor(BaseModel):
    name: str
    role: str


class StartRequest(BaseModel):
    pipeline: str = Field(min_length=1)
    parameters: dict[str, str | int | float | bool] = Field(default_factory=dict)
    client_request_token: str | None = Field(default=None, max_length=128)


class Decision(BaseModel):
    comment: str = Field(default="", max_length=2000)
    move_aliases_to: int | None = Field(
        default=None, ge=1, description="on reject: move the version's aliases to this version"
    )
    drop_aliases: bool = Field(default=False, description="on reject: remove its aliases")


class AliasTarget(BaseModel):
    version: int = Field(ge=1)


class TokenRequest(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    role: str
    expires_in: str | None = Field(
        default=None, pattern=LIFETIME_PATTERN, description="e.g. 90d, 12h; none: no expiry"
    )


def caller(request: Request) -> Caller | None:
    """Who the request acts as (decided by :class:`Guard` before any route runs)."""
    found: Caller | None = getattr(request.state, "caller", None)
    return found


def create_app(client: Client, bind_host: str = "127.0.0.1") -> Guard:
    """The API and UI over one project's client (shared by all requests), behind the
    :class:`Guard` for a server listening on ``bind_host``."""
    app = FastAPI(
        title="scoreline",
        version=__version__,
        description="Pipelines, executions, models, monitoring and events of one project.",
    )

    @app.exception_handler(ScorelineError)
    async def scoreline_error(request: Request, exc: ScorelineError) -> JSONResponse:
        for cls, status, code in ERRORS:
            if isinstance(exc, cls):
                return _error(status, code, exc.line())
        return _error(400, "invalid_request", exc.line())

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    def actor(request: Request) -> Actor:
        who = caller(request)
        if who is None:
            raise ApiError(401, "unauthorized", "a valid API token is required")
        return Actor(name=who.name, role=who.role)

    def allowed(permission: str) -> Any:
        def check(request: Request, who: Annotated[Actor, Depends(actor)]) -> Actor:
            request.state.actor = who
            if who.role not in PERMISSIONS[permission]:
                raise ApiError(403, "forbidden", f"role '{who.role}' may not {permission}")
            return who

        return Depends(check)

    @app.middleware("http")
    async def audit(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            who = getattr(request.state, "actor", None)
            client.store.append_event(
                "API Write",
                {
                    "actor": who.name if who else "unauthenticated",
                    "role": who.role if who else None,
                    "method": request.method,
                    "path": request.url.path,
                    "status": response.status_code,
                },
                ["scoreline:api"],
            )
        return response

    Reader = Annotated[Actor, allowed("read")]  # noqa: N806 - type aliases
    Operator = Annotated[Actor, allowed("run")]  # noqa: N806
    Approver = Annotated[Actor, allowed("approve")]  # noqa: N806
    Admin = Annotated[Actor, allowed("admin")]  # noqa: N806
    Limit = Annotated[int, Query(ge=1, le=1000)]  # noqa: N806
    Version = Annotated[int, FastApiPath(ge=1, le=MAX_INT)]  # noqa: N806

    @app.get("/api/v1/health", tags=["server"])
    def health() -> dict[str, Any]:
        """The server answers; ``loops.serve`` says when the polling loop (triggers,
        schedules, rules, notifications) last completed a round and why one last failed."""
        loop = client.health.to_dict()
        return {
            "status": "ok" if loop["ok"] else "degraded",
            "version": __version__,
            "loops": {"serve": loop},
        }

    @app.get("/api/v1/whoami", tags=["server"], responses=ERROR_RESPONSES)
    def whoami(who: Reader) -> Actor:
        return who

    @app.get("/api/v1/pipelines", tags=["pipelines"], responses=ERROR_RESPONSES)
    def pipelines(who: Reader) -> list[dict[str, Any]]:
        return client.pipelines()

    @app.get(
        "/api/v1/pipelines/{name}/versions/{version}",
        tags=["pipelines"],
        responses={**ERROR_RESPONSES, 404: {"description": "No such version"}},
    )
    def pipeline_version(name: str, version: Version, who: Reader) -> dict[str, Any]:
        return client.store.get_pipeline_version(name, version).to_dict()

    @app.get("/api/v1/executions", tags=["executions"], responses=ERROR_RESPONSES)
    def executions(
        who: Reader,
        pipeline: str | None = None,
        status: str | None = None,
        limit: Limit = 50,
    ) -> list[dict[str, Any]]:
        return [
            e.to_dict() for e in client.executions(pipeline=pipeline, status=status, limit=limit)
        ]

    @app.post(
        "/api/v1/executions",
        status_code=201,
        tags=["executions"],
        responses={
            **ERROR_RESPONSES,
            404: {"description": "No such pipeline"},
            422: {"description": "Invalid parameters"},
            503: {"description": "The artifact store or the Ray cluster does not answer"},
        },
    )
    def start(body: StartRequest, who: Operator) -> dict[str, Any]:
        execution = client.start(
            body.pipeline,
            {k: str(v) if not isinstance(v, str) else v for k, v in body.parameters.items()},
            client_request_token=body.client_request_token,
            actor=who.name,
        )
        return execution.to_dict()

    @app.get(
        "/api/v1/executions/{execution_id}",
        tags=["executions"],
        responses={**ERROR_RESPONSES, 404: {"description": "No such execution"}},
    )
    def execution(execution_id: str, who: Reader) -> dict[str, Any]:
        record = client.execution(execution_id)
        return {**record.to_dict(), "steps": [s.to_dict() for s in client.steps(execution_id)]}

    @app.get(
        "/api/v1/executions/{execution_id}/logs",
        tags=["executions"],
        responses={**ERROR_RESPONSES, 404: {"description": "No such execution"}},
    )
    def logs(execution_id: str, who: Reader, step: str | None = None) -> list[dict[str, Any]]:
        client.execution(execution_id)
        return [
            {"step_name": log.step_name, "attempt": log.attempt, "text": log.text}
            for log in client.logs(execution_id, step)
        ]

    @app.post(
        "/api/v1/executions/{execution_id}/stop",
        tags=["executions"],
        responses={
            **ERROR_RESPONSES,
            404: {"description": "No such execution"},
            409: {"description": "Already ended"},
        },
    )
    def stop(execution_id: str, who: Operator) -> dict[str, Any]:
        return client.stop(execution_id).to_dict()

    @app.post(
        "/api/v1/executions/{execution_id}/retry",
        tags=["executions"],
        responses={
            **ERROR_RESPONSES,
            404: {"description": "No such execution"},
            409: {"description": "Not failed or stopped"},
        },
    )
    def retry(execution_id: str, who: Operator) -> dict[str, Any]:
        return client.retry(execution_id).to_dict()

    @app.get("/api/v1/models", tags=["models"], responses=ERROR_RESPONSES)
    def models(
        who: Reader, group: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        return [m.to_dict() for m in client.models(group, status)]

    @app.get(
        "/api/v1/models/{group}/{version}",
        tags=["models"],
        responses={**ERROR_RESPONSES, 404: {"description": "No such version"}},
    )
    def model(group: str, version: Version, who: Reader) -> dict[str, Any]:
        return client.model(group, version).to_dict()

    def _decide(
        group: str, version: int, status: str, body: Decision, who: Actor
    ) -> dict[str, Any]:
        return client.set_model_status(
            group,
            version,
            status,
            body.comment,
            actor=who.name,
            move_aliases_to=body.move_aliases_to,
            drop_aliases=body.drop_aliases,
        ).to_dict()

    decision_responses = {
        **ERROR_RESPONSES,
        404: {"description": "No such version"},
        409: {"description": "Transition not allowed"},
    }

    @app.post(
        "/api/v1/models/{group}/{version}/approve", tags=["models"], responses=decision_responses
    )
    def approve(group: str, version: Version, body: Decision, who: Approver) -> dict[str, Any]:
        return _decide(group, version, "Approved", body, who)

    @app.post(
        "/api/v1/models/{group}/{version}/reject", tags=["models"], responses=decision_responses
    )
    def reject(group: str, version: Version, body: Decision, who: Approver) -> dict[str, Any]:
        return _decide(group, version, "Rejected", body, who)

    @app.post(
        "/api/v1/models/{group}/versions",
        tags=["models"],
        status_code=201,
        responses={
            **ERROR_RESPONSES,
            413: {"description": "The upload is over server.max_upload_bytes"},
            400: {"description": "Not a model scoreline can load (a pickle, a wrong type...)"},
        },
    )
    def register_model(
        group: str,
        model: UploadFile,
        who: Operator,
        sample: UploadFile | None = None,
        metrics: UploadFile | None = None,
        flavor: Annotated[str | None, Form()] = None,
        problem_type: Annotated[str | None, Form()] = None,
        classes: Annotated[str | None, Form(description="comma-separated")] = None,
        target: Annotated[str | None, Form()] = None,
        description: Annotated[str, Form()] = "",
        trust: Annotated[list[str] | None, Form()] = None,
        status: Annotated[str, Form()] = "PendingManualApproval",
    ) -> dict[str, Any]:
        """Register an uploaded model file (``models register`` over HTTP): the model, and
        optionally a sample of its input data and a metrics JSON. Registering a version as
        Approved needs a role that may approve; trusting extra skops types (which skops then
        constructs, in this process) needs an admin."""
        import tempfile
        from pathlib import Path

        from scoreline.model_import import ModelSource

        if status == "Approved" and who.role not in PERMISSIONS["approve"]:
            raise ApiError(403, "forbidden", f"role '{who.role}' may not approve")
        if trust and who.role not in PERMISSIONS["admin"]:  # a trusted type can run code
            raise ApiError(
                403, "forbidden", "only an admin may trust types in an uploaded skops file"
            )
        with tempfile.TemporaryDirectory(prefix="scoreline-upload-") as tmp:

            def saved(upload: UploadFile | None, default: str) -> Path | None:
                if upload is None:
                    return None
                name = Path(upload.filename or "").name
                folder = Path(tmp) / default.partition(".")[0]
                folder.mkdir()
                target = folder / (name if name and not name.startswith(".") else default)
                with target.open("wb") as sink:
                    shutil.copyfileobj(upload.file, sink, 1 << 20)
                return target

            source = ModelSource(
                path=saved(model, "model") or Path(tmp),
                flavor=flavor,
                problem_type=problem_type,
                classes=tuple(c.strip() for c in classes.split(",")) if classes else None,
                sample=saved(sample, "sample.csv"),
                target=target,
                metrics=saved(metrics, "metrics.json"),
                description=description,
                trusted=tuple(trust or ()),
                status=status,
            )
            record, existing = client.register_model(group, source, actor=who.name)
        return {**record.to_dict(), "existing": existing}

    @app.put(
        "/api/v1/models/{group}/aliases/{alias}",
        tags=["models"],
        responses={
            **ERROR_RESPONSES,
            404: {"description": "No such version"},
            409: {"description": "The version is Rejected"},
        },
    )
    def set_alias(group: str, alias: str, body: AliasTarget, who: Approver) -> dict[str, Any]:
        """Point an alias (inference can select a version by it) at a version."""
        return client.set_model_alias(group, body.version, alias, actor=who.name).to_dict()

    @app.get(
        "/api/v1/monitoring/executions/{execution_id}",
        tags=["monitoring"],
        responses={**ERROR_RESPONSES, 404: {"description": "No such execution"}},
    )
    def monitoring(execution_id: str, who: Reader) -> list[dict[str, Any]]:
        return [r.to_dict() for r in client.monitoring_results(execution_id)]

    @app.get("/api/v1/monitoring/history/{group}", tags=["monitoring"], responses=ERROR_RESPONSES)
    def history(
        group: str,
        who: Reader,
        check: str | None = None,
        limit: Limit = 50,
        superseded: bool = False,
    ) -> list[dict[str, Any]]:
        return [r.to_dict() for r in client.monitoring_history(group, check, limit, superseded)]

    @app.get("/api/v1/events", tags=["events"], responses=ERROR_RESPONSES)
    def events(
        who: Reader,
        after: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
        before: Annotated[int | None, Query(ge=1, le=MAX_INT)] = None,
        since: datetime | None = None,
        order: Literal["asc", "desc"] = "asc",
        type: str | None = None,
        execution: str | None = None,
        limit: Limit = 100,
    ) -> dict[str, Any]:
        """Events oldest first from ``after`` (page on with ``next_after``), or newest first
        with ``order=desc`` (page on with ``before=next_before``); ``remaining`` counts the
        events beyond this page."""
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        filters: dict[str, Any] = {
            "execution_id": execution,
            "detail_type": type,
            "after_seq": after,
            "since": since,
        }
        found = client.store.list_events(
            **filters, before_seq=before, limit=limit, newest_first=order == "desc"
        )
        if not found:
            remaining = 0
        elif order == "desc":
            remaining = client.store.count_events(**filters, before_seq=found[-1].seq)
        else:
            remaining = client.store.count_events(
                **{**filters, "after_seq": found[-1].seq}, before_seq=before
            )
        last = found[-1].seq if found and remaining else None
        return {
            "events": [e.envelope() for e in found],
            "next_after": last if order == "asc" else None,
            "next_before": last if order == "desc" else None,
            "remaining": remaining,
        }

    @app.get("/api/v1/notifications", tags=["events"], responses=ERROR_RESPONSES)
    def notifications(
        who: Reader, status: str | None = None, limit: Limit = 100
    ) -> list[dict[str, Any]]:
        return [d.to_dict() for d in client.deliveries(status, limit)]

    @app.get("/api/v1/tokens", tags=["tokens"], responses=ERROR_RESPONSES)
    def tokens(who: Admin) -> list[dict[str, Any]]:
        return [t.to_dict() for t in client.store.tokens.list()]

    @app.post(
        "/api/v1/tokens",
        status_code=201,
        tags=["tokens"],
        responses={
            **ERROR_RESPONSES,
            409: {"description": "Name taken"},
            422: {"description": "Invalid role or name"},
        },
    )
    def create_token(body: TokenRequest, who: Admin) -> dict[str, Any]:
        expires = utcnow() + parse_lifetime(body.expires_in) if body.expires_in else None
        record, secret = client.store.tokens.create(body.name, body.role, who.name, expires)
        return {**record.to_dict(), "token": secret}

    guard = Guard(app, client, client.project.settings.server, bind_host)
    from scoreline.server.ui import mount_ui

    mount_ui(app, client, guard)
    return guard
