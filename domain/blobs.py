"""The blob-store port: file bytes by key. Metadata lives in events, never here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Protocol

import msgspec

BLOB_KEY = re.compile(r"^[A-Za-z0-9_-]{8,128}$")


class BlobStat(msgspec.Struct, frozen=True):
    size: int
    sha256: str


class BlobWriter(Protocol):
    """Receives one blob's bytes in order. Nothing is visible under the key before ``commit``.

    ``commit`` makes the complete blob durable and visible atomically and returns its size and
    SHA-256; ``abort`` (also safe after a failed write) leaves nothing behind.
    """

    @property
    def size(self) -> int: ...

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> BlobStat: ...

    async def abort(self) -> None: ...


class BlobReader(Protocol):
    """An opened blob: its size is fixed when opened; ``close`` releases it."""

    @property
    def size(self) -> int: ...

    def chunks(self, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]: ...

    async def close(self) -> None: ...


class BlobStore(Protocol):
    """Immutable blobs under caller-chosen keys (``BLOB_KEY``); never named by client input."""

    async def create(self, key: str) -> BlobWriter: ...

    async def open(self, key: str) -> BlobReader | None:
        """The blob, or None when no committed blob has this key."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error."""
        ...

    async def keys_older_than(self, seconds: float) -> list[str]:
        """Keys of committed blobs last written more than ``seconds`` ago (for the orphan
        sweep)."""
        ...

    async def close(self) -> None: ...
