"""An in-memory stand-in for ``AsyncKurrentDBClient`` that is as unkind as the real server.

KurrentDB cannot run on these machines, so the event-store contract, and the end-to-end chat
suite, run the real ``KurrentDbEventStore`` over this fake. It follows the client's documented
behaviour, including the parts that hurt:

- commit positions are log byte offsets: they grow by each record's size from ``first_position``
  (sparse, never 1, 2, 3), and a position between records is refused by a subscription;
- ``WrongCurrentVersionError``; ``NotFoundError`` for missing streams; a system event at the
  start of every new stream;
- idempotence as the server does it: a repeat of the same event ids after the same expected
  version is recognised from the stream itself (forever); a repeat with ``StreamState.ANY`` is
  recognised only while the ids are in the server's id cache (``id_cache`` events, unbounded by
  default), and a partly known "any" batch is refused (``WrongCurrentVersionError``), never
  re-appended in part;
- a subscription catches up in pages, then goes live on a bounded buffer; a consumer that lets
  the buffer fill falls back to catch-up from where it was (or is dropped with
  ``ConsumerTooSlowError`` when ``drop_slow_consumers``).

Knobs (constructor arguments, all also plain attributes that a test may change at any time):

===========================  ====================================================================
``id_cache=N``               forget ids after N events (``None``: never; the server's is small)
``interleave=True``          each append yields to the loop a random number of times before its
                             commit and again before its answer (seeded by ``seed``): concurrent
                             appends commit in an order unrelated to their calls, and subscribers
                             see events before their appender has its answer
``max_append_bytes=N``       an append whose data+metadata exceed N bytes raises
                             ``MaximumAppendSizeExceededError`` and writes nothing (server: 1 MiB)
``time_out_after_commit(n)`` the next ``n`` appends (optionally only to streams starting with
                             ``prefix``) commit and then raise ``GrpcDeadlineExceededError``;
                             ``time_out_every=N``: every N-th committed append does
``drop_subscriptions()``     every open subscription fails with ``ServiceUnavailableError`` at its
                             next read; ``drop_subscription_after=N`` does so after each N events
``live_buffer=N``            live events buffered per subscription before it falls back to catch-up
``catchup_page=N``           events per catch-up read
``positionless_retries``     an idempotent repeat is answered without a position (the client: 0)
``first_position=P``         the log's first offset (e.g. ``10**12`` to look like a large log)
===========================  ====================================================================

``appends``, ``retried``, ``timeouts``, ``drops``, ``fallbacks`` and ``largest_append`` count what
happened, so that a test can show a knob actually fired.
"""

from __future__ import annotations

import asyncio
import datetime
import random
from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from kurrentdbclient import NewEvent, RecordedEvent, StreamState
from kurrentdbclient.exceptions import (
    ConsumerTooSlowError,
    GrpcDeadlineExceededError,
    InvalidCommitPositionError,
    MaximumAppendSizeExceededError,
    NotFoundError,
    ServiceUnavailableError,
    WrongCurrentVersionError,
)

_HEADER = 96  # bytes a record takes besides its payload (so positions are never consecutive)


