"""Files: upload and deletion events, the file aggregate, download counts, MIME sniffing rules."""

from __future__ import annotations

import re
import unicodedata
from typing import assert_never

import msgspec

from domain.errors import ForbiddenError, NotFoundError
from domain.events import Event

MAX_NAME_CHARS = 255
MAX_DESCRIPTION_CHARS = 1000
FILE_ID = re.compile(r"^[0-9a-f]{32}$")
# Control and line/paragraph separators go; bidi overrides too (they disguise extensions).
_DROP = frozenset({"Cc", "Zl", "Zp", "Cs"})
_BIDI = frozenset("\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/avif",
        "text/plain",
    }
)


class FileUploaded(Event, frozen=True, tag="FileUploaded"):
    """A file's bytes are stored under ``file_id`` in the blob store; this is its metadata."""

    file_id: str
    id: int
    name: str
    size: int
    sha256: str
    mime_type: str
    uploader_id: int
    description: str | None = None
    is_public: bool = False
    at: float = 0.0


class FileDeleted(Event, frozen=True, tag="FileDeleted"):
    file_id: str
    deleted_by: int
    at: float = 0.0


class FileDownloadsCounted(Event, frozen=True, tag="FileDownloadsCounted"):
    """Downloads counted since the previous flush, per file id (batched to bound writes)."""

    counts: dict[str, int]
    at: float = 0.0


FileEvent = FileUploaded | FileDeleted | FileDownloadsCounted


class File(msgspec.Struct):
    """The command side's view of a file: what deletion decisions need."""

    file_id: str = ""
    uploader_id: int = 0
    deleted: bool = False

    @property
    def exists(self) -> bool:
        return bool(self.file_id) and not self.deleted


def file_stream(file_id: str) -> str:
    return f"file-{file_id}"


def download_stream(day: str) -> str:
    return f"filedownloads-{day}"


def evolve(state: File, event: Event) -> File:
    if not isinstance(event, FileEvent):
        return state
    match event:
        case FileUploaded():
            return File(file_id=event.file_id, uploader_id=event.uploader_id)
        case FileDeleted():
            return msgspec.structs.replace(state, deleted=True)
        case FileDownloadsCounted():
            return state
        case _:
            assert_never(event)


def decide_delete(state: File, user_id: int, is_superuser: bool, at: float) -> FileDeleted:
    if not state.exists:
        raise NotFoundError("File not found")
    if state.uploader_id != user_id and not is_superuser:
        raise ForbiddenError("Only the uploader or a superuser can delete this file")
    return FileDeleted(file_id=state.file_id, deleted_by=user_id, at=at)


def valid_file_id(file_id: str) -> bool:
    return bool(FILE_ID.fullmatch(file_id))


def display_name(raw: str | None) -> str:
    """The client's filename as shown to people: any Unicode, minus paths and control chars.

    Kept for display only; it never names anything on disk and is escaped again for headers.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c not in _BIDI and unicodedata.category(c) not in _DROP)
    name = name.strip()
    if name in ("", ".", ".."):
        name = "file"
    return name[:MAX_NAME_CHARS]


def inline_safe(mime_type: str) -> bool:
    """Whether a browser may show this type inline: media and plain text, never active content."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return base in _INLINE_TYPES or (
        base.split("/", 1)[0] in ("audio", "video") and "xml" not in base
    )
