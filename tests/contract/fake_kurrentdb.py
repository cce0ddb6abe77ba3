"""An in-memory stand-in for ``AsyncKurrentDBClient``, for the adapter-logic leg of the suite.

KurrentDB cannot run on these machines, so the event-store contract also runs the real
``KurrentDbEventStore`` over this fake, which follows the client's documented behaviour: commit
positions that grow by uneven steps (byte offsets), ``WrongCurrentVersionError``, idempotent
retries by event id, ``NotFoundError`` for missing streams, a catch-up subscription that starts
after an existing commit position and excludes system events. It proves the adapter's
translation, batching and shutdown; the real-server leg (``IM_TEST_KURRENTDB_URL``) proves the
server agrees.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
from collections.abc import Iterable
from typing import Any

from kurrentdbclient import NewEvent, RecordedEvent, StreamState
from kurrentdbclient.exceptions import (
    InvalidCommitPositionError,
    NotFoundError,
    WrongCurrentVersionError,
)


class FakeKurrentDB:
    """The server: one log shared by every client opened on it."""

    def __init__(self, positionless_retries: bool = False) -> None:
        # Some servers answer an idempotent repeat without a position (the client returns 0).
        self.positionless_retries = positionless_retries
        self.log: list[RecordedEvent] = []
        self.streams: dict[str, list[RecordedEvent]] = {}
        self.waiters: set[asyncio.Event] = set()
        self._steps = itertools.cycle([97, 211, 150, 389])
        self._next = 0

    def record(self, stream: str, e: NewEvent, version: int) -> RecordedEvent:
        self._next += next(self._steps)
        rec = RecordedEvent(
            type=e.type,
            data=e.data,
            metadata=e.metadata,
            content_type=e.content_type,
            id=e.id,
            stream_name=stream,
            stream_position=version,
            commit_position=self._next,
            prepare_position=self._next,
            recorded_at=datetime.datetime.now(datetime.UTC),
        )
        self.log.append(rec)
        self.streams.setdefault(stream, []).append(rec)
        return rec

    def client(self) -> FakeClient:
        return FakeClient(self)


class FakeClient:
    def __init__(self, server: FakeKurrentDB) -> None:
        self._s = server
        self.closed = False

    async def append_to_stream(
        self, stream_name: str, *, events: Iterable[NewEvent], current_version: int | StreamState
    ) -> int:
        await asyncio.sleep(0)
        s, batch = self._s, list(events)
        existing = s.streams.get(stream_name, [])
        current = len(existing) - 1
        expected = -1 if current_version is StreamState.NO_STREAM else current_version
        if isinstance(expected, int) and expected != current:
            following = existing[expected + 1 : expected + 1 + len(batch)]
            if [e.id for e in following] == [e.id for e in batch]:  # an idempotent retry
                return 0 if s.positionless_retries else following[-1].commit_position
            raise WrongCurrentVersionError(stream_name=stream_name, actual_version=current)
        if current_version is StreamState.ANY:
            known = {e.id: e for e in existing}
            if all(e.id in known for e in batch):
                return 0 if s.positionless_retries else known[batch[-1].id].commit_position
        if current == -1:  # a new stream gets a system event first, as the server writes some
            s.record(f"$${stream_name}", NewEvent(type="$metadata", data=b"{}"), 0)
        recs = [s.record(stream_name, e, current + 1 + i) for i, e in enumerate(batch)]
        for w in s.waiters:
            w.set()
        return recs[-1].commit_position

    async def get_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        limit: int = 2**63,
    ) -> tuple[RecordedEvent, ...]:
        await asyncio.sleep(0)
        found = self._s.streams.get(stream_name)
        if not found:
            raise NotFoundError(f"Stream {stream_name!r} not found")
        if backwards:
            start = len(found) - 1 if stream_position is None else stream_position
            return tuple(reversed(found[: start + 1]))[:limit]
        return tuple(found[stream_position or 0 :])[:limit]

    async def read_all(self, *, backwards: bool = False, limit: int = 2**63) -> FakeRead:
        # The client's default filter excludes system events ($-types) server-side.
        ours = [e for e in self._s.log if not e.type.startswith("$")]
        return FakeRead(list(reversed(ours)) if backwards else ours, limit)

    async def get_commit_position(self) -> int:
        ours = [e for e in self._s.log if not e.type.startswith("$")]
        return ours[-1].commit_position if ours else 0

    async def subscribe_to_all(self, *, commit_position: int | None = None) -> FakeSubscription:
        # The server refuses a position between records, on the first read (KurrentDB >= 25.1).
        valid = commit_position is None or any(
            e.commit_position == commit_position for e in self._s.log
        )
        return FakeSubscription(self._s, -1 if commit_position is None else commit_position, valid)

    async def close(self) -> None:
        self.closed = True


class FakeRead:
    """The async iterable ``read_all`` answers with."""

    def __init__(self, events: list[RecordedEvent], limit: int) -> None:
        self._events = iter(events[:limit])

    def __aiter__(self) -> FakeRead:
        return self

    async def __anext__(self) -> RecordedEvent:
        await asyncio.sleep(0)
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None


class FakeSubscription:
    def __init__(self, server: FakeKurrentDB, after: int, valid: bool = True) -> None:
        self._s = server
        self._after = after
        self._valid = valid
        self._changed = asyncio.Event()
        self._stopped = False
        server.waiters.add(self._changed)

    def __aiter__(self) -> FakeSubscription:
        return self

    async def __anext__(self) -> RecordedEvent:
        if not self._valid:
            raise InvalidCommitPositionError("Unexpected FilteredReadAllResult: InvalidPosition")
        while not self._stopped:
            self._changed.clear()
            for e in self._s.log:  # small logs: a scan keeps the fake obviously right
                if e.commit_position > self._after and not e.type.startswith("$"):
                    self._after = e.commit_position
                    return e
            await self._changed.wait()
        raise StopAsyncIteration

    async def stop(self, *, timeout: float | None = None) -> None:
        self._stopped = True
        self._changed.set()
        self._s.waiters.discard(self._changed)


def install(store: Any, server: FakeKurrentDB) -> None:
    """Point a ``KurrentDbEventStore`` at the fake server instead of a real client."""
    store._client = server.client()
