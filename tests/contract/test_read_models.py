"""The contract between projections and queries: every stored document decodes into its Struct.

A history exercising every arm of every projection is projected into each read-store adapter;
then every stored document, read back untyped, must convert *strictly* into the Struct its
collection declares (no field missing, none of the wrong type, none unknown), and every field a
patch writes must be a field of that Struct.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from domain import broadcasts as b
from domain import conversations as c
from domain import files as f
from domain import notification_templates as t
from domain import notifications as n
from domain import reports as r
from domain import users as u
from domain.events import Event
from domain.store import RecordedEvent, new_event
from projections.read_store.mongo import MongoReadStore
from projections.read_store.sqlite import SqliteReadStore
from projections.registry import all_projections
from projections.schema import ALL_COLLECTIONS
from projections.store import Collection, Guarded, Patch, ProjectionBatch, Put, ReadStore

FID, GONE = "f" * 32, "e" * 32


def history() -> list[Event]:
    """Every event type a projection handles, in an order that keeps documents alive."""
    fields = t.TemplateFields(name="Welcome", title_template="Hi", content_template="{name}")
    return [
        u.UserRegistered(user_id=1, standard_id="Alice", name="A", password_hash="h", at=1.0),
        u.UserRegistered(user_id=2, standard_id="bob", name="B", password_hash="h", at=1.5),
        u.UserRegistered(user_id=3, standard_id="cy", name="C", password_hash="h", at=1.6),
        u.UserRenamed(user_id=1, name="Al", standard_id="Alice", at=2.0),
        u.UserActivationChanged(user_id=3, is_active=False, at=2.0),
        u.UserSuperuserChanged(user_id=2, is_superuser=True, at=2.0),
        c.ConversationCreated(conversation_id=10, conversation_type="group", creator_id=1,
                              member_ids=(1, 2), name="g", description="d", at=3.0),
        c.ConversationCreated(conversation_id=11, conversation_type="single", creator_id=1,
                              member_ids=(1, 2), at=3.0),
        c.ConversationCreated(conversation_id=12, conversation_type="group", creator_id=2,
                              member_ids=(2,), name="doomed", at=3.0),
        c.MemberAdded(conversation_id=10, user_ids=(3,), operator_id=1, seq=0, at=3.5),
        f.FileUploaded(file_id=FID, id=1, name="a.txt", size=3, sha256="0" * 64,
                       mime_type="text/plain", uploader_id=2, at=3.6),
        f.FileUploaded(file_id=GONE, id=2, name="b.txt", size=3, sha256="1" * 64,
                       mime_type="text/plain", uploader_id=2, description="x", at=3.7),
        c.MessageSent(message_id=100, conversation_id=10, seq=1, sender_id=1,
                      message_type="text", content="hi", client_msg_id="k1", at=4.0),
        c.MessageSent(message_id=101, conversation_id=10, seq=2, sender_id=2,
                      message_type="file", file_id=FID, reply_to_id=100, at=5.0),
        c.MessageSent(message_id=102, conversation_id=10, seq=3, sender_id=1,
                      message_type="location", latitude=1.5, longitude=2, address="here", at=5.5),
        c.MessageEdited(message_id=100, conversation_id=10, seq=1, editor_id=1, content="hey",
                        at=6.0),
        c.MessageRecalled(message_id=102, conversation_id=10, seq=3, operator_id=1, at=7.0),
        c.ReadMarked(conversation_id=10, user_id=3, seq=2, at=7.5),
        c.MemberRoleChanged(conversation_id=10, user_id=2, old_role="member", new_role="admin",
                            operator_id=1, at=8.0),
        c.MemberUpdated(conversation_id=10, user_id=3, operator_id=1, nickname="n",
                        status="muted", muted_until=99.0, at=8.0),
        c.ConversationUpdated(conversation_id=10, operator_id=1, name="g2", description=None,
                              avatar="a.png", max_members=100, allow_invite=False,
                              allow_member_modify=True, is_public=True, at=9.0),
        c.ConversationHidden(conversation_id=11, user_id=1, seq=0, at=9.0),
        c.ConversationUnhidden(conversation_id=11, user_id=1, at=9.5),
        c.ConversationHidden(conversation_id=11, user_id=2, seq=0, at=9.6),
        c.HistoryCleared(conversation_id=10, user_id=2, seq=2, at=10.0),
        c.InviteCodeCreated(conversation_id=10, code="abc", operator_id=1, expires_at=99.0,
                            max_uses=5, at=10.0),
        c.InviteCodeCreated(conversation_id=10, code="def", operator_id=1, expires_at=99.0),
        c.MemberAdded(conversation_id=12, user_ids=(3,), operator_id=2, seq=0, at=10.5),
        c.MemberRemoved(conversation_id=12, user_id=3, operator_id=2, at=11.0),
        c.MemberRoleChanged(conversation_id=10, user_id=2, old_role="admin", new_role="owner",
                            operator_id=1, at=11.0),
        c.ConversationDissolved(conversation_id=12, operator_id=2, at=12.0),
        f.FileDownloadsCounted(counts={FID: 2}, at=12.0),
        f.FileDeleted(file_id=GONE, deleted_by=2, at=12.5),
        n.NotificationCreated(notification_id=1, user_id=1, title="t", content="c",
                              data={"k": [1, "x"]}, scheduled_at=50.0, source="s", at=13.0),
        n.NotificationCreated(notification_id=2, user_id=1, title="t", content="c", at=13.0),
        n.NotificationCreated(notification_id=3, user_id=2, title="t", content="c", at=13.0),
        n.NotificationsRead(user_id=1, notification_ids=[1, 2], at=14.0),
        n.NotificationsUnread(user_id=1, notification_ids=[2], at=15.0),
        n.NotificationsDeleted(user_id=2, notification_ids=[3], at=15.0),
        n.PreferencesChanged(user_id=1, preferences=n.Preferences(do_not_disturb=True,
                             quiet_hours_start="22:00", quiet_hours_end="07:00"), at=16.0),
        n.PreferencesChanged(user_id=2, preferences=n.Preferences(), at=16.0),
        t.TemplateCreated(template_id=1, fields=fields, at=17.0),
        t.TemplateUpdated(template_id=1, fields=t.TemplateFields(
            name="Welcome!", kind="mention", title_template="Hey", content_template="-",
            priority="high", is_active=False), at=18.0),
        t.TemplateCreated(template_id=2, fields=fields, at=18.0),
        t.TemplateDeleted(template_id=2, at=19.0),
        b.BroadcastSent(broadcast_id=1, sender_id=2, title="b", content="c",
                        target_user_ids=[1, 3], attachments=["x"], recipients=2, at=20.0),
        b.BroadcastSent(broadcast_id=2, sender_id=2, title="b", content="c", at=21.0),
        r.EventReported(report_id=1, reporter_id=1, event_type="alarm", title="x", body="y",
                        level=3, latitude=1.0, longitude=2.0, address="a", attachments=["p"],
                        occurred_at=22.0, at=22.0),
        r.EventReported(report_id=2, reporter_id=1, event_type="check_in", title="x",
                        occurred_at=22.5, at=23.0),
    ]  # fmt: skip


def recorded(events: list[Event]) -> list[RecordedEvent]:
    out = []
    for i, event in enumerate(events, start=1):
        ne = new_event(event)
        out.append(
            RecordedEvent(id=ne.id, stream="s", version=i - 1, position=i, type=ne.type,
                          data=ne.data, metadata=ne.metadata, recorded_at=float(i))
        )  # fmt: skip
    return out


def doc_types() -> dict[str, type[Any]]:
    return {coll.name: coll.doc for coll in ALL_COLLECTIONS}


def test_every_projection_collection_is_in_the_schema() -> None:
    declared = {coll.name: coll for p in all_projections() for coll in p.collections}
    assert declared == {coll.name: coll for coll in ALL_COLLECTIONS}


def test_every_write_matches_the_document_struct() -> None:
    """Puts carry the collection's Struct; patches name only that Struct's fields."""
    types = doc_types()
    written: set[str] = set()
    for rec in recorded(history()):
        for projection in all_projections():
            for op in projection.handle(rec.decode(), rec):
                written.add(op.coll)
                if isinstance(op, Put):
                    assert type(op.doc) is types[op.coll], (rec.type, op.coll)
                elif isinstance(op, Patch):
                    fields = set(types[op.coll].__struct_fields__)
                    named = {*op.set, *op.inc, *op.max, *op.add, *op.pull, *op.insert}
                    assert named <= fields, (rec.type, op.coll, named - fields)
    assert written == set(types)


@pytest.fixture(params=["sqlite", "mongo-secantus"])
async def read_store(request: pytest.FixtureRequest) -> AsyncIterator[ReadStore]:
    if request.param == "sqlite":
        folder = tempfile.mkdtemp(prefix="im-rm-")
        store: ReadStore = SqliteReadStore(os.path.join(folder, "read.sqlite3"))
        try:
            yield store
        finally:
            await store.close()
            shutil.rmtree(folder, ignore_errors=True)
        return
    store = MongoReadStore(request.getfixturevalue("secantus_url"), "t_" + uuid.uuid4().hex[:12])
    try:
        yield store
    finally:
        await store.close()


async def test_stored_documents_decode_strictly(read_store: ReadStore) -> None:
    projections = all_projections()
    await read_store.declare([coll for p in projections for coll in p.collections])
    recs = recorded(history())
    batches = []
    for p in projections:
        ops = [
            Guarded(guard=rec.position * 1024 + i, op=op)
            for rec in recs
            for i, op in enumerate(p.handle(rec.decode(), rec))
        ]
        batches.append(ProjectionBatch(projection=p.name, position=recs[-1].position, ops=ops))
    await read_store.apply(batches)
    for coll in ALL_COLLECTIONS:
        raw = await read_store.find(Collection(coll.name, dict))
        assert raw, f"{coll.name}: the history leaves no document"
        for doc in raw:
            assert set(doc) == set(coll.doc.__struct_fields__), coll.name
            strict = msgspec.convert(doc, coll.doc, strict=True)
            assert strict in await read_store.find(coll)
