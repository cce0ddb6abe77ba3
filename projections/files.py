"""The files read model: file metadata, and who may see each file.

``files`` holds one document per file (deleted files stay, flagged, so messages can say so).
``files_shares`` records every conversation a file was sent to (from ``MessageSent.file_id``)
and ``files_members`` every current membership, so a visibility check costs one lookup per
conversation the file was shared to, whatever the size of the history.
"""

from __future__ import annotations

from typing import Any, assert_never

from domain import conversations as c
from domain import files as f
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import (
    FILE_MEMBERS,
    FILE_SHARES,
    FILES,
    FileDoc,
    FileMemberDoc,
    member_key,
    share_key,
)
from projections.store import Collection, Op


def _member(conversation_id: int, user_id: int) -> Op:
    doc = FileMemberDoc(conversation_id=conversation_id, user_id=user_id)
    return FILE_MEMBERS.put(member_key(conversation_id, user_id), doc)


class FilesProjection:
    name = "files"
    collections: tuple[Collection[Any], ...] = (FILES, FILE_SHARES, FILE_MEMBERS)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(f.FileEvent | c.ConversationEvent | c.MessageEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if type(event) is c.MessageSent and event.file_id is None:  # most of any log
            return []
        if not isinstance(event, f.FileEvent | c.ConversationEvent | c.MessageEvent):
            return []
        match event:
            case f.FileUploaded():
                doc = FileDoc(
                    file_id=event.file_id,
                    id=event.id,
                    name=event.name,
                    size=event.size,
                    sha256=event.sha256,
                    mime_type=event.mime_type,
                    uploader_id=event.uploader_id,
                    description=event.description,
                    is_public=event.is_public,
                    uploaded_at=event.at,
                    download_count=0,
                    deleted=False,
                    deleted_at=None,
                )
                return [FILES.put(event.file_id, doc)]
            case f.FileDeleted():
                change = {"deleted": True, "deleted_at": event.at}
                return [FILES.patch(event.file_id, set=change, upsert=False)]
            case f.FileDownloadsCounted():
                return [
                    FILES.patch(file_id, inc={"download_count": n}, upsert=False)
                    for file_id, n in sorted(event.counts.items())
                ]
            case c.MessageSent():
                if event.file_id is None:
                    return []
                key = share_key(event.file_id, event.conversation_id)
                insert = {"file_id": event.file_id, "conversation_id": event.conversation_id}
                return [
                    FILE_SHARES.patch(key, insert=insert, add={"message_ids": [event.message_id]})
                ]
            case c.MessageRecalled():
                if event.file_id is None:
                    return []
                key = share_key(event.file_id, event.conversation_id)
                return [
                    FILE_SHARES.patch(key, pull={"message_ids": [event.message_id]}, upsert=False)
                ]
            case c.ConversationCreated():
                return [_member(event.conversation_id, u) for u in event.member_ids]
            case c.MemberAdded():
                return [_member(event.conversation_id, u) for u in event.user_ids]
            case c.MemberRemoved():
                return [FILE_MEMBERS.delete(member_key(event.conversation_id, event.user_id))]
            case (
                c.MemberRoleChanged()
                | c.MemberUpdated()
                | c.ConversationUpdated()
                | c.ConversationDissolved()
                | c.ConversationHidden()
                | c.ConversationUnhidden()
                | c.HistoryCleared()
                | c.InviteCodeCreated()
                | c.InviteCodeRevoked()
                | c.MessageEdited()
                | c.ReadMarked()
            ):
                return []
            case _:
                assert_never(event)
