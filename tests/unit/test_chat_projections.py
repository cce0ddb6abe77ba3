"""The chat projections as pure functions of one event, and iso() against datetime."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain.store import RecordedEvent
from projections.conversations import ConversationsProjection
from projections.messages import MessagesProjection
from projections.store import Patch, Put, apply_patch
from queries.views import iso


def _rec(position: int) -> RecordedEvent:
    return RecordedEvent("id", "s-1", 0, position, "T", b"", b"", 0.0)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_watermark_never_moves_back(seqs: list[int]) -> None:
    """Read marks (in any order, redelivered or not) leave the highest one."""
    doc: dict[str, object] | None = {"last_read_seq": 0}
    for i, seq in enumerate(seqs + seqs):
        (op,) = ConversationsProjection().handle(c.ReadMarked(1, 2, seq, at=float(i)), _rec(i))
        assert isinstance(op, Patch)
        doc = apply_patch(doc, op)
    assert doc is not None and doc["last_read_seq"] == max(seqs)


def test_message_projection_keeps_recalled_content_out_of_search() -> None:
    sent = c.MessageSent(message_id=5, conversation_id=1, seq=1, sender_id=2,
                         message_type="text", content="secret", at=1.0)  # fmt: skip
    (put,) = MessagesProjection().handle(sent, _rec(1))
    assert isinstance(put, Put) and put.doc.search_text == "secret"
    (patch,) = MessagesProjection().handle(c.MessageRecalled(5, 1, 1, 2, at=2.0), _rec(2))
    assert isinstance(patch, Patch)
    doc = apply_patch(put.doc, patch)
    assert doc is not None and doc["content"] == "" and doc["search_text"] == ""


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_iso_matches_datetime(ts: float) -> None:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    assert iso(ts) == d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"
