"""KurrentDB / EventStoreDB event store through ``kurrentdbclient``'s ``AsyncKurrentDBClient``.

Global positions are KurrentDB commit positions (unique per event, increasing in commit order;
log byte offsets, so never consecutive). Event ids are fixed by ``NewEvent.id`` before the first
attempt, so a retried append (ours, or the client's own gRPC retry) is recognised by the server as
the same write. Failure modes of the server handled here:

- an append that times out may have committed: it is retried with the same ids (after the same
  expected version the server recognises it from the stream; with any version we first look for
  the ids in the stream's tail, since the server's id cache is small);
- an append over the server's size limit is a ``TooLargeError`` (nothing was written);
- a dropped subscription (server restart, slow consumer) is resumed from the last event handed
  out, so the caller sees no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from kurrentdbclient import AsyncKurrentDBClient, StreamState
from kurrentdbclient import NewEvent as KurrentNewEvent
from kurrentdbclient import RecordedEvent as KurrentRecordedEvent
from kurrentdbclient.common import AbstractAsyncCatchupSubscription
from kurrentdbclient.exceptions import (
    AbortedByServerError,
    DeadlineExceededError,
    InvalidCommitPositionError,
    MaximumAppendSizeExceededError,
    NotFoundError,
    ProgrammingError,
    ServiceUnavailableError,
    WrongCurrentVersionError,
)

from domain.chain import GENESIS, last_hash, seal
from domain.errors import ConcurrencyError, TooLargeError, UnavailableError
from domain.store import NO_STREAM, NewEvent, RecordedEvent

_BATCH = 1000  # most events handed to a subscriber at once
_QUEUE = 4 * _BATCH  # read-ahead before the subscription waits for its consumer
_STOP_TIMEOUT_S = 5.0
_LOOKBACK = 1000  # how far back an any-version retry is looked for (the server's id cache is small)
_APPEND_ATTEMPTS = 3  # an append that timed out is retried (idempotently) this many times in all
_RESUBSCRIBE = 5  # consecutive dropped subscriptions without progress before the caller hears
_RESUBSCRIBE_DELAY_S = 0.05
_HEADS = 100_000  # streams whose (version, hash) head is remembered for the hash chain


def _current_version(expected_version: int | None) -> int | StreamState:
    if expected_version is None:
        return StreamState.ANY
    if expected_version == NO_STREAM:
        return StreamState.NO_STREAM
    return expected_version


def _ours(e: KurrentRecordedEvent) -> bool:
    """System events (``$``-types, ``$``-streams) are KurrentDB's own, never the domain's."""
    return not (e.type.startswith("$") or e.stream_name.startswith("$"))


@contextlib.contextmanager
def _available() -> Iterator[None]:
    """A server that cannot be reached (or answer in time) is a 503 for the caller, not a 500."""
    try:
        yield
    except (ServiceUnavailableError, DeadlineExceededError) as exc:
        raise UnavailableError(f"the event store is unavailable: {exc}") from exc


def _sealed(events: Sequence[NewEvent], prev: bytes) -> tuple[list[KurrentNewEvent], bytes]:
    batch = []
    for e in events:
        metadata, prev = seal(prev, e.type, e.data, e.metadata)
        batch.append(
            KurrentNewEvent(
                type=e.type,
                data=e.data,
                metadata=metadata,
                content_type="application/json",
                id=uuid.UUID(e.id),
            )
        )
    return batch, prev


def _recorded(e: KurrentRecordedEvent) -> RecordedEvent:
    return RecordedEvent(
        id=str(e.id),
        stream=e.stream_name,
        version=e.stream_position,
        position=e.commit_position,
        type=e.type,
        data=e.data,
        metadata=e.metadata,
        recorded_at=e.recorded_at.timestamp() if e.recorded_at is not None else 0.0,
    )


class KurrentDbEventStore:
    """The production event store. The client is created and connects on first use."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: AsyncKurrentDBClient | None = None
        # stream -> (version, hash, position) of its last event as this process appended it,
        # so sealing the hash chain costs no read while this process is the stream's writer.
        self._heads: dict[str, tuple[int, bytes, int]] = {}
        self._locks: dict[str, list[Any]] = {}  # stream -> [lock, appends using it]

    def _kdb(self) -> AsyncKurrentDBClient:
        if self._client is None:
            self._client = AsyncKurrentDBClient(uri=self._url)
        return self._client

    # -- writes ---------------------------------------------------------------------------------
    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int:
        if not events:
            raise ValueError("append needs at least one event")
        # One append per stream at a time in this process, so each is sealed on the head the
        # previous one left (no conflicts among ourselves).
        held = self._locks.get(stream)
        if held is None:
            held = self._locks[stream] = [asyncio.Lock(), 0]
        held[1] += 1
        try:
            async with held[0]:
                return await self._append_sealed(stream, events, expected_version)
        finally:
            held[1] -= 1
            if held[1] == 0:
                del self._locks[stream]

    async def _append_sealed(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int:
        version, prev, at, trusted = await self._head(stream, expected_version)
        batch, last = _sealed(events, prev)
        try:
            position = await self._append(stream, events, batch, expected_version)
        except ConcurrencyError:
            self._heads.pop(stream, None)
            raise
        if position <= at:  # an idempotent repeat: nothing was written, the head stays
            return position
        if len(self._heads) >= _HEADS:
            self._heads.clear()
        if trusted:
            self._heads[stream] = (version + len(events), last, position)
        else:
            self._heads.pop(stream, None)
        return position

    async def _head(
        self, stream: str, expected_version: int | None
    ) -> tuple[int, bytes, int, bool]:
        """(version, hash, position) of the stream's last event, and whether the append will
        continue from there. Remembered while this process writes the stream with expected
        versions (the send path: no read); read once otherwise.

        An any-version append keeps the server's idempotence by event id (a retried
        notification is not written twice), so it is sealed on the head read just before it;
        two processes appending to one stream with any version at the same instant could fork
        the chain, which ``verify`` would then report. Our any-version streams have one writer.
        """
        if expected_version == NO_STREAM:
            return NO_STREAM, GENESIS, 0, True
        known = self._heads.get(stream)
        if known is not None and expected_version is not None and expected_version == known[0]:
            return known[0], known[1], known[2], True
        rec = await self.last(stream)
        if rec is None:
            version, prev, at = NO_STREAM, GENESIS, 0
        else:
            version, prev, at = rec.version, last_hash(rec.metadata) or GENESIS, rec.position
        if expected_version is not None and version != expected_version:
            # Not where the caller expects: the server refuses, or (a retried append of the
            # same ids) answers with the original position without writing these seals.
            return expected_version, prev, at, False
        return version, prev, at, True

    async def _append(
        self,
        stream: str,
        events: Sequence[NewEvent],
        batch: list[KurrentNewEvent],
        expected_version: int | None,
    ) -> int:
        # The server treats a repeat of the same event ids after the same expected version as
        # the same write (documented idempotence) and normally answers with the original position.
        current = _current_version(expected_version)
        for attempt in range(_APPEND_ATTEMPTS):
            try:
                with _available():
                    if attempt and expected_version is None:
                        # The first try may have committed and the server's id cache may have
                        # forgotten it: look in the stream before writing again.
                        found = await self._position_of(stream, events, None)
                        if found is not None:
                            return found
                    position = await self._kdb().append_to_stream(
                        stream, events=batch, current_version=current
                    )
                    if position > 0:
                        return position
                    # Some idempotent answers carry no position (the client reads it as 0).
                    found = await self._position_of(stream, events, expected_version)
                    return found if found is not None else await self.head()
            except WrongCurrentVersionError:
                if attempt:  # did our own earlier try commit before someone else appended?
                    found = await self._position_of(stream, events, expected_version)
                    if found is not None:
                        return found
                raise ConcurrencyError(
                    f"stream {stream} is not at the expected version {expected_version}"
                ) from None
            except MaximumAppendSizeExceededError:
                size = sum(len(e.data) + len(e.metadata) for e in events)
                raise TooLargeError(
                    f"the event store refused an append of {len(events)} events ({size} bytes)"
                ) from None
            except UnavailableError:
                if attempt == _APPEND_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    async def _position_of(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int | None:
        """The commit position of the last of these events, read back from the stream."""
        kdb = self._kdb()
        try:
            if expected_version is None:
                found = await kdb.get_stream(stream, backwards=True, limit=_LOOKBACK)
            else:
                start = expected_version + 1
                found = await kdb.get_stream(stream, stream_position=start, limit=len(events))
        except NotFoundError:
            return None
        positions = {str(e.id): e.commit_position for e in found}
        return positions.get(events[-1].id)

    # -- reads ----------------------------------------------------------------------------------
    async def read(self, stream: str, from_version: int = 0) -> list[RecordedEvent]:
        try:
            with _available():
                found = await self._kdb().get_stream(stream, stream_position=max(from_version, 0))
        except NotFoundError:
            return []
        return [_recorded(e) for e in found]

    async def last(self, stream: str) -> RecordedEvent | None:
        try:
            with _available():
                found = await self._kdb().get_stream(stream, backwards=True, limit=1)
        except NotFoundError:
            return None
        return _recorded(found[0]) if found else None

    async def head(self) -> int:
        with _available():
            return await self._kdb().get_commit_position()

    async def events_after(self, position: int, limit: int) -> int:
        """Counted backwards from the end (commit positions are byte offsets, not counts)."""
        if limit <= 0:
            return 0
        n = 0
        with _available():
            found = await self._kdb().read_all(backwards=True, limit=limit)
            async for e in found:
                if e.commit_position <= position:
                    break
                if _ours(e):
                    n += 1
        return n

    async def subscribe(self, after_position: int = 0) -> AsyncIterator[list[RecordedEvent]]:
        """Catch up from ``after_position`` and follow live, in batches of what is ready."""
        queue: asyncio.Queue[KurrentRecordedEvent | Exception] = asyncio.Queue(_QUEUE)
        opened: list[AbstractAsyncCatchupSubscription] = []
        last = after_position

        async def follow(start: int | None) -> None:
            nonlocal last
            subscription = await self._kdb().subscribe_to_all(commit_position=start)
            opened.append(subscription)
            async for event in subscription:
                if event.commit_position > last and _ours(event):
                    last = event.commit_position
                    await queue.put(event)

        async def pump() -> None:
            failures = 0
            try:
                while True:
                    seen = last
                    try:
                        try:
                            await follow(last or None)  # 0: from the beginning
                        except InvalidCommitPositionError:
                            # Not the position of an event (commit positions are log offsets, so
                            # arithmetic on them lands between records): scan from the start.
                            await follow(None)
                        raise ConnectionError("the KurrentDB subscription ended")
                    except (ServiceUnavailableError, DeadlineExceededError, AbortedByServerError):
                        # Dropped (a restart, a slow consumer): resume after the last event
                        # handed out; give up only when retries make no progress.
                        failures = 0 if last > seen else failures + 1
                        if failures >= _RESUBSCRIBE:
                            raise
                        await asyncio.sleep(_RESUBSCRIBE_DELAY_S * failures)
            except Exception as exc:  # hand it to the consumer (the projector resubscribes)
                await queue.put(exc)

        task = asyncio.create_task(pump(), name="kurrentdb-subscription")
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < _BATCH and not queue.empty():
                    batch.append(queue.get_nowait())
                events: list[RecordedEvent] = []
                for item in batch:
                    if isinstance(item, Exception):
                        if events:
                            yield events
                        raise item
                    events.append(_recorded(item))
                yield events
        finally:
            task.cancel()
            # Bounded: a driver that swallows the cancellation must not hang our caller's stop.
            await asyncio.wait({task}, timeout=_STOP_TIMEOUT_S)
            for subscription in opened:
                with contextlib.suppress(Exception):
                    await subscription.stop(timeout=_STOP_TIMEOUT_S)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(ProgrammingError):  # it never connected
                await client.close()
