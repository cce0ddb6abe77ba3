"""Races on the send path, at the command-handler boundary, over both event stores.

Two command "processes" (each its own conversation cache, id allocator, ``Sender`` and
conversation handlers) share one event store: SQLite, or KurrentDB's adapter over the unkind
fake (interleaved appends, answers that time out after the commit). Random sends are
interleaved with removals, mutes, re-adds and a dissolve. Whatever the interleaving:

- the messages stream's ``seq`` is gap-free (``seq == version + 1``);
- every acknowledged send is in the stream exactly once, with the acknowledged seq; a refused
  send is not there at all;
- no message is decided on a view older than a committed change that forbids its sender: the
  store wrapper stamps, with one logical clock, every append and every read of the
  conversation's stream when it is called and when it returns. A process decides a message from
  the conversation as its finished reads left it (plus its own changes), so each accepted message
  must be allowed by some conversation state at least as new as every change committed before
  the start of the last read it had finished (or that the process made itself).

The directed tests pin the one ordering that matters most: a send queued behind an in-flight
append, with a removal, mute or dissolve committed while it waits.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.chat_state import ConversationCache, Key, Sent
from commands.conversations import (
    AddMembers,
    ConversationHandlers,
    DeleteConversation,
    RemoveMember,
    UpdateMember,
)
from commands.core import IdAllocator, append
from commands.event_store.kurrentdb import KurrentDbEventStore
from commands.event_store.sqlite import SqliteEventStore
from commands.sending import Draft, Sender, SendResult
from domain import conversations as c
from domain.conversation import Conversation, check_can_send, evolve
from domain.errors import DomainError, ForbiddenError, NotFoundError
from domain.store import NO_STREAM, EventStore, NewEvent, RecordedEvent
from tests.contract.fake_kurrentdb import FakeKurrentDB, install

CID = 500
OWNER = 1
MEMBERS = (2, 3, 4)


class Clocked:
    """An EventStore that stamps each append with a logical clock when called and returned;
    ``gate`` (when set) holds message appends until it is opened."""

    def __init__(
        self, inner: EventStore, clock: itertools.count[int], log: list[Stamp], proc: int
    ) -> None:
        self.inner = inner
        self._clock = clock
        self.log = log
        self.proc = proc
        self.gate: asyncio.Event | None = None
        self.held = asyncio.Event()
        self.changed = asyncio.Event()  # set when a conversation-stream append returns

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int:
        called = next(self._clock)
        if self.gate is not None and stream.startswith("messages-"):
            self.held.set()
            await self.gate.wait()
        position = await self.inner.append(stream, events, expected_version)
        stamp = Stamp(self.proc, stream, [e.id for e in events], called, next(self._clock))
        self.log.append(stamp)
        if stream == c.conversation_stream(CID):
            self.changed.set()
        return position

    def _read(self, stream: str, started: int) -> None:
        if stream == c.conversation_stream(CID):
            self.log.append(Stamp(self.proc, stream, [], started, next(self._clock), "read"))

    async def read(self, stream: str, from_version: int = 0) -> list[RecordedEvent]:
        started = next(self._clock)
        out = await self.inner.read(stream, from_version)
        self._read(stream, started)
        return out

    async def last(self, stream: str) -> RecordedEvent | None:
        started = next(self._clock)
        out = await self.inner.last(stream)
        self._read(stream, started)
        return out

    def subscribe(self, after_position: int = 0) -> AsyncIterator[list[RecordedEvent]]:
        return self.inner.subscribe(after_position)

    async def head(self) -> int:
        return await self.inner.head()

    async def events_after(self, position: int, limit: int) -> int:
        return await self.inner.events_after(position, limit)

    async def close(self) -> None:
        await self.inner.close()


@dataclass
class Stamp:
    """An append, or a read of the conversation's stream: when it was called and returned."""

    proc: int
    stream: str
    ids: list[str]
    called: int
    returned: int
    kind: str = "append"


class Names:
    async def names(self, user_ids: Sequence[int]) -> dict[int, str]:
        return {u: f"user {u}" for u in user_ids}


class NoLookup:
    async def find_sent(self, conversation_id: int, keys: Sequence[Key]) -> dict[Key, Sent]:
        return {}


async def _ready(_: int) -> bool:
    return True


@dataclass
class Process:
    """One command process's chat stack."""

    store: Clocked
    sender: Sender
    handlers: ConversationHandlers


