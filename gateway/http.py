"""A thin typed routing layer over Starlette: msgspec bodies, auth, errors, OpenAPI metadata."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, get_type_hints

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import Route

from domain import consistency, errors, tracing
from domain.errors import InvalidError, UnavailableError
from gateway import auth, partners
from gateway.idempotency import Idempotency
from gateway.limits import MAX_JSON_DEPTH, BodyTimeout, check_json_depth
from gateway.settings import Settings
from queries.views import User

Side = Literal["commands", "queries"]
# "partner": a partner credential (gateway.partners) or a superuser; only for /cascade.
AuthMode = Literal["required", "optional", "none", "superuser", "partner"]
_encoder = msgspec.json.Encoder()
WaitFor = Callable[[int], Awaitable[bool]]  # True once the read models include the position
WaitForHead = Callable[[], Awaitable[bool]]  # True once they include everything committed


class HTTPError(msgspec.Struct):
    detail: str
    message: str


_STATUS: list[tuple[type[Exception], int]] = [
    (errors.InvalidError, 400),
    (errors.UnauthorizedError, 401),
    (errors.ForbiddenError, 403),
    (errors.NotFoundError, 404),
    (errors.ConflictError, 409),
    (errors.ConcurrencyError, 409),
    (errors.TooLargeError, 413),
    (errors.UnavailableError, 503),
]


def status_for(exc: BaseException) -> int:
    if isinstance(exc, ClientDisconnect):
        return 499  # the client went away (nginx's code); nobody reads this answer
    if isinstance(exc, ValidationFailed):
        return 422
    if isinstance(exc, HTTPException):
        return exc.status_code
    if isinstance(exc, RateLimited):
        return 429
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("Too many requests")
        self.retry_after = retry_after


class ValidationIssue(msgspec.Struct):
    loc: list[str | int]
    msg: str
    type: str


class ValidationFailed(Exception):
    """Request validation failed: a 422 with the contract's list-of-issues detail."""

    def __init__(self, issues: list[ValidationIssue]) -> None:
        super().__init__(issues[0].msg if issues else "validation failed")
        self.issues = issues


