"""The files read model: file metadata, and who may see each file.

``files`` holds one document per file (deleted files stay, flagged, so messages can say so).
``files_shares`` records every conversation a file was sent to (from ``MessageSent.file_id``)
and ``files_members`` every current membership, so a visibility check costs one lookup per
conversation the file was shared to, whatever the size of the history.
"""

from __future__ import annotations

from domain import conversations as c
from domain import files as f
from domain.events import Event
from domain.store import RecordedEvent
from projections.store import Collection, Delete, Index, Op, Patch, Put

FILES = "files"
FILE_SHARES = "files_shares"
FILE_MEMBERS = "files_members"


def share_key(file_id: str, conversation_id: int) -> str:
    return f"{file_id}:{conversation_id}"


def member_key(conversation_id: int, user_id: int) -> str:
    return f"{conversation_id}:{user_id}"


def _member(conversation_id: int, user_id: int) -> Op:
    doc = {"conversation_id": conversation_id, "user_id": user_id}
    return Put(FILE_MEMBERS, member_key(conversation_id, user_id), doc)


class FilesProjection:
    name = "files"
    collections: tuple[Collection, ...] = (
        Collection(FILES, indexes=(Index(("uploader_id", "deleted", "uploaded_at")),)),
        Collection(FILE_SHARES, indexes=(Index(("file_id",)),)),
        Collection(FILE_MEMBERS),
    )

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        match event:
            case f.FileUploaded():
                doc = {
                    "file_id": event.file_id,
                    "id": event.id,
                    "name": event.name,
                    "size": event.size,
                    "sha256": event.sha256,
                    "mime_type": event.mime_type,
                    "uploader_id": event.uploader_id,
                    "description": event.description,
                    "is_public": event.is_public,
                    "uploaded_at": event.at,
                    "download_count": 0,
                    "deleted": False,
                    "deleted_at": None,
                }
                return [Put(FILES, event.file_id, doc)]
            case f.FileDeleted():
                change = {"deleted": True, "deleted_at": event.at}
                return [Patch(FILES, event.file_id, set=change, upsert=False)]
            case f.FileDownloadsCounted():
                return [
                    Patch(FILES, file_id, inc={"download_count": n}, upsert=False)
                    for file_id, n in sorted(event.counts.items())
                ]
            case c.MessageSent(file_id=str(file_id)):
                doc = {"file_id": file_id, "conversation_id": event.conversation_id}
                return [Put(FILE_SHARES, share_key(file_id, event.conversation_id), doc)]
            case c.ConversationCreated():
                return [_member(event.conversation_id, u) for u in event.member_ids]
            case c.MemberAdded():
                return [_member(event.conversation_id, u) for u in event.user_ids]
            case c.MemberRemoved():
                return [Delete(FILE_MEMBERS, member_key(event.conversation_id, event.user_id))]
        return []
