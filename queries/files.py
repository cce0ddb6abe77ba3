"""File views and the visibility rule: uploader, superusers, members where it was sent, public."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from projections.schema import FILE_MEMBERS, FILE_SHARES, FILES, FileDoc, member_key
from projections.store import ReadStore
from queries.views import User, iso

API_PREFIX = "/api/v1/files"


class FileView(msgspec.Struct, frozen=True):
    """A file's metadata as the read model has it (no request-dependent parts)."""

    file_id: str
    id: int
    name: str
    size: int
    sha256: str
    mime_type: str
    uploader_id: int
    description: str | None
    is_public: bool
    uploaded_at: float
    download_count: int
    deleted: bool


class File(msgspec.Struct):
    """The contract's ``File``."""

    id: int
    file_id: str
    file_name: str
    file_size: int
    file_type: str
    sha256: str
    description: str | None
    is_public: bool
    uploader_id: int
    uploaded_at: str
    download_count: int
    download_url: str


class DownloadInfo(msgspec.Struct):
    file_id: str
    file_name: str
    file_size: int
    file_type: str
    download_url: str


class FileInfo(msgspec.Struct, omit_defaults=True):
    """``Message.file_info``: ``deleted`` appears (as true) only once the file was deleted."""

    id: int
    file_id: str
    name: str
    size: int
    type: str
    deleted: bool = False


def _view(doc: FileDoc) -> FileView:
    return FileView(
        file_id=doc.file_id,
        id=doc.id,
        name=doc.name,
        size=doc.size,
        sha256=doc.sha256,
        mime_type=doc.mime_type,
        uploader_id=doc.uploader_id,
        description=doc.description,
        is_public=doc.is_public,
        uploaded_at=doc.uploaded_at,
        download_count=doc.download_count,
        deleted=doc.deleted,
    )


def download_url(base_url: str, file_id: str) -> str:
    """Absolute URL of a file's bytes; ``base_url`` is the public base or the request's."""
    return f"{base_url.rstrip('/')}{API_PREFIX}/download/{file_id}"


def file_view(view: FileView, base_url: str) -> File:
    return File(
        id=view.id,
        file_id=view.file_id,
        file_name=view.name,
        file_size=view.size,
        file_type=view.mime_type,
        sha256=view.sha256,
        description=view.description,
        is_public=view.is_public,
        uploader_id=view.uploader_id,
        uploaded_at=iso(view.uploaded_at) or "",
        download_count=view.download_count,
        download_url=download_url(base_url, view.file_id),
    )


def download_info(view: FileView, base_url: str) -> DownloadInfo:
    return DownloadInfo(
        file_id=view.file_id,
        file_name=view.name,
        file_size=view.size,
        file_type=view.mime_type,
        download_url=download_url(base_url, view.file_id),
    )


async def shared_with(read: ReadStore, file_id: str, user_id: int) -> bool:
    """Whether ``user_id`` is a current member of a conversation the file was sent to (in a
    message not recalled since)."""
    shares = [
        s
        for s in await read.find(FILE_SHARES, {"file_id": file_id})
        if s.message_ids is None or s.message_ids
    ]
    if not shares:
        return False
    keys = [member_key(s.conversation_id, user_id) for s in shares]
    return bool(await read.get_many(FILE_MEMBERS, keys))


async def file_visible_to(read: ReadStore, file_id: str, user: User) -> FileView | None:
    """The file if ``user`` may see it, else None (unknown, deleted or not visible: callers
    answer all three with the same 404 so existence is not revealed)."""
    if len(file_id) > 64:
        return None
    doc = await read.get(FILES, file_id)
    if doc is None or doc.deleted:
        return None
    view = _view(doc)
    if view.uploader_id == user.id or user.is_superuser or view.is_public:
        return view
    return view if await shared_with(read, file_id, user.id) else None


async def list_uploads(read: ReadStore, user_id: int, skip: int, limit: int) -> list[FileView]:
    """The user's own files that are not deleted, newest first."""
    where = {"uploader_id": user_id, "deleted": False}
    order = [("uploaded_at", -1), ("id", -1)]
    docs = await read.find(FILES, where, order=order, skip=skip, limit=limit)
    return [_view(d) for d in docs]


def _info(doc: FileDoc) -> FileInfo:
    return FileInfo(
        id=doc.id,
        file_id=doc.file_id,
        name=doc.name,
        size=doc.size,
        type=doc.mime_type,
        deleted=doc.deleted,
    )


async def file_infos(read: ReadStore, file_ids: Sequence[str]) -> dict[str, FileInfo]:
    """``Message.file_info`` for many file ids in one read (unknown ids are left out)."""
    wanted = sorted({i for i in file_ids if i})
    if not wanted:
        return {}
    return {d.file_id: _info(d) for d in await read.get_many(FILES, wanted)}


async def file_info(read: ReadStore, file_id: str | None) -> FileInfo | None:
    if not file_id:
        return None
    return (await file_infos(read, [file_id])).get(file_id)
