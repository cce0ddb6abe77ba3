"""Blobs in a local directory: temp file on the same filesystem, fsync, atomic rename into place."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from domain.blobs import BLOB_KEY, BlobStat

T = TypeVar("T")
CHUNK = 1 << 18  # bytes per disk write or read: few thread hops, at most 2 in memory per transfer
STALE_TEMP_SECONDS = 24 * 3600
log = logging.getLogger("im.blobs")


def _check(key: str) -> str:
    if not BLOB_KEY.fullmatch(key):
        raise ValueError(f"invalid blob key {key!r}")
    return key


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """The embedded blob store: ``root/ab/cd/<key>``; in-flight uploads in ``root/tmp``."""

    def __init__(self, root: str | Path, workers: int = 8) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blobs")
        self._host = socket.gethostname().replace(".", "_")
        self.sweep_temps()

    def path_for(self, key: str) -> Path:
        _check(key)
        return self.root / key[:2] / key[2:4] / key

    def sweep_temps(self) -> int:
        """Remove temp files left by dead processes on this host (or stale ones from anywhere)."""
        removed = 0
        now = time.time()
        for entry in os.scandir(self.tmp):
            host, _, rest = entry.name.partition(".")
            pid = rest.partition(".")[0]
            dead = host == self._host and pid.isdigit() and not _pid_alive(int(pid))
            try:
                if dead or now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
        return removed

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def create(self, key: str) -> LocalBlobWriter:
        final = self.path_for(key)
        name = f"{self._host}.{os.getpid()}.{uuid.uuid4().hex}.part"
        temp = self.tmp / name
        fd = await self.run(os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        return LocalBlobWriter(self, fd, temp, final)

    async def open(self, key: str) -> LocalBlobReader | None:
        path = self.path_for(key)
        try:
            fd = await self.run(os.open, path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        size = (await self.run(os.fstat, fd)).st_size
        return LocalBlobReader(self, fd, size)

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await self.run(os.unlink, self.path_for(key))

    async def keys_older_than(self, seconds: float) -> list[str]:
        return await self.run(self._keys_older_than, seconds)

    def _keys_older_than(self, seconds: float) -> list[str]:
        cutoff = time.time() - seconds
        out: list[str] = []
        for top in os.scandir(self.root):
            if not top.is_dir() or len(top.name) != 2:  # skips tmp/
                continue
            for mid in os.scandir(top.path):
                if not mid.is_dir():
                    continue
                for entry in os.scandir(mid.path):
                    try:
                        old = entry.stat().st_mtime < cutoff
                    except FileNotFoundError:
                        continue
                    if old and BLOB_KEY.fullmatch(entry.name):
                        out.append(entry.name)
        return out

    async def close(self) -> None:
        self._pool.shutdown(wait=True)


class LocalBlobWriter:
    """Buffers up to ``CHUNK`` bytes, then hashes and writes them in a thread while more arrive."""

    def __init__(self, store: LocalBlobStore, fd: int, temp: Path, final: Path) -> None:
        self._store = store
        self._fd = fd
        self._temp = temp
        self._final = final
        self._hash = hashlib.sha256()
        self._buf: list[bytes] = []
        self._buffered = 0
        self._pending: asyncio.Future[None] | None = None
        self._size = 0
        self._done = False
        self._lock = threading.Lock()  # a discard waits for an in-flight write on the same fd
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    def _write_chunk(self, data: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self._hash.update(data)
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    async def _flush(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        if self._buf:
            data = self._buf[0] if len(self._buf) == 1 else b"".join(self._buf)
            self._buf, self._buffered = [], 0
            loop = asyncio.get_running_loop()
            self._pending = loop.run_in_executor(self._store._pool, self._write_chunk, data)

    async def write(self, chunk: bytes) -> None:
        if self._done:
            raise RuntimeError("blob writer is closed")
        self._buf.append(chunk)
        self._buffered += len(chunk)
        self._size += len(chunk)
        if self._buffered >= CHUNK:
            await self._flush()

    def _finish(self) -> None:
        with self._lock:
            os.fsync(self._fd)
            self._closed = True
            os.close(self._fd)
        self._final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self._temp, self._final)
        _fsync_dir(self._final.parent)

    async def commit(self) -> BlobStat:
        if self._done:
            raise RuntimeError("blob writer is closed")
        try:
            await self._flush()
            await self._flush()  # waits for the last chunk's write
            await self._store.run(self._finish)
        except BaseException:
            await self.abort()
            raise
        self._done = True
        return BlobStat(size=self._size, sha256=self._hash.hexdigest())

    def _discard(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp)

    async def abort(self) -> None:
        """Drop the temp file; runs to the end even when the awaiting task is cancelled."""
        if self._done:
            return
        self._done = True
        self._buf, self._buffered = [], 0
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.add_done_callback(_consume)
        await asyncio.shield(self._store.run(self._discard))


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.debug("blob write failed during abort", exc_info=fut.exception())


class LocalBlobReader:
    def __init__(self, store: LocalBlobStore, fd: int, size: int) -> None:
        self._store = store
        self._fd = fd
        self._size = size
        self._closed = False

    @property
    def size(self) -> int:
        return self._size

    async def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The bytes from ``start``, ``CHUNK`` at a time, reading the next while one is sent."""
        end = self._size if length is None else min(self._size, start + length)
        loop = asyncio.get_running_loop()

        def read_at(offset: int) -> asyncio.Future[bytes] | None:
            if offset >= end:
                return None
            n = min(CHUNK, end - offset)
            return loop.run_in_executor(self._store._pool, os.pread, self._fd, n, offset)

        offset = start
        ahead = read_at(offset)
        try:
            while ahead is not None:
                data = await ahead
                if not data:
                    break
                offset += len(data)
                ahead = read_at(offset)
                yield data
        finally:
            if ahead is not None:
                ahead.add_done_callback(_consume)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._store.run(os.close, self._fd)
