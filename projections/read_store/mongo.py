"""MongoDB read store (PyMongo's ``AsyncMongoClient``): every write guarded by its op guard.

A document is stored as ``{_id: key, _g: guard of the last op applied, **fields}``; a deleted
document leaves a tombstone ``{_id: key, _g: guard, _del: true}`` so that a redelivered older op
cannot bring it back. ``_id``, ``_g`` and ``_del`` are reserved field names.

``apply`` reads the touched documents once per collection, folds the not-yet-applied ops onto them
with the reference ``apply_patch`` semantics, and writes each result with a guarded upsert
(``_g < new guard``). The state of a document at a given guard is fully determined by the event
history, so a concurrent or repeated writer can only write the same state; an upsert that fails
on a duplicate key because the document already carries a guard at least as new is "already
applied". Checkpoints move with ``$max`` after the batch's ops are written.

Every public call runs the driver in its own task behind ``asyncio.shield``: on Python 3.11
PyMongo sends through ``asyncio.wait_for``, which can swallow a cancellation that lands as a send
completes, and a cancelled projector would then never stop. Shielded, the caller's cancellation
always takes effect; the detached call finishes on its own (guarded writes make that harmless),
and ``close`` waits briefly for such calls before closing the client.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar

import msgspec
from bson.codec_options import TypeDecoder, TypeRegistry
from bson.int64 import Int64
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReplaceOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from projections.store import (
    Collection,
    D,
    Delete,
    Doc,
    Guarded,
    Order,
    ProjectionBatch,
    Put,
    Where,
    apply_patch,
    as_dict,
    text_field,
)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPS = frozenset({"$gt", "$gte", "$lt", "$lte", "$ne", "$in"})
_LIVE: Doc = {"_del": {"$exists": False}}
_CHECKPOINTS = "checkpoints"
_CHUNK = 1000
_DUPLICATE_KEY = 11000

_CLOSE_WAIT_S = 5.0

MongoDoc = dict[str, Any]
P = ParamSpec("P")
T = TypeVar("T")


class _PlainInt(TypeDecoder):
    """BSON int64 decodes to ``bson.Int64``; documents must hold plain ints like SQLite's."""

    bson_type = Int64

    def transform_bson(self, value: Any) -> int:
        return int(value)


_TYPES = TypeRegistry([_PlainInt()])


def _name(n: str) -> str:
    if not _NAME.fullmatch(n):
        raise ValueError(f"bad collection or field name {n!r}")
    return n


def _filter(where: Where | None) -> Doc:
    """Translate the port's filter language; the same operators as the SQLite adapter."""
    out: Doc = {}
    for field, cond in (where or {}).items():
        _name(field)
        if isinstance(cond, dict):
            for op in cond:
                if op not in _OPS:
                    raise ValueError(f"unknown filter operator {op!r}")
            out[field] = {op: list(v) if op == "$in" else v for op, v in cond.items()}
        else:
            out[field] = cond
    return out


def _live(*parts: Doc) -> Doc:
    conds = [p for p in parts if p]
    return {"$and": [*conds, _LIVE]} if conds else dict(_LIVE)


def _public(stored: MongoDoc) -> Doc:
    return {k: v for k, v in stored.items() if k != "_id" and k != "_g"}


def _typed(doc_type: type[D], stored: MongoDoc) -> D:
    """A stored document as the collection's document type."""
    doc: D = msgspec.convert(_public(stored), doc_type)
    return doc


