"""Decoding streamed ``multipart/form-data`` uploads: the file part goes to the blob writer the
upload command hands in, as it arrives; the text fields are decoded into an ``UploadForm``.

The body is parsed chunk by chunk (python-multipart's push parser); only the current chunk, the
blob writer's buffer and the small text fields are ever in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from python_multipart.exceptions import FormParserError, MultipartParseError
from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from starlette.requests import ClientDisconnect, Request

from commands.files import UploadForm
from domain.blobs import BlobWriter
from domain.errors import InvalidError, TooLargeError
from gateway.http import ValidationFailed, ValidationIssue, decode_fields

MAX_FORM_BYTES = 64 * 1024  # part headers and text fields together
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers on top of the file itself
DRAIN_BYTES = 16 * 1024 * 1024  # read this much of an over-limit body so the client sees the 413
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no", ""}


class Upload(msgspec.Struct):
    """The text fields and what the file part said about itself."""

    name: str | None = None
    description: str | None = None
    is_public: str | None = None
    has_file: bool = False


def _issue(field: str, msg: str, kind: str = "value_error") -> ValidationFailed:
    return ValidationFailed([ValidationIssue(loc=["body", field], msg=msg, type=kind)])


def _filename(raw: bytes) -> str:
    """Part headers are latin-1 on the wire; browsers put UTF-8 there and %-escape ``"`` CR LF."""
    text = raw.decode("utf-8", errors="replace")
    return text.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self.field = b""
        self.value = b""
        self.name = b""
        self.filename: bytes | None = None
        self.data = bytearray()


class UploadReceiver:
    """An upload's body (``commands.files.UploadBody``): feeds the request body to the parser
    and routes each part's data as events arrive."""

    def __init__(self, request: Request, max_bytes: int) -> None:
        self.request = request
        self.max_bytes = max_bytes
        self.fields = Upload()
        self.writer: BlobWriter | None = None
        self._target: BlobWriter | None = None
        self._events: list[tuple[str, bytes]] = []
        self._part = _Part()
        self._field_bytes = 0

    def _callbacks(self) -> dict[str, object]:
        ev = self._events

        def data(name: str):  # type: ignore[no-untyped-def]
            return lambda buf, start, end: ev.append((name, bytes(buf[start:end])))

        def mark(name: str):  # type: ignore[no-untyped-def]
            return lambda: ev.append((name, b""))

        return {
            "on_part_begin": mark("part_begin"),
            "on_header_field": data("header_field"),
            "on_header_value": data("header_value"),
            "on_header_end": mark("header_end"),
            "on_headers_finished": mark("headers_finished"),
            "on_part_data": data("part_data"),
            "on_part_end": mark("part_end"),
        }

    async def write_file(self, writer: BlobWriter) -> UploadForm:
        """Parse the body: the file part's bytes go to ``writer`` (which the caller commits or
        aborts), the text fields into the form."""
        self._target = writer
        request = self.request
        ctype, params = parse_options_header(request.headers.get("content-type", ""))
        boundary = params.get(b"boundary")
        if ctype != b"multipart/form-data" or not boundary:
            raise _issue("file", "expected a multipart/form-data body with a file part")
        declared = request.headers.get("content-length", "")
        stream = request.stream()
        if declared.isdigit() and int(declared) > self.max_bytes + MULTIPART_SLACK:
            # Too large by its own account: store nothing. A client waiting for 100-continue
            # gets the 413 before sending; others have some of the body read so they see it.
            if request.headers.get("expect", "").lower() != "100-continue":
                await _discard_rest(stream)
            raise TooLargeError(f"File exceeds the upload limit of {self.max_bytes} bytes")
        try:
            parser = MultipartParser(boundary, self._callbacks())  # type: ignore[arg-type]
        except FormParserError as exc:  # e.g. a boundary longer than the parser accepts
            raise InvalidError(f"Malformed multipart body: {exc}") from None
        try:
            async for chunk in stream:
                parser.write(chunk)
                await self._drain_events()
            parser.finalize()
            await self._drain_events()
            if parser.state != MultipartState.END:  # cut short: no closing boundary
                raise MultipartParseError("the body ends before its closing boundary")
            return self._finish()
        except TooLargeError:
            await _discard_rest(stream)
            raise
        except MultipartParseError as exc:
            raise InvalidError(f"Malformed multipart body: {exc}") from None
        except ClientDisconnect:
            raise InvalidError("The upload was interrupted") from None

    async def _drain_events(self) -> None:
        events, self._events[:] = list(self._events), []
        for kind, data in events:
            await self._on(kind, data)

    async def _on(self, kind: str, data: bytes) -> None:
        p = self._part
        if kind == "part_begin":
            self._part = _Part()
        elif kind in ("header_field", "header_value"):
            self._count_form_bytes(len(data))
            if kind == "header_field":
                p.field += data
            else:
                p.value += data
        elif kind == "header_end":
            p.headers[p.field.lower()] = p.value
            p.field, p.value = b"", b""
        elif kind == "headers_finished":
            await self._start_part(p)
        elif kind == "part_data":
            await self._part_data(p, data)
        elif kind == "part_end":
            self._end_part(p)

    async def _start_part(self, p: _Part) -> None:
        disposition = p.headers.get(b"content-disposition", b"").decode("latin-1")
        _, options = parse_options_header(disposition)
        p.name = options.get(b"name", b"")
        p.filename = options.get(b"filename")
        if p.name == b"file":
            if self.fields.has_file:
                raise _issue("file", "only one file part is allowed")
            self.fields.has_file = True
            self.fields.name = None if p.filename is None else _filename(p.filename)
            self.writer = self._target

    async def _part_data(self, p: _Part, data: bytes) -> None:
        if p.name == b"file":
            assert self.writer is not None
            if self.writer.size + len(data) > self.max_bytes:
                raise TooLargeError(f"File exceeds the upload limit of {self.max_bytes} bytes")
            await self.writer.write(data)
            return
        self._count_form_bytes(len(data))
        if p.name in (b"description", b"is_public"):
            p.data += data

    def _count_form_bytes(self, n: int) -> None:
        """Everything but the file's bytes (part headers, text fields) is small in any real form."""
        self._field_bytes += n
        if self._field_bytes > MAX_FORM_BYTES:
            raise TooLargeError("The form's fields and part headers are too large")

    def _end_part(self, p: _Part) -> None:
        if p.name not in (b"description", b"is_public"):
            return
        try:
            value = p.data.decode("utf-8")
        except UnicodeDecodeError:
            raise _issue(p.name.decode(), "must be UTF-8 text") from None
        if p.name == b"description":
            self.fields.description = value
        else:
            self.fields.is_public = value

    def _is_public(self) -> bool:
        raw = (self.fields.is_public or "").strip().lower()
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise _issue("is_public", "must be a boolean (true/false)")

    def _finish(self) -> UploadForm:
        if not self.fields.has_file or self.writer is None:
            raise _issue("file", "Field required", "missing")
        form: UploadForm = decode_fields(
            {
                "name": self.fields.name,
                "description": self.fields.description,
                "is_public": self._is_public(),
            },
            UploadForm,
        )
        return form


async def _discard_rest(stream: AsyncIterator[bytes]) -> None:
    """Read (and drop) some of what the client is still sending, so it gets to read the 413."""
    read = 0
    try:
        async for chunk in stream:
            read += len(chunk)
            if read > DRAIN_BYTES:
                break
    except ClientDisconnect:
        pass
