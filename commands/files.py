"""File commands: upload, delete, count downloads in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Annotated, Protocol

import msgspec

from commands.core import IdAllocator, append, load, with_retry
from commands.mime import SNIFF_BYTES, sniff
from domain import files as f
from domain.blobs import BlobStat, BlobStore, BlobWriter
from domain.store import NO_STREAM, EventStore

log = logging.getLogger("im.files")
MAX_COUNTS_PER_EVENT = 500  # each count is one read-model op; ops per event stay below 1024


class UploadForm(msgspec.Struct):
    """What the client said about the file: the file part's filename and the text fields
    (decoded into this type by the HTTP layer, which enforces its constraints)."""

    name: str | None = None
    description: Annotated[str, msgspec.Meta(max_length=f.MAX_DESCRIPTION_CHARS)] | None = None
    is_public: bool = False


class UploadBody(Protocol):
    """An upload's request body, decoded as it arrives (the HTTP layer's multipart parser)."""

    async def write_file(self, writer: BlobWriter) -> UploadForm:
        """Write the file's bytes to ``writer`` as they arrive; the form once the body ended."""
        ...


class UploadFile(msgspec.Struct, frozen=True):
    """The upload command: who uploads, and the body the file and its form arrive in."""

    uploader_id: int
    body: UploadBody


class DeleteFile(msgspec.Struct, frozen=True):
    """Delete a file: who asks, and whether they are a superuser (who may delete any file)."""

    file_id: str
    user_id: int
    is_superuser: bool = False


class _HeadKeeping:
    """A blob writer that keeps the first bytes (to sniff the type from)."""

    def __init__(self, writer: BlobWriter) -> None:
        self._writer = writer
        self.head = bytearray()

    @property
    def size(self) -> int:
        return self._writer.size

    async def write(self, chunk: bytes) -> None:
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        await self._writer.write(chunk)

    async def commit(self) -> BlobStat:
        return await self._writer.commit()

    async def abort(self) -> None:
        await self._writer.abort()


class FileHandlers:
    def __init__(self, store: EventStore, ids: IdAllocator, blobs: BlobStore) -> None:
        self._store = store
        self._ids = ids
        self.blobs = blobs
        self._sweeper: asyncio.Task[None] | None = None

    async def upload(self, cmd: UploadFile) -> tuple[f.FileUploaded, int]:
        """Store the bytes under a fresh random id (never the client's filename) as they arrive,
        then record the upload. Nothing is left behind when any step fails."""
        file_id = uuid.uuid4().hex
        writer = _HeadKeeping(await self.blobs.create(file_id))
        try:
            form = await cmd.body.write_file(writer)
            stat = await writer.commit()
        except BaseException:
            await asyncio.shield(writer.abort())
            raise
        try:
            event = f.FileUploaded(
                file_id=file_id,
                id=await self._ids.next("file"),
                name=f.display_name(form.name),
                size=stat.size,
                sha256=stat.sha256,
                mime_type=sniff(bytes(writer.head)),
                uploader_id=cmd.uploader_id,
                description=form.description,
                is_public=form.is_public,
                at=time.time(),
            )
            position = await append(self._store, f.file_stream(file_id), [event], NO_STREAM)
        except BaseException:
            await asyncio.shield(self.blobs.delete(file_id))
            raise
        return event, position

    async def sweep_orphans(self, grace_seconds: float) -> int:
        """Remove blobs no live file refers to, older than ``grace_seconds``: left by a crash
        between the blob's rename and its ``FileUploaded`` append, or between ``FileDeleted``
        and the unlink. The event store decides (the file's own stream), never a read model."""
        removed = 0
        for key in await self.blobs.keys_older_than(grace_seconds):
            if not f.valid_file_id(key):
                continue
            state, _ = await load(self._store, f.file_stream(key), f.evolve, f.File())
            if not state.exists:
                await self.blobs.delete(key)
                removed += 1
        if removed:
            log.warning("removed %d orphaned blob(s) older than %g s", removed, grace_seconds)
        return removed

    def start_sweeper(self, interval: float, grace_seconds: float) -> None:
        """Sweep now (in the background) and then every ``interval`` seconds."""

        async def run() -> None:
            while True:
                try:
                    await self.sweep_orphans(grace_seconds)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the store may be unreachable for a while; next time
                    log.warning("blob sweep failed", exc_info=True)
                await asyncio.sleep(interval)

        self._sweeper = asyncio.create_task(run(), name="blob-sweeper")

    async def stop_sweeper(self) -> None:
        task, self._sweeper = self._sweeper, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def delete_file(self, cmd: DeleteFile) -> int:
        """Record the deletion (uploader or superuser), then drop the bytes. ``file_id`` is one
        the caller could see (the HTTP layer answers 404 for any other, malformed ones too)."""

        async def attempt() -> int:
            stream = f.file_stream(cmd.file_id)
            state, version = await load(self._store, stream, f.evolve, f.File())
            event = f.decide_delete(state, cmd.user_id, cmd.is_superuser, time.time())
            return await append(self._store, stream, [event], version)

        position = await with_retry(attempt)
        await self.blobs.delete(cmd.file_id)
        return position


class DownloadCounter:
    """Counts downloads in memory and appends them as one event per flush interval.

    One event per download would make every download a write; batching bounds the write volume
    to one small event per interval per process however many downloads happen. A crash loses at
    most one interval's counts: they are statistics, not state anything depends on.
    """

    def __init__(self, store: EventStore, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._counts: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def hit(self, file_id: str) -> None:
        self._counts[file_id] = self._counts.get(file_id, 0) + 1

    async def flush(self) -> int | None:
        """Append the pending counts; returns the position of the last event, if any."""
        counts, self._counts = self._counts, {}
        position: int | None = None
        items = sorted(counts.items())
        now = time.time()
        stream = f.download_stream(time.strftime("%Y%m%d", time.gmtime(now)))
        try:
            for i in range(0, len(items), MAX_COUNTS_PER_EVENT):
                chunk = dict(items[i : i + MAX_COUNTS_PER_EVENT])
                event = f.FileDownloadsCounted(counts=chunk, at=now)
                position = await append(self._store, stream, [event], None)
                for key in chunk:
                    counts.pop(key)
        except BaseException:
            for key, n in counts.items():  # put back what was not written
                self._counts[key] = self._counts.get(key, 0) + n
            raise
        return position

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not record download counts; retrying next interval")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="download-counter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("could not record the last download counts")
