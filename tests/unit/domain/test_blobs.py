"""domain/blobs.py: a port only; its one rule is the key pattern every adapter enforces."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.blobs import BLOB_KEY
from domain.files import valid_file_id

KEY_CHARS = st.sampled_from("abcXYZ019_-")


@given(st.text(KEY_CHARS, min_size=8, max_size=128))
def test_keys_of_8_to_128_safe_characters_are_valid(key: str) -> None:
    assert BLOB_KEY.fullmatch(key)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "a" * 7,
        "a" * 129,
        "../../etc/passwd",
        "abcdefgh/ij",
        "abcdefgh.txt",
        "abcdefgh\n",
        "abcdefgh ",
        "abcdéfgh",
        "abcdefgh\x00",
    ],
)
def test_keys_that_could_name_anything_else_are_invalid(key: str) -> None:
    assert not BLOB_KEY.fullmatch(key)


def test_file_ids_are_valid_blob_keys() -> None:
    file_id = uuid.uuid4().hex
    assert valid_file_id(file_id) and BLOB_KEY.fullmatch(file_id)
