"""The ReadStore contract, run against every adapter.

SQLite always; MongoDB on the session's SecantusDB always; a real MongoDB when
``IM_TEST_MONGO_URL`` is set. SecantusDB manages ~1,000 upserts/s, so the property tests get a
per-backend example budget (a capability of the backend, not an ``if backend == ...``).
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from projections.read_store.mongo import MongoReadStore
from projections.read_store.sqlite import SqliteReadStore
from projections.runtime import Projection, Projector
from projections.store import (
    Collection,
    Delete,
    Doc,
    Guarded,
    Index,
    Op,
    Patch,
    ProjectionBatch,
    Put,
    ReadStore,
    apply_patch,
)
from tests.contract.synthetic import (
    NoEvents,
    canonical,
    model,
    projection_cases,
    record,
    snapshot,
)


class ReadBackend:
    """How to open a fresh, empty store of one kind, and how hard to push it."""

    def __init__(self, name: str, examples: int, mongo_url: str | None = None) -> None:
        self.name = name
        self.examples = examples
        self._mongo_url = mongo_url

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ReadStore]:
        if self._mongo_url is None:
            folder = tempfile.mkdtemp(prefix="im-rs-")
            store: ReadStore = SqliteReadStore(os.path.join(folder, "read.sqlite3"))
            try:
                yield store
            finally:
                await store.close()
                shutil.rmtree(folder, ignore_errors=True)
            return
        db = "t_" + uuid.uuid4().hex[:12]
        store = MongoReadStore(self._mongo_url, db)
        try:
            yield store
        finally:
            await store.close()
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self._mongo_url)
            try:
                await client.drop_database(db)
            except PyMongoError:
                pass
            finally:
                await client.close()


@pytest.fixture(params=["sqlite", "mongo-secantus", "mongo"])
def backend(request: pytest.FixtureRequest) -> ReadBackend:
    if request.param == "sqlite":
        return ReadBackend("sqlite", examples=40)
    if request.param == "mongo-secantus":
        return ReadBackend("mongo-secantus", 30, request.getfixturevalue("secantus_url"))
    url = os.environ.get("IM_TEST_MONGO_URL")
    if not url:
        pytest.skip("IM_TEST_MONGO_URL is not set: the real-MongoDB leg needs a server")
    return ReadBackend("mongo", 40, url)


@pytest.fixture
async def store(backend: ReadBackend) -> AsyncIterator[ReadStore]:
    async with backend.open() as s:
        yield s


def run_examples(
    backend: ReadBackend, body: Callable[..., Coroutine[Any, Any, None]], **strategies: Any
) -> None:
    """Run ``body`` as a hypothesis test, each example in its own event loop."""

    @settings(
        max_examples=backend.examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(**strategies)
    def examples(**drawn: Any) -> None:
        asyncio.run(body(**drawn))

    examples()


ITEMS = "items"
ITEMS_DECL = Collection(
    ITEMS, dict, indexes=(Index(("a", "b")), Index(("code",), unique=True)), text_field="title"
)


def batch(position: int, *ops: Op, projection: str = "p") -> ProjectionBatch:
    guarded = [Guarded(guard=position * 1024 + i, op=op) for i, op in enumerate(ops)]
    return ProjectionBatch(projection=projection, position=position, ops=guarded)


# -- documents ------------------------------------------------------------------------------------


async def test_put_get_roundtrip_keeps_shape(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    doc: Doc = {
        "id": 7,
        "title": "Zoë's ünïcode",
        "f": 1.0,
        "big": 2**53 + 1,
        "ok": True,
        "none": None,
        "tags": [1, "two", 3.5, None, {"x": [1]}],
        "nested": {"a": {"b": [True, False]}},
    }
    await store.apply([batch(1, Put(ITEMS, "7", doc))])
    got = await store.get(ITEMS_DECL, "7")
    assert got == doc
    assert got is not None and type(got["f"]) is float and type(got["big"]) is int
    assert await store.get(ITEMS_DECL, "missing") is None
    assert await store.find(ITEMS_DECL) == [doc]


async def test_get_many_and_delete(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    docs = {str(i): {"id": i, "code": f"c{i}"} for i in range(5)}
    await store.apply([batch(1, *(Put(ITEMS, k, d) for k, d in docs.items()))])
    got = await store.get_many(ITEMS_DECL, ["3", "nope", "1", "3"])
    assert sorted(d["id"] for d in got) == [1, 3]
    await store.apply([batch(2, Delete(ITEMS, "3"), Delete(ITEMS, "never-existed"))])
    assert await store.get(ITEMS_DECL, "3") is None
    assert sorted(d["id"] for d in await store.get_many(ITEMS_DECL, list(docs))) == [0, 1, 2, 4]
    assert await store.count(ITEMS_DECL) == 4


async def test_unique_index_is_enforced(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    await store.apply([batch(1, Put(ITEMS, "1", {"code": "same"}))])
    with pytest.raises((sqlite3.IntegrityError, PyMongoError)):
        await store.apply([batch(2, Put(ITEMS, "2", {"code": "same"}))])
    assert await store.get(ITEMS_DECL, "2") is None
    # Documents without the field, and deleted documents, never collide.
    await store.apply([batch(3, Put(ITEMS, "3", {"x": 1}), Put(ITEMS, "4", {"x": 2}))])
    await store.apply([batch(4, Delete(ITEMS, "3"), Delete(ITEMS, "4"))])
    await store.apply([batch(5, Put(ITEMS, "5", {"code": "other"}), Delete(ITEMS, "5"))])
    await store.apply([batch(6, Put(ITEMS, "6", {"code": "other"}))])
    assert await store.get(ITEMS_DECL, "6") == {"code": "other"}


# -- patches ---------------------------------------------------------------------------------------

_scalars = st.one_of(st.integers(-3, 3), st.sampled_from(["p", "q"]))
_patches = st.builds(
    Patch,
    coll=st.just(ITEMS),
    key=st.sampled_from(["k1", "k2"]),
    set=st.dictionaries(st.sampled_from(["s", "t"]), _scalars, max_size=2),
    inc=st.dictionaries(st.sampled_from(["n", "m"]), st.integers(-3, 3), max_size=2),
    max=st.dictionaries(st.just("hi"), st.integers(-3, 3), max_size=1),
    add=st.dictionaries(st.just("l"), st.lists(_scalars, max_size=3), max_size=1),
    pull=st.dictionaries(
        st.sampled_from(["l", "gone"]), st.lists(_scalars, max_size=2), max_size=1
    ),
    insert=st.dictionaries(st.sampled_from(["s", "born"]), _scalars, max_size=2),
    upsert=st.booleans(),
)
_ops = st.one_of(
    _patches,
    st.builds(Delete, coll=st.just(ITEMS), key=st.sampled_from(["k1", "k2"])),
    st.builds(
        Put,
        coll=st.just(ITEMS),
        key=st.sampled_from(["k1", "k2"]),
        doc=st.fixed_dictionaries({"n": st.integers(-3, 3), "l": st.lists(_scalars, max_size=2)}),
    ),
)


def reference(ops: list[Op]) -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    for op in ops:
        if isinstance(op, Put):
            docs[op.key] = dict(op.doc)
        elif isinstance(op, Delete):
            docs.pop(op.key, None)
        else:
            new = apply_patch(docs.get(op.key), op)
            if new is not None:
                docs[op.key] = new
    return docs


def test_ops_follow_the_reference_semantics(backend: ReadBackend) -> None:
    async def body(ops: list[Op], per_batch: int) -> None:
        async with backend.open() as s:
            await s.declare([Collection(ITEMS, dict)])
            for i in range(0, len(ops), per_batch):
                await s.apply([batch(i + 1, *ops[i : i + per_batch])])
            want = reference(ops)
            for key in ("k1", "k2"):
                assert await s.get(ITEMS_DECL, key) == want.get(key)

    run_examples(backend, body, ops=st.lists(_ops, max_size=8), per_batch=st.integers(1, 8))


# -- queries ---------------------------------------------------------------------------------------


def _query_docs() -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    for i in range(16):
        d: Doc = {"id": i, "b": ["x", "y", "z"][i % 3], "title": f"Item {i} {'ABC'[i % 3]}"}
        if i % 4:
            d["a"] = i % 5
        if i % 5 == 0:
            d["c"] = None
        else:
            d["c"] = i % 2 == 0
        d["code"] = f"code{i}"
        docs[str(i)] = d
    return docs


def _matches(doc: Doc, where: dict[str, Any]) -> bool:
    for field, cond in where.items():
        v = doc.get(field)
        if not isinstance(cond, dict):
            if (v is not None or cond is not None) and v != cond:
                return False
            if cond is not None and v is None:
                return False
            continue
        for op, arg in cond.items():
            if op == "$ne":
                ok = v is not None if arg is None else v != arg
            elif op == "$in":
                ok = v is not None and v in arg
            else:
                ok = (
                    v is not None
                    and {"$gt": v > arg, "$gte": v >= arg, "$lt": v < arg, "$lte": v <= arg}[op]
                )
            if not ok:
                return False
    return True


def _sort_key(order: list[tuple[str, int]]) -> Callable[[Doc], Any]:
    def key(doc: Doc) -> Any:
        parts: list[Any] = []
        for field, direction in order:
            v = doc.get(field)
            rank = (0, 0) if v is None else (1, v)
            parts.append(rank if direction > 0 else _Desc(rank))
        return parts

    return key


class _Desc:
    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]


_int_conds = st.one_of(
    st.integers(0, 4),
    st.none(),
    st.dictionaries(
        st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne"]),
        st.integers(0, 4),
        min_size=1,
        max_size=2,
    ),
    st.fixed_dictionaries({"$in": st.lists(st.integers(0, 4), max_size=3)}),
    st.just({"$ne": None}),
)
_wheres = st.fixed_dictionaries(
    {},
    optional={
        "a": _int_conds,
        "b": st.one_of(st.sampled_from(["x", "y"]), st.just({"$in": ["y", "z"]})),
        "c": st.one_of(st.booleans(), st.none()),
    },
)
_orders = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([1, -1])),
    max_size=2,
    unique_by=lambda t: t[0],
)


def test_find_count_filters_sorts_pages(backend: ReadBackend) -> None:
    docs = _query_docs()

    async def body(
        queries: list[tuple[dict[str, Any], list[tuple[str, int]], int, int | None]],
    ) -> None:
        async with backend.open() as s:
            await s.declare([ITEMS_DECL])
            await s.apply([batch(1, *(Put(ITEMS, k, d) for k, d in docs.items()))])
            for where, order, skip, limit in queries:
                full = [*order, ("id", 1)]  # a unique tie-break makes the expected page exact
                want = sorted((d for d in docs.values() if _matches(d, where)), key=_sort_key(full))
                got = await s.find(ITEMS_DECL, where, full, skip, limit)
                end = None if limit is None else skip + limit
                assert got == want[skip:end], (where, full, skip, limit)
                assert await s.count(ITEMS_DECL, where) == len(want)

    query = st.tuples(_wheres, _orders, st.integers(0, 5), st.one_of(st.none(), st.integers(0, 6)))
    run_examples(backend, body, queries=st.lists(query, min_size=1, max_size=6))


async def test_find_rejects_unknown_operator(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    with pytest.raises(ValueError, match="unknown filter operator"):
        await store.find(ITEMS_DECL, {"a": {"$where": "1"}})


async def test_search_is_case_insensitive_substring(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    titles = ["Hello World", "hello there", "Say HELLO", "a.b (c) 100%_done", "Zürich", "nothing"]
    ops = [Put(ITEMS, str(i), {"id": i, "title": t, "b": i % 2}) for i, t in enumerate(titles)]
    await store.apply([batch(1, *ops)])

    async def ids(text: str, **kw: Any) -> list[int]:
        return [d["id"] for d in await store.search(ITEMS_DECL, text, order=[("id", 1)], **kw)]

    assert await ids("hello") == [0, 1, 2]
    assert await ids("LLO") == [0, 1, 2]
    assert await ids("TH") == [1, 5]
    assert await ids("o w") == [0]
    assert await ids("(c)") == [3]
    assert await ids("%_") == [3]
    assert await ids(".") == [3]
    assert await ids("a.b") == [3]
    assert await ids("zür") == [4]
    assert await ids("x") == []
    assert await ids("hello", where={"b": 0}) == [0, 2]
    assert await ids("hello", skip=1, limit=1) == [1]
    with pytest.raises(ValueError, match="has no text field"):
        await store.search(Collection("undeclared", dict), "x")


# -- checkpoints and exactly-once ------------------------------------------------------------------


async def test_checkpoints_move_forward_only_and_reset(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    assert await store.checkpoint("p") == 0
    await store.apply([batch(5, Patch(ITEMS, "k", inc={"n": 1}))])
    await store.apply([batch(9, projection="q")])  # a batch without ops still moves
    assert (await store.checkpoint("p"), await store.checkpoint("q")) == (5, 9)
    await store.apply([batch(5, Patch(ITEMS, "k", inc={"n": 1}))])  # a redelivery
    assert await store.checkpoint("p") == 5
    assert await store.get(ITEMS_DECL, "k") == {"n": 1}
    await store.reset("p", [ITEMS])
    assert await store.checkpoint("p") == 0
    assert await store.find(ITEMS_DECL) == []
    assert await store.checkpoint("q") == 9
    await store.apply([batch(1, Patch(ITEMS, "k", inc={"n": 1}))])  # replays after a reset
    assert await store.get(ITEMS_DECL, "k") == {"n": 1}


async def test_a_checkpoint_saved_on_its_own_moves_forward_only(store: ReadStore) -> None:
    await store.declare([ITEMS_DECL])
    await store.save_checkpoint("follower", 7)
    await store.save_checkpoint("follower", 3)  # an older position never moves it back
    assert await store.checkpoint("follower") == 7
    await store.save_checkpoint("follower", 12)
    await store.apply([batch(10, projection="follower")])
    assert await store.checkpoint("follower") == 12
    assert await store.checkpoint("p") == 0  # only the named checkpoint moved
    assert await store.find(ITEMS_DECL) == []


@pytest.mark.parametrize("case", projection_cases(), ids=lambda c: c[0])
def test_redelivering_any_prefix_changes_nothing(
    backend: ReadBackend, case: tuple[str, Projection, Any]
) -> None:
    _, projection, events = case

    async def body(evs: list[Any], split: int, prefix: int, restart: bool, step: int) -> None:
        recs = record(evs)
        # Cut points as fractions of the history; the redelivered prefix may reach past the
        # split, so later batches mix already-applied and new events.
        split, prefix = len(recs) * split // 8, max(1, len(recs) * prefix // 8)
        async with backend.open() as s:
            first = Projector(NoEvents(), s, [projection])
            await first.prepare()
            if split:
                await first.apply(recs[:split])
            if prefix:
                # A redelivery: either a restarted projector (checkpoint from the store) or one
                # that lost its checkpoint (every op reaches the store again, guards must hold).
                again = Projector(NoEvents(), s, [projection])
                if restart:
                    await again.prepare()
                await again.apply(recs[:prefix])
            for i in range(split, len(recs), step):
                await first.apply(recs[i : i + step])
            assert await snapshot(s, projection) == model(projection, recs)
            if recs:
                assert await s.checkpoint(projection.name) == recs[-1].position

    run_examples(
        backend,
        body,
        evs=st.lists(events, min_size=1, max_size=12),
        split=st.integers(0, 8),
        prefix=st.integers(1, 8),
        restart=st.booleans(),
        step=st.integers(1, 4),
    )


def test_canonical_ignores_key_order() -> None:
    assert canonical({"b": 1, "a": 2}) == canonical({"a": 2, "b": 1})


async def test_a_cancelled_caller_always_stops(store: ReadStore) -> None:
    """Cancelling a task inside a store call ends it (the projector's stop relies on this)."""
    await store.declare([ITEMS_DECL])
    position = 0

    async def busy() -> None:
        nonlocal position
        while True:
            position += 1
            await store.apply([batch(position, Patch(ITEMS, "k", inc={"n": 1}))])
            await store.get(ITEMS_DECL, "k")

    rng = random.Random(7)
    for _ in range(120):
        task = asyncio.create_task(busy())
        await asyncio.sleep(rng.random() * 0.004)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the cancellation was swallowed: the task kept running"
        assert task.cancelled()
