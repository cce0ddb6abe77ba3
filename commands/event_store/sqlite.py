"""SQLite event store: WAL, group commit through one writer thread, live notify.

Subscribers in this process are woken at once by our own commits; subscribers in other
processes on the same file (the split deployment) by a datagram the committing process sends
to each of them (``Wakeups``). Polling stays only as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from domain.chain import GENESIS, seal
from domain.errors import ConcurrencyError
from domain.store import NO_STREAM, NewEvent, RecordedEvent

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    data BLOB NOT NULL,
    metadata BLOB NOT NULL,
    recorded_at REAL NOT NULL,
    UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS streams (
    stream TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    hash BLOB
) WITHOUT ROWID;
"""
_COLUMNS = "id, stream, version, position, type, data, metadata, recorded_at"
_BATCH = 1000
_IDLE_POLL_S = 0.1  # without cross-process wake-ups, other processes' appends are seen within this
_FALLBACK_POLL_S = 1.0  # with them, a lost wake-up is still caught within this

T = TypeVar("T")
_Pending = tuple[str, Sequence[NewEvent], int | None, "asyncio.Future[int]"]


# What a commit survives (https://sqlite.org/pragma.html#pragma_synchronous, WAL mode):
# FULL syncs the WAL at every commit, so an acknowledged append survives an OS crash or a power
# cut; NORMAL syncs only at checkpoints, so it survives a process crash but the last commits
# may roll back after a power cut (and their positions are then handed to other events).
SYNCHRONOUS = {"full": 2, "normal": 1}


def _connect(path: str, synchronous: str = "full") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={SYNCHRONOUS[synchronous]}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _row(r: tuple[object, ...]) -> RecordedEvent:
    return RecordedEvent(*r)  # type: ignore[arg-type]