class FakeKurrentDB:
    """The server: one log shared by every client opened on it."""

    def __init__(
        self,
        positionless_retries: bool = False,
        *,
        id_cache: int | None = None,
        interleave: bool = False,
        seed: int = 0,
        max_append_bytes: int | None = None,
        time_out_every: int | None = None,
        drop_subscription_after: int | None = None,
        live_buffer: int = 32,
        catchup_page: int = 16,
        drop_slow_consumers: bool = False,
        first_position: int = 0,
    ) -> None:
        self.positionless_retries = positionless_retries
        self.id_cache = id_cache
        self.interleave = interleave
        self.random = random.Random(seed)
        self.max_append_bytes = max_append_bytes
        self.time_out_every = time_out_every
        self.drop_subscription_after = drop_subscription_after
        self.live_buffer = live_buffer
        self.catchup_page = catchup_page
        self.drop_slow_consumers = drop_slow_consumers
        self.log: list[RecordedEvent] = []
        self.streams: dict[str, list[RecordedEvent]] = {}
        self.subscriptions: set[FakeSubscription] = set()
        self._ids: OrderedDict[Any, RecordedEvent] = OrderedDict()  # the id cache, oldest first
        self._next = first_position
        self._timeouts: list[str] = []  # stream prefixes of appends that will time out
        self.appends = 0
        self.retried = 0
        self.timeouts = 0
        self.drops = 0
        self.fallbacks = 0  # live subscriptions sent back to catch-up (their buffer was full)
        self.largest_append = 0  # bytes of data+metadata of the largest append written

    # -- knobs ----------------------------------------------------------------------------------
    def time_out_after_commit(self, times: int = 1, prefix: str = "") -> None:
        """The next ``times`` appends to streams starting with ``prefix`` commit, then fail."""
        self._timeouts.extend([prefix] * times)

    def drop_subscriptions(self) -> None:
        for sub in list(self.subscriptions):
            sub.drop(ServiceUnavailableError("the server closed the subscription"))

    # -- the log --------------------------------------------------------------------------------
    def record(self, stream: str, e: NewEvent, version: int) -> RecordedEvent:
        position = self._next
        self._next += _HEADER + len(e.type) + len(stream) + len(e.data) + len(e.metadata)
        rec = RecordedEvent(
            type=e.type,
            data=e.data,
            metadata=e.metadata,
            content_type=e.content_type,
            id=e.id,
            stream_name=stream,
            stream_position=version,
            commit_position=position,
            prepare_position=position,
            recorded_at=datetime.datetime.now(datetime.UTC),
        )
        self.log.append(rec)
        self.streams.setdefault(stream, []).append(rec)
        self._ids[e.id] = rec
        if self.id_cache is not None:
            while len(self._ids) > self.id_cache:
                self._ids.popitem(last=False)
        for sub in list(self.subscriptions):
            sub.offer(rec)
        return rec

    def commit(
        self, stream_name: str, batch: list[NewEvent], current_version: int | StreamState
    ) -> int:
        """One append, atomically (no await inside): the server's single writer."""
        size = sum(len(e.data) + len(e.metadata) for e in batch)
        if self.max_append_bytes is not None and size > self.max_append_bytes:
            raise MaximumAppendSizeExceededError(
                f"Maximum Append Size of {self.max_append_bytes} Exceeded."
            )
        existing = self.streams.get(stream_name, [])
        current = len(existing) - 1
        if current_version is StreamState.ANY:
            known = [self._ids.get(e.id) for e in batch]
            if all(k is not None and k.stream_name == stream_name for k in known):
                self.retried += 1
                last = known[-1]
                assert last is not None
                return 0 if self.positionless_retries else last.commit_position
            if any(k is not None for k in known):  # the server's "corrupted idempotency"
                raise WrongCurrentVersionError(stream_name=stream_name, actual_version=current)
        else:
            expected = -1 if current_version is StreamState.NO_STREAM else current_version
            assert isinstance(expected, int), current_version
            if expected != current:
                following = existing[expected + 1 : expected + 1 + len(batch)]
                if [e.id for e in following] == [e.id for e in batch]:  # an idempotent retry
                    self.retried += 1
                    return 0 if self.positionless_retries else following[-1].commit_position
                raise WrongCurrentVersionError(stream_name=stream_name, actual_version=current)
        if current == -1:  # a new stream gets a system event first, as the server writes some
            self.record(f"$${stream_name}", NewEvent(type="$metadata", data=b"{}"), 0)
        recs = [self.record(stream_name, e, current + 1 + i) for i, e in enumerate(batch)]
        self.appends += 1
        self.largest_append = max(self.largest_append, size)
        return recs[-1].commit_position

    def _timing_out(self, stream_name: str) -> bool:
        if self.time_out_every and self.appends % self.time_out_every == 0:
            self.timeouts += 1
            return True
        for i, prefix in enumerate(self._timeouts):
            if stream_name.startswith(prefix):
                del self._timeouts[i]
                self.timeouts += 1
                return True
        return False

    async def turns(self) -> None:
        """Yield to the loop: once, or a random number of times when interleaving."""
        for _ in range(self.random.randint(1, 4) if self.interleave else 1):
            await asyncio.sleep(0)

    def client(self) -> FakeClient:
        return FakeClient(self)


