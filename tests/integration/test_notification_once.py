"""A notification with a fixed event id (the policy's, derived from the causing event and the
recipient) is created once, even when the event store has long forgotten the id: the
notifications handler checks the recipient's stream and appends against its version, instead of
relying on the server's small id cache (KurrentDB's, switched off entirely in the fake here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from commands.core import IdAllocator
from commands.event_store.kurrentdb import KurrentDbEventStore
from commands.notification_policy import NotificationPolicy
from commands.notifications import NotificationHandlers
from domain import notification_rules as rules
from domain import notifications as n
from domain.broadcasts import BroadcastSent
from domain.store import RecordedEvent, new_event
from tests.contract.fake_kurrentdb import FakeKurrentDB, install


@pytest.fixture
async def store() -> AsyncIterator[KurrentDbEventStore]:
    fake = FakeKurrentDB(id_cache=0, interleave=True)  # remembers no id at all
    s = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(s, fake)
    yield s
    await s.close()


def draft(user_id: int, title: str = "hello") -> n.Draft:
    return n.Draft(user_id=user_id, title=title, content="c", source="test:1")


async def test_a_repeated_create_with_the_same_id_appends_nothing(
    store: KurrentDbEventStore,
) -> None:
    handlers = NotificationHandlers(store, IdAllocator(store))
    event, position = await handlers.create(draft(7), "00000000-0000-5000-8000-000000000001")
    again = NotificationHandlers(store, IdAllocator(store))  # another process, or a restart
    for h in (handlers, again):
        repeat, repeat_position = await h.create(draft(7), "00000000-0000-5000-8000-000000000001")
        assert (repeat.notification_id, repeat_position) == (event.notification_id, position)
    other, _ = await again.create(draft(7, "other"), "00000000-0000-5000-8000-000000000002")
    recs = await store.read(n.notifications_stream(7))
    assert [r.decode().notification_id for r in recs] == [  # type: ignore[attr-defined]
        event.notification_id,
        other.notification_id,
    ]


async def test_concurrent_repeats_create_one_notification(store: KurrentDbEventStore) -> None:
    stacks = [NotificationHandlers(store, IdAllocator(store)) for _ in range(3)]
    ids = [f"00000000-0000-5000-8000-00000000010{i}" for i in range(4)]
    await asyncio.gather(*(h.create(draft(9, i), i) for h in stacks for i in ids for _ in range(2)))
    recs = await store.read(n.notifications_stream(9))
    assert sorted(r.id for r in recs) == sorted(ids)


class Facts:
    async def user_names(self, user_ids: Sequence[int]) -> dict[int, str]:
        return {u: f"user {u}" for u in user_ids}

    async def active_user_ids(self) -> list[int]:
        return [1, 2, 3]

    async def superuser_ids(self) -> list[int]:
        return []

    async def users_by_standard_ids(self, standard_ids: Sequence[str]) -> dict[str, int]:
        return {}

    async def group(self, conversation_id: int) -> tuple[str, str] | None:
        return None

    async def members_among(self, conversation_id: int, user_ids: Sequence[int]) -> list[int]:
        return []


class Memory:
    def __init__(self) -> None:
        self.saved = 0

    async def load(self) -> int:
        return self.saved

    async def save(self, position: int) -> None:
        self.saved = max(self.saved, position)

    async def rewind(self, position: int) -> None:
        self.saved = position


async def _ready(_: int) -> bool:
    return True


async def test_the_policy_redoing_a_batch_after_a_restart_notifies_once(
    store: KurrentDbEventStore,
) -> None:
    sent = BroadcastSent(broadcast_id=1, sender_id=99, title="All hands", content="now")
    position = await store.append("broadcast-1", [new_event(sent)], None)
    batch: list[RecordedEvent] = await store.read("broadcast-1")
    assert batch[-1].position == position
    for _ in range(2):  # the first run crashed before saving its checkpoint; the next redoes it
        handlers = NotificationHandlers(store, IdAllocator(store))
        policy = NotificationPolicy(store, Memory(), Facts(), handlers, _ready)
        await policy.process(batch)
        assert policy.notified == 3
    for user in (1, 2, 3):
        recs = await store.read(n.notifications_stream(user))
        assert [r.id for r in recs] == [rules.derived_event_id(batch[0].id, user)]
