"""The server's front door: one ASGI layer in front of the API and the UI that decides, before
any route runs or any body is read, whether a request may go on.

In order: the ``Host`` must be an allowed name (no DNS rebinding); a body must declare its
length and stay under the limit (413 before it is read); a write from a browser must come
from the server's own origin (no cross-site forms); the caller is identified by a bearer
token or a browser session (whose writes carry its CSRF token), or, in the local mode only,
acts as the local admin. A request that needs a caller and has none is refused (401), and
a client address refused too often is slowed down (429). Refusals are counted and written
as one summary event now and then, not one event each. Every response carries the security
headers. See docs/security.md for the threat model.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread

from scoreline.client import Client
from scoreline.settings import ServerSettings
from scoreline.store.records import SessionRecord
from scoreline.store.tables import utcnow

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
SESSION_COOKIE = "scoreline_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOG = logging.getLogger("scoreline.server")
OPEN_API_PATHS = ("/api/v1/health",)
UPLOAD_PATH = re.compile(r"^/api/v1/models/[^/]+/versions$")
"""API routes that need no caller. UI pages check for a session themselves (they redirect to
the login page), and the login routes check their own secrets."""
PERMISSIONS = {
    "read": {"viewer", "operator", "approver", "admin"},
    "run": {"operator", "admin"},
    "approve": {"approver", "admin"},
    "admin": {"admin"},
}
"""Which roles may do what."""
SUMMARY_EVERY = 300.0
"""Seconds between two summary events of refused requests (and one more at shutdown)."""
TRACKED_ADDRESSES = 10_000

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# FastAPI's interactive documentation loads Swagger UI and ReDoc from a CDN with an inline
# bootstrap script; it gets exactly that and nothing more.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
    "https://cdn.redoc.ly; worker-src blob:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


@dataclass(frozen=True)
class Caller:
    """Who a request acts as, and how it proved it."""

    name: str
    role: str
    via: str  # "token", "session" or "local"
    session: SessionRecord | None = None


@dataclass
class Refusals:
    """Refused requests since the last summary event."""

    count: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    by_address: dict[str, int] = field(default_factory=dict)
    first_at: str | None = None

    def add(self, status: int, address: str) -> None:
        self.count += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if address in self.by_address or len(self.by_address) < 20:
            self.by_address[address] = self.by_address.get(address, 0) + 1
        self.first_at = self.first_at or utcnow().isoformat()


def host_name(host: str) -> str:
    """``Host`` header → the name without port or IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class Guard:
    """The ASGI layer described in the module docstring, around ``app``."""

    def __init__(
        self,
        app: App,
        client: Client,
        settings: ServerSettings,
        bind_host: str = "127.0.0.1",
    ) -> None:
        self.app = app
        self.client = client
        self.settings = settings
        names = {*LOOPBACK_NAMES, *(h.lower() for h in settings.allowed_hosts)}
        if bind_host not in ("0.0.0.0", "::", ""):  # noqa: S104 - a comparison, not a bind
            names.add(bind_host.lower())
        self.allowed_hosts = names
        self.any_host = "*" in names
        self._required = bind_host not in LOOPBACK_NAMES
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}
        self._refused = Refusals()
        self._last_summary = time.monotonic()

    # --- state ---------------------------------------------------------------------------

    def auth_required(self) -> bool:
        """True once the project has left the local mode; never false again in this
        process, whatever happens to the tokens."""
        if not self._required and self.client.store.auth.required() is not None:
            self._required = True
        return self._required

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.session_idle_minutes)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.session_max_hours)

    # --- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        policy = DOCS_POLICY if path in ("/docs", "/redoc") else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [*HEADERS, (b"content-security-policy", policy.encode())]
                message["headers"] = headers
            await send(message)

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        address = (scope.get("client") or ("unknown", 0))[0]
        refusal = self._check(scope, headers)
        if refusal is not None:
            status, code, message = refusal
            await self._refuse(send_with_headers, status, code, message, address)
            return
        caller = None
        if path not in OPEN_API_PATHS:  # the health check answers even without a store
            try:
                caller = await anyio.to_thread.run_sync(self.identify, headers, scope["method"])
            except Exception as exc:  # the store is down: say so, in the error shape
                LOG.error("cannot identify a caller: %s", str(exc).strip().splitlines()[0])
                await self._refuse(
                    send_with_headers,
                    503,
                    "unavailable",
                    "the metadata store cannot be reached; try again shortly",
                    address,
                )
                return
        scope.setdefault("state", {})["caller"] = caller
        if caller is None and path.startswith("/api/") and path not in OPEN_API_PATHS:
            if self.over_limit(address):
                await self._refuse(
                    send_with_headers,
                    429,
                    "too_many_requests",
                    "too many refused requests from this address; wait a minute",
                    address,
                    [(b"retry-after", b"60")],
                )
            else:
                await self._refuse(
                    send_with_headers,
                    401,
                    "unauthorized",
                    "a valid API token is required",
                    address,
                )
            return
        await self.app(scope, self._limited(receive, self.body_limit(scope)), send_with_headers)

    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        """Host, body size and origin; (status, code, message) of a refusal, or None."""
        host = headers.get("host", "")
        if not self.any_host and host_name(host) not in self.allowed_hosts:
            return (
                403,
                "forbidden_host",
                f"host '{host_name(host)}' is not allowed (add it to server.allowed_hosts)",
            )
        length = headers.get("content-length")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return 411, "length_required", "send the body with a Content-Length"
        if length is not None:
            if not length.isdigit():
                return 400, "invalid_request", "Content-Length is not a number"
            limit = self.body_limit(scope)
            if int(length) > limit:
                return 413, "too_large", f"the body is over {limit} bytes"
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if headers.get("sec-fetch-site") == "cross-site" or (
                origin is not None and not self._same_origin(origin, host)
            ):
                return 403, "cross_origin", "writes from another site are refused"
        return None

    @staticmethod
    def _same_origin(origin: str, host: str) -> bool:
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()

    def identify(self, headers: dict[str, str], method: str) -> Caller | None:
        """The caller: a bearer token, a browser session (writes only with its CSRF token),
        or the local admin while the project has never had a token."""
        scheme, _, secret = headers.get("authorization", "").partition(" ")
        store = self.client.store
        if scheme.lower() == "bearer" and secret.strip():
            token = store.tokens.authenticate(secret.strip())
            return None if token is None else Caller(f"token:{token.name}", token.role, "token")
        session = self.session(headers)
        if session is not None:
            if method in SAFE_METHODS or headers.get(CSRF_HEADER) == session.csrf:
                return Caller(session.actor, session.role, "session", session)
            return None
        if not self.auth_required():
            return Caller("local", "admin", "local")
        return None

    def session(self, headers: dict[str, str]) -> SessionRecord | None:
        """The live browser session of the request's cookie; local-mode sessions end with
        the local mode."""
        secret = _cookie(headers.get("cookie", ""), SESSION_COOKIE)
        if not secret:
            return None
        session = self.client.store.auth.session(secret, self.idle)
        if session is None or (session.token_id is None and self.auth_required()):
            return None
        return session

    def body_limit(self, scope: Scope) -> int:
        """The body limit of a request: model uploads have their own (they are read only
        after the caller is identified, like every body)."""
        if scope["method"] == "POST" and UPLOAD_PATH.match(scope["path"]):
            return self.settings.max_upload_bytes
        return self.settings.max_body_bytes

    def _limited(self, receive: Receive, left: int) -> Receive:
        """``receive`` that never hands the app more than ``left`` bytes of body (a body
        that lies about its length is cut off)."""

        async def limited() -> Message:
            nonlocal left
            message = await receive()
            if message["type"] == "http.request":
                left -= len(message.get("body", b""))
                if left < 0:
                    return {"type": "http.disconnect"}
            return message

        return limited

    # --- refusals ------------------------------------------------------------------------

    def over_limit(self, address: str, record: bool = True) -> bool:
        """Whether ``address`` has been refused more than the limit in the last minute,
        counting this attempt when ``record``."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent.pop(address, deque())
            while recent and now - recent[0] > 60:
                recent.popleft()
            if record:
                recent.append(now)
            self._recent[address] = recent  # most recent last: the oldest are dropped first
            while len(self._recent) > TRACKED_ADDRESSES:
                del self._recent[next(iter(self._recent))]
            return len(recent) > self.settings.unauthenticated_per_minute - (0 if record else 1)

    async def _refuse(
        self,
        send: Send,
        status: int,
        code: str,
        message: str,
        address: str,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        body = json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    *(extra or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.count_refusal(status, address)

    def count_refusal(self, status: int, address: str) -> None:
        """Count a refused request; write the summary when one is due."""
        with self._lock:
            self._refused.add(status, address)
            due = time.monotonic() - self._last_summary >= SUMMARY_EVERY
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the refusals counted so far as one "API Requests Refused" event."""
        with self._lock:
            refused, self._refused = self._refused, Refusals()
            self._last_summary = time.monotonic()
        if refused.count:
            self.client.store.append_event(
                "API Requests Refused",
                {
                    "count": refused.count,
                    "byStatus": {str(k): v for k, v in sorted(refused.by_status.items())},
                    "byAddress": refused.by_address,
                    "since": refused.first_at,
                    "until": utcnow().isoformat(),
                },
                ["scoreline:api"],
            )


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