class FakeClient:
    def __init__(self, server: FakeKurrentDB) -> None:
        self._s = server
        self.closed = False

    async def append_to_stream(
        self, stream_name: str, *, events: Iterable[NewEvent], current_version: int | StreamState
    ) -> int:
        batch = list(events)
        await self._s.turns()  # on its way to the server
        appends = self._s.appends
        position = self._s.commit(stream_name, batch, current_version)
        if self._s.appends > appends and self._s._timing_out(stream_name):
            raise GrpcDeadlineExceededError("Deadline Exceeded (after the server committed)")
        await self._s.turns()  # the answer on its way back
        return position

    async def get_stream(
        self,
        stream_name: str,
        *,
        stream_position: int | None = None,
        backwards: bool = False,
        limit: int = 2**63,
    ) -> tuple[RecordedEvent, ...]:
        await self._s.turns()
        found = self._s.streams.get(stream_name)
        if not found:
            raise NotFoundError(f"Stream {stream_name!r} not found")
        if backwards:
            start = len(found) - 1 if stream_position is None else stream_position
            return tuple(reversed(found[: start + 1]))[:limit]
        return tuple(found[stream_position or 0 :])[:limit]

    async def read_all(
        self, *, commit_position: int | None = None, backwards: bool = False, limit: int = 2**63
    ) -> FakeRead:
        # The client's default filter excludes system events ($-types) server-side; a read
        # from a commit position starts at (and includes) that event.
        ours = [e for e in self._s.log if not e.type.startswith("$")]
        if backwards:
            ours.reverse()
        if commit_position is not None:
            ours = [
                e
                for e in ours
                if (
                    e.commit_position <= commit_position
                    if backwards
                    else e.commit_position >= commit_position
                )
            ]
        return FakeRead(ours, limit)

    async def get_commit_position(self) -> int:
        await self._s.turns()
        ours = [e for e in self._s.log if not e.type.startswith("$")]
        return ours[-1].commit_position if ours else 0

    async def subscribe_to_all(self, *, commit_position: int | None = None) -> FakeSubscription:
        await self._s.turns()
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

    async def __aenter__(self) -> FakeRead:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def __anext__(self) -> RecordedEvent:
        await asyncio.sleep(0)
        try:
            return next(self._events)
        except StopIteration:
            raise StopAsyncIteration from None


class FakeSubscription:
    """Catch-up in pages from the log, then live from a bounded buffer fed at commit time."""

    def __init__(self, server: FakeKurrentDB, after: int, valid: bool = True) -> None:
        self._s = server
        self._after = after  # the last position handed out
        self._scanned = after  # how far catch-up has read the log
        self._valid = valid
        self._page: deque[RecordedEvent] = deque()
        self._live: deque[RecordedEvent] | None = None  # None: catching up
        self._changed = asyncio.Event()
        self._failed: Exception | None = None
        self._stopped = False
        self._delivered = 0

    def __aiter__(self) -> FakeSubscription:
        return self

    # -- fed by the server ----------------------------------------------------------------------
    def offer(self, rec: RecordedEvent) -> None:
        if self._live is None:
            return
        if len(self._live) >= self._s.live_buffer:  # the consumer is too slow
            self._s.subscriptions.discard(self)
            self._live = None
            self._scanned = self._after
            self._s.fallbacks += 1
            if self._s.drop_slow_consumers:
                self.drop(ConsumerTooSlowError("Consumer too slow to handle event while live"))
            # else: back to catch-up from the last event handed out
        else:
            self._live.append(rec)
        self._changed.set()

    def drop(self, exc: Exception) -> None:
        self._s.drops += 1
        self._failed = exc
        self._s.subscriptions.discard(self)
        self._changed.set()

    # -- read by the client ---------------------------------------------------------------------
    async def __anext__(self) -> RecordedEvent:
        if not self._valid:
            raise InvalidCommitPositionError("Unexpected FilteredReadAllResult: InvalidPosition")
        limit = self._s.drop_subscription_after
        if limit is not None and self._delivered >= limit and self._failed is None:
            self.drop(ServiceUnavailableError("the subscription was dropped"))
        while True:
            if self._failed is not None:
                raise self._failed
            if self._stopped:
                raise StopAsyncIteration
            rec = self._next_ready()
            if rec is not None:
                self._after = rec.commit_position
                self._delivered += 1
                return rec
            self._changed.clear()
            await self._changed.wait()

    def _next_ready(self) -> RecordedEvent | None:
        while True:
            while self._page:  # the rest of the last catch-up page comes before anything live
                rec = self._page.popleft()
                if rec.commit_position > self._after:
                    return rec
            if self._live is not None:
                while self._live:
                    rec = self._live.popleft()
                    if rec.commit_position > self._after and not rec.type.startswith("$"):
                        return rec
                return None
            self._read_page()

    def _read_page(self) -> None:
        """The next page of the log after ``_scanned``; at its end, go live (no await between
        the read and joining the live feed, so nothing committed in between is missed)."""
        log = self._s.log
        lo, hi = 0, len(log)
        while lo < hi:  # first record after ``_scanned``
            mid = (lo + hi) // 2
            if log[mid].commit_position <= self._scanned:
                lo = mid + 1
            else:
                hi = mid
        page = log[lo : lo + self._s.catchup_page]
        if page:
            self._scanned = page[-1].commit_position
        self._page.extend(e for e in page if not e.type.startswith("$"))
        if lo + len(page) >= len(log):
            self._live = deque()
            self._s.subscriptions.add(self)

    async def stop(self, *, timeout: float | None = None) -> None:
        self._stopped = True
        self._changed.set()
        self._s.subscriptions.discard(self)


def install(store: Any, server: FakeKurrentDB) -> None:
    """Point a ``KurrentDbEventStore`` at the fake server instead of a real client."""
    store._client = server.client()