def process(store: Clocked) -> Process:
    # refresh_s=0: a granting check is never stale (the setting's lower bound); the property
    # below is about what a process may decide once a change is committed.
    cache = ConversationCache(store, refresh_s=0.0)  # type: ignore[arg-type]
    ids = IdAllocator(store, block_size=10)  # type: ignore[arg-type]
    sender = Sender(store, cache, ids, NoLookup(), _ready)  # type: ignore[arg-type]
    handlers = ConversationHandlers(store, cache, sender, ids, Names())  # type: ignore[arg-type]
    return Process(store, sender, handlers)


@dataclass
class World:
    procs: list[Process]
    stamps: list[Stamp] = field(default_factory=list)
    clock: itertools.count[int] = field(default_factory=itertools.count)
    fake: FakeKurrentDB | None = None


@asynccontextmanager
async def world(kind: str, seed: int = 0) -> AsyncIterator[World]:
    stamps: list[Stamp] = []
    clock = itertools.count()
    folder = tempfile.mkdtemp(prefix="im-races-")
    fake: FakeKurrentDB | None = None
    inners: list[EventStore] = []
    if kind == "sqlite":
        path = os.path.join(folder, "events.sqlite3")
        inners = [SqliteEventStore(path), SqliteEventStore(path)]
    else:
        fake = FakeKurrentDB(interleave=True, seed=seed, time_out_every=5, id_cache=8)
        for _ in range(2):
            store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
            install(store, fake)
            inners.append(store)
    stores = [Clocked(s, clock, stamps, i) for i, s in enumerate(inners)]
    created = c.ConversationCreated(
        conversation_id=CID,
        conversation_type="group",
        creator_id=OWNER,
        member_ids=(OWNER, *MEMBERS),
    )
    await append(stores[0], c.conversation_stream(CID), [created], NO_STREAM)
    try:
        yield World([process(s) for s in stores], stamps, clock, fake)
    finally:
        for s in stores:
            await s.close()
        shutil.rmtree(folder, ignore_errors=True)


# -- checking a finished run ------------------------------------------------------------------


async def check(w: World, acked: dict[int, SendResult], refused: set[str]) -> None:
    store = w.procs[0].store
    convo = await store.read(c.conversation_stream(CID))
    msgs = await store.read(c.messages_stream(CID))
    sent = [(r, r.decode()) for r in msgs]
    # seq gap-free, and the stream version is the seq
    assert [e.seq for _, e in sent] == list(range(1, len(sent) + 1))  # type: ignore[attr-defined]
    assert [r.version for r, _ in sent] == list(range(len(sent)))
    # every acknowledged send exactly once, with its seq; refused ones not at all
    by_id: dict[int, list[int]] = {}
    for _, e in sent:
        assert isinstance(e, c.MessageSent)
        by_id.setdefault(e.message_id, []).append(e.seq)
    for mid, result in acked.items():
        assert by_id.get(mid) == [result.seq], (mid, result, by_id.get(mid))
    contents = {e.content for _, e in sent}  # type: ignore[attr-defined]
    assert not contents & refused, contents & refused
    # nothing decided after a committed change that forbids it
    states = [Conversation()]
    for r in convo:
        states.append(evolve(states[-1], r.decode()))
    version_of = {r.id: r.version for r in convo}
    changes = [  # (process, returned clock, version committed)
        (s.proc, s.returned, version_of[s.ids[-1]])
        for s in w.stamps
        if s.stream == c.conversation_stream(CID) and s.kind == "append"
    ]
    reads = [s for s in w.stamps if s.kind == "read"]
    appends = {i: s for s in w.stamps if s.kind == "append" for i in s.ids}
    for r, e in sent:
        assert isinstance(e, c.MessageSent)
        if e.message_type == "system":
            continue
        decided = appends[r.id]  # the send path decides right before its append call
        p = decided.proc
        # the newest view the process had: of the reads it finished before deciding, the one
        # started last (everything committed before that start is in it)
        last_read = max(
            (r.called for r in reads if r.proc == p and r.returned < decided.called), default=-1
        )
        floor = max(
            (
                v
                for q, t, v in changes
                if t < last_read or (q == p and t < decided.called)  # committed before it
            ),
            default=0,
        )
        allowed = []
        for s in states[floor + 1 :]:
            try:
                check_can_send(s, e.sender_id, e.at)
                allowed.append(True)
            except DomainError:
                allowed.append(False)
        assert any(allowed), (
            f"message {e.content!r} from {e.sender_id} decided by process {p} at "
            f"{decided.called}, on a view older than version {floor}, which forbids it"
        )


