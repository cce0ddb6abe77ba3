"""The BlobStore port's contract, run against every adapter (the local directory for now)."""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from commands.blob_store.local import LocalBlobStore
from domain.blobs import BlobStore


@pytest.fixture(params=["local"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    s = LocalBlobStore(tmp_path / "blobs")
    yield s
    await s.close()


def _key() -> str:
    return os.urandom(16).hex()


async def _read(store: BlobStore, key: str, start: int = 0, length: int | None = None) -> bytes:
    reader = await store.open(key)
    assert reader is not None
    try:
        return b"".join([c async for c in reader.chunks(start, length)])
    finally:
        await reader.close()


async def test_commit_makes_the_whole_blob_visible_at_once(store: BlobStore) -> None:
    key = _key()
    data = os.urandom(3 * (1 << 20) + 123)
    writer = await store.create(key)
    for i in range(0, len(data), 65536):
        await writer.write(data[i : i + 65536])
        assert await store.open(key) is None  # nothing under the key before commit
    stat = await writer.commit()
    assert stat.size == len(data) == writer.size
    assert stat.sha256 == hashlib.sha256(data).hexdigest()
    assert await _read(store, key) == data
    assert await _read(store, key, 1 << 20, 10) == data[1 << 20 : (1 << 20) + 10]
    assert await _read(store, key, len(data) - 5) == data[-5:]


async def test_abort_leaves_nothing(store: BlobStore, tmp_path: Path) -> None:
    key = _key()
    writer = await store.create(key)
    await writer.write(b"x" * (2 << 20))
    await writer.abort()
    await writer.abort()  # idempotent
    assert await store.open(key) is None
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


async def test_delete_and_missing_keys(store: BlobStore) -> None:
    key = _key()
    writer = await store.create(key)
    await writer.write(b"abc")
    await writer.commit()
    await store.delete(key)
    await store.delete(key)  # missing is fine
    assert await store.open(key) is None
    with pytest.raises(ValueError, match="invalid blob key"):
        await store.create("../../etc/passwd")
    with pytest.raises(ValueError, match="invalid blob key"):
        await store.open("a/b")


async def test_empty_blob(store: BlobStore) -> None:
    key = _key()
    writer = await store.create(key)
    stat = await writer.commit()
    assert stat.size == 0 and stat.sha256 == hashlib.sha256(b"").hexdigest()
    assert await _read(store, key) == b""


def test_local_start_sweeps_temp_files_of_dead_processes(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    (root / "tmp").mkdir(parents=True)
    host = socket.gethostname().replace(".", "_")
    dead = root / "tmp" / f"{host}.999999999.abc.part"
    alive = root / "tmp" / f"{host}.{os.getpid()}.abc.part"
    dead.write_bytes(b"half")
    alive.write_bytes(b"in flight")
    LocalBlobStore(root)
    assert not dead.exists()
    assert alive.exists()