class SqliteEventStore:
    """The embedded event store. Appends that arrive together are committed in one transaction.

    Positions are SQLite rowids assigned inside the single write transaction, so they become
    visible strictly in commit order even with several processes writing the same file.
    """

    def __init__(
        self,
        path: str | Path,
        synchronous: str = "full",
        *,
        fallback_poll: float = _FALLBACK_POLL_S,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self._path = str(path)
        self._sync = synchronous
        if self._path != ":memory:":
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        self._wakeups = (
            Wakeups(Path(self._path + ".wake"))
            if self._path != ":memory:" and Wakeups.supported()
            else None
        )
        self._fallback_poll = fallback_poll
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="es-writer")
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="es-reader")
        self._local = threading.local()
        self._rconns: list[sqlite3.Connection] = []  # the reader threads' own, closed with us
        self._wconn = _connect(self._path, synchronous)
        self._wconn.executescript(_SCHEMA)
        _add_hash_column(self._wconn)
        self._queue: list[_Pending] = []
        self._flushing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._waiters: set[asyncio.Event] = set()
        self._head = 0
        self._closed = False

    # -- writes ---------------------------------------------------------------------------------
    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int:
        if not events:
            raise ValueError("append needs at least one event")
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((stream, events, expected_version, fut))
        if not self._flushing:
            self._flushing = True
            self._idle.clear()
            asyncio.get_running_loop().create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await loop.run_in_executor(self._writer, self._write, batch)
                except BaseException as exc:  # the whole transaction failed: fail every caller
                    for *_, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (*_, fut), res in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)
                        self._head = max(self._head, res)
                self._wake()
        finally:
            self._flushing = False
            self._idle.set()

    def _write(self, batch: list[_Pending]) -> list[int | BaseException]:
        conn = self._wconn
        out: list[int | BaseException] = []
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stream, events, expected, _ in batch:
                conn.execute("SAVEPOINT a")
                try:
                    out.append(self._write_one(conn, stream, events, expected, now))
                    conn.execute("RELEASE a")
                except BaseException as exc:
                    conn.execute("ROLLBACK TO a")
                    conn.execute("RELEASE a")
                    out.append(exc)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if self._wakeups is not None:
            self._wakeups.notify()
        return out

    @staticmethod
    def _write_one(
        conn: sqlite3.Connection,
        stream: str,
        events: Sequence[NewEvent],
        expected: int | None,
        now: float,
    ) -> int:
        row = conn.execute(
            "SELECT version, hash FROM streams WHERE stream = ?", (stream,)
        ).fetchone()
        current = NO_STREAM if row is None else int(row[0])
        prev: bytes = GENESIS if row is None or row[1] is None else row[1]
        if expected is not None and expected != current:
            replay = _idempotent_replay(conn, stream, events)
            if replay is not None:
                return replay
            raise ConcurrencyError(f"stream {stream} is at version {current}, expected {expected}")
        rows = []
        for i, e in enumerate(events):  # the hash chain: no read, the head hash is in `streams`
            metadata, prev = seal(prev, e.type, e.data, e.metadata)
            rows.append((e.id, stream, current + 1 + i, e.type, e.data, metadata, now))
        try:
            cur = conn.executemany(
                "INSERT INTO events (id, stream, version, type, data, metadata, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError:
            replay = _idempotent_replay(conn, stream, events)
            if replay is not None:
                return replay
            raise ConcurrencyError(f"stream {stream} changed concurrently") from None
        del cur
        conn.execute(
            "INSERT INTO streams (stream, version, hash) VALUES (?, ?, ?)"
            " ON CONFLICT (stream) DO UPDATE SET version = excluded.version, hash = excluded.hash",
            (stream, current + len(events), prev),
        )
        (last,) = conn.execute("SELECT last_insert_rowid()").fetchone()
        return int(last)

    # -- reads ----------------------------------------------------------------------------------
    def _rconn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = _connect(self._path, self._sync)
            self._rconns.append(conn)
        return conn

    @property
    def synchronous(self) -> str:
        """The ``PRAGMA synchronous`` appends commit with, as SQLite reports it."""
        (level,) = self._wconn.execute("PRAGMA synchronous").fetchone()
        return {v: k for k, v in SYNCHRONOUS.items()}.get(int(level), str(level))

    def _read_stream(self, stream: str, from_version: int) -> list[RecordedEvent]:
        rows = self._rconn().execute(
            f"SELECT {_COLUMNS} FROM events WHERE stream = ? AND version >= ? ORDER BY version",
            (stream, from_version),
        )
        return [_row(r) for r in rows]

    def _read_last(self, stream: str) -> RecordedEvent | None:
        row = (
            self._rconn()
            .execute(
                f"SELECT {_COLUMNS} FROM events WHERE stream = ? ORDER BY version DESC LIMIT 1",
                (stream,),
            )
            .fetchone()
        )
        return None if row is None else _row(row)

    def _read_after(self, position: int, limit: int) -> list[RecordedEvent]:
        rows = self._rconn().execute(
            f"SELECT {_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (position, limit),
        )
        return [_row(r) for r in rows]

    def _max_position(self) -> int:
        (pos,) = self._rconn().execute("SELECT COALESCE(MAX(position), 0) FROM events").fetchone()
        return int(pos)

    def _count_after(self, position: int, limit: int) -> int:
        (n,) = (
            self._rconn()
            .execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE position > ? LIMIT ?)",
                (position, limit),
            )
            .fetchone()
        )
        return int(n)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    async def read(self, stream: str, from_version: int = 0) -> list[RecordedEvent]:
        result: list[RecordedEvent] = await self._run(self._read_stream, stream, from_version)
        return result

    async def last(self, stream: str) -> RecordedEvent | None:
        return await self._run(self._read_last, stream)

    async def read_all(self, after_position: int, limit: int = _BATCH) -> list[RecordedEvent]:
        result: list[RecordedEvent] = await self._run(self._read_after, after_position, limit)
        return result

    async def head(self) -> int:
        pos: int = await self._run(self._max_position)
        self._head = max(self._head, pos)
        return self._head

    async def events_after(self, position: int, limit: int) -> int:
        if limit <= 0:
            return 0
        n: int = await self._run(self._count_after, position, limit)
        return n

    def _wake(self) -> None:
        for waiter in self._waiters:
            waiter.set()

    async def subscribe(self, after_position: int = 0) -> AsyncIterator[list[RecordedEvent]]:
        position = after_position
        changed = asyncio.Event()
        self._waiters.add(changed)
        poll = _IDLE_POLL_S
        if self._wakeups is not None and self._wakeups.listen(self._wake):
            poll = self._fallback_poll
        try:
            while not self._closed:
                changed.clear()
                batch = await self.read_all(position)
                if batch:
                    position = batch[-1].position
                    yield batch
                    continue
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that arrives just as the event is set, and the subscriber never stops.
                try:
                    async with asyncio.timeout(poll):
                        await changed.wait()
                except TimeoutError:
                    pass
        finally:
            self._waiters.discard(changed)

    async def close(self) -> None:
        self._closed = True
        self._wake()
        await self._idle.wait()
        if self._wakeups is not None:
            self._wakeups.close()
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        for conn in self._rconns:
            conn.close()
        self._wconn.close()


