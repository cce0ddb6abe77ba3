"""The audit view of KurrentDB: reads through its own client; filters run here, over reads of
``$all`` (positions) and of single streams (versions)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence

from kurrentdbclient import AsyncKurrentDBClient, StreamState
from kurrentdbclient import NewEvent as KurrentNewEvent
from kurrentdbclient import RecordedEvent as KurrentRecordedEvent
from kurrentdbclient.exceptions import NotFoundError, ProgrammingError

from domain.audit import Scan, StreamInfo
from domain.codec import parse_metadata
from domain.store import RecordedEvent

_PAGE = 2000


def _recorded(e: KurrentRecordedEvent) -> RecordedEvent:
    return RecordedEvent(
        id=str(e.id),
        stream=e.stream_name,
        version=e.stream_position,
        position=e.commit_position or 0,
        type=e.type,
        data=e.data,
        metadata=e.metadata,
        recorded_at=e.recorded_at.timestamp() if e.recorded_at is not None else 0.0,
    )


def _ours(e: KurrentRecordedEvent) -> bool:
    return not (e.type.startswith("$") or e.stream_name.startswith("$"))


def _matches(rec: RecordedEvent, scan: Scan) -> bool:
    if scan.since is not None and rec.recorded_at < scan.since:
        return False
    if scan.until is not None and rec.recorded_at > scan.until:
        return False
    if scan.types and rec.type not in scan.types:
        return False
    if scan.category and rec.category != scan.category:
        return False
    if scan.actor_id is None and scan.correlation_id is None:
        return True
    meta = parse_metadata(rec.metadata)
    if scan.actor_id is not None and (meta.actor is None or str(meta.actor.id) != scan.actor_id):
        return False
    return scan.correlation_id is None or meta.correlation_id == scan.correlation_id


class KurrentDbEventLog:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client: AsyncKurrentDBClient | None = None

    def _kdb(self) -> AsyncKurrentDBClient:
        if self._client is None:
            self._client = AsyncKurrentDBClient(uri=self._url)
        return self._client

    async def _all(self, after: int, limit: int) -> list[RecordedEvent]:
        """Our events after ``after`` in commit order (a read from a position includes it)."""
        out: list[RecordedEvent] = []
        start: int | None = after or None
        seen = after
        while len(out) < limit:
            got = 0
            async with await self._kdb().read_all(commit_position=start, limit=_PAGE) as events:
                async for e in events:
                    got += 1
                    position = e.commit_position or 0
                    if position > seen and _ours(e):
                        seen = position
                        out.append(_recorded(e))
                        if len(out) == limit:
                            break
                    start = position
            if got < _PAGE:
                break
        return out

    async def scan(self, scan: Scan, limit: int) -> tuple[list[RecordedEvent], int | None]:
        found: list[RecordedEvent] = []
        after = scan.after_position
        while True:
            page = await self._all(after, _PAGE)
            for rec in page:
                if scan.until_position is not None and rec.position > scan.until_position:
                    return found, None
                if _matches(rec, scan):
                    found.append(rec)
                    if len(found) == limit:
                        return found, rec.position
            if len(page) < _PAGE:
                return found, None
            after = page[-1].position

    async def streams(
        self, category: str | None, prefix: str | None, skip: int, limit: int
    ) -> list[StreamInfo]:
        seen: dict[str, StreamInfo] = {}
        after = 0
        while True:
            page = await self._all(after, _PAGE)
            for rec in page:
                if category and rec.category != category:
                    continue
                if prefix and not rec.stream.startswith(prefix):
                    continue
                info = seen.get(rec.stream)
                if info is None:
                    seen[rec.stream] = StreamInfo(
                        rec.stream, rec.category, rec.version, rec.position, rec.position, 0.0
                    )
                    info = seen[rec.stream]
                info.version, info.last_position = rec.version, rec.position
                info.last_recorded_at = rec.recorded_at
            if len(page) < _PAGE:
                break
            after = page[-1].position
        return [seen[s] for s in sorted(seen)][skip : skip + limit]

    async def stream_page(
        self, stream: str, from_version: int, limit: int, until_position: int | None = None
    ) -> list[RecordedEvent]:
        try:
            found = await self._kdb().get_stream(
                stream, stream_position=from_version, limit=min(limit, 2**62)
            )
        except NotFoundError:
            return []
        recs = [_recorded(e) for e in found]
        if until_position is not None:
            recs = [r for r in recs if r.position <= until_position]
        return recs

    async def last_before(self, stream: str, position: int) -> RecordedEvent | None:
        recs = await self.stream_page(stream, 0, 2**62, position)
        return recs[-1] if recs else None

    async def position_at(self, at: float) -> int:
        best, after = 0, 0
        while True:
            page = await self._all(after, _PAGE)
            for rec in page:
                if rec.recorded_at > at:
                    return best
                best = rec.position
            if len(page) < _PAGE:
                return best
            after = page[-1].position

    async def head(self) -> int:
        return await self._kdb().get_commit_position()

    async def is_empty(self) -> bool:
        return not await self._all(0, 1)

    async def import_events(self, events: Sequence[RecordedEvent]) -> None:
        """Append runs of one stream at the exact versions they had (no re-sealing)."""
        i = 0
        while i < len(events):
            j = i
            while j < len(events) and events[j].stream == events[i].stream:
                j += 1
            run = events[i:j]
            first = run[0].version
            await self._kdb().append_to_stream(
                run[0].stream,
                events=[
                    KurrentNewEvent(
                        type=e.type,
                        data=e.data,
                        metadata=e.metadata,
                        content_type="application/json",
                        id=uuid.UUID(e.id),
                    )
                    for e in run
                ],
                current_version=StreamState.NO_STREAM if first == 0 else first - 1,
            )
            i = j

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(ProgrammingError):
                await client.close()
