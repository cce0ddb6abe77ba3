"""The Starlette app factory: command routes, query routes, or both, plus operations endpoints."""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Iterable
from importlib.metadata import PackageNotFoundError, version

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.asyncapi import build_asyncapi
from gateway.bootstrap import Services
from gateway.errors import EXCEPTION_HANDLERS
from gateway.http import RouteSpec, error_body, json_response, routes_for
from gateway.legacy import legacy_specs
from gateway.limits import RequestLimits
from gateway.logs import AccessLog
from gateway.metrics import Metrics
from gateway.openapi import build_openapi
from gateway.pages import page_routes
from gateway.ratelimit import RateLimiter
from gateway.realtime.endpoint import websocket_routes
from gateway.request_id import RequestId
from gateway.routes import (
    audit,
    auth,
    broadcasts,
    cascade,
    conversations,
    events,
    files,
    groups,
    messages,
    notification_templates,
    notifications,
    realtime,
    users,
)
from gateway.routing import CrossOrigin, FastRouter
from gateway.settings import Settings

ROUTE_MODULES = [
    auth,
    users,
    files,
    realtime,
    conversations,
    groups,
    messages,
    notifications,
    notification_templates,
    broadcasts,
    events,
    cascade,
    audit,
]
READY_LAG_EVENTS = 10_000
LAG_COUNT_LIMIT = 100_000  # lags are counted by the event store up to this many events

try:
    VERSION = version("im-server")
except PackageNotFoundError:  # running from a source tree
    VERSION = "0.0.0"


def _bearer_is(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), token.encode())


def _has_own_body_limit(path: str) -> bool:
    """Uploads stream to disk under IM_MAX_UPLOAD_BYTES instead of the JSON body limit."""
    return path.rstrip("/").endswith("/files/upload")


def all_specs() -> list[RouteSpec]:
    return [spec for module in ROUTE_MODULES for spec in module.api.routes]


def create_app(
    settings: Settings,
    *,
    sides: Iterable[str] = ("commands", "queries"),
    inline_projector: bool = True,
    services: Services | None = None,
    cascade: bool | None = None,
) -> Starlette:
    """Build the app. ``sides`` picks which routes this process serves; ``cascade`` whether it
    runs the relay and partner queue (default: when it is the all-in-one process)."""
    sides = set(sides)
    if cascade is None:
        cascade = inline_projector and {"commands", "queries"} <= sides
    svc = services or Services(settings, inline_projector=inline_projector, cascade=cascade)
    limiter = RateLimiter(settings)
    metrics = Metrics()
    specs = [s for s in all_specs() if s.side in sides]
    # The whole API, whichever side this process serves: behind the front proxy /docs and
    # /openapi.json come from one process and must describe every operation.
    openapi = build_openapi(all_specs(), "IM server", VERSION)

    async def openapi_json(request: Request) -> Response:
        return json_response(openapi)

    asyncapi: list[bytes] = []  # built on first request (it imports every domain module)

    async def asyncapi_json(request: Request) -> Response:
        if not asyncapi:
            asyncapi.append(msgspec.json.encode(build_asyncapi(settings, VERSION)))
        return Response(asyncapi[0], media_type="application/json")

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def ready(request: Request) -> Response:
        try:
            head = await svc.events.head()
            projected = await svc.projected_position()
        except Exception as exc:
            return json_response({"status": "unavailable", "detail": str(exc)}, 503)
        lag = await svc.events.events_after(projected, LAG_COUNT_LIMIT)
        body: dict[str, object] = {
            "status": "ok",
            "head": head,
            "projected": projected,
            "lag": lag,
        }
        relay = await svc.relay_status()
        if relay is not None:  # reported, not gating: the outbox keeps events while it lags
            body["relay"] = {
                "position": relay.position,
                "lag": await svc.events.events_after(relay.position, LAG_COUNT_LIMIT),
                "connected": relay.connected,
                "error": relay.error,
            }
        body["followers"] = {
            st.name: {
                "position": st.position,
                "lag": await svc.events.events_after(st.position, LAG_COUNT_LIMIT),
                "error": st.error,
            }
            for st in (f.status() for f in svc.followers())
        }
        if lag > READY_LAG_EVENTS or svc.projector_runtime.error is not None:
            body["status"] = "lagging"
            return json_response(body, 503, {"Retry-After": "1"})
        return json_response(body)

    async def metrics_endpoint(request: Request) -> Response:
        if settings.metrics_token and not _bearer_is(request, settings.metrics_token):
            return json_response(
                error_body("/metrics needs Authorization: Bearer <IM_METRICS_TOKEN>"),
                401,
                {"WWW-Authenticate": "Bearer"},
            )
        head = await svc.events.head()
        projected = await svc.projected_position()
        relay = await svc.relay_status()
        lag = await svc.events.events_after(projected, LAG_COUNT_LIMIT)
        relay_lag = await svc.events.events_after(relay.position, LAG_COUNT_LIMIT) if relay else 0
        followers = [
            (f, await svc.events.events_after(f.position, LAG_COUNT_LIMIT))
            for f in (f.status() for f in svc.followers())
        ]
        ready = lag <= READY_LAG_EVENTS and svc.projector_runtime.error is None
        metrics.ready.set(1 if ready else 0)
        if live:
            metrics.connections(len(svc.realtime.hub.connections()))
        text = metrics.render(head, projected, lag, relay, relay_lag, followers)
        return Response(text, media_type="text/plain; version=0.0.4")

    routes: list[BaseRoute] = [
        Route("/openapi.json", openapi_json),
        Route("/asyncapi.json", asyncapi_json),
        Route("/health", health),
        Route("/ready", ready),
        Route("/metrics", metrics_endpoint),
    ]
    for spec in [*specs, *legacy_specs(specs)]:  # /api/legacy: not in the OpenAPI document
        routes.extend(routes_for(spec, svc, limiter, metrics))
    live = "queries" in sides  # the WebSocket and its pusher run on the query side
    metrics.time_appends(svc.events)
    if live:
        svc.realtime.pusher.on_pushed = metrics.pushed
    routes.extend(page_routes(VERSION, has_ws=live))
    if live:
        routes.extend(websocket_routes(svc, svc.realtime))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await svc.start()
        if live:
            await svc.realtime.start()
        try:
            yield
        finally:
            if live:
                await svc.realtime.stop()
            await svc.stop()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestId),  # outermost: the access log sees the id it chose
            Middleware(AccessLog),
            Middleware(
                RequestLimits,
                max_body_bytes=settings.max_json_bytes,
                exempt=_has_own_body_limit,
                body_timeout=settings.body_timeout_seconds,
            ),
            Middleware(
                CrossOrigin,
                allow_origins=settings.cors_origin_list,
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=[
                    "X-Event-Position",
                    "X-Request-ID",
                    "Retry-After",
                    "ETag",
                    "Content-Disposition",
                ],
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.router = FastRouter(routes, lifespan=lifespan)
    app.state.services = svc
    app.state.limiter = limiter
    return app