class Wakeups:
    """Cross-process wake-ups: every listening process binds a Unix datagram socket (Linux's
    abstract namespace, so no path-length limit and nothing left on disk) and names it by an
    empty file in ``folder``; a process that committed sends one byte to each name but its own.
    A name nobody listens on any more (a killed process) is removed by the first sender that
    is refused. A full receive buffer means wake-ups are already pending there.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._name = f"im-wake-{uuid.uuid4().hex}"
        self._sender: socket.socket | None = None
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @staticmethod
    def supported() -> bool:
        return sys.platform.startswith("linux")

    def listen(self, wake: Callable[[], None]) -> bool:
        """Start receiving (once per store); False if it cannot (then the caller polls)."""
        if self._listener is not None:
            return True
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind("\0" + self._name)
            (self._folder / self._name).touch()
        except OSError:
            return False

        def readable() -> None:
            with contextlib.suppress(OSError):
                while sock.recv(64):
                    pass
            wake()

        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), readable)
        self._listener = sock
        return True

    def notify(self) -> None:
        """Wake every other listener (called by the writer thread after each commit)."""
        with self._lock:
            if self._sender is None:
                self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sender.setblocking(False)
            try:
                names = os.listdir(self._folder)
            except OSError:
                return
            for name in names:
                if name == self._name or not name.startswith("im-wake-"):
                    continue
                try:
                    self._sender.sendto(b"!", "\0" + name)
                except (ConnectionRefusedError, FileNotFoundError):
                    with contextlib.suppress(OSError):
                        (self._folder / name).unlink()
                except OSError:  # buffer full: that listener has wake-ups pending already
                    pass

    def close(self) -> None:
        if self._listener is not None:
            if self._loop is not None and not self._loop.is_closed():
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
            with contextlib.suppress(OSError):
                (self._folder / self._name).unlink()
        with self._lock:
            if self._sender is not None:
                self._sender.close()
                self._sender = None


def _add_hash_column(conn: sqlite3.Connection) -> None:
    """Files from before the hash chain: their streams continue it from ``GENESIS``."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(streams)")}
    if "hash" not in columns:
        try:
            conn.execute("ALTER TABLE streams ADD COLUMN hash BLOB")
        except sqlite3.OperationalError as exc:  # another process added it first
            if "duplicate column" not in str(exc):
                raise


def _idempotent_replay(
    conn: sqlite3.Connection, stream: str, events: Sequence[NewEvent]
) -> int | None:
    """If these exact event ids were appended before (a retried call), return that position."""
    ids = [e.id for e in events]
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        f"SELECT stream, position FROM events WHERE id IN ({marks}) ORDER BY position", ids
    ).fetchall()
    if len(rows) == len(ids) and all(r[0] == stream for r in rows):
        return int(rows[-1][1])
    return None
