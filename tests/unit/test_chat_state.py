"""A process's conversation state when two reloads overlap and finish in either order."""

from __future__ import annotations

from commands.chat_state import Entry
from domain import conversations as c
from domain.store import RecordedEvent, new_event


def rec(
    version: int, event: c.ConversationCreated | c.MemberAdded | c.MemberRemoved
) -> RecordedEvent:
    ne = new_event(event)
    return RecordedEvent(ne.id, "conversation-1", version, 100 + version, ne.type, ne.data,
                         ne.metadata, 0.0)  # fmt: skip


def test_an_older_reload_finishing_last_does_not_undo_a_removal() -> None:
    created = rec(0, c.ConversationCreated(1, "group", 10, member_ids=(10,)))
    added = rec(1, c.MemberAdded(1, (11,), 10))
    removed = rec(2, c.MemberRemoved(1, 11, 10))
    entry = Entry(1)
    entry.apply_conversation([created])
    entry.apply_conversation([added, removed])  # the newer read finished first
    entry.apply_conversation([added])  # then an older one, started before the removal
    assert 11 not in entry.state.members
    assert entry.version == 2
