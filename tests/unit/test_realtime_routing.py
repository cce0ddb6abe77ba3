"""Push routing and membership: the live index and the per-user replay agree on every event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain.broadcasts import BroadcastSent
from domain.events import Event
from queries.realtime.membership import MembershipIndex
from queries.realtime.routing import Route, UserMembership, membership_before, route

USERS = (1, 2, 3, 4)
CONVS = (10, 11)


def test_message_events_go_to_members_with_views() -> None:
    sent = c.MessageSent(
        message_id=5, conversation_id=10, seq=1, sender_id=1, message_type="text", content="x"
    )
    r = route(sent)
    assert r is not None and r.kind == "new_message" and r.members and r.view is not None
    assert (r.view.kind, r.view.id) == ("message", 5)
    edited = route(
        c.MessageEdited(message_id=5, conversation_id=10, seq=1, editor_id=1, content="y")
    )
    assert edited is not None and edited.kind == "message_edited"
    read = route(c.ReadMarked(conversation_id=10, user_id=2, seq=7))
    assert read is not None and read.data == {"conversation_id": 10, "user_id": 2, "seq": 7}


def test_membership_events_join_before_and_leave_after_delivery() -> None:
    added = route(c.MemberAdded(conversation_id=10, user_ids=(3, 4), operator_id=1))
    assert added is not None and added.joins == (3, 4) and added.data["added_user_ids"] == [3, 4]
    removed = route(
        c.MemberRemoved(conversation_id=10, user_id=3, operator_id=3, is_self_exit=True)
    )
    assert removed is not None and removed.leaves == (3,) and removed.data["is_self_exit"]
    index = MembershipIndex()
    index.join(10, (1, 2, 3))
    index.before(removed)
    assert 3 in index.members(10)  # the removed member still gets member_removed
    index.after(removed)
    assert set(index.members(10)) == {1, 2} and index.peers_of(1) == {2}


def test_broadcast_routes() -> None:
    everyone = route(BroadcastSent(broadcast_id=1, sender_id=1, title="t", content="c"))
    assert everyone is not None and everyone.everyone and everyone.kind == "broadcast_received"
    some = route(
        BroadcastSent(broadcast_id=2, sender_id=1, title="t", content="c", target_user_ids=[3])
    )
    assert some is not None and some.users == (3,) and not some.everyone


def test_unrouted_events_are_none() -> None:
    hidden = c.ConversationHidden(conversation_id=10, user_id=1, seq=3)
    assert route(hidden) is None


ops = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(CONVS),
        st.lists(st.sampled_from(USERS), min_size=1, max_size=3, unique=True),
    ),
    max_size=40,
)


def _valid_history(steps: list[tuple[int, int, list[int]]]) -> list[Event]:
    """Events as the domain writes them: only non-members are added, only members removed."""
    members: dict[int, set[int]] = {cid: set() for cid in CONVS}
    out: list[Event] = []
    for kind, cid, users in steps:
        if kind == 0:
            new = tuple(u for u in users if u not in members[cid])
            if new:
                members[cid].update(new)
                out.append(c.MemberAdded(conversation_id=cid, user_ids=new, operator_id=1))
        elif kind == 1 and users[0] in members[cid]:
            members[cid].discard(users[0])
            out.append(c.MemberRemoved(conversation_id=cid, user_id=users[0], operator_id=1))
        else:
            out.append(
                c.MessageSent(
                    message_id=1, conversation_id=cid, seq=1, sender_id=1, message_type="text"
                )
            )
    return out


@given(steps=ops, split=st.integers(0, 40))
def test_replay_membership_matches_the_live_index(
    steps: list[tuple[int, int, list[int]]], split: int
) -> None:
    """For any history and any resume point, replaying a user's backlog from the membership
    derived backwards from "now" delivers exactly what the live index delivered."""
    routes = [r for e in _valid_history(steps) if (r := route(e)) is not None]
    split = min(split, len(routes))
    index = MembershipIndex()
    live: dict[int, list[int]] = {u: [] for u in USERS}
    at_split: dict[int, set[int]] = {}
    for i, r in enumerate(routes):
        if i == split:
            at_split = {u: index.conversations_of(u) for u in USERS}
        index.before(r)
        for u in index.members(r.conversation_id) if r.members else ():
            live[u].append(i)
        index.after(r)
    if split == len(routes):
        at_split = {u: index.conversations_of(u) for u in USERS}
    for u in USERS:
        later: list[Route] = routes[split:]
        before = membership_before(u, index.conversations_of(u), later)
        assert before == at_split[u]
        mine = UserMembership(u, before)
        replayed = [split + i for i, r in enumerate(later) if mine.concerns(r)]
        assert replayed == [i for i in live[u] if i >= split]