# -- directed: a send waiting behind an in-flight append ----------------------------------------


def mute(user: int, status: c.MemberStatus = "muted") -> UpdateMember:
    return UpdateMember(conversation_id=CID, operator_id=OWNER, user_id=user, status=status)


CHANGES: dict[str, Callable[[ConversationHandlers, int], Coroutine[Any, Any, object]]] = {
    "removal": lambda h, u: h.remove_member(RemoveMember(CID, OWNER, u)),
    "mute": lambda h, u: h.update_member(mute(u)),
    "dissolve": lambda h, u: h.delete_conversation(DeleteConversation(CID, OWNER)),
}


@pytest.mark.parametrize("kind", ["sqlite", "kurrentdb-fake"])
@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("where", ["same process", "other process"])
async def test_a_send_queued_before_a_change_is_refused_once_it_is_committed(
    kind: str, change: str, where: str
) -> None:
    async with world(kind) as w:
        one, two = w.procs
        await two.sender.send(Draft(CID, 3, "text", "warm-up"))  # loaded, ids reserved
        await one.sender.send(Draft(CID, 2, "text", "warm-up 2"))  # one knows the latest seq
        gate = one.store.gate = asyncio.Event()
        first = asyncio.create_task(one.sender.send(Draft(CID, 2, "text", "in flight")))
        await one.store.held.wait()  # the first batch's append is on its way
        queued = asyncio.create_task(one.sender.send(Draft(CID, 3, "text", "queued")))
        for _ in range(10):  # it passes the early check and joins the queue behind the first
            await asyncio.sleep(0)
        assert not queued.done()
        deciding = one if where == "same process" else two
        deciding.store.changed.clear()
        changing = asyncio.create_task(CHANGES[change](deciding.handlers, 3))
        await deciding.store.changed.wait()  # committed (its system message may still be queued)
        gate.set()
        assert (await first).created
        with pytest.raises(ForbiddenError):
            await queued
        await changing
        await check(w, {}, {"queued"})


# -- the property: random interleavings --------------------------------------------------------

_ops = st.lists(
    st.tuples(
        st.integers(0, 1),  # which process
        st.sampled_from(["send"] * 6 + ["remove", "mute", "unmute", "add", "dissolve"]),
        st.sampled_from(MEMBERS),
        st.integers(0, 6),  # turns to wait before starting
    ),
    min_size=4,
    max_size=24,
)


async def _run(w: World, ops: list[tuple[int, str, int, int]]) -> None:
    acked: dict[int, SendResult] = {}
    refused: set[str] = set()

    async def one(i: int, p: int, kind: str, user: int, turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        proc = w.procs[p]
        h = proc.handlers
        try:
            if kind == "send":
                text = f"m{i}"
                try:
                    acked[i] = await proc.sender.send(Draft(CID, user, "text", text))
                except (ForbiddenError, NotFoundError):  # refused: never written
                    refused.add(text)
                    raise
                assert acked[i].created
            elif kind == "remove":
                await h.remove_member(RemoveMember(CID, OWNER, user))
            elif kind == "mute":
                await h.update_member(mute(user))
            elif kind == "unmute":
                await h.update_member(mute(user, "active"))
            elif kind == "add":
                await h.add_members(AddMembers(CID, OWNER, [user]))
            else:
                await h.delete_conversation(DeleteConversation(CID, OWNER))
        except DomainError:
            pass  # refusals are fine; what they leave behind is checked below

    await asyncio.gather(*(one(i, *op) for i, op in enumerate(ops)))
    await check(w, {acked[i].message_id: acked[i] for i in acked}, refused)


@pytest.mark.parametrize("kind", ["sqlite", "kurrentdb-fake"])
def test_random_sends_and_membership_changes_from_two_processes(kind: str) -> None:
    @settings(deadline=None, max_examples=20)  # each example runs two processes
    @given(ops=_ops, seed=st.integers(0, 2**16))
    def run(ops: list[tuple[int, str, int, int]], seed: int) -> None:
        async def body() -> None:
            async with world(kind, seed) as w:
                await _run(w, ops)

        asyncio.run(body())

    run()
