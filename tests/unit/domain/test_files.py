"""domain/files.py: the file aggregate, deletion rules, display names, inline types (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import files as f
from domain.errors import ForbiddenError, NotFoundError


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
