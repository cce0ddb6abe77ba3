"""domain/ids.py: id blocks reserved on a counter stream."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ids import MAX_SAFE_ID, IdCounter, evolve_counter, reserve_block


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
