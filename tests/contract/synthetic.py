"""Projection test material: a synthetic projection, event strategies, a reference model."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
from hypothesis import strategies as st

from domain import codec
from domain import users as u
from domain.events import Event
from domain.store import RecordedEvent, new_event
from projections.runtime import Projection
from projections.store import (
    Collection,
    Delete,
    Doc,
    Index,
    Op,
    Patch,
    Put,
    ReadStore,
    apply_patch,
    as_dict,
)
from projections.users import UsersProjection

COUNTERS = "test_counters"


class CounterBumped(Event, frozen=True, tag="test.CounterBumped"):
    key: str
    by: int


class CounterSeen(Event, frozen=True, tag="test.CounterSeen"):
    key: str
    value: int


class CounterTagged(Event, frozen=True, tag="test.CounterTagged"):
    key: str
    tags: list[str]


class CounterUntagged(Event, frozen=True, tag="test.CounterUntagged"):
    key: str
    tags: list[str]


class CounterRenamed(Event, frozen=True, tag="test.CounterRenamed"):
    key: str
    name: str


class CounterReset(Event, frozen=True, tag="test.CounterReset"):
    key: str
    name: str


class CounterDropped(Event, frozen=True, tag="test.CounterDropped"):
    key: str


CounterEvent = (
    CounterBumped
    | CounterSeen
    | CounterTagged
    | CounterUntagged
    | CounterRenamed
    | CounterReset
    | CounterDropped
)
codec.register(CounterEvent)


class CountersProjection:
    """Exercises every op: put, inc (two docs per event), max, add, pull, set, delete."""

    name = "test_counters"
    collections: tuple[Collection[Any], ...] = (
        Collection(COUNTERS, dict, indexes=(Index(("n",)),), text_field="name"),
    )

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        match event:
            case CounterBumped():
                return [
                    Patch(COUNTERS, event.key, inc={"n": event.by}, insert={"name": event.key}),
                    Patch(COUNTERS, "total", inc={"n": event.by}, max={"last": rec.position}),
                ]
            case CounterSeen():
                return [Patch(COUNTERS, event.key, max={"peak": event.value})]
            case CounterTagged():
                return [Patch(COUNTERS, event.key, add={"tags": list(event.tags)})]
            case CounterUntagged():
                return [Patch(COUNTERS, event.key, pull={"tags": list(event.tags)})]
            case CounterRenamed():
                return [Patch(COUNTERS, event.key, set={"name": event.name}, upsert=False)]
            case CounterReset():
                return [Put(COUNTERS, event.key, {"name": event.name, "n": 0, "tags": []})]
            case CounterDropped():
                return [Delete(COUNTERS, event.key)]
        return []


_keys = st.sampled_from(["a", "b", "c"])
_tags = st.lists(st.sampled_from(["x", "y", "z"]), max_size=3)
_small = st.integers(-5, 5)
_bumps = st.builds(CounterBumped, key=_keys, by=_small)
counter_events: st.SearchStrategy[Event] = st.one_of(
    _bumps,
    _bumps,
    st.builds(CounterSeen, key=_keys, value=_small),
    st.builds(CounterTagged, key=_keys, tags=_tags),
    st.builds(CounterUntagged, key=_keys, tags=_tags),
    st.builds(CounterRenamed, key=_keys, name=st.sampled_from(["Alpha", "beta", "Gamma"])),
    st.builds(CounterReset, key=_keys, name=st.sampled_from(["Reset", "again"])),
    st.builds(CounterDropped, key=_keys),
)


@st.composite
def user_events(draw: st.DrawFn) -> Event:
    uid = draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["register", "rename", "activate", "superuser"]))
    sid = f"user{uid}"
    if kind == "register":
        name = draw(st.sampled_from(["Ann", "Bob Smith", "Zoë"]))
        return u.UserRegistered(
            user_id=uid, standard_id=sid, name=name, password_hash="h", at=float(uid)
        )
    if kind == "rename":
        name = draw(st.sampled_from(["Carl", "Dee Dee"]))
        return u.UserRenamed(user_id=uid, name=name, standard_id=sid, at=2.0)
    if kind == "activate":
        return u.UserActivationChanged(user_id=uid, is_active=draw(st.booleans()))
    return u.UserSuperuserChanged(user_id=uid, is_superuser=draw(st.booleans()))


def projection_cases() -> list[tuple[str, Projection, st.SearchStrategy[Event]]]:
    return [
        ("users", UsersProjection(), user_events()),
        ("counters", CountersProjection(), counter_events),
    ]


def record(events: Sequence[Event], first_position: int = 1) -> list[RecordedEvent]:
    """Recorded events with consecutive positions, one stream per event."""
    out: list[RecordedEvent] = []
    for i, event in enumerate(events):
        ne = new_event(event)
        out.append(
            RecordedEvent(
                id=ne.id,
                stream=f"test-{uuid.uuid4().hex[:8]}",
                version=0,
                position=first_position + i,
                type=ne.type,
                data=ne.data,
                metadata=ne.metadata,
                recorded_at=0.0,
            )
        )
    return out


def model(projection: Projection, recs: Sequence[RecordedEvent]) -> dict[str, list[str]]:
    """The reference read model: every op folded once, in order, in plain Python."""
    docs: dict[tuple[str, str], Doc] = {}
    for rec in recs:
        for op in projection.handle(rec.decode(), rec):
            ident = (op.coll, op.key)
            if isinstance(op, Put):
                docs[ident] = as_dict(op.doc)
            elif isinstance(op, Delete):
                docs.pop(ident, None)
            else:
                new = apply_patch(docs.get(ident), op)
                if new is not None:
                    docs[ident] = new
    out: dict[str, list[str]] = {c.name: [] for c in projection.collections}
    for (coll, _), doc in docs.items():
        out[coll].append(canonical(doc))
    return {k: sorted(v) for k, v in out.items()}


def canonical(doc: dict[str, Any]) -> str:
    return msgspec.json.encode(doc, order="sorted").decode()


async def snapshot(store: ReadStore, projection: Projection) -> dict[str, list[str]]:
    return {
        c.name: sorted(canonical(msgspec.to_builtins(d)) for d in await store.find(c))
        for c in projection.collections
    }


class NoEvents:
    """The projector only needs an event store to subscribe; these tests feed it directly."""

    async def append(self, stream: str, events: Any, expected_version: int | None) -> int:
        raise AssertionError("not used")

    async def read(self, stream: str, from_version: int = 0) -> list[Any]:
        return []

    async def last(self, stream: str) -> None:
        return None

    async def subscribe(self, after_position: int = 0) -> AsyncIterator[list[Any]]:
        raise AssertionError("not used")
        yield []

    async def head(self) -> int:
        return 0

    async def events_after(self, position: int, limit: int) -> int:
        return 0

    async def close(self) -> None:
        return None
