"""Pure parts of files outside the domain: MIME sniffing, ranges, dispositions, the read
model's ops (the domain's own rules: tests/unit/domain/test_files.py)."""

from __future__ import annotations

from urllib.parse import unquote

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands.mime import sniff
from domain import conversations as c
from domain import files as f
from domain.store import RecordedEvent
from gateway.downloads import content_disposition, parse_range
from projections.files import FilesProjection
from projections.schema import FILE_MEMBERS, FILE_SHARES, FILES, FileMemberDoc
from projections.store import Delete, Patch, Put

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
REC = RecordedEvent("id", "s-1", 0, 1, "T", b"", b"", 0.0)


@given(st.text(min_size=1, max_size=200), st.sampled_from(["text/html", "image/png"]))
def test_content_disposition_round_trips_any_name(raw: str, mime: str) -> None:
    name = f.display_name(raw)
    header = content_disposition(name, mime)
    assert header.isascii()
    assert not any(ch in header for ch in "\r\n\x00")
    encoded = header.rsplit("filename*=UTF-8''", 1)[1]
    assert unquote(encoded, errors="strict") == name
    fallback = header.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback and "\\" not in fallback and "/" not in fallback


def test_only_inert_types_are_inline() -> None:
    for mime in ("image/png", "image/jpeg", "video/mp4", "audio/ogg", "text/plain; charset=utf-8"):
        assert content_disposition("x", mime).startswith("inline;"), mime
    for mime in (
        "text/html",
        "image/svg+xml",
        "application/xml",
        "application/javascript",
        "application/pdf",
        "application/octet-stream",
        "application/x-executable",
    ):
        assert content_disposition("x", mime).startswith("attachment;"), mime


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x00\x00\x00\x20ftypisom\x00\x00", "video/mp4"),
        (b"PK\x03\x04\x14\x00\x00\x00word/document.xml", DOCX),
        (b"PK\x03\x04\x14\x00\x00\x00other.txt", "application/zip"),
        (b"\xef\xbb\xbf<!DOCTYPE html><p>", "text/html"),
        (b"  <html><body>", "text/html"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
        (b'<?xml version="1.0"?><feed/>', "application/xml"),
        ("纯文本，没有标记".encode(), "text/plain; charset=utf-8"),
        ("cut in the middle: 字".encode()[:-1], "text/plain; charset=utf-8"),
        (b"MZ is how this line starts", "text/plain; charset=utf-8"),
        (b"MZ\x90\x00\x03\x00\x00\x00", "application/vnd.microsoft.portable-executable"),
        (b"\x00\x01\x02\x03garbage\xff\xfe", "application/octet-stream"),
        (b"", "text/plain; charset=utf-8"),
    ],
)
def test_sniff(head: bytes, mime: str) -> None:
    assert sniff(head) == mime


@pytest.mark.parametrize(
    ("header", "size", "want"),
    [
        ("bytes=0-0", 10, (0, 0)),
        ("bytes=0-", 10, (0, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-30", 10, (0, 9)),
        ("bytes=5-100", 10, (5, 9)),
        ("bytes=10-", 10, False),
        ("bytes=-0", 10, False),
        ("bytes=3-2", 10, None),
        ("bytes=1-2,4-5", 10, None),
        ("lines=1-2", 10, None),
        ("bytes=x-y", 10, None),
        ("bytes=0-", 0, None),
    ],
)
def test_parse_range(header: str, size: int, want: object) -> None:
    assert parse_range(header, size) == want


def test_projection_tracks_shares_and_membership() -> None:
    p = FilesProjection()
    fid = "b" * 32
    sent = c.MessageSent(
        message_id=1, conversation_id=5, seq=1, sender_id=1, message_type="file", file_id=fid
    )
    text = c.MessageSent(message_id=2, conversation_id=5, seq=2, sender_id=1, message_type="text")
    assert p.handle(sent, REC) == [
        Patch(
            FILE_SHARES.name,
            f"{fid}:5",
            insert={"file_id": fid, "conversation_id": 5},
            add={"message_ids": [1]},
        )
    ]
    recalled = c.MessageRecalled(message_id=1, conversation_id=5, seq=1, operator_id=1, file_id=fid)
    assert p.handle(recalled, REC) == [
        Patch(FILE_SHARES.name, f"{fid}:5", pull={"message_ids": [1]}, upsert=False)
    ]
    assert p.handle(msgspec.structs.replace(recalled, file_id=None), REC) == []
    assert p.handle(text, REC) == []
    created = c.ConversationCreated(
        conversation_id=5, conversation_type="group", creator_id=1, member_ids=(1, 2)
    )
    assert [op.key for op in p.handle(created, REC) if isinstance(op, Put)] == ["5:1", "5:2"]
    added = c.MemberAdded(conversation_id=5, user_ids=(3,), operator_id=1)
    member = FileMemberDoc(conversation_id=5, user_id=3)
    assert p.handle(added, REC) == [Put(FILE_MEMBERS.name, "5:3", member)]
    removed = c.MemberRemoved(conversation_id=5, user_id=3, operator_id=1)
    assert p.handle(removed, REC) == [Delete(FILE_MEMBERS.name, "5:3")]
    counted = f.FileDownloadsCounted(counts={fid: 2})
    assert p.handle(counted, REC) == [
        Patch(FILES.name, fid, inc={"download_count": 2}, upsert=False)
    ]
