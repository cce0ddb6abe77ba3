"""The SQLite read store's bulk-load path (rebuilds) and its contentless text index."""

from __future__ import annotations

from pathlib import Path

from projections.read_store.sqlite import SqliteReadStore
from projections.store import Collection, Delete, Guarded, Index, ProjectionBatch, Put

NOTES = Collection("notes", dict, indexes=(Index(("n",), unique=True),), text_field="text")


def batch(position: int, *ops: Put | Delete) -> list[ProjectionBatch]:
    guarded = [Guarded(position * 1024 + i, op) for i, op in enumerate(ops)]
    return [ProjectionBatch("notes", position, guarded)]


def put(n: int, text: str) -> Put:
    return Put("notes", str(n), {"n": n, "text": text})


async def found(store: SqliteReadStore, text: str) -> list[int]:
    return sorted(d["n"] for d in await store.search(NOTES, text))


async def test_text_index_follows_updates_and_deletes(tmp_path: Path) -> None:
    store = SqliteReadStore(tmp_path / "read.sqlite3")
    await store.declare([NOTES])
    await store.apply(batch(1, put(1, "alpha beta"), put(2, "beta gamma")))
    assert await found(store, "BETA") == [1, 2]
    await store.apply(batch(2, put(1, "delta")))
    assert await found(store, "alpha") == []
    assert await found(store, "delta") == [1]
    await store.apply(batch(3, Delete("notes", "2")))
    assert await found(store, "beta") == []
    await store.close()


async def test_bulk_load_defers_then_rebuilds_indexes(tmp_path: Path) -> None:
    store = SqliteReadStore(tmp_path / "read.sqlite3")
    await store.declare([NOTES])
    await store.apply(batch(1, put(1, "before bulk")))
    await store.begin_bulk([NOTES])
    await store.apply(batch(2, *(put(i, f"bulk row {i}") for i in range(2, 200))))
    await store.end_bulk([NOTES])
    assert await found(store, "before") == [1]
    assert len(await found(store, "bulk row")) == 198
    assert await store.find(NOTES, {"n": 150}) == [{"n": 150, "text": "bulk row 150"}]
    await store.apply(batch(3, put(7, "after bulk")))  # triggers are back
    assert await found(store, "after bulk") == [7]
    await store.close()


async def test_interrupted_bulk_load_is_repaired_by_declare(tmp_path: Path) -> None:
    store = SqliteReadStore(tmp_path / "read.sqlite3")
    await store.declare([NOTES])
    await store.begin_bulk([NOTES])
    await store.apply(batch(1, put(1, "lost in a crash")))
    await store.close()  # no end_bulk: the process died half-way

    again = SqliteReadStore(tmp_path / "read.sqlite3")
    await again.declare([NOTES])
    assert await found(again, "crash") == [1]
    await again.apply(batch(2, put(2, "crash two")))
    assert await found(again, "crash") == [1, 2]
    await again.close()