def _fold(stored: MongoDoc | None, ops: list[Guarded]) -> tuple[int, Doc | None] | None:
    """Apply the ops newer than the stored guard; None when there is nothing to write."""
    applied = -1 if stored is None else int(stored.get("_g", -1))
    doc = None if stored is None or stored.get("_del") else _public(stored)
    existed = doc is not None
    guard = applied
    for g in ops:
        if g.guard <= applied:
            continue  # already applied: a redelivery
        guard, op = g.guard, g.op
        if isinstance(op, Put):
            doc = as_dict(op.doc)
        elif isinstance(op, Delete):
            doc = None
        else:
            doc = apply_patch(doc, op)
        existed = existed or doc is not None
    if guard == applied or not existed:
        return None
    return guard, doc


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def _detached(
    fn: Callable[Concatenate[MongoReadStore, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[MongoReadStore, P], Coroutine[Any, Any, T]]:
    """Run the call in its own task and await it shielded (see the module docstring)."""

    async def run(self: MongoReadStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        task = asyncio.ensure_future(fn(self, *args, **kwargs))
        self._inflight.add(task)
        task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    run.__name__, run.__qualname__, run.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return run


class MongoReadStore:
    """The production read store. Connects on first use, never at construction."""

    def __init__(self, url: str, db_name: str) -> None:
        self._url = url
        self._db_name = db_name
        self._client: AsyncMongoClient[MongoDoc] | None = None
        self._text: dict[str, str] = {}
        self._inflight: set[asyncio.Future[Any]] = set()

    def _settled(self, task: asyncio.Future[Any]) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the caller saw it, or had gone away

    def _db(self) -> AsyncDatabase[MongoDoc]:
        if self._client is None:
            self._client = AsyncMongoClient(self._url, type_registry=_TYPES)
        return self._client[self._db_name]

    def _coll(self, name: str) -> AsyncCollection[MongoDoc]:
        return self._db()[_name(name)]

    # -- schema ---------------------------------------------------------------------------------
    @_detached
    async def declare(self, collections: Sequence[Collection[Any]]) -> None:
        for coll in collections:
            c = self._coll(coll.name)
            for idx in coll.indexes:
                # Sparse, so tombstones (which carry none of the fields) never collide.
                await c.create_index(
                    [(_name(f), ASCENDING) for f in idx.fields],
                    name="__".join(idx.fields),
                    unique=idx.unique,
                    sparse=idx.unique,
                )
            if coll.text_field:
                self._text[coll.name] = _name(coll.text_field)

    # -- writes ---------------------------------------------------------------------------------
    @_detached
    async def apply(self, batches: Sequence[ProjectionBatch]) -> None:
        pending: dict[str, dict[str, list[Guarded]]] = {}
        for batch in batches:
            for g in batch.ops:
                pending.setdefault(_name(g.op.coll), {}).setdefault(g.op.key, []).append(g)
        for coll, by_key in pending.items():
            await self._apply_coll(self._coll(coll), by_key)
        if batches:
            await self._move_checkpoints(batches)

    async def _apply_coll(
        self, coll: AsyncCollection[MongoDoc], by_key: dict[str, list[Guarded]]
    ) -> None:
        stored: dict[str, MongoDoc] = {}
        for chunk in _chunks(list(by_key)):
            async for d in coll.find({"_id": {"$in": chunk}}):
                stored[d["_id"]] = d
        writes: list[ReplaceOne[MongoDoc]] = []
        targets: list[tuple[str, int]] = []
        for key, ops in by_key.items():
            ops.sort(key=lambda g: g.guard)
            result = _fold(stored.get(key), ops)
            if result is None:
                continue
            guard, doc = result
            body: MongoDoc = {"_g": guard, "_del": True} if doc is None else {**doc, "_g": guard}
            writes.append(ReplaceOne({"_id": key, "_g": {"$lt": guard}}, body, upsert=True))
            targets.append((key, guard))
        for i in range(0, len(writes), _CHUNK):
            try:
                await coll.bulk_write(writes[i : i + _CHUNK], ordered=False)
            except BulkWriteError as exc:
                await self._check_already_applied(coll, exc, targets[i : i + _CHUNK])

    @staticmethod
    async def _check_already_applied(
        coll: AsyncCollection[MongoDoc], exc: BulkWriteError, targets: list[tuple[str, int]]
    ) -> None:
        """Duplicate keys from a guarded upsert are fine when a newer guard is stored already."""
        details = exc.details
        errors = details.get("writeErrors", [])
        if details.get("writeConcernErrors") or any(
            e.get("code") != _DUPLICATE_KEY for e in errors
        ):
            raise exc
        wanted = {targets[e["index"]][0]: targets[e["index"]][1] for e in errors}
        async for d in coll.find({"_id": {"$in": list(wanted)}}, {"_g": 1}):
            if int(d.get("_g", -1)) >= wanted[d["_id"]]:
                del wanted[d["_id"]]
        if wanted:  # a genuine unique-index conflict
            raise exc

    async def _move_checkpoints(self, batches: Sequence[ProjectionBatch]) -> None:
        latest: dict[str, int] = {}
        for b in batches:
            latest[b.projection] = max(b.position, latest.get(b.projection, 0))
        moves = [
            UpdateOne({"_id": p}, {"$max": {"position": pos}}, upsert=True)
            for p, pos in latest.items()
        ]
        try:
            await self._db()[_CHECKPOINTS].bulk_write(moves, ordered=False)
        except BulkWriteError as exc:  # two writers raced to create a checkpoint: once more
            if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            await self._db()[_CHECKPOINTS].bulk_write(moves, ordered=False)

    @_detached
    async def checkpoint(self, projection: str) -> int:
        doc = await self._db()[_CHECKPOINTS].find_one({"_id": projection})
        return 0 if doc is None else int(doc["position"])

    @_detached
    async def save_checkpoint(self, projection: str, position: int) -> None:
        move = UpdateOne({"_id": projection}, {"$max": {"position": position}}, upsert=True)
        try:
            await self._db()[_CHECKPOINTS].bulk_write([move])
        except BulkWriteError as exc:  # two writers raced to create it: once more
            if any(e.get("code") != _DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise
            await self._db()[_CHECKPOINTS].bulk_write([move])

    @_detached
    async def reset(self, projection: str, collections: Sequence[str]) -> None:
        # Checkpoint first: if we stop half-way, replay from 0 over guarded documents is harmless.
        await self._db()[_CHECKPOINTS].delete_one({"_id": projection})
        for name in collections:
            await self._coll(name).delete_many({})

    # -- reads ----------------------------------------------------------------------------------
    @_detached
    async def get(self, coll: Collection[D], key: str) -> D | None:
        d = await self._coll(coll.name).find_one({"_id": key})
        return None if d is None or d.get("_del") else _typed(coll.doc, d)

    @_detached
    async def get_many(self, coll: Collection[D], keys: Sequence[str]) -> list[D]:
        found: dict[str, D] = {}
        for chunk in _chunks(list(dict.fromkeys(keys))):
            async for d in self._coll(coll.name).find({"_id": {"$in": chunk}}):
                if not d.get("_del"):
                    found[d["_id"]] = _typed(coll.doc, d)
        return [found[k] for k in dict.fromkeys(keys) if k in found]

    @_detached
    async def find(
        self,
        coll: Collection[D],
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[D]:
        return await self._find(coll, _live(_filter(where)), order, skip, limit)

    async def _find(
        self, coll: Collection[D], query: Doc, order: Order, skip: int, limit: int | None
    ) -> list[D]:
        if limit == 0:
            return []
        cursor = self._coll(coll.name).find(query)
        if order:
            cursor = cursor.sort([(_name(f), DESCENDING if d < 0 else ASCENDING) for f, d in order])
        if skip > 0:
            cursor = cursor.skip(int(skip))
        if limit is not None and limit > 0:
            cursor = cursor.limit(int(limit))
        return [_typed(coll.doc, d) async for d in cursor]

    @_detached
    async def count(self, coll: Collection[Any], where: Where | None = None) -> int:
        return await self._coll(coll.name).count_documents(_live(_filter(where)))

    @_detached
    async def search(
        self,
        coll: Collection[D],
        text: str,
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[D]:
        field = text_field(self._text, coll)
        match = {field: {"$regex": re.escape(text), "$options": "i"}}
        return await self._find(coll, _live(_filter(where), match), order, skip, limit)

    async def close(self) -> None:
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=_CLOSE_WAIT_S)
        if self._client is not None:
            await self._client.close()
            self._client = None
