"""Serving a blob over HTTP per RFC 9110 (conditionals, single ranges) and RFC 6266 (names)."""

from __future__ import annotations

import email.utils
import re
import unicodedata
from collections.abc import AsyncIterator, Mapping
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from domain.blobs import BlobReader
from domain.files import inline_safe
from gateway.http import error_body, json_response
from queries.files import FileView

_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")
_ATTR_CHAR = "!#$&+-.^_`|~"  # RFC 8187 attr-char besides ALPHA / DIGIT
_UNSAFE_ASCII = re.compile(r'[\x00-\x1f\x7f"\\/;,%]')


def content_disposition(name: str, mime_type: str) -> str:
    """``inline`` only for inert media; an ASCII fallback plus the exact UTF-8 name."""
    kind = "inline" if inline_safe(mime_type) else "attachment"
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = _UNSAFE_ASCII.sub("_", fallback).strip(" .")
    stem, dot, ext = fallback.rpartition(".")
    if not fallback or (dot and not stem.strip("_ ")):
        fallback = "file" + (dot + ext if dot else "")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHAR)}"


def parse_range(header: str, size: int) -> tuple[int, int] | bool | None:
    """A single byte range as (start, end inclusive); None to ignore the header (bad syntax,
    several ranges, or an empty representation); False when it cannot be satisfied."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec or size == 0:
        return None
    m = _RANGE.fullmatch(spec)
    if m is None or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # suffix: the last N bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n > 0 else False
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return False
    return start, min(int(last) if last else size - 1, size - 1)


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak_match(header: str, etag: str) -> bool:
    return any(t == "*" or t.removeprefix("W/") == etag for t in _tags(header))


def _strong_match(header: str, etag: str) -> bool:
    return any(t == "*" or t == etag for t in _tags(header))


def _date(value: str) -> int | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return int(parsed.timestamp()) if parsed is not None else None


def _precondition(headers: Mapping[str, str], etag: str, modified: int) -> int | None:
    """RFC 9110 13.2.2 evaluation order: 412, 304 or None (go on)."""
    if "if-match" in headers:
        if not _strong_match(headers["if-match"], etag):
            return 412
    elif "if-unmodified-since" in headers:
        since = _date(headers["if-unmodified-since"])
        if since is not None and modified > since:
            return 412
    if "if-none-match" in headers:
        if _weak_match(headers["if-none-match"], etag):
            return 304
    elif "if-modified-since" in headers:
        since = _date(headers["if-modified-since"])
        if since is not None and modified <= since:
            return 304
    return None


def _if_range_ok(value: str | None, etag: str, last_modified: str) -> bool:
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        return value == etag
    return value == last_modified


async def serve(request: Request, view: FileView, reader: BlobReader) -> tuple[Response, bool]:
    """The response for a download, and whether it counts as one (a full or from-zero fetch).

    ``reader`` is closed when the response is done (or right away when no body is sent).
    """
    try:
        response, counts = _respond(request, view, reader)
    except BaseException:
        await reader.close()
        raise
    if not isinstance(response, StreamingResponse):
        await reader.close()
    return response, counts


def _respond(request: Request, view: FileView, reader: BlobReader) -> tuple[Response, bool]:
    size = reader.size
    etag = f'"{view.sha256}"'
    modified = int(view.uploaded_at)
    last_modified = email.utils.formatdate(modified, usegmt=True)
    headers = {
        "ETag": etag,
        "Last-Modified": last_modified,
        "Cache-Control": "private, no-cache",
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": content_disposition(view.name, view.mime_type),
    }
    status = _precondition(request.headers, etag, modified)
    if status == 412:
        return json_response(error_body("Precondition failed"), 412, {"ETag": etag}), False
    if status == 304:
        keep = ("ETag", "Last-Modified", "Cache-Control", "Content-Disposition")
        return Response(status_code=304, headers={k: headers[k] for k in keep}), False
    start, end, status = 0, size - 1, 200
    rng = request.headers.get("range")
    if rng is not None and _if_range_ok(request.headers.get("if-range"), etag, last_modified):
        parsed = parse_range(rng, size)
        if parsed is False:
            hdr = {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"}
            return json_response(error_body("Range not satisfiable"), 416, hdr), False
        if isinstance(parsed, tuple):
            start, end = parsed
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1
    headers["Content-Length"] = str(length)
    counts = request.method == "GET" and start == 0
    if request.method == "HEAD" or length == 0:
        return Response(status_code=status, headers=headers, media_type=view.mime_type), counts

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in reader.chunks(start, length):
                yield chunk
        finally:
            await reader.close()

    response = StreamingResponse(
        body(),
        status_code=status,
        headers=headers,
        media_type=view.mime_type,
        background=BackgroundTask(reader.close),
    )
    return response, counts
