"""``/files``: streamed upload and download, info, list, delete, download-info."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from commands.files import DeleteFile, DownloadCounter, FileHandlers, UploadFile
from domain.blobs import BlobStore
from domain.errors import NotFoundError
from domain.files import valid_file_id
from gateway.downloads import serve
from gateway.http import Api, Ctx
from gateway.schemas import Limit200, Skip
from gateway.settings import Settings
from gateway.uploads import UploadReceiver
from projections.store import ReadStore
from queries import files as q

api = Api("/api/v1/files", tag="files")

_UPLOAD_FORM = {
    "file": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"},
    "description": {"type": "string", "maxLength": 1000, "x-optional": True},
    "is_public": {"type": "boolean", "x-optional": True},
}


class FileListQuery(msgspec.Struct):
    skip: Skip = 0
    limit: Limit200 = 20


def _base_url(ctx: Ctx, settings: Settings) -> str:
    return settings.public_base_url or str(ctx.request.base_url)


async def _visible(ctx: Ctx, read: ReadStore) -> q.FileView:
    file_id = ctx.path_str("file_id")
    view = None
    if valid_file_id(file_id):
        view = await q.file_visible_to(read, file_id, ctx.me)
    if view is None:
        raise NotFoundError("File not found")
    return view


@api.post("/upload", response=q.File, status=201, form=_UPLOAD_FORM)
async def upload(ctx: Ctx, settings: Settings, files: FileHandlers) -> q.File:
    """Upload a file (multipart part ``file``), streamed to storage as it arrives."""
    body = UploadReceiver(ctx.request, settings.max_upload_bytes)
    event, ctx.position = await files.upload(UploadFile(ctx.me.id, body))
    view = q.FileView(
        file_id=event.file_id,
        id=event.id,
        name=event.name,
        size=event.size,
        sha256=event.sha256,
        mime_type=event.mime_type,
        uploader_id=event.uploader_id,
        description=event.description,
        is_public=event.is_public,
        uploaded_at=event.at,
        download_count=0,
        deleted=False,
    )
    return q.file_view(view, _base_url(ctx, settings=settings))


@api.get("/download/{file_id}", raw_response="*/*")
async def download(
    ctx: Ctx, blobs: BlobStore, read: ReadStore, files: FileHandlers, downloads: DownloadCounter
) -> Response:
    """The file's bytes, with ranges, conditional requests and a safe Content-Disposition."""
    view = await _visible(ctx, read=read)
    reader = await blobs.open(view.file_id)
    if reader is None:
        raise NotFoundError("File not found")
    response, counts = await serve(ctx.request, view, reader)
    if counts:
        downloads.hit(view.file_id)
    return response


@api.get("/info/{file_id}", response=q.File)
async def info(ctx: Ctx, read: ReadStore, settings: Settings) -> q.File:
    """A file's metadata."""
    return q.file_view(await _visible(ctx, read=read), _base_url(ctx, settings=settings))


@api.get("/download-info/{file_id}", response=q.DownloadInfo)
async def download_info(ctx: Ctx, read: ReadStore, settings: Settings) -> q.DownloadInfo:
    """Name, size, type and an absolute download URL."""
    return q.download_info(await _visible(ctx, read=read), _base_url(ctx, settings=settings))


@api.get("/list", query=FileListQuery, response=list[q.File])
async def list_files(ctx: Ctx, read: ReadStore, settings: Settings) -> list[q.File]:
    """The caller's own uploads, newest first."""
    qry: FileListQuery = ctx.query
    views = await q.list_uploads(read, ctx.me.id, qry.skip, qry.limit)
    base = _base_url(ctx, settings=settings)
    return [q.file_view(v, base) for v in views]


@api.delete("/{file_id}", status=204)
async def delete(ctx: Ctx, read: ReadStore, files: FileHandlers) -> None:
    """Delete a file (uploader or superuser); its messages then show it as deleted."""
    view = await _visible(ctx, read=read)
    cmd = DeleteFile(view.file_id, ctx.me.id, ctx.me.is_superuser)
    ctx.position = await files.delete_file(cmd)
