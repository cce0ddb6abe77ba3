"""SQLite read store: a table per collection, JSON documents, expression indexes, FTS5 search."""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from projections.store import (
    Collection,
    D,
    Delete,
    Doc,
    Order,
    Patch,
    ProjectionBatch,
    Put,
    Where,
    apply_patch,
    text_field,
)

T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<=", "$ne": "IS NOT"}
_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(dict[str, Any])


_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(doc_type: type[D]) -> msgspec.json.Decoder[D]:
    """JSON straight into the collection's document Struct (one decoder per type)."""
    dec = _decoders.get(doc_type)
    if dec is None:
        dec = _decoders[doc_type] = msgspec.json.Decoder(doc_type)
    return dec


@functools.cache
def _name(n: str) -> str:
    if not _NAME.fullmatch(n):
        raise ValueError(f"bad collection or field name {n!r}")
    return n


def _x(field: str, alias: str = "") -> str:
    return f"json_extract({alias}doc, '$.{_name(field)}')"


def _param(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (dict, list)):
        return _enc.encode(v).decode()
    return v


def _where_sql(where: Where | None, alias: str = "") -> tuple[str, list[Any]]:
    if not where:
        return "", []
    parts: list[str] = []
    params: list[Any] = []
    for field, cond in where.items():
        expr = _x(field, alias)
        if isinstance(cond, dict):
            for op, v in cond.items():
                if op == "$in":
                    vals = list(v)
                    if not vals:
                        parts.append("0")
                        continue
                    parts.append(f"{expr} IN ({','.join('?' * len(vals))})")
                    params.extend(_param(i) for i in vals)
                elif op in _OPS:
                    parts.append(f"{expr} {_OPS[op]} ?")
                    params.append(_param(v))
                else:
                    raise ValueError(f"unknown filter operator {op!r}")
        elif cond is None:
            parts.append(f"{expr} IS NULL")
        else:
            parts.append(f"{expr} = ?")
            params.append(_param(cond))
    return " WHERE " + " AND ".join(parts), params


def _order_sql(order: Order, alias: str = "") -> str:
    if not order:
        return ""
    keys = (f"{_x(f, alias)} {'DESC' if d < 0 else 'ASC'}" for f, d in order)
    return " ORDER BY " + ", ".join(keys)


def _page_sql(skip: int, limit: int | None) -> str:
    if limit is None and not skip:
        return ""
    return f" LIMIT {int(limit) if limit is not None else -1} OFFSET {int(skip)}"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


