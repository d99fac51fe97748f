"""The command line against a running `scoreline serve` (``SCORELINE_URL``, with the token
in ``SCORELINE_TOKEN``): the same methods as :class:`scoreline.client.Client` for reading
and acting on executions, models, monitoring and events, over the REST API."""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from scoreline.client import StepLog
from scoreline.errors import ConfigError, NotFoundError, ParameterError, ScorelineError, StateError
from scoreline.store import (
    DeliveryRecord,
    EventRecord,
    ExecutionRecord,
    ModelVersionRecord,
    MonitoringRecord,
    StepRecord,
)

if TYPE_CHECKING:
    from scoreline.model_import import ModelSource

URL_ENV, TOKEN_ENV = "SCORELINE_URL", "SCORELINE_TOKEN"
_BY_STATUS: dict[int, type[ScorelineError]] = {
    404: NotFoundError,
    409: StateError,
    422: ParameterError,
}


class RemoteClient:
    """A client whose every call is an HTTP request to the API."""

    def __init__(self, url: str, token: str | None = None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url.rstrip("/") + "/api/v1", headers=headers, timeout=60)
        self.url = url

    @classmethod
    def from_environment(cls) -> RemoteClient | None:
        url = os.environ.get(URL_ENV)
        return cls(url, os.environ.get(TOKEN_ENV)) if url else None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot reach the server ({exc})", where=self.url) from None
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            error = _BY_STATUS.get(response.status_code, ScorelineError)
            hint = f"set {TOKEN_ENV}" if response.status_code == 401 else None
            raise error(message, where=self.url, hint=hint)
        return response.json()

    def __getattr__(self, name: str) -> Any:
        raise ConfigError(
            f"this command works on a project directory, not through {URL_ENV}",
            hint=f"unset {URL_ENV} and run it where the project is",
        )

    def recover(self) -> list[ExecutionRecord]:
        return []  # the server recovers its own executions

    def pipelines(self) -> list[dict[str, Any]]:
        return self._call("GET", "/pipelines")  # type: ignore[no-any-return]

    def start(
        self,
        pipeline: str,
        parameters: dict[str, Any] | None = None,
        *,
        wait: bool = False,
        client_request_token: str | None = None,
    ) -> ExecutionRecord:
        if wait:
            raise ConfigError(
                "--wait runs the execution here", hint=f"unset {URL_ENV} or drop --wait"
            )
        body = {
            "pipeline": pipeline,
            "parameters": parameters or {},
            "client_request_token": client_request_token,
        }
        return ExecutionRecord.from_dict(self._call("POST", "/executions", json=body))  # type: ignore[no-any-return]

    def execution(self, execution_id: str) -> ExecutionRecord:
        data = self._call("GET", f"/executions/{execution_id}")
        return ExecutionRecord.from_dict(data)  # type: ignore[no-any-return]

    def executions(
        self, pipeline: str | None = None, status: str | None = None, limit: int = 20
    ) -> list[ExecutionRecord]:
        params = {
            k: v for k, v in {"pipeline": pipeline, "status": status, "limit": limit}.items() if v
        }
        return [
            ExecutionRecord.from_dict(e) for e in self._call("GET", "/executions", params=params)
        ]

    def steps(self, execution_id: str) -> list[StepRecord]:
        data = self._call("GET", f"/executions/{execution_id}")
        return [StepRecord.from_dict(s) for s in data["steps"]]

    def logs(self, execution_id: str, step: str | None = None) -> list[StepLog]:
        params = {"step": step} if step else {}
        rows = self._call("GET", f"/executions/{execution_id}/logs", params=params)
        return [StepLog(r["step_name"], r["attempt"], r["text"]) for r in rows]

    def stop(self, execution_id: str) -> ExecutionRecord:
        return ExecutionRecord.from_dict(self._call("POST", f"/executions/{execution_id}/stop"))  # type: ignore[no-any-return]

    def retry(self, execution_id: str, *, wait: bool = False) -> ExecutionRecord:
        if wait:
            raise ConfigError(
                "--wait runs the execution here", hint=f"unset {URL_ENV} or drop --wait"
            )
        return ExecutionRecord.from_dict(self._call("POST", f"/executions/{execution_id}/retry"))  # type: ignore[no-any-return]

    def models(
        self, group: str | None = None, status: str | None = None
    ) -> list[ModelVersionRecord]:
        params = {k: v for k, v in {"group": group, "status": status}.items() if v}
        return [
            ModelVersionRecord.from_dict(m) for m in self._call("GET", "/models", params=params)
        ]

    def model(self, group: str, version: int) -> ModelVersionRecord:
        return ModelVersionRecord.from_dict(self._call("GET", f"/models/{group}/{version}"))  # type: ignore[no-any-return]

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
        action = "approve" if status == "Approved" else "reject"
        body = {
            "comment": comment,
            "move_aliases_to": move_aliases_to,
            "drop_aliases": drop_aliases,
        }
        data = self._call("POST", f"/models/{group}/{version}/{action}", json=body)
        return ModelVersionRecord.from_dict(data)  # type: ignore[no-any-return]

    def register_model(
        self, group: str, source: ModelSource, actor: str | None = None
    ) -> tuple[ModelVersionRecord, bool]:
        """Upload a model file (and its sample and metrics files) to register it."""
        from contextlib import ExitStack

        from scoreline.data.flavors import model_file

        path = source.path
        if path.is_dir():
            path = model_file(path, source.flavor)[1]
        fields: dict[str, Any] = {
            "flavor": source.flavor,
            "problem_type": source.problem_type,
            "classes": ",".join(source.classes) if source.classes else None,
            "target": source.target,
            "description": source.description,
            "trust": list(source.trusted) or None,
            "status": source.status,
        }
        with ExitStack() as stack:
            files = {
                name: (file.name, stack.enter_context(file.open("rb")))
                for name, file in (
                    ("model", path),
                    ("sample", source.sample),
                    ("metrics", source.metrics),
                )
                if file is not None
            }
            data = self._call(
                "POST",
                f"/models/{group}/versions",
                data={k: v for k, v in fields.items() if v is not None},
                files=files,
            )
        existing = bool(data.pop("existing", False))
        return ModelVersionRecord.from_dict(data), existing

    def set_model_alias(
        self, group: str, version: int, alias: str, actor: str | None = None
    ) -> ModelVersionRecord:
        data = self._call("PUT", f"/models/{group}/aliases/{alias}", json={"version": version})
        return ModelVersionRecord.from_dict(data)  # type: ignore[no-any-return]

    def events(
        self,
        *,
        execution_id: str | None = None,
        detail_type: str | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[EventRecord]:
        params: dict[str, Any] = {"after": after_seq, "limit": limit}
        return self._events(params, execution_id, detail_type)[0]

    def recent_events(
        self,
        *,
        execution_id: str | None = None,
        detail_type: str | None = None,
        since: datetime | None = None,
        before_seq: int | None = None,
        limit: int = 20,
    ) -> tuple[list[EventRecord], int]:
        params: dict[str, Any] = {"order": "desc", "limit": limit}
        if since is not None:
            params["since"] = since.isoformat()
        if before_seq is not None:
            params["before"] = before_seq
        return self._events(params, execution_id, detail_type)

    def _events(
        self, params: dict[str, Any], execution_id: str | None, detail_type: str | None
    ) -> tuple[list[EventRecord], int]:
        if execution_id:
            params["execution"] = execution_id
        if detail_type:
            params["type"] = detail_type
        page = self._call("GET", "/events", params=params)
        found = [
            EventRecord(
                seq=e["seq"],
                id=e["id"],
                time=datetime.fromisoformat(e["time"].replace("Z", "+00:00")),
                source=e["source"],
                detail_type=e["detail-type"],
                resources=e["resources"],
                detail=e["detail"],
            )
            for e in page["events"]
        ]
        return found, int(page.get("remaining") or 0)

    def monitoring_results(self, execution_id: str) -> list[MonitoringRecord]:
        rows = self._call("GET", f"/monitoring/executions/{execution_id}")
        return [MonitoringRecord.from_dict(r) for r in rows]

    def monitoring_history(
        self, group: str, check_type: str | None = None, limit: int = 50
    ) -> list[MonitoringRecord]:
        params: dict[str, Any] = {"limit": limit}
        if check_type:
            params["check"] = check_type
        rows = self._call("GET", f"/monitoring/history/{group}", params=params)
        return [MonitoringRecord.from_dict(r) for r in rows]

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[DeliveryRecord]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return [
            DeliveryRecord.from_dict(d) for d in self._call("GET", "/notifications", params=params)
        ]
