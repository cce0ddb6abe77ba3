"""Limits on what one request may make the server hold: headers, bodies, JSON nesting.

The HTTP front (``gateway.front``) applies them; it answers before the app runs:
- 431 when the request headers exceed ``MAX_HEADER_BYTES``;
- 413 when ``Content-Length`` announces a body over the limit (nothing of it is read);
- 400 for a ``multipart`` boundary longer than RFC 2046's 70 characters.
While the app reads a body without a (truthful) ``Content-Length``, the count of bytes received
is checked chunk by chunk, and the read fails with 413 as soon as it passes the limit, so memory
never holds more than the limit. Uploads (``/files/upload``) have their own, larger limit and are
passed through. A client that goes away mid-request is a client abort: logged at debug level,
never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import re

import msgspec
from python_multipart.multipart import parse_options_header
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from domain.errors import InvalidError, TooLargeError

log = logging.getLogger("im.http")

MAX_HEADER_BYTES = 16 * 1024
MAX_JSON_DEPTH = 64
MAX_BOUNDARY = 70  # RFC 2046 section 5.1.1
# Before a 413, read (and drop) at most this much of what the client is still sending, so a
# client that writes its whole body before reading sees the answer instead of a reset.
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_IDLE_SECONDS = 0.5

# A JSON string (with escapes) or a bracket; strings are skipped so brackets inside them
# do not count.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def check_json_depth(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``InvalidError`` (400) when JSON nests arrays/objects deeper than ``limit``.

    Cheap for ordinary bodies: it scans only when there are more opening brackets than the
    limit, and then one C-speed regex pass over strings and brackets.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth = 0
    for m in _TOKENS.finditer(data):
        tok = m.group()
        if tok in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise InvalidError(f"JSON is nested deeper than {limit} levels")
        elif tok in (b"]", b"}"):
            depth -= 1


class BodyTooLarge(TooLargeError):
    """The body passed the limit while it was being read."""


class BodyTimeout(Exception):
    """The client stopped sending its body (no chunk within the body timeout)."""


def refusal(
    header_bytes: int, content_type: bytes, length: bytes, max_body: int
) -> tuple[int, str] | None:
    """What to answer before the app runs, if anything: 431 for headers over
    ``MAX_HEADER_BYTES``, 400 for a multipart boundary over ``MAX_BOUNDARY``, 413 when
    ``Content-Length`` announces more than ``max_body`` (0: no body limit on this path)."""
    if header_bytes > MAX_HEADER_BYTES:
        return 431, f"Request headers exceed {MAX_HEADER_BYTES} bytes"
    if content_type and content_type.lower().startswith(b"multipart/"):
        boundary = parse_options_header(content_type)[1].get(b"boundary", b"")
        if len(boundary) > MAX_BOUNDARY:
            return 400, f"The multipart boundary exceeds {MAX_BOUNDARY} characters"
    if max_body and length.isdigit() and int(length) > max_body:
        return 413, too_large(max_body)
    return None


def too_large(max_body: int) -> str:
    return f"The request body exceeds the limit of {max_body} bytes"


def timed(receive: Receive, body_timeout: float) -> Receive:
    """``receive`` with a deadline per chunk while the body is incomplete (afterwards the app
    may wait on it for a disconnect as long as it likes)."""
    done = False

    async def timed_receive() -> Message:
        nonlocal done
        if done:
            return await receive()
        try:
            async with asyncio.timeout(body_timeout):
                message = await receive()
        except TimeoutError:
            raise BodyTimeout(
                f"no part of the request body arrived for {body_timeout:g} s"
            ) from None
        done = message["type"] != "http.request" or not message.get("more_body")
        return message

    return timed_receive


def counting(receive: Receive, max_body: int) -> Receive:
    """``receive`` that fails with ``BodyTooLarge`` (413) once the body passes ``max_body``."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_body:
                if message.get("more_body"):
                    await drain(receive)
                raise BodyTooLarge(too_large(max_body))
        return message

    return counted


async def drain(receive: Receive) -> None:
    """Read and drop up to ``DRAIN_BYTES`` of the body; stop early when the client pauses."""
    read = 0
    while read < DRAIN_BYTES:
        try:
            async with asyncio.timeout(DRAIN_IDLE_SECONDS):
                message = await receive()
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body"):
            return


async def answer(scope: Scope, send: Send, status: int, detail: str) -> None:
    """Answer without reading the body, and close the connection (its body is unread)."""
    body = msgspec.json.encode({"detail": detail, "message": detail})  # as gateway.errors
    response = Response(body, status, {"Connection": "close"}, media_type="application/json")
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