class SqliteReadStore:
    """The embedded read store. One writer thread (the projector), a small pool of readers."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rs-writer")
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rs-reader")
        self._local = threading.local()
        self._wconn = _connect(self._path)
        self._wconn.execute(
            "CREATE TABLE IF NOT EXISTS checkpoints (projection TEXT PRIMARY KEY, position INTEGER)"
        )
        self._text: dict[str, str] = {}

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, fn, *args)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    def _rconn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self._path)
        return conn

    # -- schema ---------------------------------------------------------------------------------
    async def declare(self, collections: Sequence[Collection[Any]]) -> None:
        await self._write(self._declare, list(collections))

    def _declare(self, collections: list[Collection[Any]]) -> None:
        c = self._wconn
        c.execute("CREATE TABLE IF NOT EXISTS bulk_loads (coll TEXT PRIMARY KEY)")
        unfinished = {r[0] for r in c.execute("SELECT coll FROM bulk_loads")}
        for coll in collections:
            t = "c_" + _name(coll.name)
            c.execute(f"CREATE TABLE IF NOT EXISTS {t} (key TEXT PRIMARY KEY, doc TEXT NOT NULL)")
            for idx in coll.indexes:
                iname = f"{t}__{'__'.join(_name(f) for f in idx.fields)}"
                unique = "UNIQUE " if idx.unique else ""
                cols = ", ".join(_x(f) for f in idx.fields)
                c.execute(f"CREATE {unique}INDEX IF NOT EXISTS {iname} ON {t} ({cols})")
            if coll.text_field:
                self._text[coll.name] = coll.text_field
                if self._declare_text(t, coll.text_field):
                    unfinished.add(coll.name)
            if coll.name in unfinished:  # a bulk load stopped half-way: its index is stale
                self._refill_text(coll)
                c.execute("DELETE FROM bulk_loads WHERE coll = ?", (coll.name,))

    def _declare_text(self, t: str, field: str) -> bool:
        """A contentless trigram index kept by triggers; True when it was created just now."""
        c = self._wconn
        exists = c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{t}_text",)).fetchone()
        new, old = _x(field, "new."), _x(field, "old.")
        drop = f"INSERT INTO {t}_text({t}_text, rowid, t) VALUES ('delete', old.rowid, {old});"
        c.executescript(
            f"""
            DROP TRIGGER IF EXISTS {t}_ai; DROP TRIGGER IF EXISTS {t}_au;
            DROP TRIGGER IF EXISTS {t}_ad; DROP TABLE IF EXISTS {t}_fts;
            CREATE VIRTUAL TABLE IF NOT EXISTS {t}_text
              USING fts5(t, tokenize='trigram', content='', columnsize=0);
            CREATE TRIGGER IF NOT EXISTS {t}_text_ai AFTER INSERT ON {t} BEGIN
              INSERT INTO {t}_text(rowid, t) VALUES (new.rowid, {new}); END;
            CREATE TRIGGER IF NOT EXISTS {t}_text_au AFTER UPDATE ON {t} BEGIN
              {drop}
              INSERT INTO {t}_text(rowid, t) VALUES (new.rowid, {new}); END;
            CREATE TRIGGER IF NOT EXISTS {t}_text_ad AFTER DELETE ON {t} BEGIN {drop} END;
            """
        )
        return exists is None

    def _refill_text(self, coll: Collection[Any]) -> None:
        t = "c_" + _name(coll.name)
        if coll.text_field:
            self._wconn.execute(f"INSERT INTO {t}_text({t}_text) VALUES ('delete-all')")
            self._wconn.execute(
                f"INSERT INTO {t}_text(rowid, t) SELECT rowid, {_x(coll.text_field)} FROM {t}"
            )

    # -- bulk loads (rebuild) -------------------------------------------------------------------
    async def begin_bulk(self, collections: Sequence[Collection[Any]]) -> None:
        """Drop secondary indexes and text triggers; ``end_bulk`` recreates them in one pass."""
        await self._write(self._begin_bulk, list(collections))

    def _begin_bulk(self, collections: list[Collection[Any]]) -> None:
        c = self._wconn
        c.execute("PRAGMA synchronous=OFF")  # a crash mid-rebuild means: rebuild again
        for coll in collections:
            t = "c_" + _name(coll.name)
            c.execute("INSERT OR IGNORE INTO bulk_loads (coll) VALUES (?)", (coll.name,))
            for idx in coll.indexes:
                c.execute(f"DROP INDEX IF EXISTS {t}__{'__'.join(_name(f) for f in idx.fields)}")
            if coll.text_field:
                for suffix in ("ai", "au", "ad"):
                    c.execute(f"DROP TRIGGER IF EXISTS {t}_text_{suffix}")

    async def end_bulk(self, collections: Sequence[Collection[Any]]) -> None:
        await self._write(self._end_bulk, list(collections))

    def _end_bulk(self, collections: list[Collection[Any]]) -> None:
        # Indexes and triggers come back, the text index is refilled, then the marker goes:
        # a crash in between leaves the marker, and the next declare finishes the job.
        self._declare(collections)
        self._wconn.execute("PRAGMA synchronous=NORMAL")

    # -- writes ---------------------------------------------------------------------------------
    async def apply(self, batches: Sequence[ProjectionBatch]) -> None:
        await self._write(self._apply, list(batches))

    def _apply(self, batches: list[ProjectionBatch]) -> None:
        c = self._wconn
        c.execute("BEGIN IMMEDIATE")
        try:
            touched: dict[tuple[str, str], Doc | None] = {}
            done: dict[str, int] = {}
            for batch in batches:
                if batch.projection not in done:
                    done[batch.projection] = self._stored_checkpoint(c, batch.projection)
                # Ops of events at or below the checkpoint were committed with it: a redelivery.
                first_new = (done[batch.projection] + 1) * 1024
                for g in batch.ops:
                    if g.guard >= first_new:
                        self._apply_op(c, touched, g.op)
                done[batch.projection] = max(done[batch.projection], batch.position)
            self._write_touched(c, touched)
            c.executemany(
                "INSERT INTO checkpoints (projection, position) VALUES (?, ?)"
                " ON CONFLICT (projection) DO UPDATE"
                " SET position = MAX(position, excluded.position)",
                [(b.projection, b.position) for b in batches],
            )
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _write_touched(c: sqlite3.Connection, touched: dict[tuple[str, str], Doc | None]) -> None:
        """One executemany per collection and kind, in first-touched order of collections."""
        upserts: dict[str, list[tuple[str, str]]] = {}
        deletes: dict[str, list[tuple[str]]] = {}
        for (coll, key), doc in touched.items():
            if doc is None:
                deletes.setdefault(coll, []).append((key,))
            else:
                upserts.setdefault(coll, []).append((key, _enc.encode(doc).decode()))
        for coll, rows in deletes.items():
            c.executemany(f"DELETE FROM c_{coll} WHERE key = ?", rows)
        for coll, pairs in upserts.items():
            c.executemany(
                f"INSERT INTO c_{coll} (key, doc) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
                pairs,
            )

    @staticmethod
    def _stored_checkpoint(c: sqlite3.Connection, projection: str) -> int:
        row = c.execute(
            "SELECT position FROM checkpoints WHERE projection = ?", (projection,)
        ).fetchone()
        return 0 if row is None else int(row[0])

    @staticmethod
    def _apply_op(
        c: sqlite3.Connection, touched: dict[tuple[str, str], Doc | None], op: Put | Patch | Delete
    ) -> None:
        ident = (_name(op.coll), op.key)
        if isinstance(op, Put):
            touched[ident] = op.doc
        elif isinstance(op, Delete):
            touched[ident] = None
        else:
            if ident in touched:
                cur = touched[ident]
            else:
                row = c.execute(f"SELECT doc FROM c_{op.coll} WHERE key = ?", (op.key,)).fetchone()
                cur = None if row is None else _dec.decode(row[0])
            new = apply_patch(cur, op)
            if new is not None or ident in touched:
                touched[ident] = new

    async def checkpoint(self, projection: str) -> int:
        return await self._read(self._checkpoint, projection)

    def _checkpoint(self, projection: str) -> int:
        row = (
            self._rconn()
            .execute("SELECT position FROM checkpoints WHERE projection = ?", (projection,))
            .fetchone()
        )
        return 0 if row is None else int(row[0])

    async def save_checkpoint(self, projection: str, position: int) -> None:
        await self._write(self._save_checkpoint, projection, position)

    def _save_checkpoint(self, projection: str, position: int) -> None:
        self._wconn.execute(
            "INSERT INTO checkpoints (projection, position) VALUES (?, ?)"
            " ON CONFLICT (projection) DO UPDATE SET position = MAX(position, excluded.position)",
            (projection, position),
        )

    async def reset(self, projection: str, collections: Sequence[str]) -> None:
        await self._write(self._reset, projection, list(collections))

    def _reset(self, projection: str, collections: list[str]) -> None:
        c = self._wconn
        c.execute("BEGIN IMMEDIATE")
        for coll in collections:
            c.execute(f"DELETE FROM c_{_name(coll)}")
        c.execute("DELETE FROM checkpoints WHERE projection = ?", (projection,))
        c.execute("COMMIT")

    # -- reads ----------------------------------------------------------------------------------
    async def get(self, coll: Collection[D], key: str) -> D | None:
        return await self._read(self._get, coll, key)

    def _get(self, coll: Collection[D], key: str) -> D | None:
        row = (
            self._rconn()
            .execute(f"SELECT doc FROM c_{_name(coll.name)} WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else _decoder(coll.doc).decode(row[0])

    async def get_many(self, coll: Collection[D], keys: Sequence[str]) -> list[D]:
        return await self._read(self._get_many, coll, list(keys))

    def _get_many(self, coll: Collection[D], keys: list[str]) -> list[D]:
        out: list[D] = []
        conn = self._rconn()
        decode = _decoder(coll.doc).decode
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = conn.execute(
                f"SELECT doc FROM c_{_name(coll.name)} WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            out.extend(decode(r[0]) for r in rows)
        return out

    async def find(
        self,
        coll: Collection[D],
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[D]:
        w, params = _where_sql(where)
        sql = f"SELECT doc FROM c_{_name(coll.name)}{w}{_order_sql(order)}{_page_sql(skip, limit)}"
        return await self._read(self._select, coll.doc, sql, params)

    def _select(self, doc_type: type[D], sql: str, params: list[Any]) -> list[D]:
        decode = _decoder(doc_type).decode
        return [decode(r[0]) for r in self._rconn().execute(sql, params)]

    async def count(self, coll: Collection[Any], where: Where | None = None) -> int:
        w, params = _where_sql(where)
        sql = f"SELECT COUNT(*) FROM c_{_name(coll.name)}{w}"
        return await self._read(self._count, sql, params)

    def _count(self, sql: str, params: list[Any]) -> int:
        (n,) = self._rconn().execute(sql, params).fetchone()
        return int(n)

    async def search(
        self,
        coll: Collection[D],
        text: str,
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[D]:
        field = text_field(self._text, coll)
        t = "c_" + _name(coll.name)
        text = text.replace("\x00", "")  # FTS5 query strings end at NUL
        if not text:
            return []
        w, params = _where_sql(where, "c.")
        tail = _order_sql(order, "c.") + _page_sql(skip, limit)
        if len(text) >= 3:
            cond = f"c.rowid IN (SELECT rowid FROM {t}_text WHERE t MATCH ?)"
            arg: Any = '"' + text.replace('"', '""') + '"'
        else:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            cond = f"{_x(field, 'c.')} LIKE ? ESCAPE '\\'"
            arg = f"%{escaped}%"
        glue = " AND " if w else " WHERE "
        sql = f"SELECT c.doc FROM {t} c{w}{glue}{cond}{tail}"
        return await self._read(self._select, coll.doc, sql, [*params, arg])

    async def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self._wconn.close()
