"""The ASGI application: settings, middleware (body cap, rate limits, security
headers, language), error pages in the page's language, templates and static files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central import db
from central.web import (
    admin,
    i18n,
    letters_pages,
    overview,
    public,
    queue_pages,
    registrar,
    staff,
    supervisor,
    verifier,
)
from central.web.pages import error_response
from central.web.ratelimit import Limiter
from central.web.verify_tally import Tally
from contract.long_lived import freeze_startup_objects

HERE = Path(__file__).parent
MAX_BODY = 64 * 1024  # every form and JSON body we take is a few kB at most
log = logging.getLogger("ur.central.web")


@dataclass
class Settings:
    db_url: str | None = None
    # Requests per minute per client address and route group, per serving process.
    public_per_minute: int = 120
    login_per_minute: int = 10
    secret_file: str | None = None
    secure_cookies: bool = True
    # Seconds without a message from a kiosk before the fleet page shows it offline
    # (three heartbeats at the kiosk's default of 60 s).
    offline_after: int = 180
    extra: dict[str, Any] = field(default_factory=dict)


class BodyLimit:
    """Refuses a body over MAX_BODY with 413 before any of it is parsed, whether it
    says its length up front or streams chunks without one."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                try:
                    too_big = int(v) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _refuse(scope, send, 413)
                    return
        seen = 0
        exceeded = False

        async def capped() -> Message:
            nonlocal seen, exceeded
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    exceeded = True
                    raise _TooLarge()
            return msg

        async def guarded_send(msg: Message) -> None:
            # A framework may turn our exception into its own 400: the answer is still 413.
            if not exceeded:
                await send(msg)

        try:
            await self.app(scope, capped, guarded_send)
        except _TooLarge:
            pass
        if exceeded:
            await _refuse(scope, send, 413)


SECURITY_HEADERS = (
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                 b"script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    """Adds the security headers to every answer (those a route set itself are kept).
    Plain ASGI rather than an `@app.middleware("http")` function, which would wrap
    every request in a second task and stream: the verification route's hot path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                have = {k.lower() for k, _ in msg.get("headers", [])}
                msg["headers"] = [*msg.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in have)]
            await send(msg)

        await self.app(scope, receive, with_headers)


class _TooLarge(Exception):
    pass


async def _refuse(scope: Scope, send: Send, status: int) -> None:
    request = Request(scope)
    resp = error_response(request, status)
    await resp(scope, _noop_receive, send)


async def _noop_receive() -> Message:
    return {"type": "http.disconnect"}


def _templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.auto_reload = False  # templates ship with the code: no stat of each file on every render
    t.env.globals["LANGS"] = i18n.LANGS
    t.env.globals["lang_name"] = lambda code: i18n.text("lang_name", code)
    return t


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """One app per process; `engine` may be shared with a caller (tests)."""
    settings = settings or Settings()
    if engine is None:
        engine = db.make_engine(db.resolve_url(settings.db_url))
        db.init_schema(engine)
    tally = Tally(db.sessions(engine))

    read_sessions = db.read_sessions(engine)
    reader: verifier.Reader = (verifier.PgReader(engine) if engine.dialect.name == "postgresql"
                               else verifier.SessionReader(read_sessions))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        freeze_startup_objects()  # its full passes were the verification p99 (bench_web)
        yield
        tally.flush()  # the last seconds' verification counts
        await reader.aclose()

    app = FastAPI(title="Ur central", version="1", docs_url="/api/docs", redoc_url=None,
                  openapi_url="/api/openapi.json", lifespan=lifespan)
    app.state.verify_tally = tally
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = db.sessions(engine)
    app.state.read_sessions = read_sessions
    app.state.verifier = verifier.Verifier(reader, read_sessions)
    app.state.templates = _templates()
    app.state.public_limit = Limiter(settings.public_per_minute)
    app.state.login_limit = Limiter(settings.login_per_minute)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.include_router(public.router)
    staff.install(app)
    admin.install(app)
    supervisor.install(app)
    overview.install(app)
    letters_pages.install(app)
    registrar.install(app)
    queue_pages.install(app)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if 300 <= exc.status_code < 400 and exc.headers and "Location" in exc.headers:
            return RedirectResponse(exc.headers["Location"], exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else None
        resp = error_response(request, exc.status_code, detail)
        for k, v in (exc.headers or {}).items():
            resp.headers[k] = v
        return resp

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({".".join(str(x) for x in e.get("loc", ())[1:]) for e in exc.errors()})
        return error_response(request, 422, ", ".join(f for f in fields if f) or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_response(request, 500)

    @app.get("/health", include_in_schema=False)
    async def health() -> Response:
        return Response(b'{"ok":true}', media_type="application/json")

    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)  # outermost: on BodyLimit's 413 too
    return app


def app_from_env() -> FastAPI:
    """Uvicorn factory for several worker processes: settings come from the environment."""
    raw = os.environ.get("UR_WEB_SETTINGS")
    settings = Settings(**json.loads(raw)) if raw else Settings()
    return create_app(settings)
