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
    as_dict,
    patch_in_place,
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


class _Fold:
    """What one transaction's ops leave of each document they touch, by (collection, key): the
    document as a Put gave it, a dict of the fold's own (patched in place), or None (deleted).
    A document is read at most once per transaction, and so is a missing one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.docs: dict[tuple[str, str], Any] = {}
        self._owned: set[tuple[str, str]] = set()  # docs entries that are this fold's dicts
        self._absent: set[tuple[str, str]] = set()  # read, and not stored

    def add(self, op: Put | Patch | Delete) -> None:
        ident = (_name(op.coll), op.key)
        if type(op) is Put:
            self.docs[ident] = op.doc
            self._owned.discard(ident)
        elif type(op) is Delete:
            self.docs[ident] = None
            self._owned.discard(ident)
        else:
            assert isinstance(op, Patch)
            self._patch(ident, op)

    def _patch(self, ident: tuple[str, str], op: Patch) -> None:
        owned = False
        if ident in self.docs:
            cur = self.docs[ident]
            owned = ident in self._owned
        elif ident in self._absent:
            cur = None
        else:
            row = self._conn.execute(
                f"SELECT doc FROM c_{ident[0]} WHERE key = ?", (ident[1],)
            ).fetchone()
            if row is None:
                self._absent.add(ident)
                cur = None
            else:
                cur, owned = _dec.decode(row[0]), True
        if cur is None:
            if not op.upsert:
                return  # stays missing (or deleted)
            doc: Doc = dict(op.insert)
        else:
            doc = cur if owned else as_dict(cur)
        self.docs[ident] = patch_in_place(doc, op)
        self._owned.add(ident)


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
        self._logged: set[str] = set()  # tables whose changes this connection logs for their text

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
        # One write transaction: processes starting together on one file declare one after
        # another (several at once raced on the text index: "vtable constructor failed").
        c = self._wconn
        c.execute("BEGIN IMMEDIATE")
        try:
            self._declare_all(collections)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def _declare_all(self, collections: list[Collection[Any]]) -> None:
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
        """A contentless trigram index; True when it was created just now.

        Writes do not keep it through triggers on the index itself: FTS5 flushes its pending
        terms at every statement savepoint, which a trigger opens for every row, so an index
        kept that way costs several times the row it indexes. Instead this connection's
        temporary triggers log the rowid (and the text it was indexed with) of each row a
        transaction inserts, updates or deletes, and ``_sync_text`` brings the index up to
        date from that log in two statements before the commit.
        """
        c = self._wconn
        exists = c.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (f"{t}_text",)).fetchone()
        for old in ("_ai", "_au", "_ad", "_text_ai", "_text_au", "_text_ad"):
            c.execute(f"DROP TRIGGER IF EXISTS main.{t}{old}")  # earlier designs' triggers
        c.execute(f"DROP TABLE IF EXISTS {t}_fts")
        c.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {t}_text"
            " USING fts5(t, tokenize='trigram', content='', columnsize=0)"
        )
        self._log_text(t, field)
        return exists is None

    def _log_text(self, t: str, field: str) -> None:
        """This connection's change log of a text collection (see ``_declare_text``)."""
        c = self._wconn
        # ``old`` has no type: the text is kept exactly as json_extract gave it to the index.
        c.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {t}_textlog"
            " (rid INTEGER PRIMARY KEY, old, had INTEGER NOT NULL)"
        )
        log = f"INSERT OR IGNORE INTO {t}_textlog (rid, old, had)"  # the first change wins
        was = f"VALUES (old.rowid, {_x(field, 'old.')}, 1)"
        c.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS {t}_textlog_ai AFTER INSERT ON main.{t}"
            f" BEGIN {log} VALUES (new.rowid, NULL, 0); END"
        )
        c.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS {t}_textlog_au AFTER UPDATE ON main.{t}"
            f" BEGIN {log} {was}; END"
        )
        c.execute(
            f"CREATE TEMP TRIGGER IF NOT EXISTS {t}_textlog_ad AFTER DELETE ON main.{t}"
            f" BEGIN {log} {was}; END"
        )
        self._logged.add(t)

    def _unlog_text(self, t: str) -> None:
        self._logged.discard(t)
        c = self._wconn
        for suffix in ("ai", "au", "ad"):
            c.execute(f"DROP TRIGGER IF EXISTS temp.{t}_textlog_{suffix}")
        c.execute(f"DROP TABLE IF EXISTS temp.{t}_textlog")

    def _sync_text(self, t: str, field: str) -> None:
        """The text index of the rows this transaction changed: each changed row's old entry
        out, its current text in (see ``_declare_text``)."""
        c = self._wconn
        c.execute(
            f"INSERT INTO {t}_text({t}_text, rowid, t)"
            f" SELECT 'delete', rid, old FROM {t}_textlog WHERE had"
        )
        c.execute(
            f"INSERT INTO {t}_text(rowid, t) SELECT c.rowid, {_x(field, 'c.')}"
            f" FROM {t}_textlog l JOIN main.{t} c ON c.rowid = l.rid"
        )
        c.execute(f"DELETE FROM {t}_textlog")

    def _refill_text(self, coll: Collection[Any]) -> None:
        t = "c_" + _name(coll.name)
        if coll.text_field:
            self._wconn.execute(f"INSERT INTO {t}_text({t}_text) VALUES ('delete-all')")
            self._wconn.execute(
                f"INSERT INTO {t}_text(rowid, t) SELECT rowid, {_x(coll.text_field)} FROM {t}"
            )

    # -- bulk loads (rebuild) -------------------------------------------------------------------
    async def begin_bulk(self, collections: Sequence[Collection[Any]]) -> None:
        """Drop secondary indexes and stop keeping the text index; ``end_bulk`` rebuilds both in
        one pass."""
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
                self._unlog_text(t)

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
            fold = _Fold(c)
            done = self._stored_checkpoints(c, {b.projection for b in batches})
            for batch in batches:
                # Ops of events at or below the checkpoint were committed with it: a redelivery.
                first_new = (done[batch.projection] + 1) * 1024
                for g in batch.ops:
                    if g.guard >= first_new:
                        fold.add(g.op)
                done[batch.projection] = max(done[batch.projection], batch.position)
            colls = self._write_touched(c, fold.docs)
            for coll in colls:  # after every row: see _declare_text
                t = "c_" + coll
                if t in self._logged:
                    self._sync_text(t, self._text[coll])
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
    def _write_touched(c: sqlite3.Connection, touched: dict[tuple[str, str], Any]) -> list[str]:
        """One executemany per collection and kind, in first-touched order of collections;
        returns the collections written."""
        upserts: dict[str, list[tuple[str, str]]] = {}
        deletes: dict[str, list[tuple[str]]] = {}
        encode = _enc.encode
        for (coll, key), doc in touched.items():
            if doc is None:
                deletes.setdefault(coll, []).append((key,))
            else:
                upserts.setdefault(coll, []).append((key, encode(doc).decode()))
        for coll, rows in deletes.items():
            c.executemany(f"DELETE FROM c_{coll} WHERE key = ?", rows)
        for coll, pairs in upserts.items():
            c.executemany(
                f"INSERT INTO c_{coll} (key, doc) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET doc = excluded.doc",
                pairs,
            )
        return list(dict.fromkeys([*deletes, *upserts]))

    @staticmethod
    def _stored_checkpoints(c: sqlite3.Connection, projections: set[str]) -> dict[str, int]:
        """The stored checkpoint of each of ``projections`` (0 when none), in one statement."""
        (found,) = c.execute(
            "SELECT json_group_object(projection, position) FROM checkpoints"
            " WHERE projection IN (SELECT value FROM json_each(?))",
            (_enc.encode(sorted(projections)).decode(),),
        ).fetchone()
        stored: dict[str, int] = _dec.decode(found)
        return {p: int(stored.get(p, 0)) for p in projections}

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
        logged = [t for coll in collections if (t := "c_" + _name(coll)) in self._logged]
        c.execute("BEGIN IMMEDIATE")
        try:
            for t in logged:  # emptied at once below, not row by row through the log
                self._unlog_text(t)
            for coll in collections:
                t = "c_" + _name(coll)
                c.execute(f"DELETE FROM {t}")
                if coll in self._text:
                    c.execute(f"INSERT INTO {t}_text({t}_text) VALUES ('delete-all')")
            c.execute("DELETE FROM checkpoints WHERE projection = ?", (projection,))
            for coll in collections:
                t = "c_" + _name(coll)
                if t in logged:
                    self._log_text(t, self._text[coll])
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            for coll in collections:  # the rollback brought the log back; say so
                t = "c_" + _name(coll)
                if t in logged:
                    self._logged.add(t)
            raise

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
