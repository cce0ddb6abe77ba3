"""Every real projection under redelivery and crashes, on both read stores.

The history is real: the chat, notification, broadcast, event and file end-to-end scenarios run
once through the HTTP app and every event they wrote is read back. Each example then renumbers
it to sparse positions around 10^12 (KurrentDB's are byte offsets), splits it into batches at
random, and applies it through the projector while the read store crashes at random points
*between a batch's ops and its checkpoints* (what the adapter can leave behind written, no
checkpoint moved). After each crash a new projector starts from the stored checkpoints and the
events are delivered again. The result must equal one clean pass over the same history.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.event_store.sqlite import SqliteEventStore
from domain.store import RecordedEvent
from projections.read_store.mongo import MongoReadStore
from projections.read_store.sqlite import SqliteReadStore
from projections.registry import all_projections
from projections.runtime import Projector
from projections.store import ProjectionBatch, ReadStore
from tests.contract.synthetic import NoEvents, snapshot
from tests.e2e import test_conversations, test_groups, test_messages
from tests.e2e.notify_helpers import admin_client
from tests.helpers import API
from tests.mongo import drop_database, unique_db_name

_HISTORY: list[RecordedEvent] = []


async def _record_history(folder: Path) -> list[RecordedEvent]:
    data = folder / "data"
    async with admin_client(data, download_count_flush_seconds=0.02) as (client, root):
        for test in (
            test_conversations.test_add_and_remove_members,
            test_conversations.test_roles_and_ownership_transfer,
            test_conversations.test_mute_nickname_and_expiry,
            test_conversations.test_dissolve_group,
            test_conversations.test_hide_single_chat_until_new_message,
            test_conversations.test_clear_history_for_caller_only,
            test_groups.test_invite_codes_and_joining,
            test_messages.test_edit_rules,
            test_messages.test_recall_rules,
            test_messages.test_mark_read_and_unread_counts,
            test_messages.test_read_receipts,
            test_messages.test_file_messages,
            test_messages.test_reply_and_location,
        ):
            await test(client)
        users = (await client.get(f"{API}/users/search", params={"keyword": "Name"},
                                  headers=root)).json()  # fmt: skip
        ids = [u["id"] for u in users][:3]
        body = {"title": "All hands", "content": "now", "target_user_ids": ids}
        assert (await client.post(f"{API}/broadcasts/", json=body, headers=root)).status_code == 201
        body = {"event_type": "alarm", "title": "Fire", "occurred_at": "2026-01-01T00:00:00Z"}
        assert (await client.post(f"{API}/events/", json=body, headers=root)).status_code == 201
        for uid in ids:
            body = {"user_id": uid, "title": "hi", "content": "c"}
            r = await client.post(f"{API}/notifications/", json=body, headers=root)
            assert r.status_code == 201, r.text
        r = await client.post(
            f"{API}/files/upload", files={"file": ("a.txt", b"abc")}, headers=root
        )
        assert r.status_code == 201, r.text
        url = f"{API}/files/download/{r.json()['file_id']}"
        for _ in range(4):  # counted downloads: the one projection op that adds up
            assert (await client.get(url, headers=root)).status_code == 200
            await asyncio.sleep(0.05)  # each in its own flush
    store = SqliteEventStore(data / "events.sqlite3")
    try:
        return await store.read_all(0, 1_000_000)
    finally:
        await store.close()


def history() -> list[RecordedEvent]:
    if not _HISTORY:
        with tempfile.TemporaryDirectory() as folder:
            _HISTORY.extend(asyncio.run(_record_history(Path(folder))))
    return _HISTORY


def sparse(recs: Sequence[RecordedEvent], rnd: random.Random) -> list[RecordedEvent]:
    out, position = [], 10**12
    for r in recs:
        position += rnd.randint(1, 5000)
        out.append(msgspec.structs.replace(r, position=position))
    return out


class Crash(Exception):
    pass


class Crashing:
    """A read store that, when told to, fails between a batch's ops and its checkpoints: a
    process killed there. What it leaves is what the adapter can leave: nothing, for SQLite (one
    transaction); the writes of any subset of the touched documents, for MongoDB (each document
    is one guarded replace, checkpoints are written after them)."""

    def __init__(self, inner: ReadStore, rnd: random.Random, per_document: bool) -> None:
        self.inner = inner
        self.crash_next = False
        self._rnd = rnd
        self._per_document = per_document

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def apply(self, batches: Sequence[ProjectionBatch]) -> None:
        if not self.crash_next:
            await self.inner.apply(batches)
            return
        self.crash_next = False
        if self._per_document:
            docs = sorted({(g.op.coll, g.op.key) for b in batches for g in b.ops})
            written = set(self._rnd.sample(docs, self._rnd.randint(0, len(docs))))
            await self.inner.apply(  # position 0: no checkpoint moves
                [
                    ProjectionBatch(
                        projection=b.projection,
                        position=0,
                        ops=[g for g in b.ops if (g.op.coll, g.op.key) in written],
                    )
                    for b in batches
                ]
            )
        raise Crash()


async def everything(store: ReadStore) -> dict[str, Any]:
    return {p.name: await snapshot(store, p) for p in all_projections()} | {
        f"checkpoint:{p.name}": await store.checkpoint(p.name) for p in all_projections()
    }


async def clean_pass(store: ReadStore, recs: list[RecordedEvent]) -> dict[str, Any]:
    projector = Projector(NoEvents(), store, all_projections())
    await projector.prepare()
    await projector.apply(recs)
    return await everything(store)


async def faulty_pass(
    store: ReadStore, recs: list[RecordedEvent], rnd: random.Random, per_document: bool
) -> int:
    """Random batches, random crashes between ops and checkpoints, restarts, and stale
    projectors (another process, or one that lost its place) delivering again what is applied
    already; returns the crash count."""
    crashing = Crashing(store, rnd, per_document)
    crashes = applied = 0
    size = 1
    stale: list[Projector] = []
    projector = Projector(NoEvents(), crashing, all_projections())  # type: ignore[arg-type]
    await projector.prepare()
    while True:
        if stale and rnd.random() < 0.2:  # a redelivery to a projector behind the store
            old = rnd.choice(stale)
            todo = [r for r in recs if r.position > old.position]
            if todo:
                await old.apply(todo[: rnd.randint(1, 60)])
            continue
        todo = [r for r in recs if r.position > projector.position]  # redelivered from there
        if not todo:
            return crashes
        size = rnd.randint(1, 40)
        if applied == 1 or rnd.random() < 0.3:  # the second batch always crashes
            crashing.crash_next = True
        applied += 1
        try:
            await projector.apply(todo[:size])
        except Crash:
            crashes += 1
            stale.append(projector)
            projector = Projector(NoEvents(), crashing, all_projections())  # type: ignore[arg-type]
            await projector.prepare()
            size += rnd.randint(0, 20)  # the redelivery reaches past the crashed batch, or not
            todo = [r for r in recs if r.position > projector.position]
            if todo:
                applied += 1
                await projector.apply(todo[:size])


def _run(open_store: Any, seed: int, per_document: bool) -> None:
    rnd = random.Random(seed)
    recs = sparse(history(), rnd)

    async def body() -> None:
        reference = open_store()
        try:
            want = await clean_pass(reference, recs)
        finally:
            await reference.close()
        store = open_store()
        try:
            crashes = await faulty_pass(store, recs, rnd, per_document)
            got = await everything(store)
        finally:
            await store.close()
        assert crashes > 0
        for name in want:
            assert got[name] == want[name], name

    asyncio.run(body())


def test_the_recorded_history_touches_every_projection() -> None:
    recs = history()
    assert len(recs) > 150
    kinds = {r.type for r in recs}
    for needed in (
        "UserRegistered",
        "ConversationCreated",
        "MemberRemoved",
        "MemberUpdated",
        "ConversationDissolved",
        "MessageSent",
        "MessageEdited",
        "MessageRecalled",
        "FileUploaded",
        "NotificationCreated",
        "BroadcastSent",
        "EventReported",
        "FileDownloadsCounted",
    ):
        assert needed in kinds, needed


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_redelivery_and_crashes_on_sqlite(seed: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        n = iter(range(10))
        _run(lambda: SqliteReadStore(Path(folder) / f"read{next(n)}.sqlite3"), seed, False)


@settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_redelivery_and_crashes_on_mongo(secantus_url: str, seed: int) -> None:
    names: list[str] = []

    def open_store() -> MongoReadStore:
        names.append(unique_db_name())
        return MongoReadStore(secantus_url, names[-1])

    try:
        _run(open_store, seed, True)
    finally:
        for name in names:
            drop_database(secantus_url, name)
