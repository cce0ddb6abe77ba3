"""The audit view of the SQLite event store: its own read-only connections on the same file
(so ``im audit`` works while the server runs, or without it), and a raw loader for imports."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from domain.audit import Scan, StreamInfo
from domain.chain import last_hash
from domain.store import RecordedEvent

T = TypeVar("T")
_COLUMNS = "id, stream, version, position, type, data, metadata, recorded_at"
_STREAM_COLUMNS = (
    "s.stream, s.version,"
    " (SELECT position FROM events WHERE stream = s.stream AND version = 0),"
    " (SELECT position FROM events WHERE stream = s.stream AND version = s.version),"
    " (SELECT recorded_at FROM events WHERE stream = s.stream AND version = s.version)"
)


def _row(r: tuple[Any, ...]) -> RecordedEvent:
    return RecordedEvent(*r)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class SqliteEventLog:
    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="es-audit")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=30
            )
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # -- reads ----------------------------------------------------------------------------------
    def _streams(
        self, category: str | None, prefix: str | None, skip: int, limit: int
    ) -> list[StreamInfo]:
        where: list[str] = []
        args: list[object] = []
        if category:
            where.append("s.stream LIKE ? ESCAPE '\\'")
            args.append(_like(category + "-"))
        if prefix:
            where.append("s.stream LIKE ? ESCAPE '\\'")
            args.append(_like(prefix))
        sql = f"SELECT {_STREAM_COLUMNS} FROM streams s"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.stream LIMIT ? OFFSET ?"
        rows = self._conn().execute(sql, (*args, limit, skip)).fetchall()
        return [
            StreamInfo(
                stream=r[0],
                category=r[0].partition("-")[0],
                version=r[1],
                first_position=r[2] or 0,
                last_position=r[3] or 0,
                last_recorded_at=r[4] or 0.0,
            )
            for r in rows
        ]

    async def streams(
        self, category: str | None, prefix: str | None, skip: int, limit: int
    ) -> list[StreamInfo]:
        return await self._run(self._streams, category, prefix, skip, limit)

    def _stream_page(
        self, stream: str, from_version: int, limit: int, until: int | None
    ) -> list[RecordedEvent]:
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM events WHERE stream = ? AND version >= ?"
            " AND position <= ? ORDER BY version LIMIT ?",
            (stream, from_version, until if until is not None else 2**62, limit),
        )
        return [_row(r) for r in rows]

    async def stream_page(
        self, stream: str, from_version: int, limit: int, until_position: int | None = None
    ) -> list[RecordedEvent]:
        return await self._run(self._stream_page, stream, from_version, limit, until_position)

    def _last_before(self, stream: str, position: int) -> RecordedEvent | None:
        row = (
            self._conn()
            .execute(
                f"SELECT {_COLUMNS} FROM events WHERE stream = ? AND position <= ?"
                " ORDER BY version DESC LIMIT 1",
                (stream, position),
            )
            .fetchone()
        )
        return None if row is None else _row(row)

    async def last_before(self, stream: str, position: int) -> RecordedEvent | None:
        return await self._run(self._last_before, stream, position)

    def _scan(self, scan: Scan, limit: int) -> tuple[list[RecordedEvent], int | None]:
        where: list[str] = ["position > ?"]
        args: list[object] = [scan.after_position]
        if scan.until_position is not None:
            where.append("position <= ?")
            args.append(scan.until_position)
        if scan.since is not None:
            where.append("recorded_at >= ?")
            args.append(scan.since)
        if scan.until is not None:
            where.append("recorded_at <= ?")
            args.append(scan.until)
        if scan.types:
            where.append(f"type IN ({','.join('?' * len(scan.types))})")
            args.extend(scan.types)
        if scan.category:
            where.append("stream LIKE ? ESCAPE '\\'")
            args.append(_like(scan.category + "-"))
        if scan.actor_id is not None:
            where.append("CAST(json_extract(metadata, '$.actor.id') AS TEXT) = ?")
            args.append(scan.actor_id)
        if scan.correlation_id is not None:
            where.append("json_extract(metadata, '$.\"$correlationId\"') = ?")
            args.append(scan.correlation_id)
        sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY position LIMIT ?"
        found = [_row(r) for r in self._conn().execute(sql, (*args, limit))]
        more = len(found) == limit
        return found, (found[-1].position if more else None)

    async def scan(self, scan: Scan, limit: int) -> tuple[list[RecordedEvent], int | None]:
        return await self._run(self._scan, scan, limit)

    def _position_at(self, at: float) -> int:
        # recorded_at grows with position (one writer, one clock), so search by position.
        conn = self._conn()
        (top,) = conn.execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
        lo, hi, best = 1, int(top), 0
        while lo <= hi:
            mid = (lo + hi) // 2
            row = conn.execute(
                "SELECT position, recorded_at FROM events WHERE position >= ?"
                " ORDER BY position LIMIT 1",
                (mid,),
            ).fetchone()
            if row is None or row[1] > at:
                hi = mid - 1
            else:
                best, lo = int(row[0]), int(row[0]) + 1
        return best

    async def position_at(self, at: float) -> int:
        return await self._run(self._position_at, at)

    def _head(self) -> int:
        (pos,) = self._conn().execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
        return int(pos)

    async def head(self) -> int:
        return await self._run(self._head)

    async def is_empty(self) -> bool:
        return await self.head() == 0

    # -- import ---------------------------------------------------------------------------------
    def _import(self, events: Sequence[RecordedEvent]) -> None:
        conn = self._conn()
        heads: dict[str, tuple[int, bytes | None]] = {}
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO events (position, id, stream, version, type, data, metadata,"
                " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.position,
                        e.id,
                        e.stream,
                        e.version,
                        e.type,
                        e.data,
                        e.metadata,
                        e.recorded_at,
                    )
                    for e in events
                ],
            )
            for e in events:
                heads[e.stream] = (e.version, last_hash(e.metadata))
            conn.executemany(
                "INSERT INTO streams (stream, version, hash) VALUES (?, ?, ?)"
                " ON CONFLICT (stream) DO UPDATE SET version = excluded.version,"
                " hash = excluded.hash",
                [(s, v, h) for s, (v, h) in heads.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def import_events(self, events: Sequence[RecordedEvent]) -> None:
        await self._run(self._import, events)

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
