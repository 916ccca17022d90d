"""Rendering a page or an error page in the request's language.

Its own module so the page modules (public, staff ...) and the application that
mounts them (central.web.app) both import it, and not each other.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates

from central.web import i18n


def lang_of(request: Request) -> str:
    return i18n.pick(request.query_params.get("lang"), request.cookies.get("lang"))


def wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    """A 4xx/5xx page in the page's language (JSON under /api/), never a traceback."""
    key = f"E_{status}" if f"E_{status}" in i18n.TEXTS else ("E_400" if status < 500 else "E_500")
    lang = lang_of(request)
    if wants_json(request):
        return JSONResponse({"error": i18n.text(key, "en"), "detail": detail}, status_code=status)
    templates: Jinja2Templates = request.app.state.templates
    page = i18n.Page(lang)
    return templates.TemplateResponse(request, "error.html", {"p": page, "status": status, "message": page.t(key),
                                                              "detail": detail}, status_code=status)


def render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> HTMLResponse:
    page = i18n.Page(lang_of(request))
    templates: Jinja2Templates = request.app.state.templates
    return _lang_cookie(request, templates.TemplateResponse(request, name, {"p": page, **ctx}, status_code=status))


def render_kept(request: Request, kept: dict[str, bytes], name: str, ctx: dict[str, Any],
                status: int = 200) -> HTMLResponse:
    """`render` for a page that is the same for every request in one language: the
    body is rendered once per language into `kept` (the caller decides how long that
    holds) and reused. The template must read nothing of the request but its language."""
    lang = lang_of(request)
    body = kept.get(lang)
    if body is None:
        templates: Jinja2Templates = request.app.state.templates
        body = kept[lang] = templates.get_template(name).render({"p": i18n.Page(lang), **ctx}).encode()
    return _lang_cookie(request, HTMLResponse(body, status))


def _lang_cookie(request: Request, resp: HTMLResponse) -> HTMLResponse:
    if request.query_params.get("lang") in i18n.LANGS:
        resp.set_cookie("lang", lang_of(request), max_age=365 * 86400, samesite="lax", httponly=True)
    return resp
