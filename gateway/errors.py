"""The one mapping from errors to HTTP responses ``{"detail": ..., "message": ...}``."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from domain import errors as e
from gateway.http import RateLimited, ValidationFailed, error_body, json_response, status_for

log = logging.getLogger("im.http")


async def handle(request: Request, exc: Exception) -> Response:
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, ValidationFailed):
        text = ", ".join(issue.msg for issue in exc.issues)
        return json_response({"detail": exc.issues, "message": text}, 422)
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
        detail = "Too many requests; retry later"
    elif isinstance(exc, HTTPException):
        detail = exc.detail
        headers.update(exc.headers or {})
    elif isinstance(exc, e.DomainError):
        detail = exc.detail
        if status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        if status == 503:
            headers["Retry-After"] = "1"
    else:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        detail = "Internal server error"
    return json_response(error_body(detail), status, headers)


EXCEPTION_HANDLERS = {
    Exception: handle,
    HTTPException: handle,
    e.DomainError: handle,
    ValidationFailed: handle,
    RateLimited: handle,
}
