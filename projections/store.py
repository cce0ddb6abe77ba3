"""The read-store port: document collections written only by projections, read by queries.

A collection is declared with the type of its documents (a msgspec Struct, see
``projections/schema.py``): projections write those Structs, reads decode straight into them.
Documents are stored as JSON-compatible objects under a string key. Queries use a small
Mongo-like filter language on top-level fields: ``{"f": v}`` (equality) or
``{"f": {"$gt"|"$gte"|"$lt"|"$lte"|"$ne"|"$in": v}}``; sorts are ``[("f", 1 | -1), ...]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import msgspec

Doc = dict[str, Any]
Where = dict[str, Any]
Order = Sequence[tuple[str, int]]
D = TypeVar("D")


class Index(msgspec.Struct, frozen=True):
    """An index on one or more top-level fields; ``unique`` enforces uniqueness."""

    fields: tuple[str, ...]
    unique: bool = False


class Put(msgspec.Struct, frozen=True, tag=True, gc=False):
    """Insert or replace the whole document (a read-model Struct, or a dict)."""

    coll: str
    key: str
    doc: Any


class Patch(msgspec.Struct, frozen=True, tag=True, gc=False):
    """Field-level update; creates ``{**insert, **set}`` plus increments when missing and upsert."""

    coll: str
    key: str
    set: Doc = {}
    inc: dict[str, int] = {}
    max: Doc = {}
    add: dict[str, list[Any]] = {}  # add to a set-like list field
    pull: dict[str, list[Any]] = {}  # remove values from a list field
    insert: Doc = {}  # only when the document is created
    upsert: bool = True


class Delete(msgspec.Struct, frozen=True, tag=True, gc=False):
    coll: str
    key: str


Op = Put | Patch | Delete


class Collection(msgspec.Struct, Generic[D], frozen=True):
    """A collection's declaration: the type its documents decode into (a Struct; ``dict`` for
    untyped test collections), its indexes and an optional case-insensitive text field."""

    name: str
    doc: type[D]
    indexes: tuple[Index, ...] = ()
    text_field: str | None = None

    def put(self, key: str, doc: D) -> Put:
        return Put(self.name, key, doc)

    def patch(self, key: str, **change: Any) -> Patch:
        return Patch(self.name, key, **change)

    def delete(self, key: str) -> Delete:
        return Delete(self.name, key)


def as_dict(doc: Any) -> Doc:
    """A written document as a plain dict (a copy)."""
    out: Doc = msgspec.to_builtins(doc) if isinstance(doc, msgspec.Struct) else dict(doc)
    return out


class Guarded(msgspec.Struct, frozen=True, gc=False):
    """An op with its guard: ``event position * 1024 + index of the op within the event``."""

    guard: int
    op: Op


class ProjectionBatch(msgspec.Struct, frozen=True, gc=False):
    """What one projection wants written for events up to and including ``position``."""

    projection: str
    position: int
    ops: list[Guarded]


class ReadStore(Protocol):
    """Documents plus per-projection checkpoints.

    ``apply`` writes every batch's ops and moves each batch's checkpoint atomically (or, where the
    backend lacks multi-document atomicity, guards each write by its op guard so a redelivered op
    changes nothing). Reads see only committed data.
    """

    async def declare(self, collections: Sequence[Collection[Any]]) -> None: ...

    async def apply(self, batches: Sequence[ProjectionBatch]) -> None: ...

    async def checkpoint(self, projection: str) -> int: ...

    async def save_checkpoint(self, projection: str, position: int) -> None:
        """Move a checkpoint forward to ``position`` on its own (never back), without documents."""
        ...

    async def reset(self, projection: str, collections: Sequence[str]) -> None: ...

    async def get(self, coll: Collection[D], key: str) -> D | None: ...

    async def get_many(self, coll: Collection[D], keys: Sequence[str]) -> list[D]: ...

    async def find(
        self,
        coll: Collection[D],
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[D]: ...

    async def count(self, coll: Collection[Any], where: Where | None = None) -> int: ...

    async def search(
        self,
        coll: Collection[D],
        text: str,
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[D]: ...

    async def close(self) -> None: ...


def text_field(declared: Mapping[str, str], coll: Collection[Any]) -> str:
    """The field ``ReadStore.search`` looks in: the one ``coll`` was declared with (``declared``:
    collection name -> the adapter's name for its text field). A collection declared without
    one, or not declared, cannot be searched."""
    field = declared.get(coll.name)
    if field is None:
        raise ValueError(f"collection {coll.name!r} has no text field")
    return field


def apply_patch(current: Any, patch: Patch) -> Doc | None:
    """The reference semantics of ``Patch`` (used by adapters that apply patches in Python)."""
    if current is None:
        if not patch.upsert:
            return None
        doc = dict(patch.insert)
    else:
        doc = as_dict(current)
    return patch_in_place(doc, patch)


def patch_in_place(doc: Doc, patch: Patch) -> Doc:
    """Apply ``patch`` to an existing document the caller owns (``apply_patch`` without the copy).

    Only top-level values are replaced: a list value is never changed in place, so ``doc`` may
    share its values with other documents (a shallow copy is enough)."""
    doc.update(patch.set)
    for k, v in patch.inc.items():
        doc[k] = doc.get(k, 0) + v
    for k, v in patch.max.items():
        cur = doc.get(k)
        if cur is None or v > cur:
            doc[k] = v
    for k, values in patch.add.items():
        cur_list = list(doc.get(k) or [])
        for v in values:
            if v not in cur_list:
                cur_list.append(v)
        doc[k] = cur_list
    for k, values in patch.pull.items():
        doc[k] = [v for v in (doc.get(k) or []) if v not in values]
    return doc


@runtime_checkable
class BulkLoader(Protocol):
    """An optional read-store capability for rebuilds: defer secondary indexes and text search.

    Between ``begin_bulk`` and ``end_bulk`` queries may be slow or incomplete; ``end_bulk``
    rebuilds what was deferred. An interrupted bulk load is repaired by the next ``declare``.
    """

    async def begin_bulk(self, collections: Sequence[Collection[Any]]) -> None: ...

    async def end_bulk(self, collections: Sequence[Collection[Any]]) -> None: ...
