"""domain/ids.py: id blocks reserved on a counter stream; the one spelling of an id."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ids import (
    MAX_SAFE_ID,
    IdCounter,
    canonical_id,
    counter_stream,
    evolve_counter,
    reserve_block,
)


def test_blocks_follow_each_other() -> None:
    state = IdCounter()
    first = reserve_block(state, "message", 100)
    assert (first.kind, first.start, first.size) == ("message", 1, 100)
    state = evolve_counter(state, first)
    second = reserve_block(state, "message", 10)
    assert second.start == 101


@given(st.lists(st.integers(1, 1000), min_size=1, max_size=20))
def test_reserved_ranges_never_overlap(sizes: list[int]) -> None:
    state, taken = IdCounter(), set[int]()
    for size in sizes:
        block = reserve_block(state, "file", size)
        ids = set(range(block.start, block.start + block.size))
        assert not ids & taken and min(ids) >= 1
        taken |= ids
        state = evolve_counter(state, block)


def test_the_id_space_ends_below_the_safe_integer_limit() -> None:
    with pytest.raises(OverflowError):
        reserve_block(IdCounter(next_start=MAX_SAFE_ID - 5), "message", 10)


def test_a_block_may_end_at_the_last_safe_id() -> None:
    block = reserve_block(IdCounter(next_start=MAX_SAFE_ID - 10), "message", 10)
    assert block.start + block.size - 1 == MAX_SAFE_ID - 1
    with pytest.raises(OverflowError, match="id space of message is exhausted"):
        reserve_block(IdCounter(next_start=MAX_SAFE_ID - 10), "message", 11)


def test_each_kind_counts_on_its_own_stream() -> None:
    assert counter_stream("message") == "ids-message"


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("1234567890", 1234567890), (str(MAX_SAFE_ID), MAX_SAFE_ID)],
)
def test_canonical_ids(text: str, value: int) -> None:
    assert canonical_id(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00",
        "0002",
        " 2",
        "2 ",
        "2\n",
        "+2",
        "-2",
        "2.0",
        "1e3",
        "1_000",
        "\u0662",  # Arabic-Indic two
        "\uff12",  # fullwidth two
        str(MAX_SAFE_ID + 1),
        "1" * 17,
    ],
)
def test_other_spellings_are_no_id(text: str) -> None:
    assert canonical_id(text) is None


@given(st.integers(0, MAX_SAFE_ID))
def test_every_id_has_its_canonical_spelling(value: int) -> None:
    assert canonical_id(str(value)) == value


@given(st.text(max_size=20))
def test_an_id_has_one_spelling_only(text: str) -> None:
    value = canonical_id(text)
    assert value is None or str(value) == text
