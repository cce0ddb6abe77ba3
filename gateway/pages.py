"""Human-facing pages, all offline: ``/`` (links), ``/docs`` (Swagger UI), ``/redoc`` (ReDoc),
``/asyncapi`` (the AsyncAPI viewer), and the browser assets they load from ``/static/``.

The assets are packaged (``gateway/static/``, and the ``asyncapi-viewer`` wheel), read once,
served with long-lived caching, and referenced with Subresource Integrity hashes.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from asyncapi_viewer import assets as viewer_assets
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.http import error_body, json_response

_STATIC = Path(__file__).with_name("static")
# URL name -> file; names are what /static/{name} serves.
ASSETS: dict[str, Path] = {
    "swagger-ui-bundle.js": _STATIC / "swagger-ui" / "swagger-ui-bundle.js",
    "swagger-ui.css": _STATIC / "swagger-ui" / "swagger-ui.css",
    "redoc.standalone.js": _STATIC / "redoc" / "redoc.standalone.js",
    "asyncapi-viewer.js": viewer_assets.static_path(viewer_assets.VIEWER_MODULE),
    "asyncapi-theme.css": viewer_assets.static_path(viewer_assets.VIEWER_THEME),
}
_MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@cache
def _asset(name: str) -> tuple[bytes, str]:
    """The file's bytes and its ``sha384-`` integrity value (read once per process)."""
    data = ASSETS[name].read_bytes()
    digest = base64.b64encode(hashlib.sha384(data).digest()).decode()
    return data, f"sha384-{digest}"


def _tag(name: str) -> str:
    _, sri = _asset(name)
    if name.endswith(".css"):
        return f'<link rel="stylesheet" href="/static/{name}" integrity="{sri}">'
    kind = ' type="module"' if name == "asyncapi-viewer.js" else ""
    return f'<script src="/static/{name}" integrity="{sri}"{kind}></script>'


def _page(title: str, head: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request (a 404 in the access log)
        f"<title>{html.escape(title)}</title>{head}</head>\n<body>{body}</body></html>\n"
    )


def _home(version: str, has_ws: bool) -> str:
    links = [
        ("/docs", "Swagger UI", "try the HTTP API in the browser"),
        ("/redoc", "ReDoc", "the HTTP API as a reference"),
        ("/openapi.json", "OpenAPI 3.1", "the HTTP API, machine-readable"),
        ("/asyncapi", "AsyncAPI", "the WebSocket frames and the RabbitMQ cascade"),
        ("/asyncapi.json", "AsyncAPI 3.0", "the same, machine-readable"),
        ("/health", "/health", "liveness"),
        ("/ready", "/ready", "readiness: the read models' lag behind the event store"),
        ("/metrics", "/metrics", "Prometheus metrics"),
    ]
    items = "".join(
        f'<li><a href="{href}">{html.escape(text)}</a> &mdash; {html.escape(what)}</li>'
        for href, text, what in links
    )
    ws = (
        "<p>Live push: <code>WS /api/v1/realtime/ws?token=&lt;access token&gt;</code></p>"
        if has_ws
        else ""
    )
    style = (
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:2em auto;"
        "padding:0 1em}code{background:#f3f3f3;padding:0 .2em}</style>"
    )
    body = (
        f"<h1>IM server</h1><p>Version <strong>{html.escape(version)}</strong>. "
        "The API is under <code>/api/v1</code>.</p>"
        f"<ul>{items}</ul>{ws}"
    )
    return _page("IM server", style, body)


def _swagger() -> str:
    # validatorUrl null: Swagger UI otherwise loads a badge from an outside validator.
    script = (
        "<script>window.addEventListener('load',function(){SwaggerUIBundle({url:'/openapi.json',"
        "dom_id:'#swagger-ui',validatorUrl:null,deepLinking:true,"
        "persistAuthorization:true})});</script>"
    )
    return _page(
        "IM API - Swagger UI",
        _tag("swagger-ui.css"),
        f'<div id="swagger-ui"></div>{_tag("swagger-ui-bundle.js")}{script}',
    )


def _redoc() -> str:
    return _page(
        "IM API - ReDoc",
        "<style>body{margin:0}</style>",
        '<redoc spec-url="/openapi.json"></redoc>' + _tag("redoc.standalone.js"),
    )


def _asyncapi() -> str:
    return _page(
        "IM events - AsyncAPI",
        _tag("asyncapi-theme.css") + _tag("asyncapi-viewer.js"),
        '<asyncapi-viewer src="/asyncapi.json" sidebar></asyncapi-viewer>',
    )


def page_routes(version: str, *, has_ws: bool) -> list[BaseRoute]:
    pages = {
        "/": _home(version, has_ws),
        "/docs": _swagger(),
        "/redoc": _redoc(),
        "/asyncapi": _asyncapi(),
    }

    def page(text: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return HTMLResponse(text)

        return endpoint

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return json_response(error_body("Not Found"), 404)
        data, sri = _asset(name)
        headers = {"Cache-Control": "public, max-age=86400", "ETag": f'"{sri}"'}
        return Response(data, media_type=_MEDIA[Path(name).suffix], headers=headers)

    routes: list[BaseRoute] = []
    for path, text in pages.items():
        routes.append(Route(path, page(text), methods=["GET", "HEAD"]))
    routes.append(Route("/static/{name}", static, methods=["GET", "HEAD"]))
    return routes