def coordinate(value: float | str, field: str, bound: float) -> float:
    """A latitude or longitude from a body (a number or a numeric string) within ``±bound``;
    anything else (NaN and infinities included) is a 422 on that field."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not -bound <= number <= bound:
        msg = f"{field} must be a number between {-bound:g} and {bound:g}"
        raise ValidationFailed([ValidationIssue(["body", field], msg, "value_error")])
    return number


def error_body(detail: str) -> dict[str, str]:
    """An error body: ``detail``, and ``message`` with the same text (the previous system's web
    client toasts ``message`` for 400, 409 and 429)."""
    return {"detail": detail, "message": detail}


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(obj), status, headers, media_type="application/json")


def _issue_from(exc: msgspec.MsgspecError, where: str) -> ValidationIssue:
    text = str(exc)
    loc: list[str | int] = [where]
    if " - at `$" in text:
        msg, _, path = text.partition(" - at `$")
        parts = path.rstrip("`").replace("]", "").replace("[", ".").split(".")
        loc.extend(int(part) if part.isdigit() else part for part in parts if part)
    else:
        msg = text
    valid_json = isinstance(exc, msgspec.ValidationError) or not isinstance(
        exc, msgspec.DecodeError
    )
    kind = "value_error" if valid_json else "json_invalid"
    return ValidationIssue(loc=loc, msg=msg, type=kind)


class Ctx:
    """One request as a handler sees it. What else a handler needs (handlers, the read store,
    settings) it names as parameters after ``ctx``; see ``bind``."""

    __slots__ = ("body", "position", "query", "request", "user")

    def __init__(self, request: Request, user: User | None) -> None:
        self.request = request
        self.user = user
        self.body: Any = None
        self.query: Any = None
        self.position: int | None = None

    @property
    def me(self) -> User:
        assert self.user is not None
        return self.user

    def path_int(self, name: str) -> int:
        value = self.request.path_params[name]
        return int(value)

    def path_str(self, name: str) -> str:
        return str(self.request.path_params[name])


Handler = Callable[[Ctx], Awaitable[Any]]
AnyHandler = TypeVar("AnyHandler", bound=Callable[..., Awaitable[Any]])


class RouteSpec(msgspec.Struct):
    method: str
    path: str
    handler: Any
    side: str
    auth: str
    body: Any = None
    query: Any = None
    response: Any = None
    status: int = 200
    summary: str = ""
    tag: str = ""
    rate: str | None = None
    form: dict[str, Any] | None = None  # form field name -> schema, for form bodies
    form_body: Any = None  # a Struct the form's text fields are decoded into (``ctx.body``)
    raw_response: str | None = None  # media type of a non-JSON response


class Api:
    """Collects routes with the metadata the app factory and OpenAPI generator need."""

    def __init__(self, prefix: str = "", tag: str = "") -> None:
        self.prefix = prefix
        self.tag = tag
        self.routes: list[RouteSpec] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Any = None,
        response: Any = None,
        status: int = 200,
        auth: AuthMode = "required",
        side: Side | None = None,
        rate: str | None = "default",
        summary: str = "",
        form: dict[str, Any] | None = None,
        form_body: Any = None,
        raw_response: str | None = None,
    ) -> Callable[[AnyHandler], AnyHandler]:
        def deco(fn: AnyHandler) -> AnyHandler:
            is_write = method != "GET"
            self.routes.append(
                RouteSpec(
                    method=method,
                    path=self.prefix + path,
                    handler=fn,
                    side=side or ("commands" if is_write else "queries"),
                    auth=auth,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    summary=summary or (fn.__doc__ or "").strip().split("\n")[0],
                    tag=self.tag,
                    rate=("write" if is_write else None) if rate == "default" else rate,
                    form=form,
                    form_body=form_body,
                    raw_response=raw_response,
                )
            )
            return fn

        return deco

    def get(self, path: str, **kw: Any) -> Callable[[AnyHandler], AnyHandler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[AnyHandler], AnyHandler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[AnyHandler], AnyHandler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Callable[[AnyHandler], AnyHandler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[AnyHandler], AnyHandler]:
        return self.route("DELETE", path, **kw)


# -- read-your-writes in handlers that answer from the read models ------------------------------
NOT_CAUGHT_UP = "The read models have not caught up yet; retry"


async def settle(ctx: Ctx, position: int | None, wait_for: WaitFor) -> bool:
    """Record the write's position and wait until the read models include it. False when they
    did not in time: the write is committed all the same, so the caller answers from the
    command side (``gateway.command_views.CommandViews``), never with a 5xx."""
    if position is None:
        return True
    ctx.position = position
    return await wait_for(position)


async def require_settled(ctx: Ctx, position: int | None, wait_for: WaitFor) -> None:
    """``settle``, for an answer only the read models can give: 503 when they did not include
    the write in time."""
    if not await settle(ctx, position, wait_for=wait_for):
        raise UnavailableError(NOT_CAUGHT_UP)


async def caught_up(ctx: Ctx, wait_for_head: WaitForHead) -> None:
    """Before refusing because a read model lacks something: wait until it includes everything
    committed so far (the event store's head), so a lagging projector never decides a command."""
    if not await wait_for_head():
        raise UnavailableError(NOT_CAUGHT_UP)


async def decode_body(request: Request, typ: Any) -> Any:
    raw = await request.body()  # bounded by IM_MAX_JSON_BYTES (gateway.limits)
    check_json_depth(raw)
    try:
        return msgspec.json.decode(raw, type=typ)
    except msgspec.MsgspecError as exc:
        raise ValidationFailed([_issue_from(exc, "body")]) from None
    except RecursionError:
        raise InvalidError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels") from None


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def decode_form(request: Request, typ: Any) -> Any:
    """A urlencoded or multipart form's text fields as the body Struct ``typ`` (422 otherwise:
    another media type, a malformed form, a required field missing or empty)."""
    info = msgspec.inspect.type_info(typ)
    assert isinstance(info, msgspec.inspect.StructType)
    required = [f.encode_name for f in info.fields if f.required]
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _FORM_TYPES:
        got = f"a {media} body" if media else "a body without Content-Type"
        example = " ".join(f"-d {name}=..." for name in required)
        msg = (
            "expected a form body (application/x-www-form-urlencoded or multipart/form-data)"
            f" with {' and '.join(required)}, got {got}; e.g. curl {example}"
        )
        raise ValidationFailed([ValidationIssue(loc=["body"], msg=msg, type="value_error")])
    try:
        form = await request.form()
    except (errors.TooLargeError, ClientDisconnect, BodyTimeout):
        raise  # 413, an abort, 408: not a malformed form
    except Exception:
        raise ValidationFailed(
            [ValidationIssue(loc=["body"], msg="expected a form body", type="value_error")]
        ) from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    missing = [
        ValidationIssue(loc=["body", name], msg="Field required", type="missing")
        for name in required
        if not fields.get(name)
    ]
    if missing:
        raise ValidationFailed(missing)
    return decode_fields(fields, typ)


def decode_fields(fields: dict[str, Any], typ: Any) -> Any:
    """Form fields (already split, text values) as the body Struct ``typ``; 422 as for JSON."""
    try:
        return msgspec.convert(fields, typ, strict=False)
    except msgspec.MsgspecError as exc:
        raise ValidationFailed([_issue_from(exc, "body")]) from None


def decode_query(request: Request, typ: Any) -> Any:
    fields: dict[str, Any] = {}
    info = msgspec.inspect.type_info(typ)
    assert isinstance(info, msgspec.inspect.StructType)
    for f in info.fields:
        if f.encode_name not in request.query_params:
            continue
        if isinstance(f.type, msgspec.inspect.ListType):
            fields[f.name] = request.query_params.getlist(f.encode_name)
        else:
            fields[f.name] = request.query_params[f.encode_name]
    try:
        return msgspec.convert(fields, typ, strict=False)
    except msgspec.MsgspecError as exc:
        raise ValidationFailed([_issue_from(exc, "query")]) from None


class CurrentUser(Protocol):
    """Who sends a request (``gateway.auth.Authenticator``)."""

    async def user_from_header(self, conn: HTTPConnection) -> User | None: ...


@dataclass(frozen=True, slots=True)
class Edge:
    """What the HTTP wrapper itself uses around every handler."""

    authenticator: CurrentUser
    settings: Settings
    wait_for: WaitFor
    wait_after_write: bool  # the projector runs here: a write answers once it is readable
    idempotency: Idempotency  # Idempotency-Key on command-side POSTs


def bind(handler: Callable[..., Awaitable[Any]], deps: Mapping[str, object]) -> Handler:
    """The handler with its dependencies supplied: every parameter after ``ctx`` is looked up
    by name in ``deps`` (built by the composition root) once, when the routes are built. An
    unknown name, or an object of the wrong class for its annotation, fails at start-up."""
    params = list(inspect.signature(handler).parameters)[1:]
    if not params:
        return handler
    missing = [p for p in params if p not in deps]
    if missing:
        raise LookupError(f"{handler.__module__}.{handler.__qualname__} asks for {missing}")
    hints = get_type_hints(inspect.unwrap(handler))  # a wrapper (functools.wraps) has its hints
    for name in params:
        want = hints.get(name)
        if (
            isinstance(want, type)
            and not getattr(want, "_is_protocol", False)
            and not isinstance(deps[name], want)
        ):
            raise TypeError(f"{handler.__qualname__}: {name} is not a {want.__name__}")
    return functools.partial(handler, **{p: deps[p] for p in params})


async def current_user(conn: HTTPConnection, edge: Edge, mode: str) -> User | None:
    if mode == "none":
        return None
    if mode == "partner":
        conn.state.partner = partners.partner_from(conn, edge.settings)
        if conn.state.partner is not None:
            tracing.set_actor(tracing.Actor("partner", conn.state.partner.name))
            return None
        mode = "superuser"
    user = await edge.authenticator.user_from_header(conn)
    if user is None and mode in ("required", "superuser"):
        raise auth.unauthorized("Not authenticated")
    if mode == "superuser" and user is not None and not user.is_superuser:
        from domain.errors import ForbiddenError

        raise ForbiddenError("Superuser privileges required")
    return user


def min_position(request: Request) -> int | None:
    raw = request.headers.get("x-min-position")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidError("X-Min-Position must be an integer event position") from None


def idempotent(spec: RouteSpec) -> bool:
    """``Idempotency-Key`` is honoured on every command-side POST but the login."""
    return spec.method == "POST" and spec.side == "commands" and spec.rate != "login"


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def endpoint(
    spec: RouteSpec, deps: Mapping[str, object], edge: Edge, limiter: Any, metrics: Any
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler: auth, rate limit, decoding, read-your-writes, response encoding."""
    observe = metrics.route(f"{spec.method} {spec.path}")
    handler = bind(spec.handler, deps)
    keyed = idempotent(spec)

    async def run(request: Request) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            user = await current_user(request, edge, spec.auth)
            if spec.rate is not None:
                limiter.check(spec.rate, request, user)
            ctx = Ctx(request, user)
            # Every process honours it: command routes read models too (before deciding).
            wanted = min_position(request)
            if wanted is not None:
                consistency.require(wanted)  # the command side's caches honour it too
                if not await edge.wait_for(wanted):
                    raise UnavailableError(NOT_CAUGHT_UP)
            claim = None
            if keyed:
                raw = b"" if spec.form is not None else await request.body()
                caller = f"user:{user.id}" if user is not None else f"addr:{client_of(request)}"
                begun = await edge.idempotency.begin(request, caller, raw)
                if isinstance(begun, Response):
                    status = begun.status_code
                    return begun
                claim = begun
            try:
                response = await respond(ctx)
            except BaseException:
                if claim is not None:
                    await edge.idempotency.release(claim)
                raise
            if claim is not None:
                await edge.idempotency.finish(claim, response)
            status = response.status_code
            return response
        except BaseException as exc:
            status = status_for(exc)
            raise
        finally:
            observe(status, time.perf_counter() - started)

    async def respond(ctx: Ctx) -> Response:
        request = ctx.request
        if spec.query is not None:
            ctx.query = decode_query(request, spec.query)
        if spec.body is not None:
            ctx.body = await decode_body(request, spec.body)
        if spec.form_body is not None:
            ctx.body = await decode_form(request, spec.form_body)
        result = await handler(ctx)
        headers: dict[str, str] = {}
        if ctx.position is not None:
            headers["X-Event-Position"] = str(ctx.position)
            if edge.wait_after_write:
                await edge.wait_for(ctx.position)
        if isinstance(result, Response):
            response = result
            response.headers.update(headers)
        elif result is None and spec.status in (200, 204):
            response = Response(status_code=204, headers=headers)
        else:
            response = json_response(result, spec.status, headers)
        return response

    return run


def routes_for(
    spec: RouteSpec, deps: Mapping[str, object], edge: Edge, limiter: Any, metrics: Any
) -> list[Route]:
    """The route, without a trailing slash (the FastRouter ignores trailing slashes)."""
    fn = endpoint(spec, deps, edge, limiter, metrics)
    return [Route(spec.path.rstrip("/") or "/", fn, methods=[spec.method])]
