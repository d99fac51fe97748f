"""Signing a browser in and out: the login form (an API token), the one-time link that
``serve`` prints in the local mode, and sign-out. The session lives on the server; the
cookie holds only its random id (HttpOnly, SameSite=Strict, Secure over TLS). The login
form carries its own CSRF token (a double-submit cookie), since no session exists yet."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response

from scoreline.client import Client
from scoreline.server.security import SESSION_COOKIE, Guard

LOGIN_CSRF_COOKIE = "scoreline_login_csrf"
Page = Callable[..., Response]


def signed_in_cookie(response: Response, request: Request, secret: str, guard: Guard) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(guard.lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def mount_sessions(app: FastAPI, client: Client, guard: Guard, page: Page) -> None:
    """The login, one-time link and sign-out routes."""

    def address(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def form(request: Request, status: int = 200, **context: Any) -> Response:
        token = secrets.token_urlsafe(24)
        response = page(
            request,
            "login.html",
            None,
            login_csrf=token,
            local_mode=not guard.auth_required(),
            **context,
        )
        response.status_code = status
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            max_age=3600,
            path="/ui/login",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    def refused(request: Request, status: int, error: str) -> Response:
        guard.count_refusal(status, address(request))
        return form(request, status, error=error)

    def start(request: Request, name: str, role: str, token_id: int | None) -> Response:
        secret, _ = client.store.auth.start_session(name, role, token_id, guard.lifetime)
        response = RedirectResponse("/ui/", status_code=303)
        signed_in_cookie(response, request, secret, guard)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/ui/login")
        return response

    @app.get("/ui/login", include_in_schema=False)
    def login_form(request: Request, once: str = "") -> Response:
        if not once:
            return form(request)
        if guard.auth_required():
            return refused(request, 403, "Sign-in links are for the local mode; use a token.")
        if not client.store.auth.use_login_link(once):
            return refused(
                request,
                403,
                "This sign-in link was used or has expired: run `scoreline auth login-link`.",
            )
        return start(request, "local", "admin", None)

    @app.post("/ui/login", include_in_schema=False)
    def login(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, csrf):
            return refused(request, 403, "The form has expired; sign in again.")
        if guard.over_limit(address(request), record=False):
            return refused(request, 429, "Too many attempts; wait a minute.")
        record = client.store.tokens.authenticate(token.strip()) if token.strip() else None
        if record is None:
            guard.over_limit(address(request))
            return refused(request, 401, "Unknown, expired or revoked token.")
        return start(request, f"token:{record.name}", record.role, record.id)

    @app.post("/ui/logout", include_in_schema=False)
    def logout(request: Request, csrf: str = Form("")) -> Response:
        secret = request.cookies.get(SESSION_COOKIE, "")
        session = guard.session({"cookie": request.headers.get("cookie", "")})
        if session is not None and not secrets.compare_digest(session.csrf, csrf):
            return refused(request, 403, "The sign-out form has expired; sign out again.")
        if secret:
            client.store.auth.end_session(secret)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
