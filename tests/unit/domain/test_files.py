"""domain/files.py: the file aggregate, deletion rules, display names, inline types (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import files as f
from domain.errors import ForbiddenError, NotFoundError
from domain.users import UserRenamed


@given(st.text(max_size=300))
def test_display_name_is_safe_for_any_input(raw: str) -> None:
    name = f.display_name(raw)
    assert 1 <= len(name) <= f.MAX_NAME_CHARS
    assert not any(ch in name for ch in "/\\\x00\r\n\u202e")
    assert name not in (".", "..")


def test_delete_rules() -> None:
    up = f.FileUploaded(
        file_id="a" * 32, id=1, name="n", size=1, sha256="x", mime_type="t", uploader_id=7
    )
    state = f.evolve(f.File(), up)
    assert f.decide_delete(state, 7, False, 1.0).deleted_by == 7
    assert f.decide_delete(state, 8, True, 1.0).deleted_by == 8
    with pytest.raises(ForbiddenError):
        f.decide_delete(state, 8, False, 1.0)
    gone = f.evolve(state, f.FileDeleted(file_id="a" * 32, deleted_by=7))
    with pytest.raises(NotFoundError):
        f.decide_delete(gone, 7, False, 1.0)


UPLOADED = f.FileUploaded(
    file_id="a" * 32, id=1, name="n", size=1, sha256="x", mime_type="t", uploader_id=7
)


def test_streams() -> None:
    assert f.file_stream("a" * 32) == "file-" + "a" * 32
    assert f.download_stream("2026-12-01") == "filedownloads-2026-12-01"


def test_a_file_exists_from_upload_to_deletion() -> None:
    assert not f.File().exists
    state = f.evolve(f.File(), UPLOADED)
    assert state == f.File(file_id="a" * 32, uploader_id=7) and state.exists
    assert f.evolve(state, f.FileDownloadsCounted(counts={"a" * 32: 3})) is state
    assert f.evolve(state, UserRenamed(user_id=7, name="x")) is state
    assert not f.evolve(state, f.FileDeleted(file_id="a" * 32, deleted_by=7)).exists


def test_a_deletion_names_who_and_when() -> None:
    state = f.evolve(f.File(), UPLOADED)
    assert f.decide_delete(state, 7, False, 5.0) == f.FileDeleted("a" * 32, deleted_by=7, at=5.0)
    with pytest.raises(NotFoundError, match="File not found"):
        f.decide_delete(f.File(), 7, True, 5.0)
    with pytest.raises(ForbiddenError, match="Only the uploader or a superuser"):
        f.decide_delete(state, 8, False, 5.0)


@pytest.mark.parametrize(
    ("file_id", "valid"),
    [
        ("0123456789abcdef" * 2, True),
        ("A" * 32, False),
        ("a" * 31, False),
        ("a" * 33, False),
        ("g" * 32, False),
        ("a" * 32 + "\n", False),
        ("", False),
    ],
)
def test_valid_file_id(file_id: str, valid: bool) -> None:
    assert f.valid_file_id(file_id) is valid


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (None, "file"),
        ("", "file"),
        (".", "file"),
        ("..", "file"),
        ("  ", "file"),
        ("dir/sub/report.pdf", "report.pdf"),
        ("C:\\Users\\ann\\photo.jpg", "photo.jpg"),
        ("../..", "file"),
        ("  spaced.txt  ", "spaced.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("a\u200fb\u2066c.png", "abc.png"),
        ("line\nbreak\r\x00.txt", "linebreak.txt"),
        ("cafe\u0301.txt", "caf\u00e9.txt"),
        ("报告.docx", "报告.docx"),
        ("x" * 300, "x" * 255),
    ],
)
def test_display_names(raw: str | None, shown: str) -> None:
    assert f.display_name(raw) == shown


@pytest.mark.parametrize(
    ("mime", "inline"),
    [
        ("image/png", True),
        ("IMAGE/JPEG", True),
        ("text/plain; charset=utf-8", True),
        ("audio/ogg", True),
        ("video/mp4", True),
        ("image/avif", True),
        ("image/svg+xml", False),
        ("video/vnd.something+xml", False),
        ("image/tiff", False),
        ("text/html", False),
        ("application/pdf", False),
        ("", False),
    ],
)
def test_inline_only_for_inert_media(mime: str, inline: bool) -> None:
    assert f.inline_safe(mime) is inline
