"""``X-Request-ID``: taken from the request or generated, echoed on the response, and opened
as the trace (``domain.tracing``) whose correlation id every event of the request carries
(the HTTP front, ``gateway.front``, does it).

Handlers read it with ``domain.tracing.request_id()`` (or ``scope["state"]["request_id"]``);
log records get it as ``record.request_id`` through ``RequestIdFilter``.
"""

from __future__ import annotations

import logging
import re

from starlette.types import Scope

from domain import tracing

HEADER = b"x-request-id"
_VALID = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII; anything else is replaced


def valid(raw: bytes | None) -> str:
    """The request's own ``X-Request-ID`` (``raw``) when it is visible ASCII of 1-200
    characters, else a fresh id."""
    if raw is not None:
        text = raw.decode("latin-1")
        if _VALID.fullmatch(text):
            return text
    return tracing.new_id()


def incoming(scope: Scope) -> str:
    """The id of a request or socket: its first ``X-Request-ID`` header if valid, else fresh."""
    for key, value in scope["headers"]:
        if key == HEADER:
            return valid(value)
    return tracing.new_id()


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = tracing.request_id() or "-"
        return True
