"""Rebuilding read models from scratch equals applying the same events incrementally (SQLite)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.store import RecordedEvent
from projections import runtime
from projections.read_store.sqlite import SqliteReadStore
from projections.runtime import Projection, Projector
from projections.users import UsersProjection
from tests.contract.synthetic import (
    CountersProjection,
    NoEvents,
    counter_events,
    model,
    record,
    snapshot,
)
from tests.contract.synthetic import user_events as user_event_strategy

PROJECTIONS: list[Projection] = [UsersProjection(), CountersProjection()]


async def _snapshots(store: SqliteReadStore) -> dict[str, Any]:
    return {p.name: await snapshot(store, p) for p in PROJECTIONS} | {
        f"checkpoint:{p.name}": await store.checkpoint(p.name) for p in PROJECTIONS
    }


class Served(NoEvents):
    """A log of ``recs`` that a subscription returns cut at ``cuts`` (and its head)."""

    def __init__(self, recs: list[RecordedEvent], cuts: list[int]) -> None:
        self._recs = recs
        self._bounds = sorted({min(c, len(recs)) for c in cuts} | {0, len(recs)})

    async def subscribe(self, after_position: int = 0) -> AsyncIterator[list[RecordedEvent]]:
        for lo, hi in itertools.pairwise(self._bounds):
            batch = [r for r in self._recs[lo:hi] if r.position > after_position]
            if batch:
                yield batch
        await asyncio.Event().wait()  # then it follows the log live: nothing more comes

    async def head(self) -> int:
        return self._recs[-1].position if self._recs else 0


async def _scenario(events: list[Any], cuts: list[int], restarts: list[bool]) -> None:
    recs = record(events)
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteReadStore(Path(folder) / "read.sqlite3")
        try:
            # Incrementally: uneven batches, and sometimes a projector restart in between.
            projector = Projector(NoEvents(), store, PROJECTIONS)
            await projector.prepare()
            bounds = sorted({min(c, len(recs)) for c in cuts} | {0, len(recs)})
            pad = restarts + [False] * len(bounds)
            for (lo, hi), restart in zip(itertools.pairwise(bounds), pad, strict=False):
                if hi > lo:
                    await projector.apply(recs[lo:hi])
                if restart:
                    projector = Projector(NoEvents(), store, PROJECTIONS)
                    await projector.prepare()
            incremental = await _snapshots(store)

            # From scratch: reset every read model, replay the whole history in one pass.
            rebuilder = Projector(NoEvents(), store, PROJECTIONS)
            await rebuilder.prepare()
            await rebuilder.reset()
            if recs:
                await rebuilder.apply(recs)
            rebuilt = await _snapshots(store)

            # ``rebuild`` itself: the log read in uneven batches, written a few events at a
            # time, each batch projected while the one before is being written.
            replayer = Projector(Served(recs, cuts), store, PROJECTIONS)
            assert await replayer.rebuild() == len(recs)
            replayed = await _snapshots(store)
        finally:
            await store.close()
    assert rebuilt == incremental
    assert replayed == incremental
    for p in PROJECTIONS:
        assert incremental[p.name] == model(p, recs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(st.one_of(user_event_strategy(), counter_events), max_size=25),
    cuts=st.lists(st.integers(0, 25), max_size=6),
    restarts=st.lists(st.booleans(), max_size=7),
)
def test_rebuild_equals_incremental(
    events: list[Any], cuts: list[int], restarts: list[bool]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runtime, "REBUILD_BATCH", 3)  # several rebuild batches, even for 25 events
        asyncio.run(_scenario(events, cuts, restarts))
