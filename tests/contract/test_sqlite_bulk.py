"""The SQLite read store's bulk-load path (rebuilds) and its contentless text index."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.read_store.sqlite import SqliteReadStore
from projections.store import (
    Collection,
    Delete,
    Doc,
    Guarded,
    Index,
    Op,
    Patch,
    ProjectionBatch,
    Put,
    apply_patch,
)

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


def check_text_index(path: Path) -> None:
    """FTS5's own check of the index's structure (raises when it is corrupt)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("INSERT INTO c_notes_text(c_notes_text, rank) VALUES ('integrity-check', 1)")
    finally:
        conn.close()


WORDS = ["alpha", "bravo", "charlie"]
_text_ops = st.one_of(
    st.builds(
        lambda k, w: Put("notes", k, {"n": int(k), "text": w}),
        st.sampled_from(["1", "2", "3"]),
        st.sampled_from([*WORDS, None]),
    ),
    st.builds(lambda k: Delete("notes", k), st.sampled_from(["1", "2", "3"])),
    st.builds(
        lambda k, w, up: Patch("notes", k, set={"text": w}, insert={"n": int(k)}, upsert=up),
        st.sampled_from(["1", "2", "3"]),
        st.sampled_from(WORDS),
        st.booleans(),
    ),
    st.builds(
        lambda k: Patch("notes", k, inc={"edits": 1}, insert={"n": int(k)}),
        st.sampled_from(["1", "2", "3"]),
    ),
)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(_text_ops, max_size=12), per_batch=st.integers(1, 6))
def test_text_index_follows_any_ops_in_any_batches(ops: list[Op], per_batch: int) -> None:
    """Rows inserted, rewritten, patched and deleted in one transaction or across several (a
    deleted row's rowid taken again by a new row included): search finds exactly the documents
    whose text holds the word, and the index passes FTS5's own integrity check."""

    async def body() -> None:
        folder = tempfile.mkdtemp(prefix="im-fts-")
        store = SqliteReadStore(Path(folder) / "read.sqlite3")
        try:
            await store.declare([NOTES])
            for i in range(0, len(ops), per_batch):
                chunk = ops[i : i + per_batch]
                guarded = [Guarded((i + 1) * 1024 + k, op) for k, op in enumerate(chunk)]
                await store.apply([ProjectionBatch("notes", i + 1, guarded)])
            docs: dict[str, Doc] = {}
            for op in ops:
                if isinstance(op, Delete):
                    docs.pop(op.key, None)
                elif isinstance(op, Put):
                    docs[op.key] = dict(op.doc)
                elif (new := apply_patch(docs.get(op.key), op)) is not None:
                    docs[op.key] = new
            for word in WORDS:
                want = sorted(d["n"] for d in docs.values() if d.get("text") == word)
                assert await found(store, word) == want
            conn = sqlite3.connect(Path(folder) / "read.sqlite3")
            conn.execute(
                "INSERT INTO c_notes_text(c_notes_text, rank) VALUES ('integrity-check', 1)"
            )
            conn.close()
        finally:
            await store.close()
            shutil.rmtree(folder, ignore_errors=True)

    asyncio.run(body())


async def test_a_file_with_the_old_text_triggers_is_taken_over(tmp_path: Path) -> None:
    """Files written when triggers on the index kept it: the index they built stays and is kept
    from then on without them."""
    path = tmp_path / "read.sqlite3"
    store = SqliteReadStore(path)
    await store.declare([NOTES])
    await store.apply(batch(1, put(1, "old alpha"), put(2, "old bravo")))
    await store.close()
    conn = sqlite3.connect(path)
    x = "json_extract({}doc, '$.text')"
    drop = (
        "INSERT INTO c_notes_text(c_notes_text, rowid, t)"
        f" VALUES ('delete', old.rowid, {x.format('old.')});"
    )
    conn.executescript(
        f"""
        CREATE TRIGGER c_notes_text_ai AFTER INSERT ON c_notes BEGIN
          INSERT INTO c_notes_text(rowid, t) VALUES (new.rowid, {x.format("new.")}); END;
        CREATE TRIGGER c_notes_text_au AFTER UPDATE ON c_notes BEGIN {drop}
          INSERT INTO c_notes_text(rowid, t) VALUES (new.rowid, {x.format("new.")}); END;
        CREATE TRIGGER c_notes_text_ad AFTER DELETE ON c_notes BEGIN {drop} END;
        """
    )
    conn.close()

    again = SqliteReadStore(path)
    await again.declare([NOTES])
    await again.apply(batch(2, put(1, "new charlie"), Delete("notes", "2"), put(3, "new delta")))
    assert await found(again, "old") == []
    assert await found(again, "new") == [1, 3]
    await again.close()
    check_text_index(path)
    conn = sqlite3.connect(path)
    triggers = conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
    conn.close()
    assert triggers == []


async def test_reset_empties_the_text_index(tmp_path: Path) -> None:
    store = SqliteReadStore(tmp_path / "read.sqlite3")
    await store.declare([NOTES])
    await store.apply(batch(1, put(1, "gone soon"), put(2, "gone too")))
    await store.reset("notes", ["notes"])
    assert await found(store, "gone") == []
    await store.apply(batch(1, put(5, "back again")))
    assert await found(store, "again") == [5]
    await store.close()
